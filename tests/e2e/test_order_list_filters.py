"""The order list's filters that the indexes of migration 0014 and the per-channel reference
lookup serve: a reference without a channel, a customer's orders page by page, channel and
status together. Each answers exactly what the filter names, newest first."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.builders import Shop, an_order


def placed(client: TestClient, shop: Shop, channel: str, **overrides: Any) -> str:
    response = client.post("/api/v1/orders", json=an_order(("TEE-1", 1), **overrides),
                           headers=shop.headers(channel))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def listed(client: TestClient, shop: Shop, who: str, **params: Any) -> list[str]:
    response = client.get("/api/v1/orders", params=params, headers=shop.headers(who))
    assert response.status_code == 200, response.text
    return [order["id"] for order in response.json()["items"]]


def test_a_reference_without_a_channel_finds_it_on_every_channel(client: TestClient,
                                                                   shop: Shop) -> None:
    # given the same reference used by two channels, and another reference
    web = placed(client, shop, "web", external_reference="R-1")
    pos = placed(client, shop, "pos", external_reference="R-1")
    placed(client, shop, "web", external_reference="R-2")
    # then an operator without a channel finds both, newest first; with one, only its own
    assert listed(client, shop, "operator", external_reference="R-1") == [pos, web]
    assert listed(client, shop, "operator", external_reference="R-1", channel="pos") == [pos]
    # and a channel's key only ever sees its own
    assert listed(client, shop, "web", external_reference="R-1") == [web]
    assert listed(client, shop, "operator", external_reference="R-3") == []


def test_a_customers_orders_come_page_by_page_newest_first(client: TestClient,
                                                            shop: Shop) -> None:
    # given three orders of Ann's between orders of Bob's, on both channels
    bob = {"email": "bob@example.com", "name": "Bob"}
    ann = [placed(client, shop, "web")]
    placed(client, shop, "web", customer=bob)
    ann.append(placed(client, shop, "pos"))
    placed(client, shop, "pos", customer=bob)
    ann.append(placed(client, shop, "web"))
    # when the operator lists hers two at a time (the address in any case)
    first = client.get("/api/v1/orders", params={"customer_email": "ANN@example.com", "limit": 2},
                       headers=shop.headers("operator")).json()
    second = client.get("/api/v1/orders", params={"customer_email": "ann@example.com", "limit": 2,
                                                  "cursor": first["next_cursor"]},
                        headers=shop.headers("operator")).json()
    # then the pages hold her orders alone, newest first, and end after the third
    assert [o["id"] for o in first["items"]] == [ann[2], ann[1]]
    assert [o["id"] for o in second["items"]] == [ann[0]]
    assert second["next_cursor"] is None


def test_channel_and_status_together(client: TestClient, shop: Shop) -> None:
    # given an order cancelled on each channel beside open ones
    web_open, web_cancelled = placed(client, shop, "web"), placed(client, shop, "web")
    pos_cancelled = placed(client, shop, "pos")
    placed(client, shop, "pos")
    for order_id in (web_cancelled, pos_cancelled):
        response = client.post(f"/api/v1/orders/{order_id}/cancel",
                               headers=shop.headers("operator"))
        assert response.status_code == 200, response.text
    # then each pair of channel and status finds exactly its orders
    assert listed(client, shop, "operator", channel="web", status="cancelled") == [web_cancelled]
    assert listed(client, shop, "operator", channel="pos", status="cancelled") == [pos_cancelled]
    assert listed(client, shop, "operator", channel="web", status="allocated") == [web_open]
    assert listed(client, shop, "operator", channel="pos", status="on_hold") == []
