"""Cart holds under concurrency, on both databases: a hold becomes one order however many
clients convert it, holds never oversell, and expiry racing with conversion leaves books
where stock levels, allocations, active holds and the ledger agree."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine

from ordermesh.adapters.db import tables as t
from ordermesh.bootstrap import App
from ordermesh.config import Settings
from ordermesh.domain.errors import DomainError
from ordermesh.domain.events import utcnow
from ordermesh.entrypoints.worker import expire_cart_holds
from ordermesh.services import commands as c
from ordermesh.services.bus import MessageBus
from tests.builders import Shop, a_shop, hold, place
from tests.integration.test_reservation_concurrency import active_reserved, ledger_reserved, stock_rows
from tests.races import together as race_together


def together(jobs: list[Any]) -> list[Any]:
    """Run the jobs at once; refusals are returned, not raised."""
    return race_together(jobs, DomainError)


def holding_shop(bus: MessageBus) -> Shop:
    shop = a_shop(bus).location("WH-1", priority=200).location("ST-1", priority=50)
    bus.handle(c.UpdateChannel("test", "web", {"cart_hold_minutes": 15}))
    return shop.product("HOT").product("COLD")


def held(engine: Engine) -> dict[tuple[str, str], int]:
    """Units reserved by active holds, per stock row."""
    h, hl = t.cart_holds.c, t.cart_hold_lines.c
    query = (select(hl.sku, hl.location_code, func.sum(hl.quantity))
             .join(t.cart_holds, h.id == hl.hold_id).where(h.status == "active")
             .group_by(hl.sku, hl.location_code))
    with engine.connect() as conn:
        return {(sku, loc): int(total) for sku, loc, total in conn.execute(query)}


def assert_books_agree(engine: Engine) -> None:
    """stock_levels.reserved = active allocations + active hold lines = the ledger's sum."""
    expected = Counter(active_reserved(engine)) + Counter(held(engine))
    levels = stock_rows(engine)
    assert {key: lv.reserved for key, lv in levels.items() if lv.reserved} == dict(expected)
    assert ledger_reserved(engine) == dict(expected)
    assert all(lv.on_hand - lv.reserved - lv.safety_stock >= 0 for lv in levels.values())


