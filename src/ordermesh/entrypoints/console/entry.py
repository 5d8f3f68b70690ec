"""Call-centre order entry: find the customer, add lines with live availability, place the order.

One form, several buttons: "Find customer" fills in what the customer gave on their last order
(there is no customer table: their orders hold it), "Check availability" asks the same
availability service as `POST /api/v1/availability` for the call-centre channel, and "Place
order" runs `PlaceOrder` as the API does for a call-centre key — with the agent as the actor
and an idempotency key made when the form was drawn, so a double submit places one order. The
channel's gateway authorizes the payment token at placement; a refused payment leaves the order
on hold and the form open, to take another token for that same order.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from pydantic import ValidationError
from starlette.datastructures import FormData

from ordermesh.adapters.db import console_stock_queries as csq
from ordermesh.adapters.db import money_queries as mq
from ordermesh.adapters.db import queries
from ordermesh.adapters.db.sourcing_repository import SqlReads
from ordermesh.domain.errors import DomainError, InvalidInput
from ordermesh.domain.geo import Point
from ordermesh.entrypoints.api.card_guard import card_paths
from ordermesh.entrypoints.api.deps import Bus, Db, read_connection
from ordermesh.entrypoints.api.errors import STATUS
from ordermesh.entrypoints.api.routers.orders import request_hash
from ordermesh.entrypoints.api.schemas.orders import OrderIn
from ordermesh.entrypoints.console.rendering import page, redirect
from ordermesh.entrypoints.console.session import User, need
from ordermesh.services import commands as c
from ordermesh.services.availability import CartLine, cart_availability

router = APIRouter(prefix="/console", include_in_schema=False)
CHANNEL = "call_centre"  # the channel the console's orders are placed in
MAX_LINES = 50
ADDRESS = ("name", "line1", "line2", "city", "postal_code", "region", "country")
KEY = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
COUNT = re.compile(r"[0-9]{1,9}")
LABELS = {"in_stock": "In stock", "low_stock": "Low stock", "out_of_stock": "Out of stock",
          "preorder": "Pre-order", "backorder": "Backorder"}
Agent = Annotated[User, need("orders.place")]


@dataclass
class Entry:
    """What the agent typed, kept across every answer of the form."""

    key: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    values: dict[str, str] = field(default_factory=lambda: {"method": "ship", "same": "1"})
    lines: list[tuple[str, str]] = field(default_factory=list)  # (sku, quantity) as typed
    placed: str = ""  # an order already placed whose payment was refused

    def get(self, name: str) -> str:
        return self.values.get(name, "")

    def address(self, prefix: str) -> dict[str, Any]:
        address = {k: self.get(f"{prefix}_{k}").strip() for k in ADDRESS}
        address["country"] = address["country"].upper()
        return {k: v for k, v in address.items() if v}


async def _posted(request: Request) -> FormData:
    return await request.form()


def _entry(posted: FormData) -> tuple[Entry, list[str]]:
    """The form as posted; fields holding something like a card number are dropped, named."""
    cards = sorted({name for name, value in posted.multi_items()
                    if isinstance(value, str) and any(card_paths({name: value}))})
    text = {name: value for name, value in posted.items()
            if isinstance(value, str) and name not in cards}
    key = text.get("idempotency_key", "")
    skus, quantities = posted.getlist("sku"), posted.getlist("quantity")
    lines = [(str(s).strip(), str(q).strip()) for s, q in zip(skus, quantities, strict=False)
             if str(s).strip() and "sku" not in cards][:MAX_LINES]
    placed = text.get("placed_order", "")
    return Entry(key if KEY.match(key) else secrets.token_urlsafe(24), text, lines,
                 placed if len(placed) <= 36 else ""), cards


@router.get("/orders/new", response_class=HTMLResponse)
def new_order(request: Request, db: Db, user: Agent, email: str = "") -> HTMLResponse:
    entry = Entry()
    history = _find_customer(db, entry, email) if email else None
    return _form(request, db, user, entry, history=history)


@router.post("/orders/new", response_model=None)
def order_entry(request: Request, db: Db, bus: Bus, user: Agent,
                posted: Annotated[FormData, Depends(_posted)]) -> HTMLResponse | RedirectResponse:
    entry, cards = _entry(posted)
    action = str(posted.get("action") or "check")
    if cards:
        return _form(request, db, user, entry, status=422, errors=[
            "That looks like a payment card number. Ordermesh takes a token from the payment "
            "gateway, never a card number: the field was cleared."])
    if action == "find":
        history = _find_customer(db, entry, entry.get("email"))
        return _form(request, db, user, entry, history=history)
    if action == "more":
        return _form(request, db, user, entry, spare=5)
    if action == "place":
        return _place(request, db, bus, user, entry)
    return _form(request, db, user, entry, check=True)


def _find_customer(db: Db, entry: Entry, email: str) -> list[dict[str, Any]]:
    """The customer's earlier orders; the latest one's details fill the form."""
    with read_connection(db) as conn:
        history = csq.customer_orders(conn, email) if "@" in email else []
    entry.values["email"] = email.strip().lower()
    if history:
        last = history[0]
        entry.values.update(name=last["customer_name"], phone=last["customer_phone"] or "")
        entry.values.update({f"bill_{k}": str(v) for k, v in last["billing_address"].items()
                             if k in ADDRESS and v})
        shipped = last["shipping_address"] or {}
        entry.values["same"] = "1" if _same(shipped, last["billing_address"]) else ""
        entry.values.update({f"ship_{k}": str(v) for k, v in shipped.items() if k in ADDRESS and v})
        if last["fulfilment_method"] == "pickup":
            entry.values.update(method="pickup", pickup=last["pickup_location_code"] or "")
    return history


def _same(shipped: dict[str, Any], billed: dict[str, Any]) -> bool:
    return not shipped or all(shipped.get(k) == billed.get(k) for k in ADDRESS)


def _order_body(db: Db, entry: Entry) -> dict[str, Any]:
    """The order as a call centre's key would send it to `POST /api/v1/orders`, priced from the
    catalogue. Raises ValidationError or DomainError with what is wrong."""
    with read_connection(db) as conn:
        products = {sku: queries.get_product(conn, sku) for sku, _ in entry.lines}
        billing = entry.address("bill")
        shipping = billing if entry.get("same") else entry.address("ship")
        where = csq.known_coordinates(conn, entry.get("email"), shipping) \
            if entry.get("method") == "ship" else None
    currencies = sorted({p["currency"] for p in products.values() if p})
    if len(currencies) > 1:
        raise InvalidInput(f"the lines are priced in {' and '.join(currencies)}: one order "
                           "takes one currency")
    pickup = entry.get("method") == "pickup"
    if where is not None:
        shipping = {**shipping, "latitude": where[0], "longitude": where[1]}
    return OrderIn.model_validate({
        "currency": currencies[0] if len(currencies) == 1 else "",
        "customer": {"email": entry.get("email").strip(), "name": entry.get("name"),
                     "phone": entry.get("phone").strip() or None},
        "billing_address": billing,
        "shipping_address": None if pickup else shipping,
        "delivery_instructions": entry.get("instructions").strip() or None,
        "payment_token": entry.get("payment_token").strip() or None,
        "fulfilment": {"method": "pickup", "location": entry.get("pickup") or None} if pickup
        else {"method": "ship"},
        "lines": [{"sku": sku, "quantity": _whole(qty),
                   "unit_price": (products.get(sku) or {}).get("price_amount", 0)}
                  for sku, qty in entry.lines],
    }).model_dump(mode="json")


def _whole(text: str) -> int | str:
    """A quantity as typed: a number if it is one (ASCII digits only: "²" is a digit to
    str.isdigit, not to int), else the text, for the schema to refuse in its own words."""
    return int(text) if COUNT.fullmatch(text) else text


def _place(request: Request, db: Db, bus: Bus, user: User,
           entry: Entry) -> HTMLResponse | RedirectResponse:
    try:
        if entry.placed:  # placed before, its payment refused: a new token for that order
            order_id = _pay_again(db, bus, user, entry)
        else:
            body = _order_body(db, entry)
            order_id = bus.handle(c.PlaceOrder(
                actor=user.actor, channel=CHANNEL, order=body,
                idempotency_key=f"console:{entry.key}", request_hash=request_hash(body))).order_id
    except ValidationError as exc:
        return _form(request, db, user, entry, status=422, check=True, errors=[
            f"{_where(e['loc'])}: {e['msg']}" for e in exc.errors()])
    except DomainError as exc:
        status = next((s for cls, s in STATUS.items() if isinstance(exc, cls)), 400)
        return _form(request, db, user, entry, status=status, check=True, errors=[exc.detail])
    return _after_placing(request, db, user, entry, order_id)


def _where(loc: tuple[int | str, ...]) -> str:
    """A schema path as the form names it: ("lines", 0, "quantity") -> "line 1 quantity"."""
    words = [f"line {part + 1}" if isinstance(part, int) else part.replace("_", " ")
             for part in loc if part != "lines"]
    return " ".join(words) or "the order"


def _pay_again(db: Db, bus: Bus, user: User, entry: Entry) -> str:
    """Authorize the placed order with the new token, as `POST /api/v1/orders/{id}/payments`
    does; unless its payment went through already (the same form sent twice)."""
    with read_connection(db) as conn:
        seq = mq.order_seq_of(conn, entry.placed, CHANNEL)
        payments = mq.payments_of(conn, seq) if seq is not None else []
    if not payments or payments[-1]["status"] in ("failed", "voided"):
        bus.handle(c.AuthorizePayment(user.actor, entry.placed,
                                      entry.get("payment_token").strip() or None, CHANNEL))
    return entry.placed


def _after_placing(request: Request, db: Db, user: User, entry: Entry,
                   order_id: str) -> HTMLResponse | RedirectResponse:
    """To the order's page; back to the form if the gateway refused the payment."""
    with read_connection(db) as conn:
        order = queries.find_order(conn, order_id, CHANNEL)
        assert order is not None, "placed in this channel"
        payments = mq.payments_of(conn, order["seq"])
    payment = payments[-1] if payments else None
    if payment is not None and payment["status"] == "failed":
        entry.placed, entry.values["payment_token"] = order["id"], ""
        failure = payment["transactions"][-1]["failure_code"] or "refused"
        return _form(request, db, user, entry, status=402, placed=order, errors=[
            f"Order {order['number']} is placed, but the payment was refused ({failure}): it "
            "is on hold until it is paid. Take another payment token and try again."])
    taken = {None: "no payment was taken (the channel takes none through a gateway)",
             "pending": "the payment is waiting for the gateway's answer"}.get(
        payment["status"] if payment else None, "the payment is authorized")
    return redirect(f"/console/orders/{order['id']}",
                    f"Order {order['number']} placed for {order['customer_email']}; {taken}.")


