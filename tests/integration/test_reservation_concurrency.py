"""Never oversell: many clients racing for the last units sell exactly what is available."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from ordermesh.adapters.db import tables as t
from ordermesh.domain.errors import InsufficientStock
from ordermesh.services.bus import MessageBus
from tests.builders import a_shop, place

CLIENTS = 40


def race(bus: MessageBus, orders: list[tuple[tuple[str, int], ...]]) -> list[Any]:
    """Place the orders from as many threads at once, all released by one barrier."""
    barrier = Barrier(len(orders))

    def one(lines: tuple[tuple[str, int], ...]) -> Any:
        barrier.wait()
        try:
            return place(bus, *lines)
        except InsufficientStock as exc:
            return exc

    with ThreadPoolExecutor(max_workers=len(orders)) as pool:
        return list(pool.map(one, orders))


def stock_rows(engine: Engine) -> dict[tuple[str, str], Any]:
    with engine.connect() as conn:
        rows = conn.execute(select(t.stock_levels)).all()
    return {(r.sku, r.location_code): r for r in rows}


def active_reserved(engine: Engine) -> dict[tuple[str, str], int]:
    r = t.allocations.c
    query = (select(r.sku, r.location_code, func.sum(r.quantity))
             .where(r.status == "active").group_by(r.sku, r.location_code))
    with engine.connect() as conn:
        return {(sku, loc): int(total) for sku, loc, total in conn.execute(query)}


def ledger_reserved(engine: Engine) -> dict[tuple[str, str], int]:
    m = t.stock_movements.c
    query = select(m.sku, m.location_code, func.sum(m.reserved_delta)).group_by(
        m.sku, m.location_code)
    with engine.connect() as conn:  # rows that net to zero hold nothing
        return {(sku, loc): int(total) for sku, loc, total in conn.execute(query) if total}


def test_racing_clients_sell_exactly_the_available_units(bus: MessageBus, engine: Engine) -> None:
    # given 25 available units of one product over two locations (safety stock held back)
    shop = a_shop(bus).product("HOT-1").location("WH-1", priority=200).location("ST-1")
    shop.stock("HOT-1", "WH-1", on_hand=17, safety_stock=2).stock("HOT-1", "ST-1", on_hand=10)
    # when 40 clients each try to buy one unit at the same moment
    results = race(bus, [(("HOT-1", 1),)] * CLIENTS)
    # then exactly 25 orders are allocated and 15 are refused as short
    sold = [r for r in results if not isinstance(r, InsufficientStock)]
    assert len(sold) == 25
    assert sum(isinstance(r, InsufficientStock) for r in results) == CLIENTS - 25
    levels = stock_rows(engine)
    assert levels["HOT-1", "WH-1"].reserved == 15
    assert levels["HOT-1", "ST-1"].reserved == 10
    # and the reservation rows, the counters and the ledger agree
    assert active_reserved(engine) == {("HOT-1", "WH-1"): 15, ("HOT-1", "ST-1"): 10}
    assert ledger_reserved(engine) == active_reserved(engine)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.orders)).scalar() == 25


def test_mixed_carts_never_take_availability_below_zero(bus: MessageBus, engine: Engine) -> None:
    # given two hot products with little stock
    shop = a_shop(bus).product("A").product("B").location("WH-1").location("ST-1", priority=50)
    shop.stock("A", "WH-1", 7).stock("A", "ST-1", 4, safety_stock=1)
    shop.stock("B", "WH-1", 5).stock("B", "ST-1", 5)
    carts = [(("A", 1 + i % 2), ("B", 1 + i % 3)) for i in range(CLIENTS)]
    # when 40 clients race with carts of both, in different line orders
    carts = [cart if i % 2 else cart[::-1] for i, cart in enumerate(carts)]
    results = race(bus, carts)
    # then no level went below its safety stock, and every sold cart is fully reserved
    for level in stock_rows(engine).values():
        assert level.on_hand - level.reserved - level.safety_stock >= 0
    sold = [cart for cart, r in zip(carts, results, strict=True)
            if not isinstance(r, InsufficientStock)]
    wanted = {sku: sum(q for cart in sold for s, q in cart if s == sku) for sku in ("A", "B")}
    reserved = active_reserved(engine)
    assert {sku: sum(v for (s, _), v in reserved.items() if s == sku) for sku in ("A", "B")} == wanted
    assert ledger_reserved(engine) == reserved
    # and the shop sold out of at least one product: the race was real
    assert min(shop_available(engine, "A"), shop_available(engine, "B")) < 2


def shop_available(engine: Engine, sku: str) -> int:
    return sum(r.on_hand - r.reserved - r.safety_stock
               for (s, _), r in stock_rows(engine).items() if s == sku)


@pytest.mark.parametrize("clients", [32])
def test_cancel_races_release_once(bus: MessageBus, engine: Engine, clients: int) -> None:
    from ordermesh.domain.errors import InvalidTransition
    from ordermesh.services import commands as c

    # given one allocated order of 3 units
    shop = a_shop(bus).product("A").location("WH-1")
    shop.stock("A", "WH-1", 3)
    order_id = place(bus, ("A", 3)).order_id
    barrier = Barrier(clients)

    def cancel(_: int) -> str:
        barrier.wait()
        try:
            return str(bus.handle(c.ChangeOrderStatus("test", order_id, "cancel")))
        except InvalidTransition:
            return "refused"

    # when 32 clients cancel it at once
    with ThreadPoolExecutor(max_workers=clients) as pool:
        outcomes = list(pool.map(cancel, range(clients)))
    # then one cancel wins, the rest are refused, and the units are released exactly once
    assert outcomes.count(order_id) == 1
    assert outcomes.count("refused") == clients - 1
    assert stock_rows(engine)["A", "WH-1"].reserved == 0
    assert ledger_reserved(engine) == {}


def test_orders_stock_feeds_and_cancels_racing_never_deadlock(
        bus: MessageBus, engine: Engine) -> None:
    from datetime import UTC, datetime, timedelta

    from ordermesh.domain.inventory import StockUpdate, SyncMode
    from ordermesh.services import commands as c

    # given location priorities that run against the alphabet (WH-1 first, ST-1 last), so a
    # lock order by code would cross the order reservations try locations in
    shop = a_shop(bus)
    for code, priority in (("WH-1", 300), ("WH-2", 200), ("ST-1", 100)):
        shop.location(code, priority=priority)
    for sku in ("A", "B"):
        shop.product(sku).stock(sku, "WH-1", 6).stock(sku, "WH-2", 6).stock(sku, "ST-1", 40)
    to_cancel = [place(bus, ("A", 1), ("B", 1)).order_id for _ in range(8)]
    barrier = Barrier(CLIENTS)
    start = datetime.now(UTC) + timedelta(minutes=1)

    def one(i: int) -> str:
        barrier.wait()
        if i < len(to_cancel):
            bus.handle(c.ChangeOrderStatus("test", to_cancel[i], "cancel"))
            return "cancelled"
        if i % 4 == 0:
            bus.handle(c.SyncStock("test", tuple(
                StockUpdate(sku, loc, SyncMode.DELTA, 1, f"feed-{i}-{sku}-{loc}",
                            start + timedelta(seconds=i))
                for sku in ("A", "B") for loc in ("ST-1", "WH-1", "WH-2"))))
            return "synced"
        try:
            place(bus, ("A", 1 + i % 5), ("B", 1))
            return "placed"
        except InsufficientStock:
            return "short"

    # when 40 clients place orders, feed stock and cancel orders at once
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        outcomes = list(pool.map(one, range(CLIENTS)))
    # then every command went through without a single deadlock, and the books agree
    assert bus.retried["deadlock"] == 0
    assert outcomes.count("cancelled") == 8
    assert outcomes.count("synced") == len([i for i in range(8, CLIENTS) if i % 4 == 0])
    assert ledger_reserved(engine) == active_reserved(engine)
    for (sku, loc), level in stock_rows(engine).items():
        assert level.reserved == active_reserved(engine).get((sku, loc), 0)
        assert level.on_hand - level.reserved - level.safety_stock >= 0


def test_racing_gtin_changes_give_it_to_one_product(bus: MessageBus, engine: Engine) -> None:
    from ordermesh.domain.errors import AlreadyExists
    from ordermesh.services import commands as c
    from tests.builders import a_gtin

    # given 16 products, each changed at once to carry the same GTIN
    shop = a_shop(bus)
    for i in range(16):
        shop.product(f"P-{i}")
    barrier = Barrier(16)

    def claim(i: int) -> str:
        barrier.wait()
        try:
            bus.handle(c.UpdateProduct("test", f"P-{i}", {"gtin": a_gtin(42)}))
            return "won"
        except AlreadyExists:
            return "refused"

    with ThreadPoolExecutor(max_workers=16) as pool:
        outcomes = list(pool.map(claim, range(16)))
    # then exactly one product has it, and every other change was refused cleanly
    assert sorted(outcomes) == ["refused"] * 15 + ["won"]
    with engine.connect() as conn:
        holders = conn.execute(select(t.products.c.sku).where(
            t.products.c.gtin == a_gtin(42))).all()
    assert len(holders) == 1
