"""Stock changed by hand "by" a number: the change is added to on hand under the row's lock, so
concurrent changes, sales and receipts are all kept, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from ordermesh.adapters.db import tables as t
from ordermesh.domain.errors import InvalidInput, NotFound
from ordermesh.domain.events import utcnow
from ordermesh.domain.inventory import StockUpdate, SyncMode, SyncOutcome
from ordermesh.services import commands as c
from ordermesh.services.bus import MessageBus
from tests.builders import Shop, a_shop, place
from tests.integration.test_reservation_concurrency import active_reserved, ledger_reserved
from tests.races import together

CLIENTS = 24


def a_store(bus: MessageBus) -> Shop:
    """One product on hand at a warehouse (sourced first) and a store."""
    shop = a_shop(bus).location("WH-1", priority=200).location("ST-1", priority=100)
    return shop.product("TEE").stock("TEE", "WH-1", 10).stock("TEE", "ST-1", 10)


def change(bus: MessageBus, delta: int, location: str = "WH-1", sku: str = "TEE",
           reference: str = "found") -> None:
    bus.handle(c.AdjustStockLevel("clerk", sku, location, on_hand_delta=delta,
                                  reference=reference))


def level(engine: Engine, location: str = "WH-1", sku: str = "TEE") -> Any:
    s = t.stock_levels.c
    with engine.connect() as conn:
        return conn.execute(select(t.stock_levels).where(
            s.sku == sku, s.location_code == location)).one()


def ledger(engine: Engine, location: str = "WH-1") -> list[Any]:
    """The ledger rows of TEE at the location, oldest first."""
    m = t.stock_movements.c
    with engine.connect() as conn:
        return list(conn.execute(select(m.on_hand_delta, m.reserved_delta, m.reason, m.reference,
                                        m.actor).where(m.sku == "TEE", m.location_code == location)
                                 .order_by(m.id)))


def row_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return sum(conn.execute(select(func.count()).select_from(table)).scalar_one()
                   for table in (t.stock_levels, t.stock_movements, t.allocations, t.events))


def test_concurrent_changes_of_one_are_all_kept(bus: MessageBus, engine: Engine) -> None:
    # given 10 T-shirts on hand at the warehouse
    a_store(bus)
    # when 24 clerks each add one at the same moment
    together([lambda: change(bus, +1)] * CLIENTS, ())
    # then on hand went up by exactly 24, and the ledger holds each change
    assert level(engine).on_hand == 10 + CLIENTS
    moves = ledger(engine)
    assert [m.on_hand_delta for m in moves[1:]] == [1] * CLIENTS
    assert {(m.reason, m.reference, m.actor) for m in moves[1:]} == {
        ("adjustment", "found", "clerk")}
    assert sum(m.on_hand_delta for m in moves) == level(engine).on_hand


def test_changes_racing_orders_lose_neither(bus: MessageBus, engine: Engine) -> None:
    # given 10 T-shirts at the warehouse and 10 at the store
    a_store(bus)
    # when 12 orders of one race 6 receipts of +2 and 6 write-offs of -1 at the warehouse
    orders: list[Any] = [lambda: place(bus, ("TEE", 1))] * 12
    changes: list[Any] = ([lambda: change(bus, +2, reference="received")] * 6
                          + [lambda: change(bus, -1, reference="damaged")] * 6)
    together([job for pair in zip(orders, changes, strict=True) for job in pair], ())
    # then every change is on hand: 10 + 12 - 6
    warehouse = level(engine)
    assert warehouse.on_hand == 16
    # and every order holds its unit, at one location or the other
    assert sum(active_reserved(engine).values()) == 12
    # and counters, allocation rows and the ledger agree
    counters = {("TEE", loc): level(engine, loc).reserved for loc in ("WH-1", "ST-1")}
    assert {key: n for key, n in counters.items() if n} == active_reserved(engine)
    assert ledger_reserved(engine) == active_reserved(engine)
    assert sum(m.on_hand_delta for m in ledger(engine)) == warehouse.on_hand
    assert [m.reference for m in ledger(engine) if m.on_hand_delta].count("received") == 6


def test_a_change_below_what_is_reserved_moves_the_newest_allocation(
        bus: MessageBus, engine: Engine) -> None:
    # given 8 of the warehouse's 10 T-shirts allocated to two orders
    a_store(bus)
    place(bus, ("TEE", 3))
    place(bus, ("TEE", 5))
    # when 4 are written off by hand
    change(bus, -4, reference="damaged")
    # then on hand is 6, and 2 units of the newest order moved to the store
    assert (level(engine).on_hand, level(engine).reserved) == (6, 6)
    assert active_reserved(engine) == {("TEE", "WH-1"): 6, ("TEE", "ST-1"): 2}
    assert ledger_reserved(engine) == active_reserved(engine)
    assert (-4, 0, "adjustment", "damaged") in [m[:4] for m in ledger(engine)]


def test_a_feed_count_taken_before_a_change_cannot_undo_it(bus: MessageBus,
                                                          engine: Engine) -> None:
    # given a stock row counted, and a moment after that count
    a_store(bus)
    counted = level(engine).last_counted_at
    between = utcnow()
    # when 2 are found by hand, then a feed's count from before that arrives
    change(bus, +2)
    late = StockUpdate("TEE", "WH-1", SyncMode.ABSOLUTE, 10, "feed-1", between)
    (result,) = bus.handle(c.SyncStock("feed", (late,)))
    # then the count is stale, the 2 found stay, and the change did not pass for a count
    assert result.outcome is SyncOutcome.STALE
    assert level(engine).on_hand == 12 and level(engine).last_counted_at == counted
    assert level(engine).last_movement_at is not None


def test_a_change_below_zero_is_refused_and_writes_nothing(bus: MessageBus,
                                                          engine: Engine) -> None:
    a_store(bus)
    before = row_count(engine)
    with pytest.raises(InvalidInput, match="cannot go below 0"):
        change(bus, -11)
    assert row_count(engine) == before and level(engine).on_hand == 10


@pytest.mark.parametrize(("fields", "says"), [
    ({"on_hand": 5, "on_hand_delta": 1}, "not both"),
    ({"on_hand": -1}, "cannot be negative"),
    ({}, "give on_hand or on_hand_delta"),
])
def test_a_count_or_a_change_not_both(bus: MessageBus, engine: Engine, fields: dict[str, int],
                                      says: str) -> None:
    a_store(bus)
    before = row_count(engine)
    with pytest.raises(InvalidInput, match=says):
        bus.handle(c.AdjustStockLevel("clerk", "TEE", "WH-1", **fields))
    assert row_count(engine) == before


def test_a_change_creates_the_stock_row_the_first_time(bus: MessageBus, engine: Engine) -> None:
    a_store(bus).location("ST-2")
    change(bus, +4, location="ST-2")
    assert level(engine, "ST-2").on_hand == 4
    with pytest.raises(NotFound):
        change(bus, +1, location="ST-3")  # unknown location: nothing to create
