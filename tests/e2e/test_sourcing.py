"""Sourcing through the API: where orders come from, why, and what happens when plans change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from tests.builders import ADDRESS, Shop, an_order
from tests.e2e.conftest import row_counts

YORK = {**ADDRESS, "city": "York", "country": "GB", "latitude": 53.96, "longitude": -1.0873}
TODAY = datetime.now(UTC).date()


def order_of(*lines: tuple[str, int], **overrides: Any) -> dict[str, Any]:
    body = an_order(*lines, currency="GBP", shipping_address=YORK, **overrides)
    for line in body["lines"]:
        line["unit_price"] = 1500
    return body


def place(client: TestClient, shop: Shop, body: dict[str, Any], who: str = "web") -> Any:
    return client.post("/api/v1/orders", json=body, headers=shop.headers(who))


def allocations(order: dict[str, Any]) -> list[tuple[int, str, int]]:
    return [(ln["line_no"], a["location"], a["quantity"]) for ln in order["lines"]
            for a in ln["allocations"] if a["status"] == "active"]


def timeline(client: TestClient, shop: Shop, order: dict[str, Any]) -> list[dict[str, Any]]:
    return client.get(f"/api/v1/orders/{order['id']}/events",
                      headers=shop.headers("operator")).json()


def test_the_nearest_warehouse_ships_and_the_timeline_says_why(client: TestClient, uk: Shop
                                                               ) -> None:
    # when a York customer orders a T-shirt that Leeds and London both hold
    response = place(client, uk, order_of(("TEE", 2)))
    # then Leeds ships it, though London has the higher priority, because it is nearer
    assert response.status_code == 201, response.text
    order = response.json()
    assert allocations(order) == [(1, "LEEDS", 2)]
    decision = order["lines"][0]["allocations"][0]["decision"]
    assert decision["rule"] == "nearest"
    assert [c["location"] for c in decision["considered"]] == ["LEEDS", "LONDON"]
    assert decision["considered"][0]["distance_km"] < 40 < decision["considered"][1]["distance_km"]
    # and the timeline carries the same answer
    allocated = [e for e in timeline(client, uk, order) if e["type"] == "order.allocated"]
    assert allocated[0]["data"]["allocations"][0]["location"] == "LEEDS"
    assert "nearest" in allocated[0]["data"]["allocations"][0]["why"]


def test_a_channel_can_put_priority_first_and_hide_locations(client: TestClient, uk: Shop
                                                             ) -> None:
    admin = uk.headers("admin")
    patched = client.patch("/api/v1/channels/web", headers=admin,
                           json={"sourcing_rules": ["priority", "nearest"]})
    assert patched.status_code == 200, patched.text
    assert patched.json()["sourcing_rules"] == ["priority", "nearest"]
    assert allocations(place(client, uk, order_of(("TEE", 1))).json()) == [(1, "LONDON", 1)]
    # when the channel may only use Leeds, London is out of the picture
    client.patch("/api/v1/channels/web", headers=admin, json={"visible_locations": ["LEEDS"]})
    order = place(client, uk, order_of(("TEE", 1))).json()
    assert allocations(order) == [(1, "LEEDS", 1)]
    excluded = dict(map(tuple, order["lines"][0]["allocations"][0]["decision"]["excluded"]))
    assert excluded == {"LONDON": "not offered to this channel"}


def test_a_channel_buffer_holds_stock_back(client: TestClient, uk: Shop, engine: Engine) -> None:
    client.patch("/api/v1/channels/pos", headers=uk.headers("admin"), json={"safety_buffer": 4})
    # each location has 5, the POS may see only 1 of them: 3 T-shirts must split
    order = place(client, uk, order_of(("TEE", 2)), who="pos").json()
    assert sorted(allocations(order)) == [(1, "LEEDS", 1), (1, "LONDON", 1)]
    before = row_counts(engine)
    refused = place(client, uk, order_of(("TEE", 1)), who="pos")
    assert refused.status_code == 409
    assert refused.json()["code"] == "stock.insufficient"
    assert row_counts(engine) == before


def test_a_line_is_split_only_when_no_location_can_fill_it(client: TestClient, uk: Shop) -> None:
    order = place(client, uk, order_of(("TEE", 7))).json()
    assert order["status"] == "allocated"
    assert sorted(allocations(order)) == [(1, "LEEDS", 5), (1, "LONDON", 2)]
    assert {a["decision"]["rule"] for a in order["lines"][0]["allocations"]} == {"split"}


def test_a_location_at_its_daily_capacity_is_passed_over(client: TestClient, uk: Shop) -> None:
    client.patch("/api/v1/locations/LEEDS", headers=uk.headers("admin"),
                 json={"daily_order_capacity": 1})
    first = place(client, uk, order_of(("TEE", 1))).json()
    second = place(client, uk, order_of(("TEE", 1))).json()
    assert allocations(first) == [(1, "LEEDS", 1)]
    assert allocations(second) == [(1, "LONDON", 1)]
    excluded = second["lines"][0]["allocations"][0]["decision"]["excluded"]
    assert ["LEEDS", "at its daily capacity"] in excluded


def test_click_and_collect_transfers_from_a_warehouse_when_the_store_lacks_stock(
        client: TestClient, uk: Shop) -> None:
    client.patch("/api/v1/locations/LEEDS", headers=uk.headers("admin"), json={"transfer_days": 2})
    uk.stock("TEE", "YORK-ST", 1)
    body = order_of(("TEE", 3), fulfilment={"method": "pickup", "location": "YORK-ST"})
    order = place(client, uk, body).json()
    parts = sorted(order["lines"][0]["allocations"], key=lambda a: a["source"])
    assert [(a["location"], a["quantity"], a["source"]) for a in parts] == [
        ("YORK-ST", 1, "stock"), ("LEEDS", 2, "transfer")]
    assert parts[0]["promised_on"] == TODAY.isoformat()
    assert parts[1]["promised_on"] == (TODAY + timedelta(days=2)).isoformat()
    assert parts[0]["decision"]["rule"] == "pickup_store_first"


def test_backorders_wait_and_are_served_first_come_first_served(client: TestClient, uk: Shop
                                                                ) -> None:
    # given two orders for mugs that no one holds
    first = place(client, uk, order_of(("MUG", 2))).json()
    second = place(client, uk, order_of(("MUG", 2))).json()
    assert first["status"] == second["status"] == "backordered"
    (wait,) = first["lines"][0]["waits"]
    assert (wait["quantity"], wait["kind"], wait["status"]) == (2, "backorder", "waiting")
    # when 3 mugs are counted in at Leeds
    put = client.put("/api/v1/stock-levels/MUG/LEEDS", headers=uk.headers("admin"),
                     json={"on_hand": 3})
    assert put.status_code == 200, put.text
    # then the first order gets its 2, the second the last 1 and waits for 1
    ops = uk.headers("operator")
    first = client.get(f"/api/v1/orders/{first['id']}", headers=ops).json()
    second = client.get(f"/api/v1/orders/{second['id']}", headers=ops).json()
    assert first["status"] == "allocated" and allocations(first) == [(1, "LEEDS", 2)]
    assert first["lines"][0]["status"] == "reserved"
    assert second["status"] == "backordered" and allocations(second) == [(1, "LEEDS", 1)]
    assert [w["quantity"] for w in second["lines"][0]["waits"] if w["status"] == "waiting"] == [1]
    assert "order.allocated" in [e["type"] for e in timeline(client, uk, first)]
    assert "order.backorder_partly_allocated" in [e["type"] for e in timeline(client, uk, second)]


def test_a_rejected_line_is_sourced_again_elsewhere(client: TestClient, uk: Shop) -> None:
    order = place(client, uk, order_of(("TEE", 2))).json()
    assert allocations(order) == [(1, "LEEDS", 2)]
    # when Leeds says it cannot pick the line
    response = client.post(f"/api/v1/orders/{order['id']}/lines/1/reject",
                           headers=uk.headers("operator"),
                           json={"location": "LEEDS", "reason": "damaged in the bin"})
    assert response.status_code == 200, response.text
    moved = response.json()
    # then London takes it, and the timeline says what happened and why
    assert allocations(moved) == [(1, "LONDON", 2)]
    excluded = moved["lines"][0]["allocations"][-1]["decision"]["excluded"]
    assert [e for e in excluded if e[0] == "LEEDS"] == [["LEEDS", "damaged in the bin"]]
    event = timeline(client, uk, order)[-1]
    assert event["type"] == "order.line_resourced"
    assert event["data"]["moved_from"] == "LEEDS" and event["data"]["reason"] == "damaged in the bin"
    levels = {r["location"]: r["reserved"] for r in client.get(
        "/api/v1/stock-levels?sku=TEE", headers=uk.headers("operator")).json()["items"]}
    assert levels == {"LEEDS": 0, "LONDON": 2}


def test_a_line_no_one_else_can_fill_moves_to_backorder(client: TestClient, uk: Shop) -> None:
    ops = uk.headers("operator")
    order = place(client, uk, order_of(("TEE", 5))).json()
    uk.stock("TEE", "LONDON", 0)
    # when Leeds rejects the line and no one else holds the T-shirts
    client.post(f"/api/v1/orders/{order['id']}/lines/1/reject", headers=ops,
                json={"location": "LEEDS"})
    # then the order is backordered, all 5 wait, and Leeds holds nothing for it
    moved = client.get(f"/api/v1/orders/{order['id']}", headers=ops).json()
    assert moved["status"] == "backordered" and moved["lines"][0]["status"] == "backordered"
    assert allocations(moved) == []
    assert [w["quantity"] for w in moved["lines"][0]["waits"]] == [5]
    assert timeline(client, uk, order)[-1]["data"]["reason"] == "rejected by the location"
    # and stock arriving in London serves it
    uk.stock("TEE", "LONDON", 6)
    served = client.get(f"/api/v1/orders/{order['id']}", headers=ops).json()
    assert served["status"] == "allocated" and allocations(served) == [(1, "LONDON", 5)]


def test_a_count_below_what_is_reserved_moves_the_newest_allocation(client: TestClient, uk: Shop
                                                                    ) -> None:
    older = place(client, uk, order_of(("TEE", 2))).json()
    newer = place(client, uk, order_of(("TEE", 2))).json()
    assert allocations(older) == allocations(newer) == [(1, "LEEDS", 2)]
    # when Leeds counts only 3 T-shirts: one short of the 4 it reserved
    client.put("/api/v1/stock-levels/TEE/LEEDS", headers=uk.headers("admin"), json={"on_hand": 3})
    ops = uk.headers("operator")
    older = client.get(f"/api/v1/orders/{older['id']}", headers=ops).json()
    newer = client.get(f"/api/v1/orders/{newer['id']}", headers=ops).json()
    # then the older order keeps its stock, and 1 of the newer one moves to London
    assert allocations(older) == [(1, "LEEDS", 2)]
    assert sorted(allocations(newer)) == [(1, "LEEDS", 1), (1, "LONDON", 1)]
    level = client.get("/api/v1/stock-levels?sku=TEE&location=LEEDS", headers=ops).json()
    assert level["items"][0]["reserved"] == 3


def test_bad_sourcing_settings_and_rejections_are_refused(client: TestClient, uk: Shop,
                                                          engine: Engine) -> None:
    admin = uk.headers("admin")
    order = place(client, uk, order_of(("TEE", 1))).json()
    before = row_counts(engine)
    for body in ({"sourcing_rules": ["fastest"]}, {"sourcing_rules": ["nearest", "nearest"]},
                 {"visible_locations": ["NOWHERE"]}, {"safety_buffer": -1},
                 {"allow_split": None}, {}):
        answer = client.patch("/api/v1/channels/web", headers=admin, json=body)
        assert answer.status_code == 422, (body, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
    assert client.patch("/api/v1/products/MUG", headers=admin, json={
        "preorder": True, "release_date": "9999-12-31"}).status_code == 422
    rates = [{"max_km": 0, "amount": 100, "currency": "GBP", "days": 1}]
    assert client.patch("/api/v1/locations/LEEDS", headers=admin,
                        json={"shipping_rates": rates}).status_code == 422
    for body in ({"location": "LONDON"}, {"location": "LEEDS", "quantity": 2}):
        answer = client.post(f"/api/v1/orders/{order['id']}/lines/1/reject",
                             headers=uk.headers("operator"), json=body)
        assert answer.status_code == 422, answer.text
    assert client.post(f"/api/v1/orders/{order['id']}/lines/9/reject",
                       headers=uk.headers("operator"), json={"location": "LEEDS"}
                       ).status_code == 404
    assert client.patch("/api/v1/channels/web", headers=uk.headers("web"),
                        json={"safety_buffer": 1}).status_code == 403
    assert row_counts(engine) == before


def test_capacity_comes_back_when_an_order_no_longer_ships_from_a_location(
        client: TestClient, uk: Shop, engine: Engine) -> None:
    from sqlalchemy import select

    from ordermesh.adapters.db import tables as t

    def leeds_load() -> int | None:
        with engine.connect() as conn:
            return conn.execute(select(t.location_loads.c.shipments).where(
                t.location_loads.c.location_code == "LEEDS")).scalar()

    ops = uk.headers("operator")
    client.patch("/api/v1/locations/LEEDS", headers=uk.headers("admin"),
                 json={"daily_order_capacity": 1})
    first = place(client, uk, order_of(("TEE", 1))).json()
    assert allocations(first) == [(1, "LEEDS", 1)] and leeds_load() == 1
    client.post(f"/api/v1/orders/{first['id']}/cancel", headers=ops)
    assert leeds_load() == 0
    second = place(client, uk, order_of(("TEE", 2), ("MUG", 1))).json()
    assert allocations(second) == [(1, "LEEDS", 2)] and leeds_load() == 1
    # when the mug arrives at Leeds, which is full for the day but already ships this order
    uk.stock("MUG", "LEEDS", 1)
    served = client.get(f"/api/v1/orders/{second['id']}", headers=ops).json()
    assert sorted(allocations(served)) == [(1, "LEEDS", 2), (2, "LEEDS", 1)]
    assert leeds_load() == 1
