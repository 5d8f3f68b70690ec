"""Input a fuzzer or a careless integrator sends: always a 4xx problem, never a 500."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.builders import Shop, a_gtin, a_location, a_product, an_order


def cursor_of(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


LONE_SURROGATE = b'"\\ud800"'  # the JSON text "\ud800"
SURROGATE_IN_A_PAIR = b'["\\ud800", "x"]'
DEEP = b"[" * 1000 + b"]" * 1000

URLS = [
    "/api/v1/products/a%00",
    "/api/v1/orders?customer_email=%00",
    "/api/v1/products?category=%00",
    "/api/v1/stock-levels?sku=%00",
    "/api/v1/stock-movements?location=%00",
    f"/api/v1/products?cursor={cursor_of(json.dumps('a' + chr(0)).encode())}",
    f"/api/v1/products?cursor={cursor_of(LONE_SURROGATE)}",
    f"/api/v1/stock-levels?cursor={cursor_of(SURROGATE_IN_A_PAIR)}",
    f"/api/v1/orders?cursor={cursor_of(DEEP)}",
    "/api/v1/orders?created_from=0001-01-01T00:00:00%2B01:00",
    "/api/v1/orders?created_to=9999-12-31T23:59:59-01:00",
    f"/api/v1/products/{'x' * 10_000}",
]


@pytest.mark.parametrize("url", URLS)
def test_hostile_urls_are_4xx_problems(client: TestClient, shop: Shop, url: str) -> None:
    response = client.get(url, headers=shop.headers("operator"))
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == "application/problem+json"


def writes(shop: Shop) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        ("put", "/api/v1/stock-levels/TEE-1/WH-1", {"on_hand": 5, "reference": "a\u0000"}),
        ("post", "/api/v1/orders", an_order(("TEE-1", 1), delivery_instructions="x\u0000y")),
        ("post", "/api/v1/orders", {**an_order(("TEE-1", 1)), "billing_address": {
            "line1": "\ud800", "city": "x", "country": "NL"}}),
        ("post", "/api/v1/stock-syncs", {"updates": [{
            "sku": "TEE-1", "location": "WH-1", "mode": "absolute", "quantity": 1,
            "source_reference": "r", "counted_at": "9999-12-31T23:59:59-01:00"}]}),
        ("patch", "/api/v1/locations/WH-1", {"daily_order_capacity": 2**31}),
        ("post", "/api/v1/locations", a_location("L-9", daily_order_capacity=2**63)),
        ("patch", "/api/v1/products/TEE-1", {"category": "c" * 101}),
        ("post", "/api/v1/api-keys", {"name": "n" * 193, "role": "admin"}),
        ("post", "/api/v1/products", {**a_product("X-1"), "name": "a\u0000"}),
    ]


def test_hostile_bodies_are_4xx_problems(client: TestClient, shop: Shop) -> None:
    for method, url, body in writes(shop):
        who = "web" if url == "/api/v1/orders" else "admin"
        raw = json.dumps(body).encode()  # keeps \u0000 and lone surrogates as JSON escapes
        response = client.request(method, url, content=raw, headers=shop.headers(who) | {
            "content-type": "application/json"})
        assert 400 <= response.status_code < 500, (url, body, response.text)
        assert response.headers["content-type"] == "application/problem+json"


def test_a_gtin_belongs_to_one_product(client: TestClient, shop: Shop) -> None:
    admin = shop.headers("admin")
    client.patch("/api/v1/products/TEE-1", json={"gtin": a_gtin(1)}, headers=admin)
    taken = client.patch("/api/v1/products/MUG-1", json={"gtin": a_gtin(1)}, headers=admin)
    assert taken.status_code == 409 and taken.json()["sku"] == "TEE-1"
    again = client.post("/api/v1/products", json=a_product("NEW-1", gtin=a_gtin(1)), headers=admin)
    assert again.status_code == 409 and again.json()["code"] == "resource.already_exists"
    same = client.patch("/api/v1/products/TEE-1", json={"gtin": a_gtin(1)}, headers=admin)
    assert same.status_code == 200


def test_card_numbers_in_the_url_keep_the_access_log_working(
        client: TestClient, shop: Shop, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from ordermesh.entrypoints.api.card_guard import CardNumberRedactor

    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1,
                               '%s - "%s %s HTTP/%s" %d', ("127.0.0.1:1", "GET",
                               "/x?c=4111111111111111", "1.1", 422), None)
    assert CardNumberRedactor().filter(record)
    assert record.getMessage() == '127.0.0.1:1 - "GET /x?c=[card number removed] HTTP/1.1" 422'


def test_contention_that_outlasts_the_retries_is_a_503(ordermesh: Any) -> None:
    from sqlalchemy.exc import OperationalError

    from ordermesh.entrypoints.api.app import create_app

    class Deadlock(Exception):
        sqlstate = "40P01"

    class Broken(Exception):
        sqlstate = "XX000"

    app = create_app(ordermesh)

    @app.get("/test/deadlock")
    def deadlock() -> None:
        raise OperationalError("UPDATE stock_levels ...", {}, Deadlock("deadlock detected"))

    @app.get("/test/broken")
    def broken() -> None:
        raise OperationalError("UPDATE stock_levels ...", {}, Broken("disk on fire"))

    with TestClient(app, raise_server_exceptions=False) as client:
        busy = client.get("/test/deadlock")
        assert busy.status_code == 503 and busy.headers["Retry-After"] == "1"
        assert busy.json()["code"] == "service.busy"
        assert client.get("/test/broken").status_code == 500


@pytest.mark.parametrize("depth", [65, 500, 969, 970, 5000])
def test_deeply_nested_bodies_are_400_at_any_depth(client: TestClient, shop: Shop,
                                                   depth: int) -> None:
    for body in ('{"a":' * depth + "1" + "}" * depth, "[" * depth + "]" * depth):
        response = client.post("/api/v1/orders", content=body.encode(),
                               headers={"content-type": "application/json"})
        assert response.status_code == 400, (depth, response.text)


def test_flags_take_booleans_only(client: TestClient, shop: Shop) -> None:
    response = client.patch("/api/v1/products/TEE-1", json={"preorder": "yes"},
                            headers=shop.headers("admin"))
    assert response.status_code == 422
