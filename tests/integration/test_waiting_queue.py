"""The queue of waiting lines: served first come, first served whenever stock comes back, whatever
the waiting order's status, and never passed over by a newer order or a cart."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import Engine

from ordermesh.adapters.db import tables as t
from ordermesh.services import commands as c
from ordermesh.services.bus import MessageBus
from tests.builders import Shop, a_shop, place


def state(engine: Engine, order_id: str) -> dict[str, Any]:
    with engine.connect() as conn:
        order = conn.execute(select(t.orders.c.status, t.orders.c.seq).where(
            t.orders.c.id == order_id)).one()
        b, a = t.backorders.c, t.allocations.c
        waiting = conn.execute(select(b.quantity).where(
            b.order_seq == order.seq, b.status == "waiting")).scalars().all()
        active = conn.execute(select(a.location_code, a.quantity).where(
            a.order_seq == order.seq, a.status == "active")).all()
        lines = conn.execute(select(t.order_lines.c.status).where(
            t.order_lines.c.order_seq == order.seq)).scalars().all()
        events = conn.execute(select(t.events.c.type).where(
            t.events.c.stream_id == order_id).order_by(t.events.c.seq)).scalars().all()
    return {"status": order.status, "lines": lines, "waiting": sum(waiting),
            "active": sorted((loc, qty) for loc, qty in active), "events": events}


def mugs(bus: MessageBus) -> Shop:
    shop = a_shop(bus).location("A", priority=200).location("B", priority=100)
    shop.product("MUG", backorderable=True)
    shop.stock("MUG", "A", 2)
    return shop


def test_a_paid_order_whose_line_waits_is_served_when_stock_arrives(bus: MessageBus,
                                                                   engine: Engine) -> None:
    shop = mugs(bus)
    first = place(bus, ("MUG", 2)).order_id
    bus.handle(c.ChangeOrderStatus("t", first, "pay"))
    bus.handle(c.ResourceLine("t", first, 1, "A", "damaged"))
    assert state(engine, first)["waiting"] == 2
    shop.stock("MUG", "B", 2)
    got = state(engine, first)
    assert (got["status"], got["lines"], got["waiting"], got["active"]) == (
        "paid", ["reserved"], 0, [("B", 2)])
    assert got["events"][-1] == "order.backorder_allocated"
    # and a later order gets only what A gave back (A rejected the line, not the mugs)
    assert state(engine, place(bus, ("MUG", 2)).order_id)["active"] == [("A", 2)]


def test_an_order_back_from_hold_is_served_from_the_queue(bus: MessageBus,
                                                          engine: Engine) -> None:
    shop = mugs(bus)
    first = place(bus, ("MUG", 2)).order_id
    bus.handle(c.ChangeOrderStatus("t", first, "hold"))
    bus.handle(c.ResourceLine("t", first, 1, "A", "damaged"))
    shop.stock("MUG", "B", 2)  # held: its place in the queue is kept, nothing is given to it
    assert state(engine, first)["active"] == []
    bus.handle(c.ChangeOrderStatus("t", first, "release"))
    got = state(engine, first)
    assert (got["lines"], got["waiting"], got["active"]) == (["reserved"], 0, [("B", 2)])


def test_stock_given_back_by_a_cancel_goes_to_the_queue(bus: MessageBus, engine: Engine) -> None:
    mugs(bus)
    holder = place(bus, ("MUG", 2)).order_id
    waiter = place(bus, ("MUG", 2)).order_id
    assert state(engine, waiter)["status"] == "backordered"
    bus.handle(c.ChangeOrderStatus("t", holder, "cancel"))
    got = state(engine, waiter)
    assert (got["status"], got["active"]) == ("allocated", [("A", 2)])
    assert state(engine, place(bus, ("MUG", 1)).order_id)["status"] == "backordered"


def test_stock_given_back_by_a_cart_hold_goes_to_the_queue(bus: MessageBus,
                                                           engine: Engine) -> None:
    from tests.builders import hold

    mugs(bus)
    bus.handle(c.UpdateChannel("t", "web", {"cart_hold_minutes": 15}))
    held = hold(bus, ("MUG", 2))
    waiter = place(bus, ("MUG", 2)).order_id
    bus.handle(c.ReleaseCartHold("t", held, "web"))
    assert state(engine, waiter)["active"] == [("A", 2)]


def test_a_fallen_count_ends_cart_holds_before_moving_orders(bus: MessageBus,
                                                             engine: Engine) -> None:
    from tests.builders import hold

    shop = mugs(bus)
    shop.stock("MUG", "A", 10)
    bus.handle(c.UpdateChannel("t", "web", {"cart_hold_minutes": 15}))
    paid = place(bus, ("MUG", 5)).order_id
    bus.handle(c.ChangeOrderStatus("t", paid, "pay"))
    held = hold(bus, ("MUG", 5))
    # when the shelf is counted at 5
    shop.stock("MUG", "A", 5)
    # then the cart loses its hold, and the paid order keeps its stock
    assert state(engine, paid)["active"] == [("A", 5)]
    with engine.connect() as conn:
        status = conn.execute(select(t.cart_holds.c.status).where(
            t.cart_holds.c.id == held)).scalar()
        level = conn.execute(select(t.stock_levels.c.reserved).where(
            t.stock_levels.c.sku == "MUG", t.stock_levels.c.location_code == "A")).scalar()
    assert (status, level) == ("released", 5)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_stock_arriving_locks_the_waiting_orders_before_the_stock(bus: MessageBus,
                                                                  engine: Engine) -> None:
    # given an order waiting for 2 of A, and a command on it (say a cancel) that has locked the
    # order row and is about to take A's stock row, as every order command does
    shop = a_shop(bus).location("L").product("A", backorderable=True)
    shop.stock("A", "L", 1)
    waiting = place(bus, ("A", 3)).order_id
    other: dict[str, str] = {}

    def order_then_stock() -> None:
        with engine.connect() as conn:
            conn.execute(text("SET deadlock_timeout = '100ms'"))
            conn.execute(text("SELECT 1 FROM orders WHERE id = :id FOR UPDATE"), {"id": waiting})
            other["locked"] = "yes"
            time.sleep(0.5)
            conn.execute(text("UPDATE stock_levels SET reserved = reserved WHERE sku = 'A'"))
            conn.rollback()
        other["done"] = "yes"

    thread = threading.Thread(target=order_then_stock)
    thread.start()
    while "locked" not in other:
        time.sleep(0.01)
    # when stock arrives for A meanwhile
    shop.stock("A", "L", 10)
    thread.join()
    # then neither waited for the other in a circle: no deadlock, and the order was served
    assert other["done"] == "yes" and bus.retried["deadlock"] == 0
    assert state(engine, waiting)["active"] == [("L", 1), ("L", 2)]


def test_orders_cancels_and_counts_racing_on_backorderable_stock_all_go_through(
        bus: MessageBus, engine: Engine) -> None:
    import random
    from concurrent.futures import ThreadPoolExecutor

    from tests.integration.test_reservation_concurrency import (
        active_reserved,
        ledger_reserved,
        stock_rows,
    )

    # given three backorderable products with a little stock in two places
    shop = a_shop(bus).location("WH", priority=200).location("ST", priority=100)
    skus = ["A", "B", "C"]
    for sku in skus:
        shop.product(sku, backorderable=True).stock(sku, "WH", 6).stock(sku, "ST", 3)
    barrier = threading.Barrier(6)

    def client(n: int) -> list[str]:
        rng, done = random.Random(n), []
        barrier.wait()
        for _ in range(15):
            lines = [(sku, rng.randint(1, 4)) for sku in rng.sample(skus, rng.randint(1, 2))]
            order_id = place(bus, *lines).order_id
            done.append("placed")
            if rng.random() < 0.5:
                bus.handle(c.ChangeOrderStatus("t", order_id, "cancel"))
                done.append("cancelled")
            if rng.random() < 0.25:
                shop.stock(rng.choice(skus), rng.choice(["WH", "ST"]), rng.randint(0, 8))
                done.append("counted")
        return done

    # when six clients place, cancel and count at once (every failure would raise here)
    with ThreadPoolExecutor(max_workers=6) as pool:
        outcomes = [o for done in pool.map(client, range(6)) for o in done]
    # then every command went through, and allocations, counters and ledger agree
    assert outcomes.count("placed") == 90
    reserved = active_reserved(engine)
    assert {k: lv.reserved for k, lv in stock_rows(engine).items() if lv.reserved} == reserved
    assert ledger_reserved(engine) == reserved
    # and no two commands ever waited on each other in a circle
    assert bus.retried["deadlock"] == 0
