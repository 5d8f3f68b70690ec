"""API keys and roles: 401 without a key, 403 with the wrong role, and a channel never sees
another channel's orders (404, so order ids cannot be probed)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.engine import Engine

from ordermesh.adapters.db import tables as t
from tests.builders import Shop, a_location, a_product, an_order


def test_no_key_or_an_unknown_key_is_401(client: TestClient, shop: Shop) -> None:
    assert client.get("/api/v1/orders").status_code == 401
    response = client.get("/api/v1/orders", headers={"Authorization": "Bearer om_nope_nope"})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "auth.unauthenticated"


@pytest.mark.parametrize(("who", "method", "path", "body"), [
    ("operator", "post", "/api/v1/orders", an_order()),
    ("admin", "post", "/api/v1/orders", an_order()),
    ("web", "post", "/api/v1/products", a_product("X-1")),
    ("operator", "post", "/api/v1/products", a_product("X-1")),
    ("web", "post", "/api/v1/locations", a_location("L-9")),
    ("web", "get", "/api/v1/stock-levels", None),
    ("web", "post", "/api/v1/api-keys", {"name": "x", "role": "admin"}),
    ("operator", "post", "/api/v1/api-keys", {"name": "x", "role": "admin"}),
    ("web", "post", "/api/v1/stock-syncs", {"updates": []}),
])
def test_the_wrong_role_is_403(client: TestClient, shop: Shop, who: str, method: str, path: str,
                               body: object) -> None:
    response = client.request(method, path, json=body, headers=shop.headers(who))
    assert response.status_code == 403
    assert response.json()["code"] == "auth.forbidden"


def test_a_channel_cannot_see_another_channels_order(client: TestClient, shop: Shop) -> None:
    # given an order placed by the webshop
    order = client.post("/api/v1/orders", json=an_order(("TEE-1", 1)),
                        headers=shop.headers("web")).json()
    pos = shop.headers("pos")
    # then the shop floor gets 404 for it by id and by number, for its timeline and cancel
    for ref in (order["id"], order["number"]):
        assert client.get(f"/api/v1/orders/{ref}", headers=pos).status_code == 404
        assert client.get(f"/api/v1/orders/{ref}/events", headers=pos).status_code == 404
        assert client.post(f"/api/v1/orders/{ref}/cancel", headers=pos).status_code == 404
    # and its list holds nothing, even when it asks for the web channel
    assert client.get("/api/v1/orders", headers=pos).json()["items"] == []
    assert client.get("/api/v1/orders?channel=web", headers=pos).json()["items"] == []
    # while the webshop and the operator see it
    assert client.get(f"/api/v1/orders/{order['id']}", headers=shop.headers("web")).status_code == 200
    assert len(client.get("/api/v1/orders", headers=shop.headers("operator")).json()["items"]) == 1


def test_an_unknown_order_is_404_like_a_foreign_one(client: TestClient, shop: Shop) -> None:
    response = client.get("/api/v1/orders/no-such-order", headers=shop.headers("pos"))
    assert response.status_code == 404
    assert response.json()["code"] == "resource.not_found"


def test_issued_keys_are_stored_hashed_and_work_once_issued(
        client: TestClient, shop: Shop, engine: Engine) -> None:
    issued = client.post("/api/v1/api-keys", json={"name": "app", "role": "channel",
                                                   "channel": "web"},
                         headers=shop.headers("admin")).json()
    with engine.connect() as conn:
        stored = conn.execute(select(t.api_keys)).all()
    assert all(issued["key"] not in str(tuple(row)) for row in stored)
    assert client.get("/api/v1/orders", headers={
        "Authorization": f"Bearer {issued['key']}"}).status_code == 200
    listed = client.get("/api/v1/api-keys", headers=shop.headers("admin")).json()
    assert all("key" not in k and "key_hash" not in k for k in listed)


def test_a_channel_key_needs_an_existing_channel(client: TestClient, shop: Shop) -> None:
    admin = shop.headers("admin")
    missing = client.post("/api/v1/api-keys", json={"name": "x", "role": "channel",
                                                    "channel": "marketplace:zalando"},
                          headers=admin)
    assert missing.status_code == 404
    unbound = client.post("/api/v1/api-keys", json={"name": "x", "role": "channel"},
                          headers=admin)
    assert unbound.status_code == 422
    created = client.post("/api/v1/channels", json={"code": "marketplace:zalando",
                                                    "name": "Zalando"}, headers=admin)
    assert created.status_code == 201
    bound = client.post("/api/v1/api-keys", json={"name": "x", "role": "channel",
                                                  "channel": "marketplace:zalando"},
                        headers=admin)
    assert bound.status_code == 201


def test_a_revoked_key_stops_working_at_once(client: TestClient, shop: Shop) -> None:
    admin = shop.headers("admin")
    issued = client.post("/api/v1/api-keys", json={"name": "old till", "role": "channel",
                                                   "channel": "pos"}, headers=admin).json()
    till = {"Authorization": f"Bearer {issued['key']}"}
    assert client.get("/api/v1/orders", headers=till).status_code == 200
    assert client.delete(f"/api/v1/api-keys/{issued['id']}", headers=admin).status_code == 204
    assert client.get("/api/v1/orders", headers=till).status_code == 401
    again = client.delete(f"/api/v1/api-keys/{issued['id']}", headers=admin)
    assert again.status_code == 404
    listed = {k["id"]: k for k in client.get("/api/v1/api-keys", headers=admin).json()}
    assert listed[issued["id"]]["revoked_at"] is not None
    assert client.delete(f"/api/v1/api-keys/{issued['id']}",
                         headers=shop.headers("operator")).status_code == 403


def test_an_admin_key_cannot_revoke_itself(client: TestClient, shop: Shop) -> None:
    admin = shop.headers("admin")
    own = next(k for k in client.get("/api/v1/api-keys", headers=admin).json()
               if k["name"] == "admin")
    assert client.delete(f"/api/v1/api-keys/{own['id']}", headers=admin).status_code == 422
    assert client.get("/api/v1/orders", headers=admin).status_code == 200
