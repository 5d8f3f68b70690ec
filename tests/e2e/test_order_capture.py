"""A channel places an order over HTTP: stock is reserved, the order is numbered, listed and
has a timeline. Bad requests get problem+json and leave nothing behind."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from tests.builders import Shop, an_order
from tests.e2e.conftest import row_counts


def post_order(client: TestClient, shop: Shop, body: dict[str, Any], who: str = "web",
               key: str | None = None) -> Any:
    headers = shop.headers(who) | ({"Idempotency-Key": key} if key else {})
    return client.post("/api/v1/orders", json=body, headers=headers)


def test_placed_order_is_reserved_listed_and_has_a_timeline(client: TestClient, shop: Shop
                                                            ) -> None:
    # when the webshop places an order of 2 T-shirts
    response = post_order(client, shop, an_order(("TEE-1", 2), external_reference="W-1001"))
    # then it is allocated, numbered, totalled and reserved at the best location
    assert response.status_code == 201, response.text
    order = response.json()
    assert order["status"] == "allocated"
    assert order["number"].startswith("OM-")
    assert order["totals"] == {"currency": "EUR", "lines": 3998, "shipping": 0, "tax": 0,
                               "shipping_tax": 0, "prices_include_tax": True, "grand": 3998}
    (allocation,) = order["lines"][0]["allocations"]
    assert {k: allocation[k] for k in ("location", "quantity", "status", "source")} == {
        "location": "WH-1", "quantity": 2, "status": "active", "source": "stock"}
    # and it says why: the warehouse outranks the store that also has the shirts
    assert allocation["decision"]["rule"] == "priority"
    assert [c["location"] for c in allocation["decision"]["considered"]] == ["WH-1", "ST-AMS"]
    assert response.headers["Location"] == f"/api/v1/orders/{order['id']}"
    # and the stock level shows the reservation
    levels = client.get("/api/v1/stock-levels?sku=TEE-1&location=WH-1",
                        headers=shop.headers("operator")).json()["items"]
    assert levels[0]["reserved"] == 2 and levels[0]["available"] == 8
    # and the operator finds it in the list, by number too
    listed = client.get("/api/v1/orders?channel=web", headers=shop.headers("operator")).json()
    assert [o["id"] for o in listed["items"]] == [order["id"]]
    by_reference = client.get("/api/v1/orders?external_reference=W-1001",
                              headers=shop.headers("web")).json()["items"]
    assert [o["id"] for o in by_reference] == [order["id"]]
    assert client.get("/api/v1/orders?external_reference=W-9", headers=shop.headers(
        "web")).json()["items"] == []
    by_number = client.get(f"/api/v1/orders/{order['number']}", headers=shop.headers("operator"))
    assert by_number.json()["id"] == order["id"]
    # and the timeline tells what happened, the card's authorization included
    events = client.get(f"/api/v1/orders/{order['id']}/events", headers=shop.headers("web"))
    assert [e["type"] for e in events.json()] == [
        "order.placed", "order.allocated", "payment.authorization_requested",
        "payment.authorized"]
    assert events.json()[-1]["data"]["card"] == {"brand": "visa", "last4": "4242"}


def test_order_numbers_are_unique_and_increasing(client: TestClient, shop: Shop) -> None:
    numbers = [post_order(client, shop, an_order(("TEE-1", 1))).json()["number"]
               for _ in range(3)]
    assert numbers == sorted(numbers) and len(set(numbers)) == 3


def test_pickup_reserves_at_the_store(client: TestClient, shop: Shop) -> None:
    body = an_order(("TEE-1", 2), fulfilment={"method": "pickup", "location": "ST-AMS"},
                    shipping_address=None)
    order = post_order(client, shop, body).json()
    assert order["lines"][0]["allocations"][0]["location"] == "ST-AMS"
    assert order["fulfilment"] == {"method": "pickup", "location": "ST-AMS",
                                   "status": "unfulfilled"}


def test_short_line_of_a_backorderable_product_backorders_the_order(
        client: TestClient, shop: Shop) -> None:
    order = post_order(client, shop, an_order(("TEE-1", 1), ("MUG-1", 4))).json()
    assert order["status"] == "backordered"
    statuses = {line["sku"]: line["status"] for line in order["lines"]}
    assert statuses == {"TEE-1": "reserved", "MUG-1": "backordered"}


def test_short_stock_is_refused_naming_the_skus_and_writes_nothing(
        client: TestClient, shop: Shop, engine: Engine) -> None:
    before = row_counts(engine)
    response = post_order(client, shop, an_order(("TEE-1", 1), ("CAP-1", 2)), key="k-short")
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "stock.insufficient"
    assert response.json()["skus"] == ["CAP-1"]
    assert row_counts(engine) == before


def test_same_idempotency_key_replays_the_first_order(client: TestClient, shop: Shop,
                                                      engine: Engine) -> None:
    first = post_order(client, shop, an_order(("TEE-1", 1)), key="checkout-77")
    counts = row_counts(engine)
    again = post_order(client, shop, an_order(("TEE-1", 1)), key="checkout-77")
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert row_counts(engine) == counts


def test_same_key_with_another_body_is_refused(client: TestClient, shop: Shop) -> None:
    post_order(client, shop, an_order(("TEE-1", 1)), key="checkout-78")
    response = post_order(client, shop, an_order(("TEE-1", 2)), key="checkout-78")
    assert response.status_code == 409
    assert response.json()["code"] == "idempotency.key_reused"


def test_keys_of_different_channels_do_not_collide(client: TestClient, shop: Shop) -> None:
    web = post_order(client, shop, an_order(("TEE-1", 1)), key="same", who="web").json()
    pos = post_order(client, shop, an_order(("TEE-1", 1)), key="same", who="pos").json()
    assert web["id"] != pos["id"] and pos["channel"] == "pos"


def test_external_reference_is_captured_once_per_channel(client: TestClient, shop: Shop) -> None:
    first = post_order(client, shop, an_order(("TEE-1", 1), external_reference="MP-9"))
    second = post_order(client, shop, an_order(("TEE-1", 1), external_reference="MP-9"))
    assert second.status_code == 409
    assert second.json()["code"] == "order.duplicate_external_reference"
    assert second.json()["order_id"] == first.json()["id"]


BAD_BODIES = {
    "unknown field": {"gift_wrap": True},
    "unknown nested field": {"customer": {"email": "a@b.nl", "name": "A", "age": 3}},
    "bad country": {"billing_address": {"line1": "x", "city": "y", "country": "XX"}},
    "bad email": {"customer": {"email": "not-an-email", "name": "A"}},
    "float price": {"lines": [{"sku": "TEE-1", "quantity": 1, "unit_price": 19.99}]},
    "string quantity": {"lines": [{"sku": "TEE-1", "quantity": "1", "unit_price": 1999}]},
    "zero quantity": {"lines": [{"sku": "TEE-1", "quantity": 0, "unit_price": 1999}]},
    "no lines": {"lines": []},
    "bad currency": {"currency": "EURO"},
    "ship without address": {"shipping_address": None},
    "pickup without store": {"fulfilment": {"method": "pickup"}},
    "unknown sku": {"lines": [{"sku": "NOPE", "quantity": 1, "unit_price": 1}]},
    "pickup at a warehouse": {"fulfilment": {"method": "pickup", "location": "WH-1"}},
}


@pytest.mark.parametrize("change", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_bad_input_is_a_422_problem_and_writes_nothing(
        client: TestClient, shop: Shop, engine: Engine, change: dict[str, Any]) -> None:
    before = row_counts(engine)
    response = post_order(client, shop, {**an_order(("TEE-1", 1)), **change}, key="bad")
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert {"type", "title", "status", "code"} <= problem.keys()
    assert row_counts(engine) == before


def test_malformed_json_is_a_problem(client: TestClient, shop: Shop) -> None:
    response = client.post("/api/v1/orders", content=b"{not json",
                           headers=shop.headers("web") | {"content-type": "application/json"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


def test_list_filters_and_cursor_pagination(client: TestClient, shop: Shop) -> None:
    ids = [post_order(client, shop, an_order(("TEE-1", 1), customer={
        "email": f"c{i}@example.com", "name": "C"})).json()["id"] for i in range(5)]
    operator = shop.headers("operator")
    seen: list[str] = []
    url = "/api/v1/orders?limit=2"
    while url:
        page = client.get(url, headers=operator).json()
        seen += [o["id"] for o in page["items"]]
        url = f"/api/v1/orders?limit=2&cursor={page['next_cursor']}" if page["next_cursor"] else ""
    assert seen == ids[::-1]
    by_email = client.get("/api/v1/orders?customer_email=C3@example.com", headers=operator)
    assert [o["id"] for o in by_email.json()["items"]] == [ids[3]]
    allocated = client.get("/api/v1/orders?status=allocated", headers=operator).json()["items"]
    assert len(allocated) == 5
    assert client.get("/api/v1/orders?status=shipped", headers=operator).json()["items"] == []
    assert client.get("/api/v1/orders?cursor=garbage", headers=operator).status_code == 422


def test_cancel_releases_the_reservation_and_illegal_moves_are_409(
        client: TestClient, shop: Shop) -> None:
    order = post_order(client, shop, an_order(("TEE-1", 4))).json()
    operator = shop.headers("operator")
    reason = "fraud check: " + "the card's country differs from the delivery address; " * 8
    held = client.post(f"/api/v1/orders/{order['id']}/hold", json={"reason": reason[:500]},
                       headers=operator)
    assert held.json()["status"] == "on_hold"  # a reason of 500 characters is kept
    assert held.json()["hold_reason"] == reason[:500]
    released = client.post(f"/api/v1/orders/{order['id']}/release", headers=operator)
    assert released.json()["status"] == "allocated"
    cancelled = client.post(f"/api/v1/orders/{order['id']}/cancel", headers=shop.headers("web"))
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["lines"][0]["allocations"][0]["status"] == "released"
    level = client.get("/api/v1/stock-levels?sku=TEE-1&location=WH-1", headers=operator)
    assert level.json()["items"][0]["reserved"] == 0
    again = client.post(f"/api/v1/orders/{order['id']}/hold", headers=operator)
    assert again.status_code == 409
    assert again.json()["code"] == "order.invalid_transition"
    events = [e for e in client.get(f"/api/v1/orders/{order['id']}/events", headers=operator)
              .json() if e["type"].startswith("order.")]
    assert [e["type"] for e in events] == ["order.placed", "order.allocated", "order.held",
                                           "order.released", "order.cancelled"]
    assert events[2]["data"]["reason"] == reason[:500]


def test_time_filters_need_a_time_zone(client: TestClient, shop: Shop) -> None:
    operator = shop.headers("operator")
    post_order(client, shop, an_order(("TEE-1", 1)))
    naive = client.get("/api/v1/orders?created_from=2026-01-01T00:00:00", headers=operator)
    assert naive.status_code == 422
    since = client.get("/api/v1/orders?created_from=2026-01-01T00:00:00%2B00:00",
                       headers=operator)
    assert len(since.json()["items"]) == 1
    until = client.get("/api/v1/orders?created_to=2026-01-01T00:00:00Z", headers=operator)
    assert until.json()["items"] == []


def test_deeply_nested_or_huge_bodies_are_refused(client: TestClient, shop: Shop) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    headers = shop.headers("web") | {"content-type": "application/json"}
    response = client.post("/api/v1/orders", content=deep, headers=headers)
    assert 400 <= response.status_code < 500
    huge = b'{"x": "' + b"a" * (3 * 1024 * 1024) + b'"}'
    assert client.post("/api/v1/orders", content=huge, headers=headers).status_code == 413


def test_international_phone_numbers_are_not_card_numbers(client: TestClient, shop: Shop) -> None:
    # +4930123456703 is 13 digits starting with 4 that pass Luhn: a phone, not a card
    customer = {"email": "a@b.de", "name": "A", "phone": "+4930123456703"}
    response = post_order(client, shop, an_order(("TEE-1", 1), customer=customer))
    assert response.status_code == 201, response.text


def test_forged_cursors_are_refused_on_every_list(client: TestClient, shop: Shop) -> None:
    import base64
    import json

    operator = shop.headers("operator")
    def cursor_of(value: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()

    wrong_everywhere = [{"a": 1}, [1, 2, 3], 10**30, -1, True, None, "x" * 300]
    for path in ("orders", "products", "stock-levels", "stock-movements"):
        for cursor in map(cursor_of, wrong_everywhere + ([] if path == "products" else ["abc"])):
            response = client.get(f"/api/v1/{path}?cursor={cursor}", headers=operator)
            assert response.status_code == 422, (path, cursor, response.text)
