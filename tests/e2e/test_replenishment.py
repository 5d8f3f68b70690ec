"""Replenishment over HTTP: reorder points set on stock levels, proposals with their reasons,
draft purchase orders per supplier and location, and nothing proposed twice for one need."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.engine import Engine

from ordermesh.adapters.db import tables as t
from tests.builders import Shop, an_order
from tests.e2e.conftest import row_counts
from tests.e2e.purchasing import add_supplier, receive, sent_po

PROPOSALS = "/api/v1/replenishment-proposals"


def supplied_by(client: TestClient, shop: Shop, supplier: str, *skus: str) -> None:
    for sku in skus:
        response = client.patch(f"/api/v1/products/{sku}", json={"supplier_code": supplier},
                                headers=shop.headers("admin"))
        assert response.status_code == 200, response.text


def reorder_at(client: TestClient, shop: Shop, sku: str, location: str, point: int,
               lot: int) -> dict[str, Any]:
    response = client.put(f"/api/v1/stock-levels/{sku}/{location}",
                          json={"reorder_point": point, "reorder_quantity": lot},
                          headers=shop.headers("admin"))
    assert response.status_code == 200, response.text
    return dict(response.json())


def proposal(client: TestClient, shop: Shop, create_drafts: bool = False) -> Any:
    response = client.post(PROPOSALS, json={"create_drafts": create_drafts},
                           headers=shop.headers("operator"))
    assert response.status_code in (200, 201), response.text
    return response


def summary(body: dict[str, Any]) -> list[tuple[str, str, str, int, str, int]]:
    """(supplier, location, sku, quantity, reason, unit cost) of every proposed line."""
    return [(s["supplier"], s["location"], ln["sku"], ln["quantity"], ln["reason"],
             ln["unit_cost"]) for s in body["suppliers"] for ln in s["lines"]]


def send(client: TestClient, shop: Shop, po_id: str) -> None:
    response = client.post(f"/api/v1/purchase-orders/{po_id}/send",
                           headers=shop.headers("operator"))
    assert response.status_code == 200, response.text


def test_reorder_points_are_proposed_drafted_and_not_proposed_again_once_sent(
        client: TestClient, shop: Shop, engine: Engine) -> None:
    # given caps and shirts bought from Acme, caps last bought at 2.75 and 3 now on hand
    add_supplier(client, shop)
    supplied_by(client, shop, "ACME", "CAP-1", "TEE-1")
    earlier = sent_po(client, shop, ("CAP-1", 2, 275))
    receive(client, shop, earlier, (1, 2))
    # when reorder points are set on the warehouse's caps and shirts
    cap = reorder_at(client, shop, "CAP-1", "WH-1", 5, 6)
    assert (cap["on_hand"], cap["reorder_point"], cap["reorder_quantity"]) == (3, 5, 6)
    reorder_at(client, shop, "TEE-1", "WH-1", 4, 5)
    listed = client.get("/api/v1/stock-levels?sku=CAP-1", headers=shop.headers("operator"))
    assert listed.json()["items"][0]["reorder_point"] == 5
    # then a proposal asks for one lot of caps (shirts are above their point), and drafts nothing
    before = row_counts(engine)
    response = proposal(client, shop)
    assert response.status_code == 200
    assert response.json() == {"suppliers": [{
        "supplier": "ACME", "location": "WH-1", "currency": "EUR", "purchase_order": None,
        "lines": [{"sku": "CAP-1", "quantity": 6, "unit_cost": 275,
                   "reason": "below reorder point: available 3 + incoming 0 <= 5"}]}],
        "unassigned": []}
    assert row_counts(engine) == before
    # when the drafts are asked for
    drafted = proposal(client, shop, create_drafts=True)
    assert drafted.status_code == 201
    draft = drafted.json()["suppliers"][0]["purchase_order"]
    assert draft["number"].startswith("PO-")
    # then the draft is listed with the proposed line and its own timeline
    operator = shop.headers("operator")
    drafts = client.get("/api/v1/purchase-orders?status=draft", headers=operator).json()["items"]
    assert [(p["id"], p["supplier_code"], p["deliver_to"], p["total"]) for p in drafts] == [
        (draft["id"], "ACME", "WH-1", 6 * 275)]
    events = client.get(f"/api/v1/purchase-orders/{draft['id']}/events", headers=operator).json()
    assert [e["type"] for e in events] == ["purchase_order.created"]
    # and once it is sent, the same need proposes nothing more
    send(client, shop, draft["id"])
    again = proposal(client, shop, create_drafts=True)
    assert again.status_code == 200 and again.json() == {"suppliers": [], "unassigned": []}


def test_backordered_orders_without_supply_are_covered_once(client: TestClient,
                                                            shop: Shop) -> None:
    # given mugs bought from Acme, out of stock, and an order waiting for 2 of them
    add_supplier(client, shop)
    supplied_by(client, shop, "ACME", "MUG-1")
    placed = client.post("/api/v1/orders", json=an_order(("MUG-1", 2)), headers=shop.headers("web"))
    assert placed.json()["status"] == "backordered"
    # then the waiting mugs are proposed for the warehouse, at no known cost yet
    assert summary(proposal(client, shop).json()) == [
        ("ACME", "WH-1", "MUG-1", 2, "2 waiting on backorder without supply", 0)]
    # when they are drafted and sent
    drafted = proposal(client, shop, create_drafts=True).json()
    send(client, shop, drafted["suppliers"][0]["purchase_order"]["id"])
    # then nothing more is proposed for that order
    assert proposal(client, shop).json()["suppliers"] == []
    # when another order waits for 3 more, only those are proposed
    client.post("/api/v1/orders", json=an_order(("MUG-1", 3)), headers=shop.headers("web"))
    (line,) = summary(proposal(client, shop).json())
    assert line[:4] == ("ACME", "WH-1", "MUG-1", 3) and "waiting on backorder" in line[4]


def test_waits_promised_against_a_purchase_order_are_not_counted_again(
        client: TestClient, shop: Shop, engine: Engine) -> None:
    # given 5 mugs on a sent purchase order, and an order that waits for 3 of them
    add_supplier(client, shop)
    supplied_by(client, shop, "ACME", "MUG-1")
    sent_po(client, shop, ("MUG-1", 5, 450))
    client.post("/api/v1/orders", json=an_order(("MUG-1", 3)), headers=shop.headers("web"))
    with engine.connect() as conn:
        promised = conn.execute(select(t.backorders.c.supply_line_id)).scalars().all()
    assert len(promised) == 1 and promised[0] is not None
    # then nothing is proposed: the order has its supply
    assert proposal(client, shop).json()["suppliers"] == []
    # when the warehouse reorders mugs at 3, only the 2 not promised count as incoming
    reorder_at(client, shop, "MUG-1", "WH-1", 3, 4)
    assert summary(proposal(client, shop).json()) == [
        ("ACME", "WH-1", "MUG-1", 4, "below reorder point: available 0 + incoming 2 <= 3", 450)]


def order_for(client: TestClient, shop: Shop, sku: str, quantity: int) -> dict[str, Any]:
    placed = client.post("/api/v1/orders", json=an_order((sku, quantity)),
                         headers=shop.headers("web"))
    assert placed.status_code == 201, placed.text
    return dict(placed.json())


def waits_of(client: TestClient, shop: Shop, order: dict[str, Any]) -> list[dict[str, Any]]:
    body = client.get(f"/api/v1/orders/{order['id']}", headers=shop.headers("operator")).json()
    return [w for line in body["lines"] for w in line["waits"] if w["status"] == "waiting"]


def test_a_wait_promised_to_goods_that_went_to_an_earlier_order_is_proposed(
        client: TestClient, shop: Shop) -> None:
    # given order 1 waiting for 3 mugs undated, before any supplier was known
    first = order_for(client, shop, "MUG-1", 3)
    assert [w["promised_on"] for w in waits_of(client, shop, first)] == [None]
    # and then 3 mugs on a sent purchase order, promised to order 2
    add_supplier(client, shop)
    supplied_by(client, shop, "ACME", "MUG-1")
    po = sent_po(client, shop, ("MUG-1", 3, 450))
    second = order_for(client, shop, "MUG-1", 3)
    (promised,) = waits_of(client, shop, second)
    assert promised["decision"]["rule"] == "incoming_supply"
    # when the 3 arrive, they go to order 1, placed first
    received = receive(client, shop, po, (1, 3))
    assert received.json()["allocated_orders"] == [first["number"]]
    # then order 2's 3, still tied to the received line, are proposed: nothing else brings them
    assert summary(proposal(client, shop).json()) == [
        ("ACME", "WH-1", "MUG-1", 3, "3 waiting on backorder without supply", 450)]


def test_a_wait_promised_beyond_what_is_still_outstanding_is_proposed_in_part(
        client: TestClient, shop: Shop) -> None:
    # given order 1 waiting for 3 mugs undated, then 5 on order of which 4 are promised to order 2
    first = order_for(client, shop, "MUG-1", 3)
    add_supplier(client, shop)
    supplied_by(client, shop, "ACME", "MUG-1")
    po = sent_po(client, shop, ("MUG-1", 5, 450))
    order_for(client, shop, "MUG-1", 4)
    # when 3 arrive and go to order 1
    assert receive(client, shop, po, (1, 3)).json()["allocated_orders"] == [first["number"]]
    # then the 2 still outstanding cover 2 of order 2's 4; the other 2 are proposed
    assert summary(proposal(client, shop).json()) == [
        ("ACME", "WH-1", "MUG-1", 2, "2 waiting on backorder without supply", 450)]


@pytest.mark.parametrize("action", ["cancel", "close"])
def test_waits_promised_to_a_cancelled_or_closed_purchase_order_are_dated_again(
        client: TestClient, shop: Shop, engine: Engine, action: str) -> None:
    # given mugs from Acme (7 days' lead time), 5 on a purchase order agreed in 30 days
    add_supplier(client, shop)
    supplied_by(client, shop, "ACME", "MUG-1")
    operator = shop.headers("operator")
    today = datetime.now(UTC).date()
    created = client.post("/api/v1/purchase-orders", headers=operator, json={
        "supplier": "ACME", "deliver_to": "WH-1",
        "expected_on": (today + timedelta(days=30)).isoformat(),
        "lines": [{"sku": "MUG-1", "quantity": 5, "unit_cost": 450}]}).json()
    send(client, shop, created["id"])
    # and an order waiting for 3 of them, promised for when they arrive
    order = order_for(client, shop, "MUG-1", 3)
    (wait,) = waits_of(client, shop, order)
    assert wait["promised_on"] == (today + timedelta(days=32)).isoformat()
    assert proposal(client, shop).json()["suppliers"] == []
    # when the purchase order is cancelled (or closed)
    ended = client.post(f"/api/v1/purchase-orders/{created['id']}/{action}", headers=operator)
    assert ended.status_code == 200, ended.text
    # then the wait no longer counts on it: dated by the lead time, and said so on the timeline
    with engine.connect() as conn:
        assert conn.execute(select(t.backorders.c.supply_line_id)).scalars().all() == [None]
    (wait,) = waits_of(client, shop, order)
    status = "cancelled" if action == "cancel" else "closed"
    line_ref = f"{created['number']}/1"
    assert wait["promised_on"] == (today + timedelta(days=9)).isoformat()
    assert wait["decision"]["rule"] == "supplier_lead_time"
    assert wait["decision"]["explanation"].startswith(f"{line_ref} will not come ({status}); ")
    events = [e for e in client.get(f"/api/v1/orders/{order['id']}/events", headers=operator)
              .json() if e["type"].startswith("order.")]
    assert [e["type"] for e in events] == [
        "order.placed", "order.backordered", "order.backorder_repromised"]
    assert events[-1]["data"] == {
        "purchase_order": created["number"], "purchase_order_status": status, "waits": [{
            "line_no": 1, "sku": "MUG-1", "quantity": 3, "kind": "backorder",
            "supply": line_ref, "previous_promised_on": (today + timedelta(days=32)).isoformat(),
            "promised_on": wait["promised_on"], "why": wait["decision"]["explanation"]}]}
    # and the proposal now buys them (at the cost of a closed order; a cancelled one was not paid)
    assert summary(proposal(client, shop).json()) == [
        ("ACME", "WH-1", "MUG-1", 3, "3 waiting on backorder without supply",
         450 if action == "close" else 0)]


def test_drafts_never_total_beyond_a_64_bit_integer(client: TestClient, shop: Shop,
                                                    engine: Engine) -> None:
    # given mugs last bought at the highest unit cost allowed, reordered a billion at a time
    add_supplier(client, shop)
    supplied_by(client, shop, "ACME", "MUG-1")
    earlier = sent_po(client, shop, ("MUG-1", 1, 10**10))
    receive(client, shop, earlier, (1, 1))
    reorder_at(client, shop, "MUG-1", "WH-1", 1, 10**9)
    assert summary(proposal(client, shop).json()) == [
        ("ACME", "WH-1", "MUG-1", 10**9, "below reorder point: available 1 + incoming 0 <= 1",
         10**10)]
    # when it is drafted: 10^9 units at 10^10 would total 10^19
    before = row_counts(engine)
    response = client.post(PROPOSALS, json={"create_drafts": True},
                           headers=shop.headers("operator"))
    # then it is refused, nothing is written, and purchase orders are still listed
    assert response.status_code == 422, response.text
    assert row_counts(engine) == before
    listed = client.get("/api/v1/purchase-orders", headers=shop.headers("operator"))
    assert listed.status_code == 200, listed.text


def test_skus_without_a_supplier_are_reported_unassigned(client: TestClient, shop: Shop) -> None:
    add_supplier(client, shop)
    reorder_at(client, shop, "CAP-1", "WH-1", 1, 2)
    client.post("/api/v1/orders", json=an_order(("MUG-1", 4)), headers=shop.headers("web"))
    response = proposal(client, shop, create_drafts=True)
    # nothing could be drafted, so nothing was created
    assert response.status_code == 200
    assert response.json() == {"suppliers": [], "unassigned": [
        {"sku": "CAP-1", "location": "WH-1", "quantity": 2,
         "reason": "below reorder point: available 1 + incoming 0 <= 1"},
        {"sku": "MUG-1", "location": "WH-1", "quantity": 4,
         "reason": "4 waiting on backorder without supply"}]}


def test_one_draft_per_supplier_and_location(client: TestClient, uk: Shop) -> None:
    # given a British supplier of shirts and mugs, two warehouses reordering shirts
    response = client.post("/api/v1/suppliers", json={
        "code": "BRIT", "name": "Brit Textiles", "email": "po@brit.example.com",
        "currency": "GBP"}, headers=uk.headers("admin"))
    assert response.status_code == 201, response.text
    supplied_by(client, uk, "BRIT", "TEE", "MUG")
    reorder_at(client, uk, "TEE", "LEEDS", 5, 12)
    reorder_at(client, uk, "TEE", "LONDON", 4, 10)
    # and an order for mugs waiting without supply
    client.post("/api/v1/orders", json=an_order(("MUG", 2), currency="GBP"),
                headers=uk.headers("web"))
    # when drafts are made
    body = proposal(client, uk, create_drafts=True).json()
    # then Leeds gets shirts, and London (the first warehouse) the mugs; one draft each
    assert summary(body) == [
        ("BRIT", "LEEDS", "TEE", 12, "below reorder point: available 5 + incoming 0 <= 5", 0),
        ("BRIT", "LONDON", "MUG", 2, "2 waiting on backorder without supply", 0)]
    assert [(s["currency"], s["purchase_order"] is not None) for s in body["suppliers"]] == [
        ("GBP", True), ("GBP", True)]
    listed = client.get("/api/v1/purchase-orders?supplier=BRIT",
                        headers=uk.headers("operator")).json()["items"]
    assert sorted((p["deliver_to"], p["currency"], p["status"]) for p in listed) == [
        ("LEEDS", "GBP", "draft"), ("LONDON", "GBP", "draft")]


@pytest.mark.parametrize("body", [
    {"reorder_point": 5}, {"reorder_quantity": 5}, {"reorder_point": -1, "reorder_quantity": 5},
    {"reorder_point": 5, "reorder_quantity": 0}, {"reorder_point": "5", "reorder_quantity": 5},
    {"reorder_point": 1.5, "reorder_quantity": 5}, {},
])
def test_bad_reorder_points_are_refused_and_write_nothing(
        client: TestClient, shop: Shop, engine: Engine, body: dict[str, Any]) -> None:
    before = row_counts(engine)
    response = client.put("/api/v1/stock-levels/CAP-1/ST-AMS", json=body,
                          headers=shop.headers("admin"))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert row_counts(engine) == before


@pytest.mark.parametrize("body", [{"create_drafts": "yes"}, {"create_drafts": 1},
                                  {"create_drafts": True, "supplier": "ACME"}, [1]])
def test_bad_proposal_requests_are_refused(client: TestClient, shop: Shop, engine: Engine,
                                           body: Any) -> None:
    reorder_at(client, shop, "CAP-1", "WH-1", 1, 2)
    before = row_counts(engine)
    response = client.post(PROPOSALS, json=body, headers=shop.headers("operator"))
    assert response.status_code == 422, response.text
    assert row_counts(engine) == before


def test_only_operators_and_admins_may_ask(client: TestClient, shop: Shop) -> None:
    assert client.post(PROPOSALS, json={}, headers=shop.headers("web")).status_code == 403
    assert client.post(PROPOSALS, json={}).status_code == 401
    assert client.post(PROPOSALS, headers=shop.headers("admin")).status_code == 200
    put = client.put("/api/v1/stock-levels/CAP-1/WH-1", headers=shop.headers("operator"),
                     json={"reorder_point": 1, "reorder_quantity": 1})
    assert put.status_code == 403
