"""Purchase orders in the database: numbers, locking reads, version checks, events written with
the change, and concurrent receipts booking goods exactly once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from threading import Barrier
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine

from ordermesh.adapters.db import tables as t
from ordermesh.adapters.db.unit_of_work import SqlUnitOfWork
from ordermesh.domain.errors import ConcurrentUpdate, DomainError, InvalidInput
from ordermesh.services import commands as c
from ordermesh.services.bus import MessageBus
from tests.builders import a_shop

SUPPLIER = {"code": "ACME", "name": "Acme", "email": "orders@acme.example.com",
            "currency": "EUR", "lead_time_days": 5, "payment_terms_days": 30}


@pytest.fixture
def buyer(bus: MessageBus) -> MessageBus:
    a_shop(bus, channels=()).location("WH-1").product("MUG-1").product("TEE-1")
    bus.handle(c.CreateSupplier("test", SUPPLIER))
    return bus


def a_purchase_order(bus: MessageBus, quantity: int = 5, send: bool = True) -> str:
    po_id: str = bus.handle(c.CreatePurchaseOrder("test", {
        "supplier": "ACME", "deliver_to": "WH-1",
        "lines": [{"sku": "MUG-1", "quantity": quantity, "unit_cost": 100}]}))
    if send:
        bus.handle(c.SendPurchaseOrder("test", po_id))
    return po_id


def events_of(engine: Engine, po_id: str) -> list[str]:
    e = t.events.c
    with engine.connect() as conn:
        return list(conn.execute(select(e.type).where(
            e.stream == "purchase_order", e.stream_id == po_id).order_by(e.seq)).scalars())


def test_a_purchase_order_is_found_by_id_or_number(buyer: MessageBus, engine: Engine) -> None:
    first, second = a_purchase_order(buyer, send=False), a_purchase_order(buyer, send=False)
    with SqlUnitOfWork(engine) as uow:
        po = uow.purchase_orders.get(second)
        assert po is not None and po.number == "PO-000002"
        assert uow.purchase_orders.get("po-000002") is po  # one object per order per transaction
        assert uow.purchase_orders.get(first) is not po
        assert uow.purchase_orders.get("PO-000099") is None


def test_a_stale_save_is_a_conflict_and_writes_nothing(buyer: MessageBus, engine: Engine) -> None:
    po_id = a_purchase_order(buyer, send=False)
    with SqlUnitOfWork(engine) as uow:
        po = uow.purchase_orders.get(po_id)
        assert po is not None
        # another writer got there first
        uow.conn.execute(update(t.purchase_orders).values(version=t.purchase_orders.c.version + 1))
        po.send("test", datetime.now(UTC).date(), 3)
        with pytest.raises(ConcurrentUpdate):
            uow.purchase_orders.save(po)
    assert events_of(engine, po_id) == ["purchase_order.created"]


def test_events_are_written_with_the_change_and_only_with_it(buyer: MessageBus,
                                                             engine: Engine) -> None:
    po_id = a_purchase_order(buyer)
    with pytest.raises(InvalidInput):
        buyer.handle(c.ReceivePurchaseOrder("test", po_id, {1: 6}))
    buyer.handle(c.ReceivePurchaseOrder("test", po_id, {1: 2}, reference="DN-1"))
    assert events_of(engine, po_id) == [
        "purchase_order.created", "purchase_order.sent", "purchase_order.received"]


def test_concurrent_receipts_book_the_goods_once(buyer: MessageBus, engine: Engine) -> None:
    # given a sent purchase order for 5 mugs
    po_id = a_purchase_order(buyer, quantity=5)
    clients = 8
    barrier = Barrier(clients)

    def one(_: int) -> Any:
        barrier.wait()
        try:
            return buyer.handle(c.ReceivePurchaseOrder("test", po_id, {1: 5}))
        except DomainError as exc:
            return exc

    # when eight clients book the same delivery at once
    with ThreadPoolExecutor(max_workers=clients) as pool:
        results = list(pool.map(one, range(clients)))
    # then one booking counts and the others are refused: the order was received by then
    assert sum(not isinstance(r, DomainError) for r in results) == 1
    assert {type(r).__name__ for r in results if isinstance(r, DomainError)} == {
        "InvalidPurchaseOrderTransition"}
    m, s = t.stock_movements.c, t.stock_levels.c
    with engine.connect() as conn:
        on_hand = conn.execute(select(s.on_hand).where(s.sku == "MUG-1")).scalar_one()
        ledger = conn.execute(select(func.sum(m.on_hand_delta)).where(
            m.reason == "purchase_receipt")).scalar_one()
        received = conn.execute(select(t.purchase_order_lines.c.received)).scalar_one()
    assert on_hand == ledger == received == 5
