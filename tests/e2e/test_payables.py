"""Supplier payables over HTTP: a bill for more than was received is held, a matching bill is
approved and paid in two parts, and the accounts-payable ageing shows what is still owed, as
JSON, as CSV and from the command line. Bad input is a problem+json 4xx that writes nothing."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from ordermesh.entrypoints.cli import app as cli
from tests.builders import Shop
from tests.e2e.conftest import row_counts
from tests.e2e.purchasing import add_supplier, receive, sent_po

BILLS = "/api/v1/supplier-bills"
HEADER = ["row", "supplier_code", "supplier_name", "currency", "current", "days_1_30",
          "days_31_60", "days_61_90", "days_over_90", "total"]


@pytest.fixture
def po(client: TestClient, shop: Shop) -> dict[str, Any]:
    """10 mugs at 4.50 and 5 shirts at 12.75 EUR ordered from Acme (30 days to pay), sent."""
    add_supplier(client, shop)
    return sent_po(client, shop, ("MUG-1", 10, 450), ("TEE-1", 5, 1275))


def enter(client: TestClient, shop: Shop, po: dict[str, Any], number: str,
          *lines: tuple[int, int, int], bill_date: str = "2026-03-01", **extra: Any) -> Any:
    """Lines are (PO line_no, quantity, unit cost in cents)."""
    body = {"number": number, "purchase_order": po["number"], "bill_date": bill_date,
            "lines": [{"line_no": n, "quantity": q, "unit_cost": u} for n, q, u in lines], **extra}
    return client.post(BILLS, json=body, headers=shop.headers("operator"))


def post(client: TestClient, shop: Shop, path: str, body: Any = None) -> Any:
    return client.post(path, json=body, headers=shop.headers("operator"))


def problem(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    if code is not None:
        assert body["code"] == code
    return body


def test_bills_are_matched_held_approved_and_paid(client: TestClient, shop: Shop,
                                                 po: dict[str, Any], engine: Engine) -> None:
    operator = shop.headers("operator")
    # given 4 of the 10 mugs received
    assert receive(client, shop, po, (1, 4)).status_code == 200
    # when the supplier bills 6 mugs, the bill is held: more billed than received
    held = enter(client, shop, po, "ACME-1001", (1, 6, 450))
    assert held.status_code == 201, held.text
    bill = held.json()
    assert held.headers["Location"] == f"{BILLS}/{bill['id']}"
    assert (bill["status"], bill["payment_status"], bill["total"], bill["due_on"]) == (
        "held", "open", 2700, "2026-03-31")
    assert bill["findings"] == [{"line_no": 1, "sku": "MUG-1", "code": "billed_more_than_received",
                                 "expected": 4, "actual": 6}]
    # and it cannot be paid, nor approved without a reason; an operator rejects it
    before = row_counts(engine)
    problem(post(client, shop, f"{BILLS}/{bill['id']}/payments",
                 {"amount": 100, "paid_on": "2026-03-02", "reference": "T-0"}),
            409, "supplier_bill.invalid_transition")
    problem(post(client, shop, f"{BILLS}/{bill['id']}/approve"), 422, "request.invalid")
    assert row_counts(engine) == before
    rejected = post(client, shop, f"{BILLS}/{bill['id']}/reject", {"reason": "only 4 delivered"})
    assert (rejected.json()["status"], rejected.json()["review_reason"]) == (
        "rejected", "only 4 delivered")

    # when the supplier bills the 4 mugs that came, it matches
    response = enter(client, shop, po, "ACME-1002", (1, 4, 450))
    assert response.status_code == 201, response.text
    matched = response.json()
    assert (matched["status"], matched["findings"], matched["total"]) == ("matched", [], 1800)
    assert matched["lines"] == [{"line_no": 1, "sku": "MUG-1", "quantity": 4, "unit_cost": 450,
                                 "line_total": 1800}]
    # the same bill number again is a conflict
    problem(enter(client, shop, po, "ACME-1002", (1, 1, 450)), 409, "supplier_bill.duplicate_number")
    # then it is approved and paid in two parts, never more than it owes
    bill_path = f"{BILLS}/{matched['id']}"
    assert post(client, shop, f"{bill_path}/approve").json()["status"] == "approved"
    first = post(client, shop, f"{bill_path}/payments",
                 {"amount": 1000, "paid_on": "2026-03-15", "reference": "BANK-1"})
    assert first.status_code == 201, first.text
    assert {k: first.json()[k] for k in ("status", "payment_status", "paid", "outstanding")} == {
        "status": "partially_paid", "payment_status": "partially_paid", "paid": 1000,
        "outstanding": 800}
    before = row_counts(engine)
    over = problem(post(client, shop, f"{bill_path}/payments",
                        {"amount": 801, "paid_on": "2026-03-20", "reference": "BANK-2"}),
                   422, "supplier_bill.overpayment")
    assert over["outstanding"] == 800
    problem(post(client, shop, f"{bill_path}/payments",
                 {"amount": 5, "paid_on": "2026-03-20", "reference": "BANK-1"}),
            409, "supplier_payment.duplicate_reference")
    assert row_counts(engine) == before
    final = post(client, shop, f"{bill_path}/payments",
                 {"amount": 800, "paid_on": "2026-03-20", "reference": "BANK-2"}).json()
    assert (final["status"], final["payment_status"], final["outstanding"]) == ("paid", "paid", 0)
    assert [(p["amount"], p["paid_on"], p["reference"]) for p in final["payments"]] == [
        (1000, "2026-03-15", "BANK-1"), (800, "2026-03-20", "BANK-2")]
    events = client.get(f"{bill_path}/events", headers=operator).json()
    assert [e["type"] for e in events] == [
        "supplier_bill.created", "supplier_bill.approved", "supplier_bill.payment_recorded",
        "supplier_bill.payment_recorded"]

    # and the list filters by status and supplier
    paid = client.get(f"{BILLS}?status=paid", headers=operator).json()["items"]
    assert [b["number"] for b in paid] == ["ACME-1002"]
    everything = client.get(f"{BILLS}?supplier=ACME&limit=1", headers=operator).json()
    assert [b["number"] for b in everything["items"]] == ["ACME-1002"]
    rest = client.get(f"{BILLS}?supplier=ACME&cursor={everything['next_cursor']}",
                      headers=operator).json()
    assert [b["number"] for b in rest["items"]] == ["ACME-1001"] and rest["next_cursor"] is None
    assert client.get(f"{BILLS}?supplier=NOBODY", headers=operator).json()["items"] == []


def test_the_ageing_report_as_json_csv_and_from_the_command_line(
        client: TestClient, shop: Shop, po: dict[str, Any], database_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    operator = shop.headers("operator")
    assert receive(client, shop, po, (1, 10), (2, 5)).status_code == 200
    # given shirts billed in January (due 9 February), mugs in March (due 19 April) of which
    # 700 is paid, and a rejected bill
    shirts = enter(client, shop, po, "ACME-1", (2, 5, 1275), bill_date="2026-01-10").json()
    mugs = enter(client, shop, po, "ACME-2", (1, 10, 450), bill_date="2026-03-20").json()
    post(client, shop, f"{BILLS}/{mugs['id']}/approve")
    post(client, shop, f"{BILLS}/{mugs['id']}/payments",
         {"amount": 700, "paid_on": "2026-03-25", "reference": "BANK-1"})
    wrong = enter(client, shop, po, "ACME-3", (2, 1, 1275), bill_date="2026-01-11").json()
    assert wrong["status"] == "held"
    post(client, shop, f"{BILLS}/{wrong['id']}/reject")
    assert shirts["due_on"] == "2026-02-09" and mugs["due_on"] == "2026-04-19"

    # when the ageing is asked for on 1 April
    response = client.get("/api/v1/reports/ap-ageing?as_of=2026-04-01", headers=operator)
    assert response.status_code == 200, response.text
    report = response.json()
    # then the shirts are 51 days late and the rest of the mugs not due yet
    expected = {"supplier_code": "ACME", "supplier_name": "Acme Ceramics & Co", "currency": "EUR",
                "current": 3800, "days_1_30": 0, "days_31_60": 6375, "days_61_90": 0,
                "days_over_90": 0, "total": 10175}
    assert report["as_of"] == "2026-04-01"
    assert report["suppliers"] == [expected]
    assert report["totals"] == [{**expected, "supplier_code": None, "supplier_name": None}]
    # before the mugs were billed or paid, only the shirts were owed, and not yet due
    early = client.get("/api/v1/reports/ap-ageing?as_of=2026-02-09", headers=operator).json()
    assert early["totals"][0]["current"] == 6375 and early["totals"][0]["total"] == 6375

    rows = [HEADER, ["supplier", "ACME", "Acme Ceramics & Co", "EUR", "3800", "0", "6375", "0",
                     "0", "10175"], ["total", "", "", "EUR", "3800", "0", "6375", "0", "0", "10175"]]
    for extra, headers in (("&format=csv", operator), ("", {**operator, "Accept": "text/csv"})):
        as_csv = client.get(f"/api/v1/reports/ap-ageing?as_of=2026-04-01{extra}", headers=headers)
        assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
        assert list(csv.reader(io.StringIO(as_csv.text))) == rows

    # and the command line prints the same CSV
    monkeypatch.setenv("ORDERMESH_DATABASE_URL", database_url)
    result = CliRunner().invoke(cli, ["ap-ageing", "--as-of", "2026-04-01"])
    assert result.exit_code == 0, result.output
    assert list(csv.reader(io.StringIO(result.output))) == rows


BAD_BILLS: list[tuple[str, dict[str, Any], int]] = [
    ("no lines", {"lines": []}, 422),
    ("a line billed twice", {"lines": [{"line_no": 1, "quantity": 1, "unit_cost": 450}] * 2}, 422),
    ("a fractional cost", {"lines": [{"line_no": 1, "quantity": 1, "unit_cost": 4.5}]}, 422),
    ("zero units", {"lines": [{"line_no": 1, "quantity": 0, "unit_cost": 450}]}, 422),
    ("a line the order does not have", {"lines": [{"line_no": 9, "quantity": 1, "unit_cost": 1}]}, 422),
    ("another currency", {"currency": "USD"}, 422),
    ("not a date", {"bill_date": "2026-02-30"}, 422),
    ("a blank number", {"number": "   "}, 422),
    ("a field nobody knows", {"discount": 5}, 422),
    ("an unknown purchase order", {"purchase_order": "PO-999999"}, 404),
    ("a free bill", {"lines": [{"line_no": 1, "quantity": 1, "unit_cost": 0}]}, 422),
]


@pytest.mark.parametrize(("case", "change", "status"), BAD_BILLS, ids=[c for c, _, _ in BAD_BILLS])
def test_bad_bills_are_refused_and_write_nothing(client: TestClient, shop: Shop, po: dict[str, Any],
                                                 engine: Engine, case: str, change: dict[str, Any],
                                                 status: int) -> None:
    body = {"number": "ACME-1", "purchase_order": po["id"], "bill_date": "2026-03-01",
            "lines": [{"line_no": 1, "quantity": 1, "unit_cost": 450}], **change}
    before = row_counts(engine)
    problem(client.post(BILLS, json=body, headers=shop.headers("operator")), status)
    assert row_counts(engine) == before


def test_who_may_do_what_and_other_refusals(client: TestClient, shop: Shop,
                                            po: dict[str, Any]) -> None:
    operator = shop.headers("operator")
    body = {"number": "ACME-1", "purchase_order": po["id"], "bill_date": "2026-03-01",
            "lines": [{"line_no": 1, "quantity": 1, "unit_cost": 450}]}
    problem(client.post(BILLS, json=body, headers=shop.headers("web")), 403)
    problem(client.get(BILLS), 401)
    problem(client.get("/api/v1/reports/ap-ageing", headers=shop.headers("web")), 403)
    problem(client.get(f"{BILLS}/nope", headers=operator), 404, "resource.not_found")
    problem(client.get(f"{BILLS}/nope/events", headers=operator), 404)
    problem(post(client, shop, f"{BILLS}/nope/approve"), 404)
    problem(client.get(f"{BILLS}?status=lost", headers=operator), 422)
    problem(client.get(f"{BILLS}?cursor=garbage", headers=operator), 422)
    problem(client.get("/api/v1/reports/ap-ageing?as_of=yesterday", headers=operator), 422)
    problem(client.get("/api/v1/reports/ap-ageing?format=xlsx", headers=operator), 422)
    bill = client.post(BILLS, json=body, headers=operator).json()
    assert bill["status"] == "held"  # nothing received yet
    for payment in ({"amount": 0, "paid_on": "2026-03-02", "reference": "T"},
                    {"amount": 1, "paid_on": "2026-03-02"},
                    {"amount": "1", "paid_on": "2026-03-02", "reference": "T"}):
        problem(post(client, shop, f"{BILLS}/{bill['id']}/payments", payment), 422)
    # without a date the ageing is today's
    today = client.get("/api/v1/reports/ap-ageing", headers=operator)
    assert today.status_code == 200
    assert today.json()["as_of"] == datetime.now(UTC).date().isoformat()


def test_the_price_tolerance_comes_from_the_settings(client: TestClient, shop: Shop,
                                                     po: dict[str, Any]) -> None:
    # given 10 mugs at 4.50 received, and a tolerance of 2 % on unit prices
    receive(client, shop, po, (1, 10))
    settings = client.app.state.ordermesh.settings  # type: ignore[attr-defined]
    settings.bill_price_tolerance_percent = Decimal("2")
    # when the supplier bills 4.59 (2 % over), then 4.60
    within = enter(client, shop, po, "ACME-T1", (1, 5, 459))
    beyond = enter(client, shop, po, "ACME-T2", (1, 5, 460))
    # then the first matches and the second is held for its price
    assert within.json()["status"] == "matched", within.text
    assert beyond.json()["status"] == "held"
    assert [f["code"] for f in beyond.json()["findings"]] == ["price_above_tolerance"]
