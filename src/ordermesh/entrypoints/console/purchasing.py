"""Purchasing: replenishment proposals, purchase orders, receipts and supplier bills.

Every button runs the command its API route runs (routers/replenishment.py, purchasing.py,
payables.py) with the form validated by the API's own schema; amounts are typed in the
currency's major units and turned into minor units with its exponent, never a float.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any

from babel.numbers import get_currency_precision
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ordermesh.adapters.db import console_stock_queries as csq
from ordermesh.adapters.db import payables_queries as bq
from ordermesh.adapters.db import purchasing_queries as pq
from ordermesh.adapters.documents.purchase_orders import render_purchase_order_pdf
from ordermesh.domain.errors import InvalidInput
from ordermesh.domain.payables import Tolerance
from ordermesh.domain.purchasing import PurchaseOrderStatus
from ordermesh.entrypoints.api.deps import Bus, Db, read_connection, read_one
from ordermesh.entrypoints.api.routers.purchasing import _document as po_document
from ordermesh.entrypoints.api.schemas.payables import ReviewIn, SupplierBillIn, SupplierPaymentIn
from ordermesh.entrypoints.api.schemas.purchasing import ReceiptIn
from ordermesh.entrypoints.console.rendering import Before, act, page, redirect
from ordermesh.entrypoints.console.session import User, need
from ordermesh.services import commands as c

router = APIRouter(prefix="/console", include_in_schema=False)
Buyer = Annotated[User, need("purchasing")]
Lines = Annotated[list[str], Form(max_length=500)]
Reason = Annotated[str, Form(max_length=500)]
PAGE = 50
HOME = "/console/purchasing"
AMOUNT = re.compile(r"[0-9]{1,12}(\.[0-9]{1,12})?")
WHOLE = re.compile(r"[0-9]{1,9}")


def minor_units(typed: str, currency: str) -> int:
    """An amount typed in major units ("4.50", "4,50", "1,234.50") in minor units of the
    currency. Only digits and one decimal mark: no sign, no exponent ("1e999999" would be a
    number to Decimal), never more decimals than the currency has."""
    text = typed.strip().replace(" ", "")
    text = text.replace(",", ".") if "." not in text else text.replace(",", "")
    if not AMOUNT.fullmatch(text):
        raise InvalidInput(f"{typed!r} is not an amount (type it like 4.50)")
    exponent = get_currency_precision(currency)
    amount = Decimal(text)
    if amount != amount.quantize(Decimal(1).scaleb(-exponent)):
        raise InvalidInput(f"{typed!r} is not an amount in {currency} ({exponent} decimals)")
    return int(amount.scaleb(exponent))


def major_units(minor: int, currency: str) -> str:
    """Minor units as an operator types them: 450 EUR -> "4.50"."""
    exponent = get_currency_precision(currency)
    return str(Decimal(minor).scaleb(-exponent).quantize(Decimal(1).scaleb(-exponent)))


@router.get("/purchasing", response_class=HTMLResponse)
def purchasing(request: Request, db: Db, bus: Bus, user: Buyer, status: str = "",
               before: Before = None) -> HTMLResponse:
    """What to buy, the purchase orders and the supplier bills."""
    proposed = bus.handle(c.ProposeReplenishment(user.actor, create_drafts=False))
    wanted = status if status in set(PurchaseOrderStatus) else None
    with read_connection(db) as conn:
        orders = pq.list_purchase_orders(conn, pq.PurchaseOrderFilter(wanted), before, PAGE + 1)
        bills = bq.list_bills(conn, bq.BillFilter(), None, PAGE)
    older = orders[PAGE - 1]["seq"] if len(orders) > PAGE else None
    return page(request, user, "purchasing_home.html", proposal=proposed.proposal,
                currencies=proposed.currencies, orders=orders[:PAGE], bills=bills, status=wanted,
                statuses=list(PurchaseOrderStatus), older=older)


@router.post("/purchasing/drafts")
def draft_orders(bus: Bus, user: Buyer) -> RedirectResponse:
    """The proposal as draft purchase orders, one per supplier and delivery location."""
    drafted = bus.handle(c.ProposeReplenishment(user.actor, create_drafts=True))
    numbers = sorted(d.number for d in drafted.drafts.values())
    if not numbers:
        return redirect(HOME, "Nothing to buy: no purchase order was drafted.")
    return redirect(HOME, f"Drafted {', '.join(numbers)}: send each when it is agreed.")


def _bill_page(bill_id: str) -> str:
    return f"/console/purchasing/bills/{bill_id}"


@router.get("/purchasing/bills/{bill_id}", response_class=HTMLResponse)
def bill(request: Request, db: Db, user: Buyer, bill_id: str) -> HTMLResponse:
    found = read_one(db, "supplier bill", bq.bill_detail, bill_id)
    with read_connection(db) as conn:
        events = bq.bill_events(conn, found["id"])
    return page(request, user, "purchasing_bill.html", bill=found, events=events)


@router.post("/purchasing/bills/{bill_id}/approve")
def approve_bill(bill_id: str, bus: Bus, user: Buyer, reason: Reason = "") -> RedirectResponse:
    return act(_bill_page(bill_id), "Bill approved for payment.", lambda: bus.handle(
        c.ApproveSupplierBill(user.actor, bill_id, ReviewIn(reason=reason or None).reason)))


@router.post("/purchasing/bills/{bill_id}/reject")
def reject_bill(bill_id: str, bus: Bus, user: Buyer, reason: Reason = "") -> RedirectResponse:
    return act(_bill_page(bill_id), "Bill rejected.", lambda: bus.handle(
        c.RejectSupplierBill(user.actor, bill_id, ReviewIn(reason=reason or None).reason)))


@router.post("/purchasing/bills/{bill_id}/payments")
def pay_bill(db: Db, bus: Bus, user: Buyer, bill_id: str,
             amount: Annotated[str, Form(max_length=30)],
             paid_on: Annotated[str, Form(max_length=10)],
             reference: Annotated[str, Form(max_length=200)]) -> RedirectResponse:
    found = read_one(db, "supplier bill", bq.bill_detail, bill_id)

    def record() -> None:
        body = SupplierPaymentIn.model_validate({
            "amount": minor_units(amount, found["currency"]), "paid_on": paid_on,
            "reference": reference})
        bus.handle(c.RecordSupplierPayment(user.actor, bill_id, body.amount, body.paid_on,
                                           body.reference))

    return act(_bill_page(bill_id), f"Payment {reference} recorded.", record)


# The document route comes before /{po_id}, which would otherwise take "PO-000001.pdf" as an id.
@router.get("/purchasing/{po_id}.pdf", response_class=Response)
def purchase_order_pdf(request: Request, db: Db, user: Buyer, po_id: str) -> Response:
    """The document the supplier was sent, as `GET /api/v1/purchase-orders/{id}.pdf`."""
    doc = po_document(db, po_id, request.app.state.ordermesh.settings.retailer_name)
    return Response(render_purchase_order_pdf(doc), media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{doc.number}.pdf"'})


@router.get("/purchasing/{po_id}", response_class=HTMLResponse)
def purchase_order(request: Request, db: Db, user: Buyer, po_id: str) -> HTMLResponse:
    po = read_one(db, "purchase order", pq.purchase_order_detail, po_id)
    with read_connection(db) as conn:
        events = pq.purchase_order_events(conn, po["id"])
        bills = csq.bills_of_purchase_order(conn, po["seq"])
        supplier = pq.get_supplier(conn, po["supplier_code"])
    return page(request, user, "purchasing_order.html", po=po, events=events, bills=bills,
                supplier=supplier, major=major_units)


def _po_page(po_id: str) -> str:
    return f"/console/purchasing/{po_id}"


@router.post("/purchasing/{po_id}/send")
def send(po_id: str, bus: Bus, user: Buyer) -> RedirectResponse:
    return act(_po_page(po_id), "Purchase order sent: its lines now count as incoming.",
               lambda: bus.handle(c.SendPurchaseOrder(user.actor, po_id)))


@router.post("/purchasing/{po_id}/close")
def close(po_id: str, bus: Bus, user: Buyer, reason: Reason = "") -> RedirectResponse:
    return act(_po_page(po_id), "Purchase order closed: nothing more is expected.",
               lambda: bus.handle(c.ClosePurchaseOrder(user.actor, po_id, reason or None)))


@router.post("/purchasing/{po_id}/cancel")
def cancel(po_id: str, bus: Bus, user: Buyer, reason: Reason = "") -> RedirectResponse:
    return act(_po_page(po_id), "Purchase order cancelled.",
               lambda: bus.handle(c.CancelPurchaseOrder(user.actor, po_id, reason or None)))


def _filled(numbers: list[str], *columns: list[str]) -> list[tuple[Any, ...]]:
    """The rows of a per-line form whose first column was filled in: (line_no, *values)."""
    if any(len(column) != len(numbers) for column in columns):
        raise InvalidInput("the form's lines do not add up: reload the page and try again")
    rows = []
    for n, first, *rest in zip(numbers, *columns, strict=True):
        if not first.strip():
            continue
        if not WHOLE.fullmatch(n) or not WHOLE.fullmatch(first.strip()):
            raise InvalidInput("quantities are whole numbers of units")
        rows.append((int(n), int(first.strip()), *rest))
    if not rows:
        raise InvalidInput("give a quantity for at least one line")
    return rows


@router.post("/purchasing/{po_id}/receive")
def receive(po_id: str, bus: Bus, user: Buyer, line_no: Lines, quantity: Lines,
            reference: Annotated[str, Form(max_length=200)] = "",
            over: Annotated[str, Form(max_length=1)] = "") -> RedirectResponse:
    """Book what arrived, line by line; a part of what was ordered is fine."""

    def book() -> None:
        body = ReceiptIn.model_validate({
            "lines": [{"line_no": n, "quantity": q} for n, q in _filled(line_no, quantity)],
            "reference": reference.strip() or None, "allow_over_receipt": bool(over)})
        bus.handle(c.ReceivePurchaseOrder(
            user.actor, po_id, {ln.line_no: ln.quantity for ln in body.lines},
            body.allow_over_receipt, body.reference))

    return act(_po_page(po_id), "Receipt booked: the stock is on hand.", book)


@router.post("/purchasing/{po_id}/bills")
def enter_bill(request: Request, db: Db, bus: Bus, user: Buyer, po_id: str,
               number: Annotated[str, Form(max_length=64)],
               bill_date: Annotated[str, Form(max_length=10)],
               line_no: Lines, quantity: Lines, unit_cost: Lines) -> RedirectResponse:
    """Enter the supplier's bill, matched against what was ordered and received."""
    po = read_one(db, "purchase order", pq.find_purchase_order, po_id)
    settings = request.app.state.ordermesh.settings
    entered: list[str] = []

    def create() -> None:
        body = SupplierBillIn.model_validate({
            "number": number, "purchase_order": po["number"], "bill_date": bill_date,
            "lines": [{"line_no": n, "quantity": q, "unit_cost": minor_units(cost, po["currency"])}
                      for n, q, cost in _filled(line_no, quantity, unit_cost)]})
        entered.append(bus.handle(c.CreateSupplierBill(
            user.actor, body.number, body.purchase_order, body.bill_date,
            tuple((ln.line_no, ln.quantity, ln.unit_cost) for ln in body.lines),
            tolerance=Tolerance(price_percent=settings.bill_price_tolerance_percent,
                                price_amount=settings.bill_price_tolerance_minor))))

    answer = act(_po_page(po_id), "", create)
    if not entered:
        return answer
    return redirect(_bill_page(entered[0]), f"Bill {number} entered.")