def _form(request: Request, db: Db, user: User, entry: Entry, status: int = 200,
          errors: list[str] | None = None, check: bool = False, spare: int = 2,
          history: list[dict[str, Any]] | None = None,
          placed: dict[str, Any] | None = None) -> HTMLResponse:
    rows, problems = _rows(db, entry, check)
    with read_connection(db) as conn:
        stores = [loc for loc in queries.list_locations(conn)
                  if loc["can_pickup"] and loc["active"]]
    return page(request, user, "entry_new.html", status_code=status, entry=entry, rows=rows,
                spare=max(spare, 1 if rows else 3), errors=(errors or []) + problems,
                history=history, stores=stores, placed=placed, checked=check)


def _rows(db: Db, entry: Entry, check: bool) -> tuple[list[dict[str, Any]], list[str]]:
    """Each line as typed, with its product and price, and (checked) its availability."""
    with read_connection(db) as conn:
        rows: list[dict[str, Any]] = [
            {"sku": sku, "quantity": qty, "product": queries.get_product(conn, sku)}
            for sku, qty in entry.lines]
    if not check:
        return rows, []
    for row in rows:
        if row["product"] is None or not row["product"]["active"]:
            row["verdict"] = {"status": "unknown", "label": "Unknown SKU", "detail": ""}
    wanted = [r for r in rows if "verdict" not in r and COUNT.fullmatch(r["quantity"])
              and 0 < int(r["quantity"]) <= 100_000]
    if not wanted:
        return rows, []
    pickup = entry.get("pickup") if entry.get("method") == "pickup" else None
    try:
        with read_connection(db) as conn:
            shipping = entry.address("bill" if entry.get("same") else "ship")
            where = csq.known_coordinates(conn, entry.get("email"), shipping)
            answer = cart_availability(
                SqlReads(conn), [CartLine(r["sku"], int(r["quantity"])) for r in wanted],
                CHANNEL, datetime.now(UTC).date(), Point(*where) if where and not pickup else None,
                pickup or None)
    except DomainError as exc:
        return rows, [f"Availability: {exc.detail}"]
    for row, line in zip(wanted, answer["lines"], strict=True):
        row["verdict"] = verdict(line)
    return rows, []


