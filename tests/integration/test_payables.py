"""Supplier bills in the database, on SQLite and PostgreSQL: stored and loaded whole, matched
against what earlier bills took, bill numbers unique per supplier, events written with the
change, and concurrent payments that can never together exceed what a bill owes."""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine

from ordermesh.adapters.db import payables_queries as q
from ordermesh.adapters.db import tables as t
from ordermesh.adapters.db.unit_of_work import SqlUnitOfWork
from ordermesh.domain.errors import ConcurrentUpdate, DomainError, InvalidInput, NotFound
from ordermesh.domain.money import Money
from ordermesh.domain.payables import (
    BillStatus,
    DuplicateBillNumber,
    DuplicatePaymentReference,
    Finding,
    OpenItem,
    Overpayment,
)
from ordermesh.services import commands as c
from ordermesh.services.bus import MessageBus
from tests.builders import a_shop
from tests.races import together

SUPPLIER = {"code": "ACME", "name": "Acme", "email": "orders@acme.example.com",
            "currency": "EUR", "lead_time_days": 5, "payment_terms_days": 30}
BILL_DATE = date(2026, 3, 1)


@pytest.fixture
def buyer(bus: MessageBus) -> MessageBus:
    a_shop(bus, channels=()).location("WH-1").product("MUG-1").product("TEE-1")
    bus.handle(c.CreateSupplier("test", SUPPLIER))
    return bus


def a_purchase_order(bus: MessageBus, received: int = 4, send: bool = True) -> str:
    """10 mugs at 100 and 5 shirts at 200 EUR; `received` mugs delivered."""
    po_id: str = bus.handle(c.CreatePurchaseOrder("test", {
        "supplier": "ACME", "deliver_to": "WH-1",
        "lines": [{"sku": "MUG-1", "quantity": 10, "unit_cost": 100},
                  {"sku": "TEE-1", "quantity": 5, "unit_cost": 200}]}))
    if send:
        bus.handle(c.SendPurchaseOrder("test", po_id))
    if received:
        bus.handle(c.ReceivePurchaseOrder("test", po_id, {1: received}))
    return po_id


def bill(bus: MessageBus, po: str, number: str, *lines: tuple[int, int, int], **extra: Any) -> str:
    bill_id: str = bus.handle(c.CreateSupplierBill(
        "test", number, po, BILL_DATE, lines or ((1, 4, 100),), **extra))
    return bill_id


