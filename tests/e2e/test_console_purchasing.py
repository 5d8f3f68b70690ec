"""Purchasing in the console, over HTTP on SQLite and PostgreSQL: the replenishment proposal
drafted into purchase orders, a purchase order sent (with its PDF) and received in part, and a
supplier's bill entered, approved and paid in part. Other roles are refused, and so is a form
without its CSRF token."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from ordermesh.adapters.db import payables_queries as bq
from ordermesh.adapters.db import purchasing_queries as pq
from ordermesh.adapters.db import queries
from ordermesh.bootstrap import App
from ordermesh.services import commands as c
from ordermesh.services.bus import MessageBus
from tests.builders import Shop
from tests.console import a_user, console_client, notice_after, sign_in, submit
from tests.e2e.conftest import row_counts

pytestmark = pytest.mark.db
HOME = "/console/purchasing"


@pytest.fixture
def buyer(ordermesh: App, bus: MessageBus, shop: Shop) -> TestClient:
    """An operator signed in; Acme supplies the shop and takes 30 days to be paid."""
    bus.handle(c.CreateSupplier("test", {
        "code": "ACME", "name": "Acme Ceramics", "email": "orders@acme.example",
        "currency": "EUR", "lead_time_days": 7, "payment_terms_days": 30, "active": True}))
    client = console_client(ordermesh)
    sign_in(client, a_user(bus, "operator"))
    return client


def a_sent_po(bus: MessageBus, *lines: tuple[str, int, int], received: bool = False) -> str:
    """Lines are (sku, quantity, unit cost in cents); sent to Acme, and received in full."""
    po_id: str = bus.handle(c.CreatePurchaseOrder("test", {
        "supplier": "ACME", "deliver_to": "WH-1",
        "lines": [{"sku": s, "quantity": q, "unit_cost": u} for s, q, u in lines]}))
    bus.handle(c.SendPurchaseOrder("test", po_id))
    if received:
        bus.handle(c.ReceivePurchaseOrder("test", po_id, {n: q for n, (_, q, _) in
                                                          enumerate(lines, start=1)}))
    return po_id


def po_of(engine: Engine, ref: str) -> dict[str, Any]:
    with engine.connect() as conn:
        po = pq.purchase_order_detail(conn, ref)
    assert po is not None
    return po


def on_hand(engine: Engine, sku: str, location: str) -> int:
    with engine.connect() as conn:
        return int(queries.list_stock_levels(conn, sku, location, None, 1)[0]["on_hand"])


def test_the_proposal_is_drafted_sent_and_received_in_part(buyer: TestClient, bus: MessageBus,
                                                           engine: Engine) -> None:
    # given caps from Acme, to be reordered by tens at the warehouse when 5 or fewer are left
    bus.handle(c.UpdateProduct("test", "CAP-1", {"supplier_code": "ACME"}))
    bus.handle(c.AdjustStockLevel("test", "CAP-1", "WH-1", reorder_point=5, reorder_quantity=10))
    # when the buyer opens purchasing, the proposal says what to buy and why
    home = buyer.get(HOME)
    assert home.status_code == 200
    assert "<td>ACME</td><td>WH-1</td>" in home.text and ">CAP-1</a>" in home.text
    # and drafts it
    drafted = notice_after(buyer, submit(buyer, f"{HOME}/drafts"))
    assert "Drafted PO-000001" in drafted
    po = po_of(engine, "PO-000001")
    assert po["status"] == "draft" and [ln["sku"] for ln in po["lines"]] == ["CAP-1"]
    ordered = po["lines"][0]["quantity"]
    # then a draft has no document yet
    assert buyer.get(f"{HOME}/{po['id']}.pdf").status_code == 404
    # when it is sent
    notice_after(buyer, submit(buyer, f"{HOME}/{po['id']}/send"))
    assert po_of(engine, po["id"])["status"] == "sent"
    # then its PDF is the supplier's document
    pdf = buyer.get(f"{HOME}/{po['id']}.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    # when 4 caps arrive
    answer = submit(buyer, f"{HOME}/{po['id']}/receive", {
        "line_no": ["1"], "quantity": ["4"], "reference": "DN-881"})
    assert "Receipt booked" in notice_after(buyer, answer)
    # then the order is partly received, and the caps are on hand
    po = po_of(engine, po["id"])
    assert po["status"] == "partially_received"
    assert (po["lines"][0]["received"], po["lines"][0]["outstanding"]) == (4, ordered - 4)
    assert on_hand(engine, "CAP-1", "WH-1") == 1 + 4
    page = buyer.get(f"{HOME}/{po['id']}").text
    assert "partially received" in page and "purchase_order.received" in page


def test_a_bill_is_entered_approved_and_paid_in_part(buyer: TestClient, bus: MessageBus,
                                                     engine: Engine) -> None:
    # given 10 mugs at 4.50 and 5 shirts at 12.75 ordered and received
    po_id = a_sent_po(bus, ("MUG-1", 10, 450), ("TEE-1", 5, 1275), received=True)
    # when the supplier's bill is entered as it reads
    answer = submit(buyer, f"{HOME}/{po_id}/bills", {
        "number": "INV-77", "bill_date": "2026-03-01", "line_no": ["1", "2"],
        "quantity": ["10", "5"], "unit_cost": ["4.50", "12,75"]})
    # then it matches the order and what was received
    assert answer.status_code == 303
    bill_url = answer.headers["location"]
    assert "Bill INV-77 entered." in buyer.get(bill_url).text
    bill_id = bill_url.rsplit("/", 1)[1]
    with engine.connect() as conn:
        bill = bq.bill_detail(conn, bill_id)
    assert bill is not None and (bill["status"], bill["total"]) == ("matched", 10 * 450 + 5 * 1275)
    # when it is approved and 50.00 of it paid
    notice_after(buyer, submit(buyer, f"{bill_url}/approve"))
    paid = notice_after(buyer, submit(buyer, f"{bill_url}/payments", {
        "amount": "50.00", "paid_on": "2026-03-10", "reference": "BANK-1"}))
    # then it is partly paid, and its page says what is still owed
    with engine.connect() as conn:
        bill = bq.bill_detail(conn, bill_id)
    assert bill is not None
    assert (bill["status"], bill["paid"], bill["outstanding"]) == ("partially_paid", 5000, 5875)
    assert "Payment BANK-1 recorded." in paid and "€58.75" in paid
    # and the purchase order's page lists the bill
    assert "INV-77" in buyer.get(f"{HOME}/{po_id}").text


@pytest.mark.parametrize(("path", "fields", "says"), [
    ("receive", {"line_no": ["1"], "quantity": [""]}, "give a quantity"),
    ("receive", {"line_no": ["1"], "quantity": ["30"]}, "outstanding"),
    ("bills", {"number": "B-1", "bill_date": "2026-03-01", "line_no": ["1"], "quantity": ["10"],
               "unit_cost": ["4.505"]}, "2 decimals"),
    ("bills", {"number": "B-1", "bill_date": "yesterday", "line_no": ["1"], "quantity": ["10"],
               "unit_cost": ["4.50"]}, "bill_date"),
    ("close", {"reason": "x" * 501}, ""),
])
def test_bad_input_is_a_notice_and_changes_nothing(buyer: TestClient, bus: MessageBus,
                                                   engine: Engine, path: str,
                                                   fields: dict[str, Any], says: str) -> None:
    po_id = a_sent_po(bus, ("MUG-1", 10, 450))
    before = row_counts(engine)
    answer = submit(buyer, f"{HOME}/{po_id}/{path}", fields)
    if says:
        assert says in notice_after(buyer, answer)
    else:  # refused by the form's own limits
        assert answer.status_code == 422
    assert row_counts(engine) == before


def test_other_roles_are_refused_and_a_post_needs_its_csrf_token(
        ordermesh: App, bus: MessageBus, buyer: TestClient, engine: Engine) -> None:
    po_id: str = bus.handle(c.CreatePurchaseOrder("test", {
        "supplier": "ACME", "deliver_to": "WH-1",
        "lines": [{"sku": "MUG-1", "quantity": 1, "unit_cost": 450}]}))
    for role, location in (("call_centre", None), ("store_staff", "ST-AMS")):
        client = console_client(ordermesh)
        sign_in(client, a_user(bus, role, location))
        assert client.get(HOME).status_code == 403
        assert submit(client, f"{HOME}/{po_id}/send").status_code == 403
    before = row_counts(engine)
    # the proposal on the page is worked out, not written
    assert buyer.get(HOME).status_code == 200
    assert buyer.post(f"{HOME}/{po_id}/send").status_code == 403
    assert buyer.post(f"{HOME}/drafts").status_code == 403
    assert row_counts(engine) == before and po_of(engine, po_id)["status"] == "draft"
    # and the document needs a signed-in buyer
    assert console_client(ordermesh).get(f"{HOME}/{po_id}.pdf").status_code == 303
