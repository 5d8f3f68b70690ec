"""Cancelling units of a line over HTTP: the operator console (or a channel, for its own
orders) gets the order back; what cannot be cancelled is a problem+json, and leaves nothing
behind."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from ordermesh.services import commands as c
from tests.builders import Shop, an_order
from tests.e2e.conftest import row_counts

REASON = {"reason": "customer changed their mind"}


def placed(client: TestClient, shop: Shop, *lines: tuple[str, int], who: str = "web",
           **overrides: Any) -> dict[str, Any]:
    response = client.post("/api/v1/orders", json=an_order(*lines, **overrides),
                           headers=shop.headers(who))
    assert response.status_code == 201, response.text
    return dict(response.json())


def cancel_line(client: TestClient, shop: Shop, order_id: str, line_no: int,
                body: dict[str, Any], who: str = "operator", **headers: str) -> Any:
    return client.post(f"/api/v1/orders/{order_id}/lines/{line_no}/cancel", json=body,
                       headers=shop.headers(who) | headers)


def line_events(client: TestClient, shop: Shop, order_id: str) -> list[dict[str, Any]]:
    timeline = client.get(f"/api/v1/orders/{order_id}/events", headers=shop.headers("operator"))
    return [e for e in timeline.json() if e["type"] == "order.line_cancelled"]


def test_an_operator_cancels_units_of_a_line_and_gets_the_order_back(client: TestClient,
                                                                     shop: Shop) -> None:
    # given an order of four tees and a cap
    order = placed(client, shop, ("TEE-1", 4), ("CAP-1", 1))
    # when the operator cancels three of the tees
    response = cancel_line(client, shop, order["id"], 1, {"quantity": 3, **REASON})
    # then the order comes back with the line's units cancelled and one still reserved
    assert response.status_code == 200, response.text
    tees = response.json()["lines"][0]
    assert (tees["cancelled"], tees["status"], response.json()["status"]) == (
        3, "reserved", "allocated")
    assert [a["quantity"] for a in tees["allocations"] if a["status"] == "active"] == [1]
    level = client.get("/api/v1/stock-levels?sku=TEE-1&location=WH-1",
                       headers=shop.headers("operator")).json()["items"][0]
    assert level["reserved"] == 1
    # and the timeline (and so the webhooks) say what went, why and what was refunded
    [event] = line_events(client, shop, order["id"])
    assert {k: event["data"][k] for k in ("line_no", "sku", "quantity", "reason", "refunded")} == {
        "line_no": 1, "sku": "TEE-1", "quantity": 3, "reason": "customer changed their mind",
        "refunded": 0}


def test_the_last_line_cancelled_cancels_the_order(client: TestClient, shop: Shop) -> None:
    # given an order of one line of two tees
    order = placed(client, shop, ("TEE-1", 2))
    # when all of it is cancelled (no quantity: all that is left)
    response = cancel_line(client, shop, order["id"], 1, REASON, who="web")
    # then the order is cancelled, and nothing of it is fulfilled any more
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["fulfilment"]["status"]) == (
        "cancelled", "cancelled")
    payments = client.get(f"/api/v1/orders/{order['id']}/payments",
                          headers=shop.headers("operator")).json()
    assert payments[0]["status"] == "voided"


def test_what_was_paid_comes_back_with_a_credit_note(client: TestClient, shop: Shop) -> None:
    # given a channel that invoices and captures when the order is placed
    shop.bus.handle(c.UpdateChannel("test", "web", {"capture_on": "placement",
                                                    "invoice_on": "placement"}))
    order = placed(client, shop, ("TEE-1", 2), ("CAP-1", 1), shipping_total=495)
    # when the cap is cancelled
    assert cancel_line(client, shop, order["id"], 2, REASON).status_code == 200
    # then its price is refunded, documented by a credit note of the invoice
    operator = shop.headers("operator")
    [payment] = client.get(f"/api/v1/orders/{order['id']}/payments", headers=operator).json()
    assert (payment["captured"], payment["refunded"]) == (2 * 1999 + 1999 + 495, 1999)
    invoice, note = client.get(f"/api/v1/orders/{order['id']}/invoices", headers=operator).json()
    assert (note["kind"], note["corrects"], note["gross"], note["status"]) == (
        "credit_note", invoice["number"], 1999, "refunded")
    assert line_events(client, shop, order["id"])[0]["data"]["refunded"] == 1999


def test_a_call_centre_agent_is_named_in_the_timeline(client: TestClient, shop: Shop) -> None:
    # given a call centre channel that placed an order
    bus = shop.bus
    bus.handle(c.CreateChannel("test", "call_centre", "Call centre"))
    shop.keys["call_centre"] = bus.handle(c.CreateApiKey("test", "cc", "channel",
                                                         "call_centre")).key
    order = placed(client, shop, ("TEE-1", 2), who="call_centre", payment_token=None)
    # when its agent cancels a tee
    response = cancel_line(client, shop, order["id"], 1, {"quantity": 1, **REASON},
                           who="call_centre", **{"X-Agent": "agent-7"})
    # then the timeline says who
    assert response.status_code == 200, response.text
    assert line_events(client, shop, order["id"])[0]["actor"] == "call_centre/agent-7"
    # and the web shop cannot name an agent
    refused = cancel_line(client, shop, order["id"], 1, REASON, who="web",
                          **{"X-Agent": "agent-7"})
    assert (refused.status_code, refused.json()["code"]) == (422, "request.invalid")


@pytest.mark.parametrize(("line_no", "body", "status", "code"), [
    (1, {"quantity": 0, **REASON}, 422, "request.invalid"),
    (1, {"quantity": -2, **REASON}, 422, "request.invalid"),
    (1, {"quantity": "2", **REASON}, 422, "request.invalid"),
    (1, {"quantity": 2}, 422, "request.invalid"),
    (1, {"quantity": 2, "reason": "  "}, 422, "request.invalid"),
    (1, {"quantity": 2, "refund": 0, **REASON}, 422, "request.invalid"),
    (1, {"quantity": 5, **REASON}, 409, "order.line_not_cancellable"),
    (2, REASON, 409, "order.invalid_transition"),
    (9, REASON, 404, "resource.not_found"),
])
def test_bad_requests_are_problems_with_nothing_written(
        client: TestClient, shop: Shop, engine: Engine, line_no: int, body: dict[str, Any],
        status: int, code: str) -> None:
    # given an order of four tees and a cap, the cap sent
    order = placed(client, shop, ("TEE-1", 4), ("CAP-1", 1))
    sent = client.post(f"/api/v1/orders/{order['id']}/shipments", headers=shop.headers(
        "operator"), json={"reference": "S1", "lines": [{"line_no": 2, "quantity": 1}]})
    assert sent.status_code == 201, sent.text
    before = row_counts(engine)
    # when the request cannot be done
    response = cancel_line(client, shop, order["id"], line_no, body)
    # then it is a problem, and nothing was written
    assert (response.status_code, response.json()["code"]) == (status, code), response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert row_counts(engine) == before


def test_a_channel_cancels_lines_of_its_own_orders_only(client: TestClient, shop: Shop,
                                                       engine: Engine) -> None:
    # given an order of the web shop
    order = placed(client, shop, ("TEE-1", 2))
    before = row_counts(engine)
    # then the shop floor's key does not find it
    response = cancel_line(client, shop, order["id"], 1, REASON, who="pos")
    assert (response.status_code, response.json()["code"]) == (404, "resource.not_found")
    assert row_counts(engine) == before
