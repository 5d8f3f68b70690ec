"""Purchase orders over HTTP: drafted, sent with a PDF and a CSV for the supplier, received into
their location (over-receipts only when flagged), closed or cancelled; bad input writes nothing."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlalchemy.engine import Engine

from tests.builders import Shop
from tests.e2e.conftest import row_counts
from tests.e2e.purchasing import add_supplier, draft, level, receive, sent_po


@pytest.fixture
def supplier(client: TestClient, shop: Shop) -> dict[str, Any]:
    return add_supplier(client, shop)


def test_a_purchase_order_is_drafted_sent_and_documented(
        client: TestClient, shop: Shop, supplier: dict[str, Any]) -> None:
    # when an operator drafts a purchase order of mugs and shirts for the warehouse
    created = draft(client, shop, ("MUG-1", 10, 450), ("TEE-1", 5, 1275))
    assert created.status_code == 201, created.text
    po = created.json()
    assert created.headers["Location"] == f"/api/v1/purchase-orders/{po['id']}"
    assert po["number"].startswith("PO-") and po["status"] == "draft"
    assert (po["currency"], po["total"], po["expected_on"]) == ("EUR", 10875, None)
    assert [(ln["line_no"], ln["sku"], ln["quantity"], ln["received"], ln["outstanding"],
             ln["line_total"]) for ln in po["lines"]] == [
        (1, "MUG-1", 10, 0, 10, 4500), (2, "TEE-1", 5, 0, 5, 6375)]
    # then there is nothing to send the supplier yet
    operator = shop.headers("operator")
    assert client.get(f"/api/v1/purchase-orders/{po['id']}.pdf", headers=operator).status_code == 404
    # when it is sent, it is expected after the supplier's lead time
    response = client.post(f"/api/v1/purchase-orders/{po['number']}/send", headers=operator)
    assert response.status_code == 200, response.text
    sent = response.json()
    today = datetime.now(UTC).date()
    assert sent["status"] == "sent"
    assert sent["expected_on"] == (today + timedelta(days=7)).isoformat()
    # and the PDF names the order and the CSV has a row per line
    pdf = client.get(f"/api/v1/purchase-orders/{po['number']}.pdf", headers=operator)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    assert po["number"] in text and "Acme Ceramics & Co" in text and "Ordermesh retailer" in text
    sheet = client.get(f"/api/v1/purchase-orders/{po['id']}.csv", headers=operator)
    assert sheet.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(sheet.text)))
    assert [(r["po_number"], r["sku"], r["quantity"], r["unit_cost_minor"], r["expected_on"])
            for r in rows] == [(po["number"], "MUG-1", "10", "450", sent["expected_on"]),
                               (po["number"], "TEE-1", "5", "1275", sent["expected_on"])]
    # and sending twice is an illegal move
    again = client.post(f"/api/v1/purchase-orders/{po['id']}/send", headers=operator)
    assert again.status_code == 409 and again.json()["current_status"] == "sent"
    events = client.get(f"/api/v1/purchase-orders/{po['id']}/events", headers=operator).json()
    assert [e["type"] for e in events] == ["purchase_order.created", "purchase_order.sent"]


def test_an_agreed_date_wins_over_the_lead_time(client: TestClient, shop: Shop,
                                               supplier: dict[str, Any]) -> None:
    po = draft(client, shop, ("MUG-1", 1, 100), expected_on="2031-01-15").json()
    sent = client.post(f"/api/v1/purchase-orders/{po['id']}/send",
                       headers=shop.headers("operator")).json()
    assert sent["expected_on"] == "2031-01-15"


def test_purchase_orders_are_listed_newest_first_and_filtered(
        client: TestClient, shop: Shop, supplier: dict[str, Any]) -> None:
    operator = shop.headers("operator")
    first = draft(client, shop, ("MUG-1", 1, 100)).json()
    second = sent_po(client, shop, ("TEE-1", 2, 100))
    listed = client.get("/api/v1/purchase-orders?limit=1", headers=operator).json()
    assert [p["number"] for p in listed["items"]] == [second["number"]]
    rest = client.get(f"/api/v1/purchase-orders?limit=1&cursor={listed['next_cursor']}",
                      headers=operator).json()
    assert [p["number"] for p in rest["items"]] == [first["number"]] and rest["next_cursor"] is None
    drafts = client.get("/api/v1/purchase-orders?status=draft&supplier=ACME", headers=operator)
    assert [p["id"] for p in drafts.json()["items"]] == [first["id"]]
    assert drafts.json()["items"][0]["total"] == 100
    other = client.get("/api/v1/purchase-orders?supplier=OTHER", headers=operator).json()
    assert other["items"] == []
    assert client.get("/api/v1/purchase-orders?status=lost", headers=operator).status_code == 422


def test_receipts_raise_stock_and_over_receipts_need_a_flag(
        client: TestClient, shop: Shop, supplier: dict[str, Any], engine: Engine) -> None:
    po = sent_po(client, shop, ("MUG-1", 10, 450), ("TEE-1", 5, 1275))
    # when 4 mugs arrive
    response = receive(client, shop, po, (1, 4), reference="DN-881")
    assert response.status_code == 200, response.text
    partly = response.json()
    assert partly["status"] == "partially_received" and partly["allocated_orders"] == []
    assert [(ln["received"], ln["outstanding"]) for ln in partly["lines"]] == [(4, 6), (0, 5)]
    # then the warehouse has them, and the ledger says where they came from
    assert level(client, shop, "MUG-1", "WH-1")["on_hand"] == 4
    movements = client.get("/api/v1/stock-movements?sku=MUG-1&location=WH-1",
                           headers=shop.headers("operator")).json()["items"]
    assert [(m["reason"], m["reference"], m["on_hand_delta"]) for m in movements] == [
        ("purchase_receipt", po["number"], 4)]
    # when 7 more mugs arrive where 6 are outstanding, they are refused and nothing is written
    before = row_counts(engine)
    refused = receive(client, shop, po, (1, 7), (2, 5))
    assert refused.status_code == 422 and refused.json()["outstanding"] == 6
    assert row_counts(engine) == before
    assert client.get(f"/api/v1/purchase-orders/{po['id']}",
                      headers=shop.headers("operator")).json()["lines"] == partly["lines"]
    assert level(client, shop, "MUG-1", "WH-1")["on_hand"] == 4
    assert level(client, shop, "TEE-1", "WH-1")["on_hand"] == 10
    # unless the operator accepts the over-receipt
    accepted = receive(client, shop, po, (1, 7), allow_over_receipt=True).json()
    assert [(ln["received"], ln["outstanding"]) for ln in accepted["lines"]] == [(11, 0), (0, 5)]
    assert level(client, shop, "MUG-1", "WH-1")["on_hand"] == 11
    # when the shirts arrive, the order is received in full
    full = receive(client, shop, po, (2, 5), location="WH-1").json()
    assert full["status"] == "received"
    assert level(client, shop, "TEE-1", "WH-1")["on_hand"] == 15
    # then it cannot be cancelled any more, only closed
    operator = shop.headers("operator")
    cancel = client.post(f"/api/v1/purchase-orders/{po['id']}/cancel", headers=operator)
    assert cancel.status_code == 409 and cancel.json()["code"] == "purchase_order.invalid_transition"
    closed = client.post(f"/api/v1/purchase-orders/{po['id']}/close",
                         json={"reason": "all in"}, headers=operator)
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    events = client.get(f"/api/v1/purchase-orders/{po['id']}/events", headers=operator).json()
    assert [e["type"] for e in events] == [
        "purchase_order.created", "purchase_order.sent", "purchase_order.received",
        "purchase_order.received", "purchase_order.received", "purchase_order.closed"]
    assert events[2]["data"]["reference"] == "DN-881"
    assert events[3]["data"]["receipts"][0]["over_received"] == 1


def test_a_partly_received_order_can_be_closed_short(client: TestClient, shop: Shop,
                                                     supplier: dict[str, Any]) -> None:
    po = sent_po(client, shop, ("MUG-1", 10, 450))
    receive(client, shop, po, (1, 3))
    operator = shop.headers("operator")
    closed = client.post(f"/api/v1/purchase-orders/{po['id']}/close", headers=operator).json()
    assert closed["status"] == "closed"
    assert receive(client, shop, po, (1, 1)).status_code == 409


def test_a_draft_or_sent_order_can_be_cancelled(client: TestClient, shop: Shop,
                                                supplier: dict[str, Any]) -> None:
    operator = shop.headers("operator")
    po = draft(client, shop, ("MUG-1", 10, 450)).json()
    cancelled = client.post(f"/api/v1/purchase-orders/{po['id']}/cancel",
                            json={"reason": "ordered twice"}, headers=operator).json()
    assert cancelled["status"] == "cancelled"
    assert client.post(f"/api/v1/purchase-orders/{po['id']}/send",
                       headers=operator).status_code == 409
    assert receive(client, shop, po, (1, 1)).status_code == 409


@pytest.mark.parametrize("body", [
    {"supplier": "NOPE"}, {"deliver_to": "NOWHERE"}, {"currency": "USD"},
    {"lines": [{"sku": "GHOST-1", "quantity": 1, "unit_cost": 100}]},
    {"lines": [{"sku": "MUG-1", "quantity": 0, "unit_cost": 100}]},
    {"lines": [{"sku": "MUG-1", "quantity": 1.5, "unit_cost": 100}]},
    {"lines": [{"sku": "MUG-1", "quantity": 1, "unit_cost": -1}]},
    {"lines": [{"sku": "MUG-1", "quantity": 1, "unit_cost": 1.99}]},
    {"lines": [{"sku": "MUG-1", "quantity": 1, "unit_cost": 1},
               {"sku": "MUG-1", "quantity": 2, "unit_cost": 1}]},
    {"lines": []}, {"expected_on": "tomorrow"}, {"total": 5},
])
def test_bad_purchase_orders_are_refused_and_write_nothing(
        client: TestClient, shop: Shop, supplier: dict[str, Any], engine: Engine,
        body: dict[str, Any]) -> None:
    before = row_counts(engine)
    response = draft(client, shop, ("MUG-1", 1, 100), **body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert row_counts(engine) == before


def test_a_purchase_order_never_totals_beyond_a_64_bit_integer(
        client: TestClient, shop: Shop, supplier: dict[str, Any], engine: Engine) -> None:
    # given a hundred products, and purchase orders listed fine
    skus = [f"BIG-{n}" for n in range(100)]
    for sku in skus:
        shop.product(sku)
    operator = shop.headers("operator")
    # when a purchase order of 100 lines of a million units at 10^11 is drafted (total 10^19)
    before = row_counts(engine)
    response = draft(client, shop, *((sku, 1_000_000, 10**11) for sku in skus))
    # then it is refused, nothing is written, and the list keeps working
    assert response.status_code == 422, response.text[:500]
    assert row_counts(engine) == before
    assert client.get("/api/v1/purchase-orders", headers=operator).status_code == 200
    # the largest lines allowed still total within the bound, and are listed with it
    assert draft(client, shop, ("BIG-0", 1_000_000, 10**10 + 1)).status_code == 422
    largest = draft(client, shop, *((sku, 1_000_000, 10**10) for sku in skus[:2]))
    assert largest.status_code == 201, largest.text
    listed = client.get("/api/v1/purchase-orders", headers=operator)
    assert listed.status_code == 200, listed.text
    assert [p["total"] for p in listed.json()["items"]] == [2 * 10**16]


def test_inactive_suppliers_and_locations_take_no_purchase_orders(
        client: TestClient, shop: Shop, supplier: dict[str, Any]) -> None:
    admin = shop.headers("admin")
    client.patch("/api/v1/locations/ST-AMS", json={"active": False}, headers=admin)
    assert draft(client, shop, ("MUG-1", 1, 100), deliver_to="ST-AMS").status_code == 422
    po = draft(client, shop, ("MUG-1", 1, 100)).json()
    client.patch("/api/v1/suppliers/ACME", json={"active": False}, headers=admin)
    response = draft(client, shop, ("MUG-1", 1, 100))
    assert response.status_code == 422 and response.json()["supplier"] == "ACME"
    assert client.post(f"/api/v1/purchase-orders/{po['id']}/send",
                       headers=shop.headers("operator")).status_code == 422


@pytest.mark.parametrize("body", [
    {"lines": [{"line_no": 3, "quantity": 1}]},
    {"lines": [{"line_no": 1, "quantity": 0}]},
    {"lines": [{"line_no": 1, "quantity": 1}, {"line_no": 1, "quantity": 1}]},
    {"lines": []},
    {"lines": [{"line_no": 1, "quantity": 1}], "location": "ST-AMS"},
    {"lines": [{"line_no": 1, "quantity": 1}], "allow_over_receipt": "yes"},
])
def test_bad_receipts_are_refused_and_write_nothing(
        client: TestClient, shop: Shop, supplier: dict[str, Any], engine: Engine,
        body: dict[str, Any]) -> None:
    po = sent_po(client, shop, ("MUG-1", 10, 450))
    before = row_counts(engine)
    response = client.post(f"/api/v1/purchase-orders/{po['id']}/receipts", json=body,
                           headers=shop.headers("operator"))
    assert response.status_code == 422, response.text
    assert row_counts(engine) == before


def test_unknown_purchase_orders_are_not_found(client: TestClient, shop: Shop) -> None:
    operator = shop.headers("operator")
    for method, path in (("get", "PO-999999"), ("get", "PO-999999.pdf"), ("get", "x.csv"),
                         ("get", "PO-999999/events"), ("post", "PO-999999/send"),
                         ("post", "nope/close"), ("post", "nope/cancel")):
        response = client.request(method.upper(), f"/api/v1/purchase-orders/{path}",
                                  headers=operator)
        assert response.status_code == 404, path
        assert response.json()["code"] == "resource.not_found"
    receipt = client.post("/api/v1/purchase-orders/PO-999999/receipts",
                          json={"lines": [{"line_no": 1, "quantity": 1}]}, headers=operator)
    assert receipt.status_code == 404


def test_channel_keys_cannot_buy(client: TestClient, shop: Shop, supplier: dict[str, Any]) -> None:
    po = draft(client, shop, ("MUG-1", 1, 100)).json()
    web = shop.headers("web")
    for method, path in (("GET", "/api/v1/suppliers"), ("GET", "/api/v1/suppliers/ACME"),
                         ("POST", "/api/v1/suppliers"), ("GET", "/api/v1/purchase-orders"),
                         ("POST", "/api/v1/purchase-orders"),
                         ("GET", f"/api/v1/purchase-orders/{po['id']}"),
                         ("GET", f"/api/v1/purchase-orders/{po['id']}.pdf"),
                         ("POST", f"/api/v1/purchase-orders/{po['id']}/send"),
                         ("POST", f"/api/v1/purchase-orders/{po['id']}/receipts")):
        assert client.request(method, path, headers=web, json={}).status_code == 403, path
    assert client.get("/api/v1/purchase-orders").status_code == 401
