"""Availability through the API: per SKU and for a cart, as each caller may see it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from tests.builders import Shop, an_order
from tests.e2e.conftest import row_counts

TODAY = datetime.now(UTC).date()
YORK = {"latitude": 53.96, "longitude": -1.0873}


def skus(client: TestClient, shop: Shop, *names: str, who: str = "operator",
         **params: str) -> Any:
    query = "&".join([*(f"sku={n}" for n in names), *(f"{k}={v}" for k, v in params.items())])
    return client.get(f"/api/v1/availability?{query}", headers=shop.headers(who))


def cart(client: TestClient, shop: Shop, body: dict[str, Any], who: str = "web") -> Any:
    return client.post("/api/v1/availability", json=body, headers=shop.headers(who))


def test_a_sku_shows_its_figures_network_wide_and_per_location(client: TestClient, uk: Shop
                                                               ) -> None:
    uk.stock("TEE", "LEEDS", 5, safety_stock=1)
    place = client.post("/api/v1/orders", headers=uk.headers("web"), json={
        "currency": "GBP", "customer": {"email": "a@example.com", "name": "A"},
        "billing_address": {"line1": "1 Road", "city": "York", "country": "GB"},
        "shipping_address": {"line1": "1 Road", "city": "York", "country": "GB", **YORK},
        "fulfilment": {"method": "ship"},
        "lines": [{"sku": "TEE", "quantity": 2, "unit_price": 1500}]})
    assert place.status_code == 201, place.text
    answer = skus(client, uk, "TEE", "MUG")
    assert answer.status_code == 200, answer.text
    tee, mug = answer.json()["items"]
    assert {k: tee[k] for k in ("status", "on_hand", "reserved", "safety_stock", "available")} == {
        "status": "in_stock", "on_hand": 10, "reserved": 2, "safety_stock": 1, "available": 7}
    assert tee["available_on"] == TODAY.isoformat()
    assert [(x["location"], x["available"]) for x in tee["locations"]] == [
        ("LEEDS", 2), ("LONDON", 5)]
    assert (mug["status"], mug["available_on"], mug["locations"]) == ("backorder", None, [])


def test_low_stock_threshold_and_preorders(client: TestClient, uk: Shop) -> None:
    admin = uk.headers("admin")
    client.patch("/api/v1/products/TEE", headers=admin, json={"low_stock_threshold": 10})
    release = TODAY + timedelta(days=40)
    client.patch("/api/v1/products/MUG", headers=admin,
                 json={"preorder": True, "release_date": release.isoformat()})
    tee, mug = skus(client, uk, "TEE", "MUG").json()["items"]
    assert tee["status"] == "low_stock"
    assert (mug["status"], mug["available_on"]) == ("preorder", release.isoformat())


def test_a_channel_sees_its_own_locations_net_of_its_buffer(client: TestClient, uk: Shop) -> None:
    client.patch("/api/v1/channels/pos", headers=uk.headers("admin"),
                 json={"visible_locations": ["LONDON"], "safety_buffer": 2})
    (tee,) = skus(client, uk, "TEE", who="pos").json()["items"]
    assert [(x["location"], x["available"]) for x in tee["locations"]] == [("LONDON", 3)]
    assert tee["available"] == 3
    # an operator may look as that channel, a channel key only as itself
    (as_pos,) = skus(client, uk, "TEE", channel="pos").json()["items"]
    assert as_pos["available"] == 3
    assert skus(client, uk, "TEE", who="pos", channel="web").status_code == 422


def test_stock_at_an_inactive_location_is_not_available(client: TestClient, uk: Shop) -> None:
    # given jugs, which cannot be backordered, held only in London, and London closed
    uk.product("JUG", currency="GBP").stock("JUG", "LONDON", 4)
    closed = client.patch("/api/v1/locations/LONDON", headers=uk.headers("admin"),
                          json={"active": False})
    assert closed.status_code == 200, closed.text
    # then neither jugs nor London's shirts count, network-wide or per location
    tee, jug = skus(client, uk, "TEE", "JUG").json()["items"]
    assert {k: tee[k] for k in ("status", "on_hand", "available")} == {
        "status": "in_stock", "on_hand": 5, "available": 5}
    assert [x["location"] for x in tee["locations"]] == ["LEEDS"]
    assert {k: jug[k] for k in ("status", "on_hand", "available", "locations")} == {
        "status": "out_of_stock", "on_hand": 0, "available": 0, "locations": []}
    # and a cart says what an order would get: no jugs
    body = cart(client, uk, {"lines": [{"sku": "JUG", "quantity": 1},
                                       {"sku": "TEE", "quantity": 5}],
                             "destination": YORK}).json()
    line, shirts = body["lines"]
    assert (line["status"], line["can_fulfil"], line["available_now"]) == (
        "out_of_stock", False, 0)
    assert (shirts["status"], shirts["can_fulfil"]) == ("in_stock", True)
    order = client.post("/api/v1/orders", headers=uk.headers("web"),
                        json=an_order(("JUG", 1), currency="GBP"))
    assert order.status_code == 409, order.text
    assert order.json()["code"] == "stock.insufficient"


def test_a_cart_says_from_where_and_when(client: TestClient, uk: Shop, engine: Engine) -> None:
    before = row_counts(engine)
    answer = cart(client, uk, {"lines": [{"sku": "TEE", "quantity": 2},
                                         {"sku": "MUG", "quantity": 1}],
                               "destination": YORK})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    tee, mug = body["lines"]
    assert body["can_fulfil"] is True and body["shipments"] == 1
    assert [(p["location"], p["quantity"]) for p in tee["from"]] == [("LEEDS", 2)]
    assert "nearest" in tee["from"][0]["why"]
    assert tee["promised_on"] == (TODAY + timedelta(days=2)).isoformat()
    assert (mug["status"], mug["available_now"], mug["promised_on"]) == ("backorder", 0, None)
    assert mug["waits"][0]["kind"] == "backorder"
    # and nothing was reserved or written
    assert row_counts(engine) == before


def test_a_cart_too_big_to_fill_is_refused_line_by_line(client: TestClient, uk: Shop) -> None:
    body = cart(client, uk, {"lines": [{"sku": "TEE", "quantity": 12}]}).json()
    (tee,) = body["lines"]
    assert body["can_fulfil"] is False and tee["can_fulfil"] is False
    assert tee["available_now"] == 10 and tee["refused"]["quantity"] == 2
    assert tee["promised_on"] is None


def test_a_pickup_cart_is_ready_when_the_transfer_arrives(client: TestClient, uk: Shop) -> None:
    client.patch("/api/v1/locations/LEEDS", headers=uk.headers("admin"), json={"transfer_days": 3})
    body = cart(client, uk, {"lines": [{"sku": "TEE", "quantity": 1}],
                             "pickup_location": "YORK-ST"}).json()
    (tee,) = body["lines"]
    assert [(p["location"], p["source"]) for p in tee["from"]] == [("LEEDS", "transfer")]
    assert tee["promised_on"] == (TODAY + timedelta(days=3)).isoformat()


def test_bad_availability_questions_are_refused(client: TestClient, uk: Shop) -> None:
    assert skus(client, uk, "NOPE").status_code == 422
    assert client.get("/api/v1/availability", headers=uk.headers("web")).status_code == 422
    assert skus(client, uk, "TEE", channel="nowhere").status_code == 404
    for body in ({"lines": []}, {"lines": [{"sku": "TEE", "quantity": 0}]},
                 {"lines": [{"sku": "NOPE", "quantity": 1}]},
                 {"lines": [{"sku": "TEE", "quantity": 1}], "destination": YORK,
                  "pickup_location": "YORK-ST"},
                 {"lines": [{"sku": "TEE", "quantity": 1}], "pickup_location": "MARS"},
                 {"lines": [{"sku": "TEE", "quantity": 1}], "pickup_location": "LEEDS"},
                 {"lines": [{"sku": "TEE", "quantity": 1}], "destination": {"latitude": 91,
                                                                             "longitude": 0}}):
        answer = cart(client, uk, body)
        assert answer.status_code == 422, (body, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
    assert client.post("/api/v1/availability", json={"lines": [{"sku": "TEE", "quantity": 1}]}
                       ).status_code == 401


def test_incoming_supply_dates_backorders_and_is_promised_once(client: TestClient, uk: Shop
                                                               ) -> None:
    from tests.e2e.purchasing import add_supplier, draft

    # given a supplier with a 7-day lead time for mugs, which no one holds
    add_supplier(client, uk)
    admin = uk.headers("admin")
    assert client.patch("/api/v1/products/MUG", headers=admin,
                        json={"supplier_code": "NOBODY"}).status_code == 422
    assert client.patch("/api/v1/products/MUG", headers=admin,
                        json={"supplier_code": "ACME"}).status_code == 200
    (mug,) = skus(client, uk, "MUG").json()["items"]
    assert (mug["status"], mug["available_on"]) == ("backorder",
                                                    (TODAY + timedelta(days=7)).isoformat())
    # when 4 mugs are on a purchase order due in 3 days
    due = TODAY + timedelta(days=3)
    po = draft(client, uk, ("MUG", 4, 250), deliver_to="LEEDS", expected_on=due.isoformat())
    client.post(f"/api/v1/purchase-orders/{po.json()['id']}/send", headers=uk.headers("operator"))
    (mug,) = skus(client, uk, "MUG").json()["items"]
    assert mug["available_on"] == due.isoformat()
    assert [(i["quantity"], i["arrives_on"]) for i in mug["incoming"]] == [(4, due.isoformat())]
    # then the first order of 3 is promised from that supply, the next takes the last one
    def order(quantity: int) -> dict[str, Any]:
        answer = client.post("/api/v1/orders", headers=uk.headers("web"), json={
            "currency": "GBP", "customer": {"email": "a@example.com", "name": "A"},
            "billing_address": {"line1": "1 Road", "city": "York", "country": "GB"},
            "shipping_address": {"line1": "1 Road", "city": "York", "country": "GB"},
            "fulfilment": {"method": "ship"},
            "lines": [{"sku": "MUG", "quantity": quantity, "unit_price": 900}]})
        assert answer.status_code == 201, answer.text
        return dict(answer.json())

    first, second = order(3), order(3)
    assert [(w["quantity"], w["promised_on"]) for w in first["lines"][0]["waits"]] == [
        (3, (due + timedelta(days=2)).isoformat())]
    assert [(w["quantity"], w["promised_on"]) for w in second["lines"][0]["waits"]] == [
        (1, (due + timedelta(days=2)).isoformat()), (2, (TODAY + timedelta(days=9)).isoformat())]
    (mug,) = skus(client, uk, "MUG").json()["items"]
    assert mug["incoming"] == [] and mug["available_on"] == (TODAY + timedelta(days=7)).isoformat()
