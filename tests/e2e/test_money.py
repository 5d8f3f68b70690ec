"""Money through the API: an order authorized at placement, dispatched in two shipments (two
captures, two invoices), part of it refunded with a credit note, and the gateway's payout
reconciled to zero difference."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from fastapi.testclient import TestClient
from pypdf import PdfReader

from ordermesh.adapters.payments.test_gateway import TestGateway
from ordermesh.domain.events import utcnow
from tests.builders import Shop, an_order


def set_tax(client: TestClient, shop: Shop, tax_class: str, rate: str, name: str) -> None:
    response = client.put("/api/v1/tax-rates", headers=shop.headers("admin"), json={
        "tax_class": tax_class, "country": "NL", "rate": rate, "name": name})
    assert response.status_code == 200, response.text


def test_two_shipments_two_captures_two_invoices_a_refund_and_a_payout_that_reconciles(
        client: TestClient, shop: Shop, gateway: TestGateway) -> None:
    operator = shop.headers("operator")
    # given Dutch VAT, prices on the web channel without tax, and a product at the low rate
    set_tax(client, shop, "standard", "0.21", "VAT 21%")
    set_tax(client, shop, "reduced", "0.09", "VAT 9%")
    shop.product("BOOK-1", tax_class="reduced").stock("BOOK-1", "WH-1", 5)
    assert client.patch("/api/v1/channels/web", headers=shop.headers("admin"),
                        json={"prices_include_tax": False}).status_code == 200
    # when the webshop places 3 T-shirts and 1 book at 19.99 each, shipping 4.95
    placed = client.post("/api/v1/orders", headers=shop.headers("web"), json=an_order(
        ("TEE-1", 3), ("BOOK-1", 1), shipping_total=495, payment_token="tok_visa"))
    assert placed.status_code == 201, placed.text
    order = placed.json()
    # then each line is taxed once, rounded half up, and tax is added on top
    tee, book = order["lines"]
    assert (tee["tax_amount"], tee["tax_name"]) == (1259, "VAT 21%")  # 5997 x 0.21 = 1259.37
    assert (book["tax_amount"], book["tax_name"]) == (180, "VAT 9%")  # 1999 x 0.09 = 179.91
    assert order["totals"] == {"currency": "EUR", "lines": 7996, "shipping": 495,
                               "tax": 1259 + 180 + 104, "shipping_tax": 104,
                               "prices_include_tax": False, "grand": 7996 + 495 + 1543}
    grand = order["totals"]["grand"]
    # and the card was authorized for the whole, only its brand and last digits kept
    (payment,) = client.get(f"/api/v1/orders/{order['id']}/payments", headers=operator).json()
    assert payment["status"] == "authorized" and payment["authorized"] == grand
    assert payment["card"] == {"brand": "visa", "last4": "4242", "exp_month": 12,
                               "exp_year": 2034}

    # when the warehouse ships 2 T-shirts and the book, then the last T-shirt
    first = client.post(f"/api/v1/orders/{order['id']}/shipments", headers=operator, json={
        "reference": "PARCEL-1", "lines": [{"line_no": 1, "quantity": 2},
                                            {"line_no": 2, "quantity": 1}]})
    assert first.status_code == 201, first.text
    assert first.json()["status"] == "fulfilling"
    second = client.post(f"/api/v1/orders/{order['id']}/shipments", headers=operator, json={
        "reference": "PARCEL-2", "lines": [{"line_no": 1, "quantity": 1}]})
    assert second.json()["status"] == "shipped", second.text
    # then two invoices, numbered without gaps, add up to exactly what was authorized
    invoices = client.get(f"/api/v1/orders/{order['id']}/invoices", headers=operator).json()
    year = utcnow().year
    assert [i["number"] for i in invoices] == [f"INV-{year}-000001", f"INV-{year}-000002"]
    assert sum(i["gross"] for i in invoices) == grand
    one, two = invoices
    assert [(ln["description"], ln["quantity"]) for ln in one["lines"]] == [
        ("Product TEE-1", 2), ("Product BOOK-1", 1), ("Shipping", 1)]
    assert one["net"] + one["tax"] == one["gross"]
    assert sorted((r["name"], r["tax"]) for r in one["tax_breakdown"]) == [
        ("VAT 21%", one["tax"] - 180), ("VAT 9%", 180)]
    # (the last T-shirt takes what the line's rounding left: 1259 - 840 = 419, not 420)
    assert two["lines"][0]["tax"] == 1259 - one["lines"][0]["tax"] == 419
    assert one["status"] == two["status"] == "paid"
    # and two captures, one per invoice, the last one closing the authorization
    (payment,) = client.get(f"/api/v1/orders/{order['id']}/payments", headers=operator).json()
    captures = [x for x in payment["transactions"] if x["kind"] == "capture"]
    assert [x["amount"] for x in captures] == [one["gross"], two["gross"]]
    assert all(x["outcome"] == "succeeded" and x["fee"] > 0 for x in captures)
    assert payment["status"] == "captured" and payment["captured"] == grand
    # and the stock left the warehouse
    level = client.get("/api/v1/stock-levels?sku=TEE-1&location=WH-1", headers=operator).json()
    assert (level["items"][0]["on_hand"], level["items"][0]["reserved"]) == (7, 0)
    # and the invoice prints
    pdf = client.get(one["pdf"], headers=operator)
    assert pdf.headers["content-type"] == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    assert one["number"] in text and "Ann de Vries" in text

    # when a T-shirt comes back
    refund = client.post(f"/api/v1/orders/{order['id']}/refunds", headers=operator, json={
        "reference": "RMA-1", "reason": "too small", "lines": [{"line_no": 1, "quantity": 1}]})
    assert refund.status_code == 201, refund.text
    assert refund.json()["outcome"] == "succeeded"
    # then a credit note corrects the invoice and the money goes back
    documents = client.get(f"/api/v1/orders/{order['id']}/invoices", headers=operator).json()
    credit = documents[-1]
    assert (credit["kind"], credit["number"], credit["corrects"]) == (
        "credit_note", f"CN-{year}-000001", two["number"])
    # credited at what the invoice billed for it, not a fresh rounding (2418, not 2419)
    assert credit["gross"] == refund.json()["amount"] == two["lines"][0]["gross"] == 2418
    assert credit["status"] == "refunded"
    # and asking again with the same reference refunds nothing more
    again = client.post(f"/api/v1/orders/{order['id']}/refunds", headers=operator, json={
        "reference": "RMA-1", "reason": "too small", "lines": [{"line_no": 1, "quantity": 1}]})
    assert again.json() == refund.json()
    (payment,) = client.get(f"/api/v1/orders/{order['id']}/payments", headers=operator).json()
    assert payment["refunded"] == credit["gross"]
    assert payment["status"] == "partially_refunded"

    # when the gateway pays out, two days later, and the payout is imported
    today = utcnow().date()
    assert gateway.settle(today + timedelta(days=1)) == []  # not available yet
    assert len(gateway.settle(today + timedelta(days=2))) == 1
    imported = client.post("/api/v1/payouts/import", headers=operator,
                           json={"gateway": "test", "since": today.isoformat()})
    assert imported.json() == {"imported": 1}
    assert client.post("/api/v1/payouts/import", headers=operator, json={
        "gateway": "test", "since": today.isoformat()}).json() == {"imported": 0}
    # then captured - refunded - fees = paid out, with nothing to review
    report = client.get(f"/api/v1/reports/reconciliation?since={today}&gateway=test",
                        headers=operator).json()
    (payout,) = report["payouts"]
    fees = sum(x["fee"] for x in captures)
    assert (payout["captured"], payout["refunded"], payout["fees"]) == (grand, credit["gross"],
                                                                         fees)
    assert payout["paid_out"] == grand - credit["gross"] - fees
    assert payout["difference"] == 0 and payout["reconciled"] and payout["findings"] == []
    assert report["not_settled"] == []
    # and the same report as CSV, for the bookkeeper
    csv_report = client.get(f"/api/v1/reports/reconciliation?since={today}&format=csv",
                            headers=operator)
    rows = list(csv.DictReader(io.StringIO(csv_report.text)))
    assert [(r["record"], r["paid_out"], r["difference"]) for r in rows] == [
        ("payout", str(payout["paid_out"]), "0")]


def test_a_declined_card_holds_the_order_and_a_new_card_releases_it(
        client: TestClient, shop: Shop) -> None:
    operator = shop.headers("operator")
    placed = client.post("/api/v1/orders", headers=shop.headers("web"),
                         json=an_order(("TEE-1", 1), payment_token="tok_declined"))
    assert placed.status_code == 201, placed.text
    order = client.get(f"/api/v1/orders/{placed.json()['id']}", headers=operator).json()
    assert (order["status"], order["hold_reason"]) == ("on_hold", "payment_failed")
    (payment,) = client.get(f"/api/v1/orders/{order['id']}/payments", headers=operator).json()
    assert payment["status"] == "failed"
    assert payment["transactions"][0]["failure_code"] == "card_declined"
    # when the customer gives another card
    retry = client.post(f"/api/v1/orders/{order['id']}/payments", headers=shop.headers("web"),
                        json={"token": "tok_mastercard"})
    assert retry.status_code == 201 and retry.json()["outcome"] == "succeeded", retry.text
    order = client.get(f"/api/v1/orders/{order['id']}", headers=operator).json()
    assert (order["status"], order["hold_reason"]) == ("allocated", None)
    types = [e["type"] for e in client.get(f"/api/v1/orders/{order['id']}/events",
                                           headers=operator).json()]
    assert types[-3:] == ["payment.authorization_requested", "payment.authorized",
                          "order.released"]


def test_an_asynchronous_authorization_is_answered_by_a_signed_webhook(
        client: TestClient, shop: Shop, gateway: TestGateway) -> None:
    operator = shop.headers("operator")
    placed = client.post("/api/v1/orders", headers=shop.headers("web"),
                         json=an_order(("TEE-1", 1), payment_token="tok_async"))
    order_id = placed.json()["id"]
    (payment,) = client.get(f"/api/v1/orders/{order_id}/payments", headers=operator).json()
    assert payment["status"] == "pending"

    def deliver(body: bytes, headers: dict[str, str]) -> None:
        assert client.post("/api/v1/payment-webhooks/test", content=body,
                           headers=headers).status_code == 204

    # a forged webhook is refused
    forged = client.post("/api/v1/payment-webhooks/test", content=b'{"id": "evt_1"}',
                         headers={"webhook-id": "evt_1", "webhook-timestamp": "1",
                                  "webhook-signature": "v1,AAAA"})
    assert forged.status_code == 422 and forged.json()["code"] == "request.invalid"
    assert gateway.deliver_webhooks(deliver) == 1
    (payment,) = client.get(f"/api/v1/orders/{order_id}/payments", headers=operator).json()
    assert payment["status"] == "authorized" and payment["card"]["last4"] == "3184"


def test_cancelling_an_order_voids_its_authorization(client: TestClient, shop: Shop) -> None:
    operator = shop.headers("operator")
    placed = client.post("/api/v1/orders", headers=shop.headers("web"),
                         json=an_order(("TEE-1", 2), payment_token="tok_visa")).json()
    cancelled = client.post(f"/api/v1/orders/{placed['id']}/cancel", headers=operator)
    assert cancelled.json()["status"] == "cancelled"
    (payment,) = client.get(f"/api/v1/orders/{placed['id']}/payments", headers=operator).json()
    assert payment["status"] == "voided" and payment["voided"] == 2 * 1999


def test_bad_money_requests_are_refused_with_nothing_written(client: TestClient,
                                                               shop: Shop) -> None:
    operator = shop.headers("operator")
    order = client.post("/api/v1/orders", headers=shop.headers("web"),
                        json=an_order(("TEE-1", 2))).json()
    url = f"/api/v1/orders/{order['id']}"
    cases = [
        (f"{url}/shipments", {"reference": "P1", "lines": [{"line_no": 1, "quantity": 3}]}, 422),
        (f"{url}/shipments", {"reference": "P1", "lines": [{"line_no": 9, "quantity": 1}]}, 422),
        (f"{url}/shipments", {"reference": "P1", "lines": [{"line_no": 1, "quantity": 1},
                                                           {"line_no": 1, "quantity": 1}]}, 422),
        (f"{url}/shipments", {"reference": "P1", "lines": []}, 422),
        (f"{url}/refunds", {"reference": "R1", "reason": "x", "amount": 100}, 422),
        (f"{url}/refunds", {"reference": "R1", "reason": "x"}, 422),
        (f"{url}/payments/capture", {"reference": "C1", "amount": 10**9}, 422),
        ("/api/v1/orders/OM-999999/shipments", {"reference": "P1",
                                                "lines": [{"line_no": 1, "quantity": 1}]}, 404),
    ]
    for path, body, status in cases:
        response = client.post(path, headers=operator, json=body)
        assert response.status_code == status, (path, body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    assert client.get(f"{url}/invoices", headers=operator).json() == []
    (payment,) = client.get(f"{url}/payments", headers=operator).json()
    assert [x["kind"] for x in payment["transactions"]] == ["authorize"]
    level = client.get("/api/v1/stock-levels?sku=TEE-1&location=WH-1", headers=operator).json()
    assert (level["items"][0]["on_hand"], level["items"][0]["reserved"]) == (10, 2)
