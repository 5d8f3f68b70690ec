"""Bad input, case by case (issue 8): each is refused with a clear 4xx problem+json answer and
writes nothing (every table keeps its row count). Text that is merely unusual (emoji,
right-to-left script, combining marks) and the same SKU on two lines are taken as they are."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from ordermesh.entrypoints.api.input_guard import MAX_BODY
from ordermesh.services.bus import MessageBus
from tests.builders import Shop, a_location, a_product, an_order, place
from tests.e2e.conftest import row_counts
from tests.e2e.purchasing import add_supplier

ORDERS = "/api/v1/orders"
STOCK = "/api/v1/stock-levels/TEE-1/WH-1"
JSON = {"content-type": "application/json"}


def refused(client: TestClient, engine: Engine, method: str, url: str, headers: dict[str, str],
            body: Any = None, raw: bytes | None = None, status: int | None = None) -> Any:
    """Send a request and check it is a 4xx problem that changed nothing; its problem body.
    A body is sent as JSON with non-ASCII escaped, so NULs and lone surrogates travel as JSON
    escapes (`\\u0000`, `\\ud800`), as a client library would send them."""
    content = raw if raw is not None else None if body is None else json.dumps(body).encode()
    before = row_counts(engine)
    response = client.request(method, url, content=content, headers={**JSON, **headers})
    assert 400 <= response.status_code < 500, (method, url, response.status_code,
                                               response.text[:300])
    assert status is None or response.status_code == status, (url, response.text[:300])
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == response.status_code and problem["code"]
    assert row_counts(engine) == before, (method, url)
    return problem


def order_with(**line: Any) -> dict[str, Any]:
    """An order of one TEE-1 line, the line's fields overridden."""
    order = an_order(("TEE-1", 1))
    order["lines"][0].update(line)
    return order


