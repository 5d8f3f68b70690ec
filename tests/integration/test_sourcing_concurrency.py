"""Sourcing under concurrency: split carts over several locations never oversell any of them,
daily capacity holds, and arriving stock goes to the waiting orders first."""

from __future__ import annotations

import random
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from ordermesh.adapters.db import tables as t
from ordermesh.domain.errors import InsufficientStock
from ordermesh.services import commands as c
from ordermesh.services.bus import MessageBus
from tests.builders import a_shop, place
from tests.integration.test_reservation_concurrency import (
    active_reserved,
    ledger_reserved,
    stock_rows,
)
from tests.races import together

CLIENTS = 40
SPOTS = {"AMS": (52.37, 4.90), "UTR": (52.09, 5.12), "RTM": (51.92, 4.48)}


def concurrently(jobs: list[Any]) -> list[Any]:
    return together(jobs, InsufficientStock)


def three_locations(bus: MessageBus) -> Any:
    shop = a_shop(bus)
    for code, (lat, lon) in SPOTS.items():
        shop.location(code, latitude=lat, longitude=lon)
    return shop


def wanted_and_got(engine: Engine) -> list[tuple[int, int, int]]:
    """Per order line: (ordered, actively allocated, waiting)."""
    ln, a, b = t.order_lines.c, t.allocations.c, t.backorders.c
    allocated = (select(func.coalesce(func.sum(a.quantity), 0)).where(
        a.line_id == ln.id, a.status == "active").scalar_subquery())
    waiting = (select(func.coalesce(func.sum(b.quantity), 0)).where(
        b.line_id == ln.id, b.status == "waiting").scalar_subquery())
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(select(ln.quantity, allocated, waiting))]


def test_split_carts_racing_over_three_locations_never_oversell(bus: MessageBus,
                                                                engine: Engine) -> None:
    # given three products spread thinly over three locations, one of them backorderable
    shop = three_locations(bus)
    shop.product("A").product("B").product("C", backorderable=True)
    for i, code in enumerate(SPOTS):
        shop.stock("A", code, 3 + i).stock("B", code, 4).stock("C", code, 2, safety_stock=i)
    rng = random.Random(7)
    carts = [tuple((sku, rng.randint(1, 4)) for sku in rng.sample("ABC", rng.randint(1, 3)))
             for _ in range(CLIENTS)]
    spots = [SPOTS[rng.choice(list(SPOTS))] for _ in carts]
    # when 40 clients race, each shipping to somewhere near one of the locations
    results = concurrently([
        (lambda cart=cart, spot=spot: place(bus, *cart, shipping_address={
            "line1": "x", "city": "y", "country": "NL", "latitude": spot[0],
            "longitude": spot[1]}))
        for cart, spot in zip(carts, spots, strict=True)])
    # then no stock row went below its safety stock, and rows, counters and ledger agree
    levels = stock_rows(engine)
    for level in levels.values():
        assert level.on_hand - level.reserved - level.safety_stock >= 0
    reserved = active_reserved(engine)
    assert {key: lv.reserved for key, lv in levels.items() if lv.reserved} == reserved
    assert ledger_reserved(engine) == reserved
    # and every accepted line is allocated or waiting in full; refused carts wrote nothing
    accepted = [r for r in results if not isinstance(r, InsufficientStock)]
    lines = wanted_and_got(engine)
    assert len(lines) == sum(len(cart) for cart, r in zip(carts, results, strict=True)
                             if not isinstance(r, InsufficientStock))
    assert all(ordered == allocated + waiting for ordered, allocated, waiting in lines)
    # and the race was real: something was split, refused, and A and B sold out
    with engine.connect() as conn:
        orders = conn.execute(select(func.count()).select_from(t.orders)).scalar()
    assert orders == len(accepted) < CLIENTS
    assert sum(lv.on_hand - lv.reserved - lv.safety_stock for (sku, _), lv in levels.items()
               if sku in "AB") < 4


def test_daily_capacity_holds_under_a_race(bus: MessageBus, engine: Engine) -> None:
    # given Amsterdam, nearest to everyone, may take 5 shipments a day
    shop = three_locations(bus)
    shop.bus.handle(c.UpdateLocation("test", "AMS", {"daily_order_capacity": 5}))
    shop.product("A")
    for code in SPOTS:
        shop.stock("A", code, 50)
    amsterdam = {"line1": "x", "city": "Amsterdam", "country": "NL", "latitude": 52.37,
                 "longitude": 4.9}
    # when 20 clients in Amsterdam order at once
    concurrently([lambda: place(bus, ("A", 1), shipping_address=amsterdam)] * 20)
    # then Amsterdam took exactly 5, and the load row says so
    reserved = active_reserved(engine)
    assert reserved["A", "AMS"] == 5
    assert sum(reserved.values()) == 20
    with engine.connect() as conn:
        assert conn.execute(select(t.location_loads.c.shipments).where(
            t.location_loads.c.location_code == "AMS")).scalar() == 5


def test_arriving_stock_goes_to_the_waiting_orders_before_new_ones(bus: MessageBus,
                                                                  engine: Engine) -> None:
    # given five orders waiting for a backorderable product no one holds
    shop = three_locations(bus).product("A", backorderable=True)
    waiting = [place(bus, ("A", 1)).order_id for _ in range(5)]
    # when 5 units arrive while 15 new orders race for the same product
    jobs: list[Any] = [lambda: place(bus, ("A", 1))] * 15
    jobs.insert(7, lambda: shop.stock("A", "UTR", 5))
    concurrently(jobs)
    # then exactly the five orders that waited first got the units
    a = t.allocations.c
    with engine.connect() as conn:
        served = set(conn.execute(select(t.orders.c.id).join(
            t.allocations, a.order_seq == t.orders.c.seq).where(a.status == "active")).scalars())
        statuses = dict(conn.execute(select(t.orders.c.id, t.orders.c.status)).all())
    assert served == set(waiting)
    assert [statuses[order_id] for order_id in waiting] == ["allocated"] * 5
    assert sorted(s for o, s in statuses.items() if o not in waiting) == ["backordered"] * 15
