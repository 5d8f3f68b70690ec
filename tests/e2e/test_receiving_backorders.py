"""The backorder story: goods received on a purchase order go to the orders that were waiting for
them, first placed first served, reserved where the goods arrived."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.builders import Shop, an_order
from tests.e2e.purchasing import add_supplier, level, receive, sent_po


def test_received_goods_go_to_waiting_orders_first_come_first_served(
        client: TestClient, shop: Shop) -> None:
    # given two orders for mugs, which are backorderable and out of stock everywhere
    placed = [client.post("/api/v1/orders", json=an_order(("MUG-1", qty)),
                          headers=shop.headers("web")).json() for qty in (2, 3)]
    assert [o["status"] for o in placed] == ["backordered", "backordered"]
    first, second = placed
    # and a purchase order for mugs to the Amsterdam store, sent
    add_supplier(client, shop)
    po = sent_po(client, shop, ("MUG-1", 10, 450), deliver_to="ST-AMS")
    # when enough for the first order arrives
    response = receive(client, shop, po, (1, 2))
    assert response.status_code == 200, response.text
    # then the first-placed order gets them, reserved where they arrived
    assert response.json()["allocated_orders"] == [first["number"]]
    operator = shop.headers("operator")
    now_first = client.get(f"/api/v1/orders/{first['id']}", headers=operator).json()
    assert now_first["status"] == "allocated"
    (line,) = now_first["lines"]
    assert line["status"] == "reserved"
    assert [(a["location"], a["quantity"], a["status"], a["source"]) for a in line["allocations"]] \
        == [("ST-AMS", 2, "active", "stock")]
    assert [w["status"] for w in line["waits"]] == ["replaced"]
    events = client.get(f"/api/v1/orders/{first['id']}/events", headers=operator).json()
    assert [e["type"] for e in events if e["type"].startswith("order.")] == [
        "order.placed", "order.backordered", "order.allocated"]
    # and the second keeps waiting
    assert client.get(f"/api/v1/orders/{second['id']}", headers=operator).json()[
        "status"] == "backordered"
    stock = level(client, shop, "MUG-1", "ST-AMS")
    assert (stock["on_hand"], stock["reserved"]) == (2, 2)
    # when the next delivery brings enough for the second
    later = receive(client, shop, po, (1, 3)).json()
    # then it is the second order's turn
    assert later["allocated_orders"] == [second["number"]]
    now_second = client.get(f"/api/v1/orders/{second['id']}", headers=operator).json()
    assert now_second["status"] == "allocated"
    assert now_second["lines"][0]["allocations"][0]["location"] == "ST-AMS"
    stock = level(client, shop, "MUG-1", "ST-AMS")
    assert (stock["on_hand"], stock["reserved"], stock["available"]) == (5, 5, 0)
