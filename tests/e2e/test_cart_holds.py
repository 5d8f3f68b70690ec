"""A channel holds a cart over HTTP for a few minutes, then places the order with it, lets it
go, or lets it expire. Refusals leave nothing behind."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.engine import Engine

from ordermesh.adapters.db import tables as t
from ordermesh.domain.events import utcnow
from ordermesh.services import commands as c
from tests.builders import Shop, an_order
from tests.e2e.conftest import row_counts


@pytest.fixture
def holding(shop: Shop) -> Shop:
    """The e2e shop, where the webshop may hold carts for 15 minutes (the POS may not)."""
    shop.bus.handle(c.UpdateChannel("test", "web", {"cart_hold_minutes": 15}))
    return shop


def post_hold(client: TestClient, shop: Shop, body: dict[str, Any], who: str = "web",
              key: str | None = None) -> Any:
    headers = shop.headers(who) | ({"Idempotency-Key": key} if key else {})
    return client.post("/api/v1/cart-holds", json=body, headers=headers)


def reserved(client: TestClient, shop: Shop, sku: str, location: str) -> int:
    levels = client.get(f"/api/v1/stock-levels?sku={sku}&location={location}",
                        headers=shop.headers("operator")).json()["items"]
    return int(levels[0]["reserved"])


def ledger(engine: Engine) -> list[tuple[str, int]]:
    m = t.stock_movements.c
    with engine.connect() as conn:
        rows = conn.execute(select(m.reason, m.reserved_delta).where(m.reserved_delta != 0)
                            .order_by(m.id))
        return [(reason, delta) for reason, delta in rows]


def test_a_held_cart_becomes_an_order_that_reserves_the_stock_once(
        client: TestClient, holding: Shop, engine: Engine) -> None:
    # when the webshop holds 2 T-shirts
    before = utcnow()
    response = post_hold(client, holding, {"lines": [{"sku": "TEE-1", "quantity": 2}]})
    # then they are reserved at the warehouse for 15 minutes
    assert response.status_code == 201, response.text
    held = response.json()
    assert held["status"] == "active" and held["channel"] == "web"
    assert held["lines"] == [{"sku": "TEE-1", "location": "WH-1", "quantity": 2}]
    expires_at = datetime.fromisoformat(held["expires_at"])
    assert before + timedelta(minutes=15) <= expires_at <= utcnow() + timedelta(minutes=15)
    assert response.headers["Location"] == f"/api/v1/cart-holds/{held['id']}"
    assert reserved(client, holding, "TEE-1", "WH-1") == 2
    # when the order is placed with the hold
    order = client.post("/api/v1/orders", json=an_order(("TEE-1", 2), cart_hold=held["id"]),
                        headers=holding.headers("web"))
    # then the order is allocated and the 2 units are reserved once, by the order
    assert order.status_code == 201, order.text
    assert order.json()["status"] == "allocated"
    assert reserved(client, holding, "TEE-1", "WH-1") == 2
    assert ledger(engine) == [("cart_hold", 2), ("cart_hold_converted", -2), ("reservation", 2)]
    # and the hold says what became of it
    now = client.get(f"/api/v1/cart-holds/{held['id']}", headers=holding.headers("web")).json()
    assert now["status"] == "converted" and now["order_id"] == order.json()["id"]
    # and it cannot be used or released again
    again = client.post("/api/v1/orders", json=an_order(("TEE-1", 2), cart_hold=held["id"]),
                        headers=holding.headers("web"))
    assert again.status_code == 409 and again.json()["code"] == "cart_hold.not_active"
    gone = client.delete(f"/api/v1/cart-holds/{held['id']}", headers=holding.headers("web"))
    assert gone.status_code == 409 and gone.json()["code"] == "cart_hold.not_active"


def test_an_expired_hold_frees_the_stock_and_cannot_be_placed(
        client: TestClient, holding: Shop, engine: Engine) -> None:
    # given the last cap is held
    held = post_hold(client, holding, {"lines": [{"sku": "CAP-1", "quantity": 1}]}).json()
    refused = post_hold(client, holding, {"lines": [{"sku": "CAP-1", "quantity": 1}]})
    assert refused.status_code == 409 and refused.json()["skus"] == ["CAP-1"]
    # when the worker's command runs at a moment past the hold's expiry
    later = utcnow() + timedelta(minutes=16)
    assert holding.bus.handle(c.ExpireCartHolds("worker", now=later)) == 1
    # then the cap is free again, and the hold says it expired
    assert reserved(client, holding, "CAP-1", "WH-1") == 0
    assert ledger(engine)[-1] == ("cart_hold_expired", -1)
    hold = client.get(f"/api/v1/cart-holds/{held['id']}", headers=holding.headers("web")).json()
    assert hold["status"] == "expired"
    # and an order placed with it is refused, writing nothing
    counts = row_counts(engine)
    response = client.post("/api/v1/orders", json=an_order(("CAP-1", 1), cart_hold=held["id"]),
                           headers=holding.headers("web"))
    assert response.status_code == 409
    assert response.json()["code"] == "cart_hold.expired"
    assert row_counts(engine) == counts


def test_releasing_a_hold_gives_the_units_back(client: TestClient, holding: Shop,
                                               engine: Engine) -> None:
    held = post_hold(client, holding, {"lines": [{"sku": "TEE-1", "quantity": 3}],
                                       "pickup_location": "ST-AMS"}).json()
    # a pickup hold is taken at the store itself
    assert held["lines"] == [{"sku": "TEE-1", "location": "ST-AMS", "quantity": 3}]
    response = client.delete(f"/api/v1/cart-holds/{held['id']}", headers=holding.headers("web"))
    assert response.status_code == 204 and response.content == b""
    assert reserved(client, holding, "TEE-1", "ST-AMS") == 0
    assert ledger(engine) == [("cart_hold", 3), ("cart_hold_released", -3)]


def test_a_channel_that_may_not_hold_carts_is_refused(client: TestClient, holding: Shop,
                                                      engine: Engine) -> None:
    counts = row_counts(engine)
    response = post_hold(client, holding, {"lines": [{"sku": "TEE-1", "quantity": 1}]}, "pos")
    assert response.status_code == 422
    assert response.json()["code"] == "cart_hold.not_allowed"
    assert row_counts(engine) == counts


def test_another_channels_hold_is_not_found(client: TestClient, holding: Shop) -> None:
    holding.bus.handle(c.UpdateChannel("test", "pos", {"cart_hold_minutes": 5}))
    held = post_hold(client, holding, {"lines": [{"sku": "TEE-1", "quantity": 1}]}).json()
    url = f"/api/v1/cart-holds/{held['id']}"
    pos = holding.headers("pos")
    assert client.get(url, headers=pos).status_code == 404
    assert client.delete(url, headers=pos).status_code == 404
    order = client.post("/api/v1/orders", json=an_order(("TEE-1", 1), cart_hold=held["id"]),
                        headers=pos)
    assert order.status_code == 404
    assert client.get("/api/v1/cart-holds/no-such-hold", headers=pos).status_code == 404
    # while its own channel and operators see it, still active
    assert client.get(url, headers=holding.headers("web")).json()["status"] == "active"
    assert client.get(url, headers=holding.headers("operator")).status_code == 200


@pytest.mark.parametrize("body", [
    {"lines": []},
    {"lines": [{"sku": "TEE-1", "quantity": 0}]},
    {"lines": [{"sku": "TEE-1", "quantity": "2"}]},
    {"lines": [{"sku": "NOPE-1", "quantity": 1}]},
    {"lines": [{"sku": "TEE-1", "quantity": 1}], "pickup_location": "WH-1"},
    {"lines": [{"sku": "TEE-1", "quantity": 1}], "pickup_location": "ST-AMS",
     "destination": {"latitude": 52.0, "longitude": 4.0}},
    {"lines": [{"sku": "TEE-1", "quantity": 1}], "destination": {"latitude": 91, "longitude": 4}},
    {"lines": [{"sku": "TEE-1", "quantity": 1}], "expires_at": "2030-01-01T00:00:00Z"},
], ids=["no lines", "zero", "string quantity", "unknown sku", "not a pickup store",
        "both", "latitude", "unknown field"])
def test_bad_input_is_refused_and_writes_nothing(client: TestClient, holding: Shop,
                                                 engine: Engine, body: dict[str, Any]) -> None:
    counts = row_counts(engine)
    response = post_hold(client, holding, body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert row_counts(engine) == counts


def test_only_stock_in_hand_can_be_held(client: TestClient, holding: Shop, engine: Engine
                                        ) -> None:
    # a backorderable mug with no stock would wait: a hold cannot wait, so nothing is held
    counts = row_counts(engine)
    response = post_hold(client, holding, {"lines": [{"sku": "TEE-1", "quantity": 1},
                                                     {"sku": "MUG-1", "quantity": 1},
                                                     {"sku": "CAP-1", "quantity": 2}]})
    assert response.status_code == 409
    assert response.json()["code"] == "stock.insufficient"
    assert response.json()["skus"] == ["CAP-1", "MUG-1"]
    assert row_counts(engine) == counts


def test_keys_and_roles(client: TestClient, holding: Shop) -> None:
    body = {"lines": [{"sku": "TEE-1", "quantity": 1}]}
    first = post_hold(client, holding, body, key="cart-7")
    replay = post_hold(client, holding, body, key="cart-7")
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["id"] == first.json()["id"]
    assert reserved(client, holding, "TEE-1", "WH-1") == 1
    reused = post_hold(client, holding, {"lines": [{"sku": "TEE-1", "quantity": 2}]}, key="cart-7")
    assert reused.status_code == 409 and reused.json()["code"] == "idempotency.key_reused"
    assert post_hold(client, holding, body, who="operator").status_code == 403
    assert client.post("/api/v1/cart-holds", json=body).status_code == 401
