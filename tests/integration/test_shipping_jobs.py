"""The worker's shipping job on both databases: waves released, the courier's webhooks sent and
applied, a carrier without webhooks polled, pickups left too long put back on the shelf with
their payment voided."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Table, select, update
from sqlalchemy.engine import Engine

from ordermesh.adapters.carriers.courier import Courier, CourierSettings
from ordermesh.adapters.db import tables as t
from ordermesh.adapters.db.engine import retry_reason
from ordermesh.adapters.db.unit_of_work import SqlUnitOfWork
from ordermesh.bootstrap import App
from ordermesh.config import Settings
from ordermesh.entrypoints.worker import ship
from ordermesh.services import commands as c
from ordermesh.services.bus import MessageBus
from ordermesh.services.handlers.shipping import ShippingSetup
from tests.builders import Clock, Shop, a_shop, place


@pytest.fixture
def shop(bus: MessageBus) -> Shop:
    shop = a_shop(bus).location("WH-1").location("ST-AMS", kind="store", can_pickup=True)
    return shop.product("TEE-1").stock("TEE-1", "WH-1", 10).stock("TEE-1", "ST-AMS", 3)


def status(engine: Engine, table: Table, key: str) -> str:
    with engine.connect() as conn:
        return str(conn.execute(select(table.c.status).where(table.c.id == key)).scalar_one())


def shipped(bus: MessageBus) -> tuple[str, str]:
    """An order released by the job, then picked, packed, labelled and dispatched."""
    order = place(bus, ("TEE-1", 1))
    [fulfilment] = bus.handle(c.ReleaseFulfilments("test"))
    bus.handle(c.ChangeFulfilment("test", fulfilment, "start_picking"))
    bus.handle(c.PackFulfilment("test", fulfilment))
    bus.handle(c.BookShipment("test", fulfilment))
    bus.handle(c.DispatchShipment("test", order.order_id, f"fulfilment:{fulfilment}", (),
                                  fulfilment_id=fulfilment))
    return order.order_id, fulfilment


def test_the_job_releases_waves_and_follows_the_couriers_webhooks_to_the_door(
        shop: Shop, bus: MessageBus, engine: Engine, ordermesh: App,
        carrier_clock: Clock) -> None:
    order = place(bus, ("TEE-1", 1))
    assert "1 fulfilment(s) released" in ship(ordermesh)
    with engine.connect() as conn:
        [fulfilment] = conn.execute(select(t.fulfilments.c.id)).scalars()
    bus.handle(c.ChangeFulfilment("test", fulfilment, "start_picking"))
    bus.handle(c.PackFulfilment("test", fulfilment))
    bus.handle(c.BookShipment("test", fulfilment))
    bus.handle(c.DispatchShipment("test", order.order_id, f"fulfilment:{fulfilment}", (),
                                  fulfilment_id=fulfilment))
    carrier_clock.advance(days=5)
    summary = ship(ordermesh)
    assert "courier: 3 webhook(s)" in summary or "courier: 5 webhook(s)" in summary, summary
    assert status(engine, t.fulfilments, fulfilment) == "delivered"
    assert status(engine, t.orders, order.order_id) == "delivered"
    assert "courier: 0 webhook(s)" in ship(ordermesh)


@pytest.fixture
def polled(engine: Engine, tmp_path: Path, carrier_clock: Clock,
           bus: MessageBus) -> Iterator[MessageBus]:
    """The same shop, with a courier that sends no webhooks and has to be asked."""
    courier = Courier(CourierSettings(database_url=f"sqlite:///{tmp_path / 'quiet.db'}",
                                      webhooks=False), clock=carrier_clock)
    yield MessageBus(lambda: SqlUnitOfWork(engine), retry_reason=retry_reason,
                     setup=bus.setup,
                     shipping=ShippingSetup({"courier": courier}, clock=carrier_clock))
    courier.engine.dispose()


def test_a_carrier_without_webhooks_is_polled(shop: Shop, polled: MessageBus, engine: Engine,
                                              carrier_clock: Clock) -> None:
    carrier_clock.now = datetime.now(UTC).replace(hour=9)  # before today's pick-up at 18:00
    order_id, fulfilment = shipped(polled)
    assert polled.handle(c.PollCarriers("worker")) == 0  # nothing has happened yet
    carrier_clock.advance(days=5)
    assert polled.handle(c.PollCarriers("worker")) >= 1
    assert status(engine, t.fulfilments, fulfilment) == "delivered"
    assert status(engine, t.orders, order_id) == "delivered"
    assert polled.handle(c.PollCarriers("worker")) == 0  # delivered: not asked again


def test_pickups_left_too_long_go_back_and_their_payment_is_voided(
        shop: Shop, bus: MessageBus, engine: Engine, ordermesh: App) -> None:
    order = place(bus, ("TEE-1", 1), shipping_address=None,
                  fulfilment={"method": "pickup", "location": "ST-AMS"})
    [fulfilment] = bus.handle(c.ReleaseFulfilments("test"))
    bus.handle(c.ChangeFulfilment("test", fulfilment, "start_picking"))
    bus.handle(c.PackFulfilment("test", fulfilment))
    bus.handle(c.ChangeFulfilment("test", fulfilment, "make_ready"))
    bus.handle(c.UpdateChannel("test", "web", {"pickup_hold_days": 2}))
    assert "0 uncollected" in ship(ordermesh)
    with engine.begin() as conn:
        conn.execute(update(t.fulfilments).values(
            ready_at=datetime.now(UTC) - timedelta(days=2, minutes=1)))
    assert "1 uncollected order(s) cancelled" in ship(ordermesh)
    assert status(engine, t.fulfilments, fulfilment) == "returned_to_stock"
    assert status(engine, t.orders, order.order_id) == "cancelled"
    with engine.connect() as conn:
        kinds = conn.execute(select(t.payment_transactions.c.kind)).scalars().all()
        reserved = conn.execute(select(t.stock_levels.c.reserved).where(
            t.stock_levels.c.location_code == "ST-AMS")).scalar_one()
    assert sorted(kinds) == ["authorize", "void"] and reserved == 0


def test_the_settings_can_leave_waves_to_the_api(shop: Shop, bus: MessageBus,
                                                 database_url: str, engine: Engine) -> None:
    place(bus, ("TEE-1", 1))
    quiet = App(Settings(database_url=database_url, worker_release_waves=False), engine, bus)
    assert "0 fulfilment(s) released" in ship(quiet)
    assert "1 fulfilment(s) released" in ship(App(Settings(database_url=database_url), engine,
                                                  bus))
