"""The outbox relay and webhooks.

Every event is written in the same transaction as the change it records. The relay takes
events not relayed yet (several workers at once on PostgreSQL: each takes others' rows
never) and, in one transaction, writes a delivery for each subscription that takes the event
and marks the event relayed. Senders take due deliveries under a lease, POST them signed
(outside any transaction), and record each attempt; a failed delivery is tried again by
domain.webhooks.RETRY_SCHEDULE, and a subscription whose deliveries keep failing is disabled,
with an event. Deliveries are at least once: receivers deduplicate by `webhook-id` (the event
id), which is the same on every try.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from ordermesh.domain.errors import InvalidInput, NotFound
from ordermesh.domain.events import Event, utcnow
from ordermesh.domain.webhooks import Sent, check_event_types, matches, next_attempt, payload
from ordermesh.services import commands as c
from ordermesh.services.handlers.notifications import notifications_for
from ordermesh.services.ports import UnitOfWork, WebhookSender


@dataclass
class WebhookSetup:
    sender: WebhookSender | None = None  # None: webhooks are not sent (deliveries wait)
    new_secret: Callable[[], str] = lambda: "whsec_" + uuid.uuid4().hex
    disable_after: int = 5  # deliveries given up on in a row before a subscription is disabled
    lease: timedelta = timedelta(seconds=60)  # a sender's hold on the deliveries it took
    clock: Callable[[], datetime] = utcnow


# -- subscriptions (admin) ---------------------------------------------------------------------


def create_subscription(cmd: c.CreateWebhookSubscription, uow: UnitOfWork,
                        setup: WebhookSetup) -> dict[str, Any]:
    """A subscription to event types, with a `whsec_` secret made for it (shown once)."""
    if setup.sender is not None:
        setup.sender.check_url(cmd.url)
    values = {"id": str(uuid.uuid4()), "url": cmd.url, "secret": setup.new_secret(),
              "event_types": check_event_types(cmd.event_types),
              "description": cmd.description}
    with uow:
        uow.webhooks.add_subscription(values)
        uow.commit()
    return values


def update_subscription(cmd: c.UpdateWebhookSubscription, uow: UnitOfWork,
                        setup: WebhookSetup) -> str:
    """Change the URL, the event types, or whether it is active; re-enabled, it starts again
    with no failures counted."""
    changes = dict(cmd.changes)
    if "url" in changes and setup.sender is not None:
        setup.sender.check_url(changes["url"])
    if "event_types" in changes:
        changes["event_types"] = check_event_types(changes["event_types"])
    if changes.get("active") is True:
        changes |= {"failures": 0, "disabled_reason": None}
    with uow:
        if uow.webhooks.subscription(cmd.subscription_id, lock=True) is None:
            raise NotFound(f"webhook subscription {cmd.subscription_id!r} not found")
        uow.webhooks.update_subscription(cmd.subscription_id, changes)
        uow.commit()
    return cmd.subscription_id


# -- the relay ---------------------------------------------------------------------------------


def relay_events(cmd: c.RelayEvents, uow: UnitOfWork, setup: WebhookSetup) -> int:
    """Relay a batch of events: a delivery for each subscription that takes each, the
    customer notifications they send, and the events marked relayed, in one transaction.
    Answers how many events were relayed."""
    with uow:
        events = uow.webhooks.unrelayed(cmd.limit)
        if not events:
            return 0
        subscriptions = uow.webhooks.active_subscriptions()
        now = setup.clock()
        uow.webhooks.add_deliveries([
            {"subscription_id": s["id"], "event_id": e.id, "event_type": e.type}
            for e in events for s in subscriptions if matches(s["event_types"], e.type)], now)
        notifications_for(uow, events, now)
        uow.webhooks.relayed([e.id for e in events], now)
        uow.commit()
    return len(events)


# -- sending -----------------------------------------------------------------------------------


def send_webhooks(cmd: c.SendWebhooks, uow: UnitOfWork, setup: WebhookSetup) -> int:
    """Send the deliveries that are due: each taken under a lease in a short transaction,
    POSTed outside it, and its attempt recorded in another. Answers how many were sent
    successfully."""
    if setup.sender is None:
        return 0
    now = setup.clock()
    lease = now + setup.lease
    with uow:
        due = uow.webhooks.claim_due(now, lease, cmd.limit)
        work = []
        for delivery in due:
            subscription = uow.webhooks.subscription(delivery["subscription_id"])
            event = uow.webhooks.event(delivery["event_id"])
            work.append((delivery, subscription, event))
        uow.commit()
    ok = 0
    for delivery, subscription, event in work:
        # still ours? (a batch that outlasts its lease must not send what another took)
        held = _renewed(uow, delivery["id"], lease, setup.clock() + setup.lease)
        if held is None or subscription is None or event is None:
            continue  # (each was claimed with the batch's lease: renewed one by one)
        body = json.dumps(payload(event), sort_keys=True, default=str)
        try:  # signed with the time it leaves (receivers refuse stale or early timestamps)
            sent = setup.sender.send(subscription["url"], subscription["secret"], event.id,
                                     body, utcnow())
        except Exception as exc:  # whatever it is, it is this delivery's failed attempt
            sent = Sent(None, 0, f"{type(exc).__name__}: {exc}"[:500])
        ok += _record(uow, setup, delivery["id"], sent)
    return ok


def _renewed(uow: UnitOfWork, delivery_id: int, held: datetime,
             until: datetime) -> datetime | None:
    """Extend this sender's lease on a delivery right before sending it; None when the lease
    ran out and another sender took the delivery (or it was answered)."""
    with uow:
        taken = uow.webhooks.renew(delivery_id, held, until)
        uow.commit()
    return until if taken else None


def _record(uow: UnitOfWork, setup: WebhookSetup, delivery_id: int, sent: Sent) -> int:
    """The attempt's outcome: delivered; or tried again later; or, past the schedule, failed
    (and the subscription disabled once enough deliveries failed in a row)."""
    now = setup.clock()
    with uow:
        subscription_id = _subscription_of(uow, delivery_id)
        subscription = uow.webhooks.subscription(subscription_id, lock=True)
        delivery = uow.webhooks.delivery(delivery_id, lock=True)
        assert delivery is not None and subscription is not None
        if delivery["status"] != "pending":
            return 0  # delivered or given up meanwhile (a replay raced an old lease)
        attempt = delivery["attempts"] + 1
        uow.webhooks.attempted(delivery_id, attempt, sent.status_code, sent.latency_ms,
                               sent.error)
        base = {"attempts": attempt, "last_status_code": sent.status_code,
                "last_error": sent.error}
        if sent.ok:
            uow.webhooks.update_delivery(delivery_id, {**base, "status": "delivered",
                                                       "delivered_at": now,
                                                       "next_attempt_at": None})
            if subscription["failures"]:  # a run of failures ends (the row is written only then)
                uow.webhooks.update_subscription(subscription["id"], {"failures": 0})
            uow.commit()
            return 1
        retry = next_attempt(attempt, now)
        if retry is not None:
            uow.webhooks.update_delivery(delivery_id, {**base, "next_attempt_at": retry})
        else:
            uow.webhooks.update_delivery(delivery_id, {**base, "status": "failed",
                                                       "next_attempt_at": None})
            _failed(uow, setup, subscription)
        uow.commit()
    return 0


def _subscription_of(uow: UnitOfWork, delivery_id: int) -> str:
    delivery = uow.webhooks.delivery(delivery_id)
    if delivery is None:
        raise NotFound(f"webhook delivery {delivery_id} not found")
    return str(delivery["subscription_id"])


def _failed(uow: UnitOfWork, setup: WebhookSetup, subscription: dict[str, Any]) -> None:
    failures = subscription["failures"] + 1
    changes: dict[str, Any] = {"failures": failures}
    if failures >= setup.disable_after and subscription["active"]:
        reason = f"{failures} deliveries in a row failed after every retry"
        changes |= {"active": False, "disabled_reason": reason}
        parts = urlsplit(subscription["url"])  # no path or query: they may hold a credential
        uow.webhooks.record(Event("webhook.subscription_disabled", "webhook_subscription",
                                  subscription["id"], "webhooks",
                                  {"host": parts.hostname, "reason": reason}))
    uow.webhooks.update_subscription(subscription["id"], changes)


def replay_delivery(cmd: c.ReplayWebhookDelivery, uow: UnitOfWork) -> int:
    """Send a delivery again (delivered or failed, or waiting for its next try): due now, its
    attempts kept in the log. A disabled subscription must be enabled first."""
    with uow:
        subscription_id = _subscription_of(uow, cmd.delivery_id)
        subscription = uow.webhooks.subscription(subscription_id, lock=True)
        delivery = uow.webhooks.delivery(cmd.delivery_id, lock=True)
        assert subscription is not None and delivery is not None
        if not subscription["active"]:
            raise InvalidInput("the subscription is disabled: enable it before a replay",
                               subscription_id=subscription_id)
        uow.webhooks.update_delivery(cmd.delivery_id, {  # a fresh retry schedule
            "status": "pending", "next_attempt_at": utcnow(), "delivered_at": None,
            "attempts": 0})
        uow.commit()
    return cmd.delivery_id
