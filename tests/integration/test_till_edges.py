"""The edges of a sale at the till: the store's daily capacity for remote orders does not
stop the customer standing at its counter; a sale the store's shelves cannot fill is refused
before anything is written or charged; and a counter sale needs no box."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from ordermesh.adapters.db import tables as t
from ordermesh.adapters.payments import test_gateway as books
from ordermesh.adapters.payments.test_gateway import TestGateway
from ordermesh.domain.errors import InsufficientStock
from ordermesh.services import commands as c
from ordermesh.services.bus import MessageBus
from ordermesh.services.till import post_sale
from tests.builders import Shop, a_shop, an_order, place


@pytest.fixture
def shop(bus: MessageBus) -> Shop:
    """A warehouse with plenty, and a store that picks one remote order a day."""
    shop = a_shop(bus).location("WH-1", priority=200).location(
        "ST-AMS", kind="store", can_pickup=True, priority=50, daily_order_capacity=1)
    shop.product("TEE-1").product("MUG-1", backorderable=True)
    shop.stock("TEE-1", "WH-1", 10).stock("TEE-1", "ST-AMS", 3).stock("MUG-1", "WH-1", 10)
    bus.handle(c.UpdateChannel("test", "pos", {"capture_on": "placement",
                                               "invoice_on": "placement"}))
    return shop


def sale(receipt: str, *lines: tuple[str, int], store: str = "ST-AMS") -> dict[str, Any]:
    return {"store": store, "receipt": receipt, "currency": "EUR",
            "lines": [{"sku": sku, "quantity": n, "unit_price": 1999}
                      for sku, n in (lines or (("TEE-1", 2),))],
            "payment_token": "tok_visa"}


def fill_the_store(bus: MessageBus, engine: Engine) -> None:
    """A web order collected at the store takes its one pick of the day."""
    place(bus, ("TEE-1", 1), fulfilment={"method": "pickup", "location": "ST-AMS"})
    assert store_load(engine) == 1


def store_load(engine: Engine) -> int | None:
    load = t.location_loads.c
    today = datetime.now(UTC).date()
    with engine.connect() as conn:
        return conn.execute(select(load.shipments).where(
            load.location_code == "ST-AMS", load.day == today)).scalar()


def on_shelf(engine: Engine, sku: str, location: str) -> tuple[int, int]:
    lv = t.stock_levels.c
    with engine.connect() as conn:
        row = conn.execute(select(lv.on_hand, lv.reserved).where(
            lv.sku == sku, lv.location_code == location)).one()
    return row.on_hand, row.reserved


def row_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
                for table in t.metadata.sorted_tables}


def gateway_calls(gateway: TestGateway) -> int:
    with gateway.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(books.operations)).scalar_one()


def test_a_store_at_its_daily_capacity_still_sells_over_the_counter(
        client: TestClient, shop: Shop, bus: MessageBus, engine: Engine) -> None:
    # given a store that has taken its one remote order of the day
    fill_the_store(bus, engine)
    # when a customer buys two tees at its till
    posted = client.post("/api/v1/pos-sales", headers=shop.headers("pos"),
                         json=sale("R-CAP", ("TEE-1", 2)))
    # then the sale is handed over from the store's own shelves, paid, and counts no pick
    assert posted.status_code == 201, posted.text
    order = posted.json()
    assert (order["status"], order["fulfilment"]["status"]) == ("delivered", "delivered")
    assert on_shelf(engine, "TEE-1", "ST-AMS") == (1, 1)  # the web order's unit stays held
    assert on_shelf(engine, "TEE-1", "WH-1") == (10, 0)
    assert store_load(engine) == 1
    (payment,) = client.get(f"/api/v1/orders/{order['id']}/payments",
                            headers=shop.headers("operator")).json()
    assert [(x["kind"], x["outcome"]) for x in payment["transactions"]] == [
        ("authorize", "succeeded"), ("capture", "succeeded")]


def test_a_store_without_the_stock_refuses_before_anything_is_written_or_charged(
        client: TestClient, shop: Shop, bus: MessageBus, engine: Engine,
        gateway: TestGateway) -> None:
    # given a store at its capacity, with no mugs (the warehouse has ten)
    fill_the_store(bus, engine)
    before, calls = row_counts(engine), gateway_calls(gateway)
    # when the till posts a sale of a mug, or of more tees than the shelves hold
    for lines in ((("MUG-1", 1),), (("TEE-1", 3),)):
        refused = client.post("/api/v1/pos-sales", headers=shop.headers("pos"),
                              json=sale("R-NONE", *lines))
        # then it is refused, and nothing is written nor asked of the gateway
        assert refused.status_code == 409, refused.text
        assert refused.json()["code"] == "stock.insufficient"
    assert row_counts(engine) == before
    assert gateway_calls(gateway) == calls


def test_units_the_channel_holds_back_are_not_fetched_from_elsewhere(
        client: TestClient, shop: Shop, bus: MessageBus, engine: Engine,
        gateway: TestGateway) -> None:
    # given the till's channel holds one unit of every shelf back: the store has 3 tees,
    # 2 of them for the till
    bus.handle(c.UpdateChannel("test", "pos", {"safety_buffer": 1}))
    before, calls = row_counts(engine), gateway_calls(gateway)
    # when the till posts a sale of three
    refused = client.post("/api/v1/pos-sales", headers=shop.headers("pos"),
                          json=sale("R-BUF", ("TEE-1", 3)))
    # then it is refused, not topped up by a transfer from the warehouse
    assert refused.status_code == 409, refused.text
    assert row_counts(engine) == before
    assert gateway_calls(gateway) == calls


def test_placing_a_counter_sale_never_sources_it_elsewhere(
        shop: Shop, bus: MessageBus, engine: Engine, gateway: TestGateway) -> None:
    # given a full store without mugs, and a sale that reaches placement unchecked (as one
    # racing another till for the last unit does)
    fill_the_store(bus, engine)
    before, calls = row_counts(engine), gateway_calls(gateway)
    order = {**an_order(("MUG-1", 1)), "external_reference": "R-RACE", "shipping_address": None,
             "fulfilment": {"method": "pickup", "location": "ST-AMS"}}

    def find(channel: str, reference: str) -> dict[str, Any]:
        return {"order_id": None, "fulfilment_id": None, "status": None, "pickup_code": None}

    # when the till sale is placed, then sourcing takes the store's shelves or nothing
    with pytest.raises(InsufficientStock):
        post_sale(bus, "till", "pos", order, "ST-AMS", find)
    assert row_counts(engine) == before
    assert gateway_calls(gateway) == calls


def test_a_counter_sale_needs_no_box(client: TestClient, shop: Shop, bus: MessageBus,
                                     engine: Engine) -> None:
    # given trekking poles longer than the largest box
    bus.handle(c.PutPackageType("test", "BOX-L", "Large box", 600, 400, 400, 20_000, 500))
    shop.product("POLES-1", length_mm=605, width_mm=80, height_mm=80, weight_grams=700)
    shop.stock("POLES-1", "ST-AMS", 2)
    # when a customer buys a pair at the till
    posted = client.post("/api/v1/pos-sales", headers=shop.headers("pos"),
                         json=sale("R-POLES", ("POLES-1", 1)))
    # then they are handed over, unpacked, and leave the store's stock
    assert posted.status_code == 201, posted.text
    order = posted.json()
    assert (order["status"], order["fulfilment"]["status"]) == ("delivered", "delivered")
    assert on_shelf(engine, "POLES-1", "ST-AMS") == (1, 0)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.packages)).scalar_one() == 0
        statuses = conn.execute(select(t.fulfilments.c.status)).scalars().all()
    assert statuses == ["collected"]



def test_a_refused_card_is_answered_as_such_and_nothing_is_handed_over(
        client: TestClient, shop: Shop, engine: Engine) -> None:
    # given a card the gateway refuses (its answer comes after the order is written)
    body = {**sale("R-DECL"), "payment_token": "tok_declined"}
    # when the till posts the sale
    refused = client.post("/api/v1/pos-sales", headers=shop.headers("pos"), json=body)
    # then it is told the sale is not handed over and why, with the order to look at; no
    # unit has left the shelf and nothing was captured
    assert refused.status_code == 409, refused.text
    assert "payment" in refused.json()["detail"] and refused.json()["order_id"]
    assert on_shelf(engine, "TEE-1", "ST-AMS")[0] == 3
    with engine.connect() as conn:
        kinds = conn.execute(select(t.payment_transactions.c.kind)).scalars().all()
    assert "capture" not in kinds