def verdict(line: dict[str, Any]) -> dict[str, str]:
    """What the agent tells the customer about a line: in stock, low, out, pre-order or
    backorder for the quantity asked, with the date it can be promised for."""
    if line["refused"]:
        return {"status": "out_of_stock", "label": LABELS["out_of_stock"],
                "detail": line["refused"]["reason"]}
    kinds = [w["kind"] for w in line["waits"]]
    status = kinds[0] if kinds else line["status"]
    sources = ", ".join(f"{part['quantity']} from {part['location']}" for part in line["from"])
    waits = ", ".join(f"{w['quantity']} {LABELS[w['kind']].lower()}" for w in line["waits"])
    promised = f"promised for {line['promised_on']}" if line["promised_on"] else "no date yet"
    return {"status": status, "label": LABELS.get(status, status),
            "detail": "; ".join(part for part in (sources, waits, promised) if part)}


@router.get("/availability")
def availability(db: Db, user: Agent, sku: str = "", qty: str = "1",
                 pickup: str = "") -> JSONResponse:
    """One line's availability for the order entry page's script, as the page's "Check
    availability" button shows it."""
    entry = Entry(values={"method": "pickup" if pickup else "ship", "pickup": pickup},
                  lines=[(sku.strip()[:64], qty.strip()[:9])] if sku.strip() else [])
    rows, problems = _rows(db, entry, check=True)
    found = rows[0].get("verdict") if rows else None
    if found is None:
        found = {"status": "unknown", "label": problems[0] if problems else "Give a SKU and "
                 "a quantity", "detail": ""}
    return JSONResponse(found, headers={"Cache-Control": "no-store"})