def rows(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def events_of(engine: Engine, bill_id: str) -> list[str]:
    e = t.events.c
    with engine.connect() as conn:
        return list(conn.execute(select(e.type).where(
            e.stream == "supplier_bill", e.stream_id == bill_id).order_by(e.seq)).scalars())


def test_a_bill_is_stored_and_loaded_whole(buyer: MessageBus, engine: Engine) -> None:
    # given 4 of 10 mugs received, when the supplier bills 4 mugs and 1 shirt at 210
    po = a_purchase_order(buyer, received=4)
    bill_id = bill(buyer, po, " INV-1 ", (1, 4, 100), (2, 1, 210))
    with SqlUnitOfWork(engine) as uow:
        loaded = uow.supplier_bills.get(bill_id)
        assert loaded is not None
        # then the shirt, never received and dearer than ordered, holds the bill
        assert (loaded.number, loaded.po_number, loaded.status) == ("INV-1", "PO-000001", BillStatus.HELD)
        assert loaded.due_on == date(2026, 3, 31)
        assert [(ln.line_no, ln.sku, ln.quantity, ln.unit_cost) for ln in loaded.lines] == [
            (1, "MUG-1", 4, Money(100, "EUR")), (2, "TEE-1", 1, Money(210, "EUR"))]
        assert loaded.findings == (Finding(2, "TEE-1", "billed_more_than_received", 0, 1),
                                   Finding(2, "TEE-1", "price_above_tolerance", 200, 210))
        assert uow.supplier_bills.get(bill_id) is loaded  # one object per bill per transaction
        assert uow.supplier_bills.get("no-such-bill") is None
    with engine.connect() as conn:
        detail = q.bill_detail(conn, bill_id)
    assert detail is not None
    assert (detail["total"], detail["paid"], detail["outstanding"], detail["payment_status"]) == (
        610, 0, 610, "open")
    assert events_of(engine, bill_id) == ["supplier_bill.created"]


def test_earlier_bills_count_in_the_match_and_rejected_ones_do_not(buyer: MessageBus,
                                                                  engine: Engine) -> None:
    po = a_purchase_order(buyer, received=4)
    first = bill(buyer, po, "INV-1", (1, 3, 100))
    # 3 billed of 4 received: one more passes, two more do not
    second = bill(buyer, po, "INV-2", (1, 2, 100))
    buyer.handle(c.RejectSupplierBill("test", second, "billed twice"))
    third = bill(buyer, po, "INV-3", (1, 1, 100))
    with engine.connect() as conn:
        statuses = [q.bill_detail(conn, b)["status"] for b in (first, second, third)]  # type: ignore[index]
    assert statuses == ["matched", "rejected", "matched"]
    assert events_of(engine, second) == ["supplier_bill.created", "supplier_bill.rejected"]


def test_a_bill_number_is_unique_per_supplier(buyer: MessageBus, engine: Engine) -> None:
    first = bill(buyer, a_purchase_order(buyer), "INV-1")
    with pytest.raises(DuplicateBillNumber) as duplicate:
        bill(buyer, a_purchase_order(buyer), " INV-1")
    assert duplicate.value.extra == {"bill_id": first}
    assert rows(engine, t.supplier_bills) == 1


@pytest.mark.parametrize(("ref", "lines", "extra", "error"), [
    ("PO-000099", ((1, 1, 100),), {}, NotFound),
    (None, ((3, 1, 100),), {}, InvalidInput),  # no line 3
    (None, ((1, 1, 100),), {"currency": "GBP"}, InvalidInput),
    ("draft", ((1, 1, 100),), {}, InvalidInput),
])
def test_a_refused_bill_writes_nothing(buyer: MessageBus, engine: Engine, ref: str | None,
                                       lines: tuple[tuple[int, int, int], ...],
                                       extra: dict[str, Any], error: type[DomainError]) -> None:
    po = a_purchase_order(buyer)
    draft = a_purchase_order(buyer, received=0, send=False)
    target = {None: po, "draft": draft}.get(ref, ref)
    events = rows(engine, t.events)
    with pytest.raises(error):
        bill(buyer, str(target), "INV-9", *lines, **extra)
    assert rows(engine, t.supplier_bills) == rows(engine, t.supplier_bill_lines) == 0
    assert rows(engine, t.events) == events


def test_a_stale_save_is_a_conflict_and_writes_nothing(buyer: MessageBus, engine: Engine) -> None:
    bill_id = bill(buyer, a_purchase_order(buyer), "INV-1")
    with SqlUnitOfWork(engine) as uow:
        loaded = uow.supplier_bills.get(bill_id)
        assert loaded is not None
        uow.conn.execute(update(t.supplier_bills).values(version=t.supplier_bills.c.version + 1))
        loaded.approve("test")
        with pytest.raises(ConcurrentUpdate):
            uow.supplier_bills.save(loaded)
    assert events_of(engine, bill_id) == ["supplier_bill.created"]


def approved_bill(bus: MessageBus) -> str:
    """A matched bill of 4 mugs at 100 EUR, approved: 400 owed."""
    bill_id = bill(bus, a_purchase_order(bus, received=4), "INV-1")
    bus.handle(c.ApproveSupplierBill("test", bill_id))
    return bill_id


def paid(engine: Engine) -> tuple[int, int, str]:
    with engine.connect() as conn:
        total = conn.execute(select(func.coalesce(func.sum(t.supplier_payments.c.amount), 0))).scalar_one()
        count = conn.execute(select(func.count()).select_from(t.supplier_payments)).scalar_one()
        status = conn.execute(select(t.supplier_bills.c.status)).scalar_one()
    return int(total), int(count), status


@pytest.mark.parametrize(("amount", "winners", "status"), [
    (150, 2, "partially_paid"), (400, 1, "paid"), (100, 4, "paid")])
def test_concurrent_payments_never_exceed_what_the_bill_owes(
        buyer: MessageBus, engine: Engine, amount: int, winners: int, status: str) -> None:
    # given an approved bill owing 400
    bill_id = approved_bill(buyer)
    clients = 8
    # when eight clients each record a payment of `amount` at once
    results = together([
        lambda n=n: buyer.handle(c.RecordSupplierPayment("test", bill_id, amount, BILL_DATE, f"T-{n}"))
        for n in range(clients)], DomainError)
    # then only what fits in the 400 is recorded; the rest is refused, as an overpayment or,
    # once the bill is paid, as a payment of a paid bill
    refusal = "InvalidBillTransition" if status == "paid" else "Overpayment"
    outcomes = Counter("ok" if r == bill_id else type(r).__name__ for r in results)
    assert outcomes == {"ok": winners, refusal: clients - winners}
    assert paid(engine) == (amount * winners, winners, status)
    assert events_of(engine, bill_id).count("supplier_bill.payment_recorded") == winners


def test_one_reference_pays_a_bill_once_however_often_it_is_sent(buyer: MessageBus,
                                                                  engine: Engine) -> None:
    bill_id = approved_bill(buyer)
    results = together([
        lambda: buyer.handle(c.RecordSupplierPayment("test", bill_id, 50, BILL_DATE, "T-1"))
        for _ in range(8)], DomainError)
    assert sum(r == bill_id for r in results) == 1
    assert {type(r) for r in results if r != bill_id} == {DuplicatePaymentReference}
    assert paid(engine) == (50, 1, "partially_paid")


def test_concurrent_bills_for_one_order_are_matched_one_after_the_other(
        buyer: MessageBus, engine: Engine) -> None:
    # given 4 mugs received, when eight bills of one mug each arrive at once
    po = a_purchase_order(buyer, received=4)
    results = together([lambda n=n: bill(buyer, po, f"INV-{n}", (1, 1, 100)) for n in range(8)],
                       DomainError)
    assert all(isinstance(r, str) for r in results)
    # then each saw what the others billed: four match, four are held
    with engine.connect() as conn:
        statuses = Counter(conn.execute(select(t.supplier_bills.c.status)).scalars())
    assert statuses == {"matched": 4, "held": 4}


def test_overpaying_and_paying_a_held_bill_are_refused(buyer: MessageBus, engine: Engine) -> None:
    bill_id = bill(buyer, a_purchase_order(buyer, received=1), "INV-1", (1, 4, 100))
    with pytest.raises(DomainError, match="held"):
        buyer.handle(c.RecordSupplierPayment("test", bill_id, 100, BILL_DATE, "T-1"))
    with pytest.raises(InvalidInput, match="reason"):
        buyer.handle(c.ApproveSupplierBill("test", bill_id))
    buyer.handle(c.ApproveSupplierBill("test", bill_id, "the rest arrived without a note"))
    with pytest.raises(Overpayment):
        buyer.handle(c.RecordSupplierPayment("test", bill_id, 401, BILL_DATE, "T-1"))
    with pytest.raises(InvalidInput, match="EUR"):
        buyer.handle(c.RecordSupplierPayment("test", bill_id, 1, BILL_DATE, "T-1", currency="USD"))
    assert paid(engine) == (0, 0, "approved")
    assert events_of(engine, bill_id) == ["supplier_bill.created", "supplier_bill.approved"]


def test_open_items_are_what_each_bill_owed_on_the_day(buyer: MessageBus, engine: Engine) -> None:
    # given four bills: paid in part, paid in full later, rejected, and dated after the day
    po = a_purchase_order(buyer, received=10)
    part = bill(buyer, po, "INV-1", (1, 2, 100))
    full = bill(buyer, po, "INV-2", (1, 3, 100))
    rejected = bill(buyer, po, "INV-3", (1, 1, 100))
    buyer.handle(c.CreateSupplierBill("test", "INV-4", po, date(2026, 5, 1), ((1, 1, 100),)))
    for b in (part, full):
        buyer.handle(c.ApproveSupplierBill("test", b))
    buyer.handle(c.RejectSupplierBill("test", rejected))
    buyer.handle(c.RecordSupplierPayment("test", part, 50, date(2026, 3, 10), "T-1"))
    buyer.handle(c.RecordSupplierPayment("test", full, 300, date(2026, 4, 20), "T-2"))
    with engine.connect() as conn:
        on_the_day = q.open_items(conn, date(2026, 4, 15))
        later = q.open_items(conn, date(2026, 6, 1))
    # then the day sees what was owed then, not what was paid after it
    assert on_the_day == [OpenItem("ACME", "EUR", date(2026, 3, 31), 150),
                          OpenItem("ACME", "EUR", date(2026, 3, 31), 300)]
    assert later == [OpenItem("ACME", "EUR", date(2026, 3, 31), 150),
                     OpenItem("ACME", "EUR", date(2026, 5, 31), 100)]
