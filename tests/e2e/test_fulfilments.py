"""Fulfilments through the API: released per order and location from what is allocated and paid
for, picked from a pick list, packed, and handed over at the counter; cancelled ones give their
allocations back; a wave released twice at once releases every allocation once. Shipping
(labels, tracking, short picks, rejections, WMS) is in test_shipping.py."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from ordermesh.adapters.db import tables as t
from ordermesh.domain.errors import ConcurrentUpdate
from ordermesh.services import commands as c
from ordermesh.services.bus import MessageBus
from tests.builders import Shop, an_order
from tests.races import together


def place(client: TestClient, shop: Shop, *lines: tuple[str, int], **extra: Any) -> dict[str, Any]:
    response = client.post("/api/v1/orders", headers=shop.headers("web"),
                           json=an_order(*lines, **extra))
    assert response.status_code == 201, response.text
    return dict(response.json())


def release(client: TestClient, shop: Shop, location: str | None = None) -> list[str]:
    body = {"location": location} if location else None
    response = client.post("/api/v1/fulfilments/release", headers=shop.headers("operator"),
                           json=body)
    assert response.status_code == 200, response.text
    return list(response.json()["fulfilments"])


def act(client: TestClient, shop: Shop, fulfilment_id: str, action: str) -> Any:
    return client.post(f"/api/v1/fulfilments/{fulfilment_id}/{action}",
                       headers=shop.headers("operator"))


def test_a_wave_is_released_picked_packed_and_handed_over(client: TestClient,
                                                          shop: Shop) -> None:
    # given an order shipped from the warehouse, one collected at the store, one still
    # waiting for its card's answer
    shipped = place(client, shop, ("TEE-1", 2))
    collected = place(client, shop, ("TEE-1", 1), shipping_address=None,
                      fulfilment={"method": "pickup", "location": "ST-AMS"})
    waiting = place(client, shop, ("TEE-1", 1), payment_token="tok_async")
    # when the wave is released
    made = release(client, shop)
    # then one fulfilment per order and location, none for the order not yet authorized
    assert len(made) == 2
    listed = client.get("/api/v1/fulfilments", headers=shop.headers("operator")).json()
    by_order = {f["order_id"]: f for f in listed}
    assert set(by_order) == {shipped["id"], collected["id"]}
    assert waiting["id"] not in by_order
    warehouse, store = by_order[shipped["id"]], by_order[collected["id"]]
    assert (warehouse["location"], warehouse["method"], warehouse["status"]) == (
        "WH-1", "ship", "pending")
    assert (store["location"], store["method"]) == ("ST-AMS", "pickup")
    assert warehouse["lines"] == [{"line_no": 1, "sku": "TEE-1", "quantity": 2}]
    # and the warehouse's pick list names the units and where they go
    picks = client.get("/api/v1/pick-lists/WH-1", headers=shop.headers("operator")).json()
    assert picks == [{"sku": "TEE-1", "quantity": 2, "orders": [
        {"order_number": shipped["number"], "fulfilment_id": warehouse["id"], "quantity": 2}]}]
    # and releasing again releases nothing more
    assert release(client, shop) == []
    # when the store picks, packs and hands the parcel over at its counter
    for action in ("start-picking", "pack", "make-ready"):
        response = act(client, shop, store["id"], action)
        assert response.status_code == 200, (action, response.text)
    code = next(e["data"]["pickup_code"] for e in client.get(
        f"/api/v1/orders/{collected['id']}/events", headers=shop.headers("operator")).json()
        if e["type"] == "order.ready_for_pickup")
    response = client.post(f"/api/v1/fulfilments/{store['id']}/collect",
                           headers=shop.headers("operator"), json={"pickup_code": code})
    assert response.json()["status"] == "collected"
    # then a shipped fulfilment cannot be made ready for pickup
    act(client, shop, warehouse["id"], "start-picking")
    act(client, shop, warehouse["id"], "pack")
    refused = act(client, shop, warehouse["id"], "make-ready")
    assert refused.status_code == 409
    assert refused.json()["code"] == "order.invalid_transition"
    # and picking started empties the pick list
    assert client.get("/api/v1/pick-lists/WH-1", headers=shop.headers("operator")).json() == []
    # and the timeline says what was released
    events = client.get(f"/api/v1/orders/{shipped['id']}/events",
                        headers=shop.headers("operator")).json()
    assert "order.fulfilment_released" in [e["type"] for e in events]


def test_a_cancelled_fulfilment_gives_its_allocations_back(client: TestClient,
                                                            shop: Shop) -> None:
    order = place(client, shop, ("TEE-1", 2))
    (first,) = release(client, shop, "WH-1")
    cancelled = client.post(f"/api/v1/fulfilments/{first}/cancel",
                            headers=shop.headers("operator"), json={"reason": "damaged"})
    assert cancelled.json()["status"] == "cancelled"
    (second,) = release(client, shop, "WH-1")
    assert second != first
    one = client.get(f"/api/v1/fulfilments/{second}", headers=shop.headers("operator")).json()
    assert (one["order_id"], one["lines"][0]["quantity"]) == (order["id"], 2)
    assert client.get("/api/v1/fulfilments/nope", headers=shop.headers("operator")
                      ).status_code == 404
    assert client.get("/api/v1/fulfilments", headers=shop.headers("web")).status_code == 403


def test_cancelling_an_order_cancels_its_fulfilments_in_the_building(client: TestClient,
                                                                    shop: Shop) -> None:
    order = place(client, shop, ("TEE-1", 2))
    (fulfilment,) = release(client, shop)
    act(client, shop, fulfilment, "start-picking")
    cancelled = client.post(f"/api/v1/orders/{order['id']}/cancel",
                            headers=shop.headers("operator"))
    assert cancelled.json()["status"] == "cancelled"
    one = client.get(f"/api/v1/fulfilments/{fulfilment}", headers=shop.headers("operator"))
    assert one.json()["status"] == "cancelled"
    assert client.get("/api/v1/pick-lists/WH-1", headers=shop.headers("operator")).json() == []


def test_waves_released_at_once_take_each_allocation_once(client: TestClient, shop: Shop,
                                                          bus: MessageBus,
                                                          engine: Engine) -> None:
    for _ in range(6):
        place(client, shop, ("TEE-1", 1))
    results = together([lambda: bus.handle(c.ReleaseFulfilments("test", "WH-1"))
                        for _ in range(4)], ConcurrentUpdate)
    made = [f for r in results if isinstance(r, list) for f in r]
    assert len(made) == len(set(made)) == 6
    with engine.connect() as conn:
        assigned = conn.execute(select(func.count()).select_from(t.allocations).where(
            t.allocations.c.fulfilment_id.is_not(None))).scalar_one()
        lines = conn.execute(select(func.count()).select_from(t.fulfilment_lines)).scalar_one()
    assert assigned == lines == 6


def test_a_packed_fulfilment_is_dispatched_from_its_own_location_captured_and_invoiced(
        client: TestClient, shop: Shop) -> None:
    operator = shop.headers("operator")
    # given 4 T-shirts allocated at the warehouse (10) ... and the store's 3 left alone
    order = place(client, shop, ("TEE-1", 4))
    (fulfilment,) = release(client, shop)
    # a fulfilment not packed yet is not dispatched
    early = client.post(f"/api/v1/fulfilments/{fulfilment}/dispatch", headers=operator)
    assert early.status_code == 409, early.text
    act(client, shop, fulfilment, "start-picking")
    act(client, shop, fulfilment, "pack")
    booked = client.post(f"/api/v1/fulfilments/{fulfilment}/shipment", headers=operator)
    assert booked.status_code == 200, booked.text
    # when it is dispatched, twice (a retry)
    first = client.post(f"/api/v1/fulfilments/{fulfilment}/dispatch", headers=operator)
    again = client.post(f"/api/v1/fulfilments/{fulfilment}/dispatch", headers=operator)
    # then it is dispatched once: captured once, invoiced once, stock out of the warehouse only
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "dispatched"
    assert first.json()["capture"]["outcome"] == "succeeded"
    assert again.json()["capture"] == first.json()["capture"]
    (payment,) = client.get(f"/api/v1/orders/{order['id']}/payments", headers=operator).json()
    assert [x["kind"] for x in payment["transactions"]] == ["authorize", "capture"]
    assert payment["status"] == "captured"
    invoices = client.get(f"/api/v1/orders/{order['id']}/invoices", headers=operator).json()
    assert [(i["reference"], i["gross"]) for i in invoices] == [
        (f"shipment:fulfilment:{fulfilment}", 4 * 1999)]
    levels = {lv["location"]: (lv["on_hand"], lv["reserved"]) for lv in client.get(
        "/api/v1/stock-levels?sku=TEE-1", headers=operator).json()["items"]}
    assert levels == {"WH-1": (6, 0), "ST-AMS": (3, 0)}
    assert client.get(f"/api/v1/orders/{order['id']}", headers=operator).json()["status"] \
        == "shipped"
