"""Status changes through the handler on a real database: an allowed move changes the order and
writes its event in the same transaction; a refused move writes nothing at all."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine

from ordermesh.adapters.db import tables as t
from ordermesh.domain.errors import InsufficientStock, InvalidTransition
from ordermesh.domain.orders import ACTION_EVENTS, ACTIONS, TRANSITIONS, OrderStatus
from ordermesh.services import commands as c
from ordermesh.services.bus import MessageBus
from tests.builders import a_shop, place

# The states an order reaches today, and how to bring it there from capture.
SETUPS: dict[OrderStatus, list[str]] = {
    OrderStatus.ALLOCATED: [],
    OrderStatus.BACKORDERED: [],
    OrderStatus.ON_HOLD: ["hold"],
    OrderStatus.CANCELLED: ["cancel"],
    OrderStatus.PAID: ["pay"],
}


def an_order_in(bus: MessageBus, status: OrderStatus) -> str:
    shop = a_shop(bus).product("A").product("B", backorderable=True).location("WH-1")
    shop.stock("A", "WH-1", 5)
    lines = [("A", 2), ("B", 1)] if status is OrderStatus.BACKORDERED else [("A", 2)]
    order_id: str = place(bus, *lines).order_id
    for action in SETUPS[status]:
        bus.handle(c.ChangeOrderStatus("test", order_id, action))
    return order_id


def snapshot(engine: Engine, order_id: str) -> dict[str, Any]:
    with engine.connect() as conn:
        order = conn.execute(select(t.orders.c.status, t.orders.c.version).where(
            t.orders.c.id == order_id)).one()
        counts = {table.name: conn.execute(select(func.count()).select_from(table)).scalar()
                  for table in (t.events, t.stock_movements, t.allocations)}
        reserved = conn.execute(select(func.sum(t.stock_levels.c.reserved))).scalar()
    return {"order": tuple(order), "reserved": reserved, **counts}


@pytest.mark.parametrize("status", SETUPS, ids=str)
@pytest.mark.parametrize("action", ACTIONS)
def test_status_change_on_the_database(bus: MessageBus, engine: Engine, status: OrderStatus,
                                       action: str) -> None:
    order_id = an_order_in(bus, status)
    before = snapshot(engine, order_id)
    if action not in TRANSITIONS[status]:
        with pytest.raises(InvalidTransition):
            bus.handle(c.ChangeOrderStatus("test", order_id, action))
        assert snapshot(engine, order_id) == before
        return
    bus.handle(c.ChangeOrderStatus("test", order_id, action))
    after = snapshot(engine, order_id)
    with engine.connect() as conn:
        last = conn.execute(select(t.events.c.type).where(t.events.c.stream_id == order_id)
                            .order_by(t.events.c.seq.desc()).limit(1)).scalar()
    assert last == ACTION_EVENTS[action]
    assert after["events"] == before["events"] + 1
    assert after["order"][1] == before["order"][1] + 1
    if action == "cancel":
        assert after["reserved"] == 0
    else:
        assert after["reserved"] == before["reserved"]


def test_a_save_writes_the_lines_that_changed_and_no_others(bus: MessageBus,
                                                            engine: Engine) -> None:
    order_id = an_order_in(bus, OrderStatus.ALLOCATED)
    sent: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", seen)
    try:
        bus.handle(c.ChangeOrderStatus("test", order_id, "hold"))  # the order alone changes
        held = list(sent)
        sent.clear()
        bus.handle(c.ChangeOrderStatus("test", order_id, "release"))
        bus.handle(c.ChangeOrderStatus("test", order_id, "cancel"))  # so do its lines
        cancelled = list(sent)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    line_updates = [s for s in held if s.startswith("UPDATE order_lines")]
    assert [s for s in held if s.startswith("UPDATE orders")] and not line_updates, held
    assert [s for s in cancelled if s.startswith("UPDATE order_lines")], cancelled
    with engine.connect() as conn:
        statuses = conn.execute(select(t.order_lines.c.status).join(
            t.orders, t.orders.c.seq == t.order_lines.c.order_seq).where(
            t.orders.c.id == order_id)).scalars().all()
    assert statuses == ["cancelled"]


def test_orders_are_numbered_in_turn_and_a_refused_order_takes_no_number(
        bus: MessageBus, engine: Engine) -> None:
    a_shop(bus).product("A").location("WH-1").stock("A", "WH-1", 3)
    first = place(bus, ("A", 1)).order_id
    with pytest.raises(InsufficientStock):
        place(bus, ("A", 5))
    second = place(bus, ("A", 1)).order_id
    with engine.connect() as conn:
        rows = conn.execute(select(t.orders.c.id, t.orders.c.seq, t.orders.c.status)
                            .order_by(t.orders.c.seq)).all()
    # each inserted as its placement left it, numbered one after the other
    assert [(row.id, row.status) for row in rows] == [(first, "allocated"), (second, "allocated")]
    assert rows[1].seq == rows[0].seq + 1