def statuses(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        return dict(conn.execute(select(t.cart_holds.c.id, t.cart_holds.c.status)).all())


def count(engine: Engine, table: t.Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_sixteen_clients_converting_one_hold_make_one_order(bus: MessageBus, engine: Engine
                                                            ) -> None:
    # given a hold on the last 3 units
    holding_shop(bus).stock("HOT", "WH-1", 3)
    hold_id = hold(bus, ("HOT", 3))
    # when 16 clients place an order with it at once
    results = together([lambda: place(bus, ("HOT", 3), cart_hold=hold_id)] * 16)
    # then one order was placed; the others were told the hold is no longer active
    placed = [r for r in results if not isinstance(r, DomainError)]
    assert len(placed) == 1
    assert Counter(r.code for r in results if isinstance(r, DomainError)) == {
        "cart_hold.not_active": 15}
    assert count(engine, t.orders) == 1
    # and the units are reserved once, by the order, and the hold names it
    assert active_reserved(engine) == {("HOT", "WH-1"): 3}
    assert statuses(engine) == {hold_id: "converted"}
    with engine.connect() as conn:
        assert conn.execute(select(t.cart_holds.c.order_id)).scalar() == placed[0].order_id
    assert_books_agree(engine)


def test_thirty_two_clients_holding_the_last_units_never_oversell(bus: MessageBus,
                                                                  engine: Engine) -> None:
    # given 14 available units over two locations (one held back as safety stock)
    holding_shop(bus).stock("HOT", "WH-1", 10, safety_stock=1).stock("HOT", "ST-1", 5)
    # when 32 clients hold one unit each at the same moment
    results = together([lambda: hold(bus, ("HOT", 1))] * 32)
    # then exactly 14 holds were made and 18 were refused as short
    assert sum(isinstance(r, str) for r in results) == 14
    assert Counter(r.code for r in results if isinstance(r, DomainError)) == {
        "stock.insufficient": 18}
    assert held(engine) == {("HOT", "WH-1"): 9, ("HOT", "ST-1"): 5}
    assert count(engine, t.cart_holds) == 14
    assert_books_agree(engine)


def test_expiry_racing_with_conversion_lets_exactly_one_win(bus: MessageBus,
                                                           engine: Engine) -> None:
    # given ten holds, and orders racing to convert them while expiry runs with a clock
    # that says they are all due
    holding_shop(bus).stock("HOT", "WH-1", 20).stock("COLD", "ST-1", 20)
    holds = [hold(bus, ("HOT", 1), ("COLD", 1)) for _ in range(10)]
    later = utcnow() + timedelta(hours=1)
    jobs: list[Any] = [lambda h=h: place(bus, ("HOT", 1), ("COLD", 1), cart_hold=h) for h in holds]
    for i in (2, 5, 8):
        jobs.insert(i, lambda: bus.handle(c.ExpireCartHolds("worker", now=later, limit=3)))
    results = together(jobs)
    ended = statuses(engine)
    # then each hold ended exactly once: converted into an order, or expired
    assert set(ended.values()) <= {"converted", "expired"}
    converted = [h for h in holds if ended[h] == "converted"]
    assert count(engine, t.orders) == len(converted)
    refused = [r for r in results if isinstance(r, DomainError)]
    assert {r.code for r in refused} <= {"cart_hold.expired"}
    assert len(refused) == 10 - len(converted)
    # and nothing is held any more; what is reserved is the orders' and the ledger agrees
    assert held(engine) == {}
    assert active_reserved(engine) == ({("HOT", "WH-1"): len(converted), ("COLD", "ST-1"):
                                        len(converted)} if converted else {})
    assert_books_agree(engine)
    # and the hold row, then stock rows in lock order, left no cycle of waits to break
    assert bus.retried["deadlock"] == 0


def test_the_worker_job_expires_every_due_hold_in_batches(ordermesh: App, engine: Engine
                                                          ) -> None:
    # given five holds that are due and one that is not
    holding_shop(ordermesh.bus).stock("HOT", "WH-1", 10)
    due = [hold(ordermesh.bus, ("HOT", 1)) for _ in range(5)]
    fresh = hold(ordermesh.bus, ("HOT", 1))
    with engine.begin() as conn:
        conn.execute(update(t.cart_holds).where(t.cart_holds.c.id.in_(due))
                     .values(expires_at=utcnow() - timedelta(seconds=1)))
    # when the job runs with batches of two
    app = App(Settings(database_url=ordermesh.settings.database_url, worker_batch_size=2),
              engine, ordermesh.bus)
    assert expire_cart_holds(app) == "expired 5 cart hold(s)"
    # then the due holds expired and gave their units back; the fresh one still holds
    assert statuses(engine) == {**dict.fromkeys(due, "expired"), fresh: "active"}
    assert held(engine) == {("HOT", "WH-1"): 1}
    assert_books_agree(engine)
    m = t.stock_movements.c
    with engine.connect() as conn:
        reasons = Counter(conn.execute(select(m.reason)).scalars())
    assert reasons["cart_hold"] == 6 and reasons["cart_hold_expired"] == 5


def test_converting_while_others_order_the_same_products_waits_in_one_order(
        bus: MessageBus, engine: Engine) -> None:
    # given holds on HOT only, and orders that add ACE (which ranks before HOT in lock order)
    holding_shop(bus).product("ACE").stock("HOT", "WH-1", 40).stock("ACE", "WH-1", 40)
    holds = [hold(bus, ("HOT", 1)) for _ in range(8)]
    # when the holds are converted into ACE + HOT orders while plain ACE + HOT orders race
    jobs: list[Any] = [lambda h=h: place(bus, ("ACE", 1), ("HOT", 1), cart_hold=h) for h in holds]
    jobs += [lambda: place(bus, ("ACE", 1), ("HOT", 1))] * 8
    results = together(jobs)
    # then every order was placed, the books agree, and no deadlock had to be broken
    assert not [r for r in results if isinstance(r, DomainError)]
    assert set(statuses(engine).values()) == {"converted"}
    assert active_reserved(engine) == {("ACE", "WH-1"): 16, ("HOT", "WH-1"): 16}
    assert_books_agree(engine)
    assert bus.retried["deadlock"] == 0
