"""Orders: the search, the order page (all that is known of one order, with its timeline), its
invoices as PDF, and the actions on it. Every action runs the same command as the API; the
page offers only what the order's state and the user's role allow, and the server checks both
again (the role here, the state in the command)."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from babel.numbers import get_currency_precision
from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ordermesh.adapters.db import console_queries as cq
from ordermesh.adapters.db import money_queries as mq
from ordermesh.adapters.db import queries
from ordermesh.adapters.documents.invoices import render_document_pdf
from ordermesh.domain.errors import DomainError, InvalidInput, NotFound
from ordermesh.domain.orders import LINES_CANCELLABLE, TRANSITIONS, OrderStatus
from ordermesh.domain.payments import ACTIONS, Kind, PaymentStatus
from ordermesh.entrypoints.api.deps import Bus, Db, read_connection
from ordermesh.entrypoints.api.routers.finance import document_of
from ordermesh.entrypoints.api.schemas.money import CaptureIn, RefundIn
from ordermesh.entrypoints.api.schemas.orders import (
    LineCancellationIn,
    LineRejectionIn,
    StatusChangeIn,
    fulfilment_status,
)
from ordermesh.entrypoints.console.rendering import SEQ_MAX, act, page, redirect
from ordermesh.entrypoints.console.session import User, need
from ordermesh.services import commands as c
from ordermesh.services import notification_commands as nc
from ordermesh.services.handlers.resourcing import MOVABLE

router = APIRouter(prefix="/console", include_in_schema=False)

PAGE_SIZE = 50
AMOUNT = re.compile(r"[0-9]{1,12}(\.[0-9]{1,12})?")
UNITS = re.compile(r"[0-9]{1,6}")

Viewer = Annotated[User, need("orders.view")]
Actor = Annotated[User, need("orders.act")]
Resourcer = Annotated[User, need("orders.resource")]
Payer = Annotated[User, need("payments.act")]
Reason = Annotated[str, Form(max_length=500)]
Short = Annotated[str, Form(max_length=40)]


@router.get("/orders", response_class=HTMLResponse)
def orders_page(request: Request, db: Db, user: Viewer,
                q: Annotated[str, Query(max_length=320)] = "",
                status: Annotated[str, Query(max_length=16)] = "",
                channel: Annotated[str, Query(max_length=64)] = "",
                placed_from: Annotated[str, Query(max_length=10)] = "",
                placed_to: Annotated[str, Query(max_length=10)] = "",
                before: Annotated[int | None, Query(ge=1, le=SEQ_MAX)] = None,
                after: Annotated[int | None, Query(ge=0, le=SEQ_MAX)] = None) -> HTMLResponse:
    form = {"q": q, "status": status, "channel": channel, "placed_from": placed_from,
            "placed_to": placed_to}
    with read_connection(db) as conn:
        channels = [row["code"] for row in queries.list_channels(conn)]
        try:
            search = _search(form, channels)
        except InvalidInput as exc:
            return page(request, user, "orders_list.html", status_code=422, form=form,
                        channels=channels, statuses=list(OrderStatus), error=exc.detail,
                        found=cq.OrderPage(), newer_url=None, older_url=None)
        found = cq.search_orders(conn, search, before, after, PAGE_SIZE)
    return page(request, user, "orders_list.html", form=form, channels=channels,
                statuses=list(OrderStatus), error=None, found=found,
                newer_url=_page_url(form, after=found.newer),
                older_url=_page_url(form, before=found.older))


def _search(form: dict[str, str], channels: list[str]) -> cq.OrderSearch:
    if form["status"] and form["status"] not in set(OrderStatus):
        raise InvalidInput(f"status: no such status {form['status']!r}")
    if form["channel"] and form["channel"] not in channels:
        raise InvalidInput(f"channel: no such channel {form['channel']!r}")
    placed_to = _day(form["placed_to"], "placed to")
    return cq.OrderSearch(form["q"], form["status"] or None, form["channel"] or None,
                          _day(form["placed_from"], "placed from"),
                          placed_to + timedelta(days=1) if placed_to and placed_to.year < 9999
                          else None)


def _day(text: str, label: str) -> datetime | None:
    """The start of a day typed as YYYY-MM-DD, in UTC (the console's time)."""
    if not text.strip():
        return None
    try:
        return datetime.combine(date.fromisoformat(text.strip()), time(), UTC)
    except ValueError:
        raise InvalidInput(f"{label}: {text!r} is not a day (YYYY-MM-DD)") from None


def _page_url(form: dict[str, str], **at: int | None) -> str | None:
    """The link to the next or previous page, keeping the search and filters."""
    key, value = next(iter(at.items()))
    if value is None:
        return None
    return "/console/orders?" + urlencode({**{k: v for k, v in form.items() if v}, key: value})


@router.get("/orders/{order_id}", response_class=HTMLResponse)
def order_page(request: Request, db: Db, user: Viewer, order_id: str) -> HTMLResponse:
    with read_connection(db) as conn:
        order = cq.order_page(conn, order_id)
    if order is None:
        raise NotFound(f"order {order_id!r} not found")
    for line in order["lines"]:
        line["to_dispatch"] = 0 if line["status"] == "cancelled" else (
            line["quantity"] - line["dispatched"] - line["cancelled"])
    order["fulfilment_status"] = str(fulfilment_status(order))
    return page(request, user, "orders_detail.html", order=order, can=_allowed(user, order),
                url=_back(order["id"]), step=_step(order["currency"]),
                capture_reference=f"console-capture-{secrets.token_hex(8)}",
                refund_reference=f"console-refund-{secrets.token_hex(8)}")


def _allowed(user: User, order: dict[str, Any]) -> dict[str, bool]:
    """What the page offers: what the user's role may do and the order's state allows."""
    status = OrderStatus(order["status"])
    acts, pays = user.may("orders.act"), user.may("payments.act")
    payments = [p for p in order["payments"] if p["status"] != PaymentStatus.FAILED]
    return {
        "hold": acts and "hold" in TRANSITIONS[status],
        "release": acts and "release" in TRANSITIONS[status],
        "cancel": acts and "cancel" in TRANSITIONS[status],
        "cancel_lines": acts and status in LINES_CANCELLABLE,
        "resend": acts,
        "resource": user.may("orders.resource") and status in MOVABLE,
        "capture": pays and any(Kind.CAPTURE in ACTIONS[PaymentStatus(p["status"])]
                                and p["authorized"] > p["captured"] + p["voided"]
                                for p in payments),
        "refund": pays and any(p["captured"] > p["refunded"] for p in payments)
        and any(i["kind"] == "invoice" for i in order["invoices"]),
    }


def _step(currency: str) -> str:
    """The smallest amount of the currency, as typed: 0.01 for EUR, 1 for JPY."""
    return str(Decimal(1).scaleb(-get_currency_precision(currency)))


def _back(order_id: str) -> str:
    return f"/console/orders/{quote(order_id, safe='')}"


@router.get("/invoices/{invoice_id}.pdf", response_class=Response)
def invoice_pdf(invoice_id: str, db: Db, user: Viewer) -> Response:
    """The invoice or credit note as the API serves it: the same rendering of what was issued."""
    with read_connection(db) as conn:
        row = mq.invoice(conn, invoice_id, None)
    if row is None:
        raise NotFound(f"invoice {invoice_id!r} not found")
    return Response(render_document_pdf(document_of(row)), media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{row["number"]}.pdf"'})


@router.post("/orders/{order_id}/hold")
def hold(order_id: str, bus: Bus, user: Actor, reason: Reason = "") -> RedirectResponse:
    def run() -> None:
        body = StatusChangeIn(reason=_required(reason, "reason"))
        bus.handle(c.ChangeOrderStatus(user.actor, order_id, "hold", reason=body.reason))
    return act(_back(order_id), "Order held.", run)


@router.post("/orders/{order_id}/release")
def release(order_id: str, bus: Bus, user: Actor) -> RedirectResponse:
    return act(_back(order_id), "Hold released.",
               lambda: bus.handle(c.ChangeOrderStatus(user.actor, order_id, "release")))


@router.post("/orders/{order_id}/cancel")
def cancel(order_id: str, bus: Bus, user: Actor, reason: Reason = "") -> RedirectResponse:
    """As the API cancels: the order (its reservations released), then what of its payment
    was authorized and never captured."""
    unvoided: list[str] = []

    def run() -> None:
        body = StatusChangeIn(reason=_required(reason, "reason"))
        bus.handle(c.ChangeOrderStatus(user.actor, order_id, "cancel", reason=body.reason))
        try:  # a second transaction: its refusal must not read as "not cancelled"
            bus.handle(c.VoidPayment(user.actor, order_id))
        except DomainError as exc:
            unvoided.append(exc.detail)

    answer = act(_back(order_id), "Order cancelled.", run)
    if unvoided:
        return redirect(_back(order_id), "Order cancelled, but its payment was not released: "
                        f"{unvoided[0]}", error=True)
    return answer


@router.post("/orders/{order_id}/cancel-units")
def cancel_units(order_id: str, bus: Bus, user: Actor, line_no: Short = "",
                 quantity: Short = "", reason: Reason = "") -> RedirectResponse:
    """Units of one line (all it still has free, or some), with what was captured for them
    refunded: CancelOrderLine."""
    def run() -> None:
        line = _units(_required(line_no, "line"), "line")
        assert line is not None
        body = LineCancellationIn(quantity=_units(quantity), reason=_required(reason, "reason"))
        bus.handle(c.CancelOrderLine(user.actor, order_id, line, body.quantity, body.reason))
    return act(_back(order_id), f"Units of line {line_no} cancelled.", run)


@router.post("/orders/{order_id}/resource")
def resource_line(order_id: str, bus: Bus, user: Resourcer,
                  allocation: Annotated[str, Form(max_length=80)] = "", reason: Reason = "",
                  quantity: Short = "") -> RedirectResponse:
    """Take (some of) a line's units away from a location and source them again, never from
    there: ResourceLine. `allocation` is `<line number>:<location>`."""
    line_no, _, location = allocation.partition(":")
    def run() -> None:
        line = _units(_required(line_no, "allocation"), "allocation")
        assert line is not None
        body = LineRejectionIn(location=location, quantity=_units(quantity),
                               reason=_required(reason, "reason"))
        bus.handle(c.ResourceLine(user.actor, order_id, line, body.location, body.reason,
                                  body.quantity))
    return act(_back(order_id), f"Line {line_no} sourced again.", run)


@router.post("/orders/{order_id}/capture")
def capture(order_id: str, db: Db, bus: Bus, user: Payer, reference: Short = "",
            amount: Short = "", final: Annotated[bool, Form()] = False) -> RedirectResponse:
    def run() -> None:
        minor = minor_units(amount, _currency(db, order_id)) if amount.strip() else None
        body = CaptureIn(reference=reference, amount=minor, final=final)
        bus.handle(c.CapturePayment(user.actor, order_id, body.reference, body.amount,
                                    body.final))
    return act(_back(order_id), "Payment captured.", run)


@router.post("/orders/{order_id}/refund")
def refund(order_id: str, db: Db, bus: Bus, user: Payer, reference: Short = "",
           amount: Short = "", reason: Reason = "") -> RedirectResponse:
    def run() -> None:
        minor = minor_units(_required(amount, "amount"), _currency(db, order_id))
        body = RefundIn(reference=reference, reason=_required(reason, "reason"), amount=minor)
        bus.handle(c.RefundPayment(user.actor, order_id, body.reference, body.reason,
                                   amount=body.amount))
    return act(_back(order_id), "Refund made.", run)


@router.post("/orders/{order_id}/notifications/{notification_id}/resend")
def resend(order_id: str, notification_id: Annotated[int, Path(ge=1, le=SEQ_MAX)], db: Db,
           bus: Bus, user: Actor) -> RedirectResponse:
    """Only a notification of this order: the page it goes back to says it was resent."""
    with read_connection(db) as conn:
        order = queries.find_order(conn, order_id, None)
        told = {n["id"] for n in cq.notification_log(conn, order["seq"])} if order else set()
    if notification_id not in told:
        raise NotFound(f"notification {notification_id} of order {order_id!r} not found")
    return act(_back(order_id), "The notification will be sent again.",
               lambda: bus.handle(nc.ResendNotification(user.actor, notification_id)))


def _required(text: str, label: str) -> str:
    if not text.strip():
        raise InvalidInput(f"{label}: fill it in")
    return text.strip()


def _units(text: str, label: str = "quantity") -> int | None:
    """A count typed in a form: none (all of them), or a whole number of at least one."""
    if not text.strip():
        return None
    if not UNITS.fullmatch(text.strip()) or int(text) < 1:
        raise InvalidInput(f"{label}: {text!r} is not a whole number of at least 1")
    return int(text)


def _currency(db: Any, order_id: str) -> str:
    with read_connection(db) as conn:
        order = queries.find_order(conn, order_id, None)
    if order is None:
        raise NotFound(f"order {order_id!r} not found")
    return str(order["currency"])


def minor_units(text: str, currency: str) -> int:
    """An amount typed in major units ("12.50") as minor units of the currency (1250),
    exactly: Decimal, the currency's own number of decimals, never a float. More decimals than
    the currency has, a sign, a comma or anything else is refused, not rounded."""
    typed = text.strip()
    if not AMOUNT.fullmatch(typed):
        raise InvalidInput(f"amount: {text!r} is not an amount (type it like 12.50)")
    exponent = get_currency_precision(currency)
    minor = Decimal(typed).scaleb(exponent)
    if minor != minor.to_integral_value():
        raise InvalidInput(f"amount: {currency} has {exponent} decimal(s), {typed} has more")
    if minor < 1:
        raise InvalidInput("amount: more than zero")
    return int(minor)