def test_bodies_over_the_input_guards_limit_are_413(client: TestClient, engine: Engine,
                                                     shop: Shop) -> None:
    # given bodies one byte over the limit: a whole document, and a stream of chunks
    padded = an_order(("TEE-1", 1), delivery_instructions="x" * MAX_BODY)
    # when they are sent, then they are refused before they are read further
    refused(client, engine, "POST", ORDERS, shop.headers("web"), padded, status=413)
    before = row_counts(engine)
    streamed = client.post("/api/v1/products", content=iter([b"[" * (MAX_BODY // 2)] * 3),
                           headers={**JSON, **shop.headers("admin")})
    assert streamed.status_code == 413 and row_counts(engine) == before
    csv = b"external_reference,sku\n" + b"R-1,TEE-1\n" * (MAX_BODY // 10)
    refused(client, engine, "POST", "/api/v1/order-imports.csv", shop.headers("web") | {
        "content-type": "text/csv"}, raw=csv, status=413)


@pytest.mark.parametrize("depth", [65, 100_000])
def test_deep_nesting_inside_a_document_is_400(client: TestClient, engine: Engine, shop: Shop,
                                               depth: int) -> None:
    # given an order whose packaging nests arrays far deeper than any document of ours
    deep = "[" * depth + "]" * depth
    raw = json.dumps(an_order(("TEE-1", 1), packaging="@")).replace('"@"', deep).encode()
    # then it is refused as malformed
    refused(client, engine, "POST", ORDERS, shop.headers("web"), raw=raw, status=400)


HUGE = [2**63, 10**30, -(2**63) - 1]


def numbers_in_bodies(n: Any) -> list[tuple[str, str, str, Any]]:
    """(who, method, url, body) with `n` where a bounded whole number is expected."""
    return [
        ("web", "POST", ORDERS, order_with(quantity=n)),
        ("web", "POST", ORDERS, order_with(unit_price=n)),
        ("web", "POST", ORDERS, {**order_with(), "shipping_total": n}),
        ("web", "POST", "/api/v1/cart-holds", {"lines": [{"sku": "TEE-1", "quantity": n}]}),
        ("admin", "PUT", STOCK, {"on_hand": n}),
        ("admin", "PUT", STOCK, {"on_hand_delta": n}),
        ("admin", "PUT", STOCK, {"on_hand": 1, "safety_stock": n}),
        ("admin", "POST", "/api/v1/stock-syncs", {"updates": [{
            "sku": "TEE-1", "location": "WH-1", "mode": "delta", "quantity": n,
            "source_reference": "r-1", "counted_at": "2026-01-01T00:00:00Z"}]}),
        ("admin", "POST", "/api/v1/products", a_product("NEW-1", price_amount=n)),
        ("admin", "PATCH", "/api/v1/products/TEE-1", {"weight_grams": n}),
        ("admin", "POST", "/api/v1/locations", a_location("NEW-1", priority=n)),
        ("admin", "POST", "/api/v1/purchase-orders", {"supplier": "ACME", "deliver_to": "WH-1",
                                                      "lines": [{"sku": "TEE-1", "quantity": n,
                                                                 "unit_cost": 100}]}),
        ("admin", "POST", "/api/v1/purchase-orders", {"supplier": "ACME", "deliver_to": "WH-1",
                                                      "lines": [{"sku": "TEE-1", "quantity": 1,
                                                                 "unit_cost": n}]}),
    ]


def test_huge_numbers_are_refused(client: TestClient, engine: Engine, shop: Shop) -> None:
    add_supplier(client, shop)
    for n in HUGE:
        for who, method, url, body in numbers_in_bodies(n):
            refused(client, engine, method, url, shop.headers(who), body, status=422)


def below(n: int) -> list[tuple[str, str, str, Any]]:
    """(who, method, url, body) with `n` where at least 1 is needed."""
    box = {"name": "Box", "length_mm": n, "width_mm": 1, "height_mm": 1, "max_weight_grams": 1}
    return [
        ("web", "POST", ORDERS, order_with(quantity=n)),
        ("web", "POST", "/api/v1/cart-holds", {"lines": [{"sku": "TEE-1", "quantity": n}]}),
        ("web", "POST", "/api/v1/availability", {"lines": [{"sku": "TEE-1", "quantity": n}]}),
        ("admin", "PATCH", "/api/v1/products/TEE-1", {"weight_grams": n}),
        ("admin", "PUT", "/api/v1/package-types/BOX-1", box),
        ("operator", "POST", "/api/v1/wms/leases", {"location": "WH-1", "worker": "w",
                                                    "limit": n}),
        ("admin", "POST", "/api/v1/purchase-orders", {"supplier": "ACME", "deliver_to": "WH-1",
                                                      "lines": [{"sku": "TEE-1", "quantity": n,
                                                                 "unit_cost": 100}]}),
    ]


def test_zero_and_negative_numbers_are_refused_where_a_positive_one_is_needed(
        client: TestClient, engine: Engine, shop: Shop) -> None:
    add_supplier(client, shop)
    for who, method, url, body in [*below(0), *below(-1)]:
        refused(client, engine, method, url, shop.headers(who), body, status=422)
    # 0 is a free gift, free shipping, an empty shelf or the lowest priority: only below is wrong
    for who, method, url, body in [
        ("web", "POST", ORDERS, order_with(unit_price=-1)),
        ("web", "POST", ORDERS, {**order_with(), "shipping_total": -1}),
        ("admin", "PUT", STOCK, {"on_hand": -1}),
        ("admin", "PUT", STOCK, {"on_hand": 1, "safety_stock": -1}),
        ("admin", "POST", "/api/v1/products", a_product("NEW-1", price_amount=-1)),
        ("admin", "PATCH", "/api/v1/locations/WH-1", {"priority": -1}),
    ]:
        refused(client, engine, method, url, shop.headers(who), body, status=422)


@pytest.mark.parametrize("currency", ["XYZ", "EURO", "E", "", "€", 978, None])
def test_unknown_currencies_are_refused(client: TestClient, engine: Engine, shop: Shop,
                                        currency: Any) -> None:
    refused(client, engine, "POST", ORDERS, shop.headers("web"),
            {**order_with(), "currency": currency}, status=422)
    refused(client, engine, "POST", "/api/v1/products", shop.headers("admin"),
            a_product("NEW-1", currency=currency), status=422)


def test_a_purchase_order_in_another_currency_than_the_suppliers_is_refused(
        client: TestClient, engine: Engine, shop: Shop) -> None:
    add_supplier(client, shop)  # paid in EUR
    body = {"supplier": "ACME", "deliver_to": "WH-1", "currency": "USD",
            "lines": [{"sku": "TEE-1", "quantity": 1, "unit_cost": 100}]}
    problem = refused(client, engine, "POST", "/api/v1/purchase-orders", shop.headers("admin"),
                      body, status=422)
    assert problem["currency"] == "EUR"


@pytest.mark.parametrize("name", ["Tee 👕 & mug ☕", "قميص أزرق", "שלום", "Cafe\u0301 Noe\u0308l",
                                  "\u202egnp.exe", "Z\u0351\u0358\u0334a\u0336\u0335lgo"])
def test_unusual_text_is_kept_exactly(client: TestClient, shop: Shop, name: str) -> None:
    admin = shop.headers("admin")
    created = client.post("/api/v1/products", json=a_product("NEW-1", name=name), headers=admin)
    assert created.status_code == 201, created.text
    assert client.get("/api/v1/products/NEW-1", headers=admin).json()["name"] == name


@pytest.mark.parametrize("text", ["a\\u0000b", "\\ud800", "x\\udfff", "\\udc00\\ud800"])
def test_text_no_database_can_store_is_refused(client: TestClient, engine: Engine, shop: Shop,
                                               text: str) -> None:
    # given JSON escapes for a NUL or a lone surrogate, in a value and in a key
    product = json.dumps(a_product("NEW-1", name="@")).replace('"@"', f'"{text}"').encode()
    keyed = json.dumps({**order_with(), "@": 1}).replace('"@"', f'"{text}"').encode()
    # then both are refused, naming where
    found = refused(client, engine, "POST", "/api/v1/products", shop.headers("admin"),
                    raw=product, status=422)
    assert found["locations"] == ["$.name"]
    refused(client, engine, "POST", ORDERS, shop.headers("web"), raw=keyed, status=422)


def test_the_same_sku_on_two_lines_is_two_lines_of_one_stock(client: TestClient, engine: Engine,
                                                             shop: Shop, bus: MessageBus) -> None:
    # given 13 TEE-1 in stock: two lines of 8 are more than there is, counted together
    web = shop.headers("web")
    problem = refused(client, engine, "POST", ORDERS, web, an_order(("TEE-1", 8), ("TEE-1", 8)),
                      status=409)
    assert problem["code"] == "stock.insufficient"
    # when two lines of 6 are placed, then both are reserved and 1 is left
    placed = client.post(ORDERS, json=an_order(("TEE-1", 6), ("TEE-1", 6)), headers=web)
    assert placed.status_code == 201, placed.text
    assert [line["quantity"] for line in placed.json()["lines"]] == [6, 6]
    refused(client, engine, "POST", ORDERS, web, an_order(("TEE-1", 2)), status=409)


def test_huge_arrays_are_refused(client: TestClient, engine: Engine, shop: Shop) -> None:
    lines = [{"sku": "TEE-1", "quantity": 1}] * 10_000
    update = {"sku": "TEE-1", "location": "WH-1", "mode": "delta", "quantity": 1,
              "counted_at": "2026-01-01T00:00:00Z"}
    for who, url, body in [
        ("web", ORDERS, an_order(*[("TEE-1", 1)] * 10_000)),
        ("web", "/api/v1/cart-holds", {"lines": lines}),
        ("web", "/api/v1/availability", {"lines": lines}),
        ("admin", "/api/v1/stock-syncs", {"updates": [
            {**update, "source_reference": f"r-{n}"} for n in range(10_000)]}),
        ("web", "/api/v1/order-imports", {"mapping": "webshop-v1", "orders": [{}] * 10_000}),
    ]:
        refused(client, engine, "POST", url, shop.headers(who), body, status=422)
    too_many = "&".join(["sku=TEE-1"] * 101)
    refused(client, engine, "GET", f"/api/v1/availability?{too_many}", shop.headers("web"))


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", "application/xml",
                                          "text/csv", ""])
def test_a_json_body_sent_as_something_else_is_refused(client: TestClient, engine: Engine,
                                                       shop: Shop, content_type: str) -> None:
    body = json.dumps(order_with()).encode()
    refused(client, engine, "POST", ORDERS, shop.headers("web") | {"content-type": content_type},
            raw=body)


@pytest.mark.parametrize("raw", [b'{"sku": "\xff\xfe"}', b'{"sku": "\xc0\xaf"}',
                                 b'{"sku": "\xed\xa0\x80"}', b'{"sku": "caf\xe9"}'])
def test_bytes_that_are_not_utf8_are_400(client: TestClient, engine: Engine, shop: Shop,
                                         raw: bytes) -> None:
    refused(client, engine, "POST", "/api/v1/products", shop.headers("admin"), raw=raw,
            status=400)


def test_numbers_sent_as_text_and_flags_as_words_are_refused(client: TestClient, engine: Engine,
                                                             shop: Shop) -> None:
    where = {"latitude": "51.5", "longitude": 5}
    for who, method, url, body in [
        ("web", "POST", ORDERS, order_with(quantity="1")),
        ("web", "POST", ORDERS, order_with(unit_price="1999")),
        ("web", "POST", ORDERS, {**order_with(), "packaging": {"gift_wrap": "true"}}),
        ("web", "POST", ORDERS, {**order_with(), "shipping_address": {
            **order_with()["shipping_address"], **where}}),
        ("web", "POST", "/api/v1/availability", {"lines": [{"sku": "TEE-1", "quantity": 1}],
                                                 "destination": where}),
        ("admin", "PUT", STOCK, {"on_hand": "5"}),
        ("admin", "PATCH", "/api/v1/locations/WH-1", {"priority": "1"}),
        ("admin", "PATCH", "/api/v1/locations/WH-1", {"latitude": "51.5"}),
        ("admin", "PUT", "/api/v1/package-types/BOX-1", {
            "name": "Box", "length_mm": 1, "width_mm": 1, "height_mm": 1, "max_weight_grams": 1,
            "tare_grams": "1"}),
        ("admin", "PUT", "/api/v1/package-types/BOX-1", {
            "name": "Box", "length_mm": 1, "width_mm": 1, "height_mm": 1, "max_weight_grams": 1,
            "active": 0}),
        ("operator", "POST", "/api/v1/wms/leases", {"location": "WH-1", "worker": "w",
                                                    "seconds": "60"}),
    ]:
        refused(client, engine, method, url, shop.headers(who), body, status=422)


def test_money_is_whole_minor_units_never_a_float(client: TestClient, engine: Engine,
                                                  shop: Shop, bus: MessageBus) -> None:
    order = place(bus, ("TEE-1", 1)).order_id
    for who, url, body in [
        ("web", ORDERS, order_with(unit_price=1999.0)),
        ("web", ORDERS, order_with(unit_price=19.99)),
        ("web", ORDERS, {**order_with(), "shipping_total": 0.0}),
        ("web", ORDERS, order_with(quantity=1.0)),
        ("admin", "/api/v1/products", a_product("NEW-1", price_amount=1999.0)),
        ("admin", f"{ORDERS}/{order}/payments/capture", {"reference": "c-1", "amount": 100.0}),
        ("admin", f"{ORDERS}/{order}/refunds", {"reference": "r-1", "reason": "goodwill",
                                                "amount": 1.5}),
    ]:
        refused(client, engine, "POST", url, shop.headers(who), body, status=422)


def test_dates_and_times_out_of_range_or_not_iso_are_refused(client: TestClient, engine: Engine,
                                                             shop: Shop) -> None:
    admin = shop.headers("admin")
    for day in ["1999-12-31", "2200-01-01", "2024-02-30", "0000-01-01", 0, "1700000000", 20240101]:
        refused(client, engine, "POST", "/api/v1/products", admin,
                a_product("NEW-1", preorder=True, release_date=day), status=422)
    for when in ["0001-01-01T00:00:00+01:00", "2026-01-01T00:00:00", 0, "0.5", 1.7e9, True]:
        refused(client, engine, "POST", "/api/v1/stock-syncs", admin, {"updates": [{
            "sku": "TEE-1", "location": "WH-1", "mode": "delta", "quantity": 1,
            "source_reference": "r-1", "counted_at": when}]}, status=422)
    for query in ["/api/v1/orders?created_from=0.5", "/api/v1/orders?created_to=1700000000",
                  "/api/v1/analytics/stuck?at=0", "/api/v1/analytics/sales?since=1999-12-31",
                  "/api/v1/reports/reconciliation?since=0"]:
        refused(client, engine, "GET", query, admin, status=422)


PATHS = [
    ("GET", "/api/v1/products/..%2F..%2Fetc%2Fpasswd"),
    ("GET", "/api/v1/orders/%2E%2E"),
    ("GET", f"/api/v1/orders/{'x' * 10_000}"),
    ("PATCH", f"/api/v1/products/{'x' * 10_000}"),
    ("PUT", f"/api/v1/stock-levels/TEE-1%2F..%2F/{'W' * 5_000}"),
    ("PUT", f"/api/v1/package-types/{'x' * 5_000}"),
    ("PUT", "/api/v1/package-types/.."),
    ("PUT", "/api/v1/stage-slas/../dispatch"),
    ("DELETE", "/api/v1/tax-rates/..%2F../NL"),
    ("POST", f"/api/v1/orders/{'x' * 5_000}/cancel"),
    ("POST", "/api/v1/orders/x/lines/99999999999999999999/cancel"),
    ("GET", f"/track/{'x' * 10_000}.json"),
]


@pytest.mark.parametrize(("method", "path"), PATHS, ids=[f"{m} {p[:40]}" for m, p in PATHS])
def test_path_parameters_with_slashes_dots_or_thousands_of_characters(
        client: TestClient, engine: Engine, shop: Shop, method: str, path: str) -> None:
    body = {"on_hand": 1, "name": "Box", "length_mm": 1, "width_mm": 1, "height_mm": 1,
            "max_weight_grams": 1, "minutes": 60, "reason": "x"}
    fields = {"PATCH": {"name": "x"}, "PUT": body, "POST": {"reason": "x"}}.get(method)
    refused(client, engine, method, path, shop.headers("admin"), fields)


def test_a_repeated_query_parameter_is_read_as_its_last_value_and_checked(
        client: TestClient, engine: Engine, shop: Shop) -> None:
    operator = shop.headers("operator")
    refused(client, engine, "GET", "/api/v1/products?limit=1&limit=500", operator, status=422)
    refused(client, engine, "GET", "/api/v1/orders?status=placed&status=bogus", operator,
            status=422)
    refused(client, engine, "GET", "/api/v1/products?cursor=a&cursor=b", operator, status=422)
    last = client.get("/api/v1/products?limit=500&limit=1", headers=operator)
    assert last.status_code == 200 and len(last.json()["items"]) == 1


def test_a_webhook_subscription_cannot_be_patched_to_nothing(client: TestClient, engine: Engine,
                                                             shop: Shop) -> None:
    # given a subscription (a public address, written as one: no DNS here)
    admin = shop.headers("admin")
    made = client.post("/api/v1/webhook-subscriptions", headers=admin, json={
        "url": "https://93.184.216.34/hooks", "event_types": ["*"]}).json()
    # then a null URL or event list, an empty patch or a word for a flag is refused (a null
    # URL was a 500)
    for body in [{"url": None}, {"event_types": None}, {}, {"active": "yes"}, {"active": 1}]:
        refused(client, engine, "PATCH", f"/api/v1/webhook-subscriptions/{made['id']}", admin,
                body, status=422)
