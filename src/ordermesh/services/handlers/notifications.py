"""Customer notifications: the relay writes one per event that tells the customer something
(domain.notifications), in the same transaction as it marks the event relayed; senders take
due ones under a lease, compose and send them outside any transaction, and record the
outcome. One row per event and kind: the same event never notifies twice from the relay,
however often it runs; the Message-ID comes from the event, so a mail sent again after a
crash is the same mail to the customer's client."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from ordermesh.domain.errors import InvalidTransition, NotFound
from ordermesh.domain.events import Event, utcnow
from ordermesh.domain.notifications import (
    NotificationRejected,
    notification_for,
)
from ordermesh.domain.orders import format_order_number
from ordermesh.domain.webhooks import next_attempt
from ordermesh.services import commands as c
from ordermesh.services import notification_commands as nc
from ordermesh.services.ports import UnitOfWork


class CustomerNotifier(Protocol):
    def email(self, kind: str, context: dict[str, Any],
              channel: dict[str, Any] | None = None) -> str: ...


@dataclass
class NotifySetup:
    notifier: CustomerNotifier | None = None  # None: notifications wait
    public_url: str = "http://127.0.0.1:8000"  # where the customer's tracking page lives
    lease: timedelta = timedelta(seconds=60)
    clock: Callable[[], datetime] = utcnow


def order_of(event: Event) -> str | None:
    if event.stream == "order":
        return event.stream_id
    order_id = event.data.get("order_id")
    return str(order_id) if order_id else None


def notifications_for(uow: UnitOfWork, events: Sequence[Event], now: datetime) -> None:
    """The notifications these events send (written by the relay, in its transaction); an
    order without an address (a walk-in at a till) is not mailed."""
    wanted = [(e, kind) for e in events
              if (kind := notification_for(e.type, e.data)) is not None and order_of(e)]
    recipients = uow.notifications.recipients({str(order_of(e)) for e, _ in wanted})
    uow.notifications.add([
        {"event_id": e.id, "order_seq": recipients[str(order_of(e))][0], "kind": kind,
         "medium": "email", "recipient": recipients[str(order_of(e))][1]}
        for e, kind in wanted if recipients.get(str(order_of(e)), (0, ""))[1]], now)


def send_notifications(cmd: c.SendNotifications, uow: UnitOfWork, setup: NotifySetup) -> int:
    """Send the notifications that are due; answers how many were sent."""
    if setup.notifier is None:
        return 0
    now = setup.clock()
    lease = now + setup.lease
    with uow:
        due = uow.notifications.claim_due(now, lease, cmd.limit)
        work = [(n, *_context(uow, setup, n)) for n in due]
        uow.commit()
    sent = 0
    for notification, channel, context in work:
        with uow:  # still ours? (a batch that outlasts its lease must not mail twice)
            renewed = setup.clock() + setup.lease
            taken = uow.notifications.renew(notification["id"], lease, renewed)
            uow.commit()
        if not taken:  # (each was claimed with the batch's lease: renewed one by one)
            continue
        try:
            message_id = setup.notifier.email(notification["kind"], context, channel)
        except NotificationRejected as exc:
            _outcome(uow, notification["id"], {"status": "failed", "last_error": str(exc)[:500],
                                               "next_attempt_at": None})
            continue
        except Exception as exc:  # NotificationFailed, or anything unforeseen (a template,
            # a setting): this notification's failed attempt, never the batch's
            retry = next_attempt(notification["attempts"] + 1, setup.clock())
            _outcome(uow, notification["id"], {
                "status": "pending" if retry else "failed", "next_attempt_at": retry,
                "last_error": str(exc)[:500]})
            continue
        _outcome(uow, notification["id"], {"status": "sent", "message_id": message_id,
                                           "sent_at": setup.clock(), "next_attempt_at": None,
                                           "last_error": None})
        sent += 1
    return sent


def resend_notification(cmd: nc.ResendNotification, uow: UnitOfWork, setup: NotifySetup) -> None:
    """Queue a notification again: pending, due now, with a fresh schedule of attempts, for
    the worker's sender to send like any other (the same message: its Message-ID comes from
    the event). One still waiting to be sent is refused, not queued twice. The order's
    timeline records who asked (`notification.resend_requested`)."""
    with uow:
        row = uow.notifications.get(cmd.notification_id)
        if row is None:
            raise NotFound(f"notification {cmd.notification_id} not found")
        if row["status"] == "pending":
            raise InvalidTransition(f"notification {row['id']} is already waiting to be sent",
                                    current_status="pending", action="resend")
        order = uow.orders.get(format_order_number(row["order_seq"]))
        assert order is not None, "a notification belongs to an order"
        order.note("notification.resend_requested", cmd.actor, notification_id=row["id"],
                   kind=row["kind"], medium=row["medium"], previous_status=row["status"])
        uow.notifications.update(row["id"], {"status": "pending", "attempts": 0,
                                             "next_attempt_at": setup.clock(),
                                             "last_error": None})
        uow.orders.save(order)
        uow.commit()


def _outcome(uow: UnitOfWork, notification_id: int, values: dict[str, Any]) -> None:
    with uow:
        row = uow.notifications.get(notification_id)
        if row is not None and row["status"] == "pending":
            uow.notifications.update(notification_id,
                                     {**values, "attempts": row["attempts"] + 1})
        uow.commit()


def _context(uow: UnitOfWork, setup: NotifySetup,
             notification: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The channel's branding and language, and what the mail may say: the order's facts and
    the event's own."""
    order = uow.notifications.order_facts(notification["order_seq"])
    event = uow.webhooks.event(notification["event_id"])
    data = dict(event.data) if event is not None else {}
    context: dict[str, Any] = {
        "event_id": notification["event_id"], "to": notification["recipient"],
        "customer_name": order["customer_name"],
        "order_number": format_order_number(order["seq"]), "currency": order["currency"],
        "total": order["grand_total"],
        "lines": [{"name": ln["name"], "sku": ln["sku"], "quantity": ln["quantity"],
                   "unit_price": ln["unit_price"]} for ln in order["lines"]],
        "occurred_at": event.occurred_at if event is not None else None,
    }
    if order["tracking_token"]:
        context["order_url"] = f"{setup.public_url.rstrip('/')}/track/{order['tracking_token']}"
    for key in ("carrier", "tracking_numbers", "tracking_url", "pickup_code", "reason",
                "amount"):
        if data.get(key) is not None:
            context[key] = data[key]
    if data.get("location"):
        location = uow.catalogue.location(str(data["location"])) or {}
        context["location_name"] = location.get("name")
        address = location.get("address") or {}
        context["location_address"] = ", ".join(
            str(address[k]) for k in ("line1", "postal_code", "city") if address.get(k))
    found = uow.access.channel(str(order["channel_code"])) or {}
    branding = {key: found.get(key) for key in ("brand_name", "brand_colour", "mail_from",
                                                 "locale")}
    return branding, context
