"""Supplier payables: the three-way match and its tolerance, the bill's lifecycle (every status x
action), payments that never exceed the bill, due dates and the ageing buckets."""

from __future__ import annotations

import contextlib
import csv
import io
from datetime import date, timedelta
from decimal import Decimal
from itertools import product
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ordermesh.domain.errors import InvalidInput, InvalidTransition
from ordermesh.domain.money import Money
from ordermesh.domain.payables import (
    BILL_ACTIONS,
    BILL_CREATED,
    BILL_EVENTS,
    BILL_TRANSITIONS,
    BILLED_MORE_THAN_ORDERED,
    BILLED_MORE_THAN_RECEIVED,
    PRICE_ABOVE_TOLERANCE,
    BillLine,
    BillStatus,
    Bucket,
    DuplicatePaymentReference,
    Finding,
    OpenItem,
    Overpayment,
    PaymentStatus,
    PoLine,
    SupplierBill,
    SupplierPayment,
    Tolerance,
    age,
    bucket,
    due_date,
    match,
    payment_status,
    three_way_match,
    transition_diagram,
)

B = BillStatus
RECEIVED, ORDERED, PRICE = BILLED_MORE_THAN_RECEIVED, BILLED_MORE_THAN_ORDERED, PRICE_ABOVE_TOLERANCE
BILL_DATE = date(2026, 3, 1)


def pct(value: str) -> Tolerance:
    return Tolerance(price_percent=Decimal(value))


# (ordered, received, billed_before, billed, po unit cost, billed unit cost, tolerance) -> findings
MATCH_CASES: list[tuple[str, tuple[int, int, int, int, int, int, Tolerance], list[str]]] = [
    ("all three agree", (10, 10, 0, 10, 1000, 1000, Tolerance()), []),
    ("billed what was received of a partial delivery", (10, 4, 0, 4, 1000, 1000, Tolerance()), []),
    ("billed one more than received", (10, 4, 0, 5, 1000, 1000, Tolerance()), [RECEIVED]),
    ("billed more than ordered and received", (10, 10, 0, 11, 1000, 1000, Tolerance()),
     [RECEIVED, ORDERED]),
    ("over-received goods billed: more than ordered only", (10, 12, 0, 12, 1000, 1000, Tolerance()),
     [ORDERED]),
    ("earlier bills count", (10, 10, 6, 5, 1000, 1000, Tolerance()), [RECEIVED, ORDERED]),
    ("earlier bills plus this one exactly", (10, 10, 6, 4, 1000, 1000, Tolerance()), []),
    ("quantity tolerance: one over allowed", (10, 4, 0, 5, 1000, 1000, Tolerance(quantity=1)), []),
    ("quantity tolerance: two over is not", (10, 4, 0, 6, 1000, 1000, Tolerance(quantity=1)),
     [RECEIVED]),
    ("a cheaper price is fine", (10, 10, 0, 10, 1000, 900, Tolerance()), []),
    ("one minor unit above, no tolerance", (10, 10, 0, 10, 1000, 1001, Tolerance()), [PRICE]),
    ("2% exactly at the edge", (10, 10, 0, 10, 1000, 1020, pct("2")), []),
    ("2% and one minor unit over it", (10, 10, 0, 10, 1000, 1021, pct("2")), [PRICE]),
    ("1% of 999 is 9.99: 1008 passes", (1, 1, 0, 1, 999, 1008, pct("1")), []),
    ("1% of 999 is 9.99: 1009 does not", (1, 1, 0, 1, 999, 1009, pct("1")), [PRICE]),
    ("fractional percent exactly", (1, 1, 0, 1, 2000, 2005, pct("0.25")), []),
    ("fractional percent just over", (1, 1, 0, 1, 2000, 2006, pct("0.25")), [PRICE]),
    ("absolute 5 at the edge", (1, 1, 0, 1, 1000, 1005, Tolerance(price_amount=5)), []),
    ("absolute 5 just over", (1, 1, 0, 1, 1000, 1006, Tolerance(price_amount=5)), [PRICE]),
    ("the larger allowance wins: absolute",
     (1, 1, 0, 1, 1000, 1015, Tolerance(Decimal("1"), price_amount=15)), []),
    ("the larger allowance wins: percent",
     (1, 1, 0, 1, 10000, 10100, Tolerance(Decimal("1"), price_amount=15)), []),
    ("over both allowances", (1, 1, 0, 1, 1000, 1016, Tolerance(Decimal("1"), price_amount=15)),
     [PRICE]),
    ("a free line billed at a price: no percent of zero", (1, 1, 0, 1, 0, 1, pct("100")), [PRICE]),
    ("nothing received, everything wrong", (5, 0, 0, 6, 100, 200, Tolerance()),
     [RECEIVED, ORDERED, PRICE]),
]


@pytest.mark.parametrize(("case", "figures", "expected"), MATCH_CASES,
                         ids=[case for case, _, _ in MATCH_CASES])
def test_three_way_match(case: str, figures: tuple[int, int, int, int, int, int, Tolerance],
                         expected: list[str]) -> None:
    ordered, received, before, billed, po_cost, cost, tolerance = figures
    assert match(ordered=ordered, received=received, billed=billed, po_unit_cost=po_cost,
                 unit_cost=cost, tolerance=tolerance, billed_before=before) == expected


@pytest.mark.parametrize("fields", [
    {"price_percent": Decimal("-0.01")}, {"price_percent": Decimal("100.01")},
    {"price_percent": Decimal("NaN")}, {"price_percent": 2.5}, {"price_percent": 2},
    {"price_amount": -1}, {"price_amount": 1.0}, {"quantity": -1}, {"quantity": True},
])
def test_a_tolerance_is_exact_and_not_negative(fields: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput):
        Tolerance(**fields)


def line(line_no: int = 1, quantity: int = 10, unit_cost: int = 1000, sku: str = "MUG",
         currency: str = "EUR") -> BillLine:
    return BillLine(line_no, sku, quantity, Money(unit_cost, currency))


def test_findings_name_the_line_and_both_figures() -> None:
    po = [PoLine(1, "MUG", ordered=10, received=4, unit_cost=1000, billed_before=2),
          PoLine(2, "TEE", ordered=5, received=5, unit_cost=500)]
    findings = three_way_match(po, [line(1, 3, 1000), line(2, 5, 510, "TEE")], pct("1"))
    assert findings == (Finding(1, "MUG", RECEIVED, expected=4, actual=5),
                        Finding(2, "TEE", PRICE, expected=500, actual=510))
    assert three_way_match(po, [line(2, 5, 505, "TEE")], pct("1")) == ()
    with pytest.raises(InvalidInput, match="no line 3"):
        three_way_match(po, [line(3)])


def a_bill(*lines: BillLine, findings: tuple[Finding, ...] = (), terms: int = 30) -> SupplierBill:
    return SupplierBill.enter(
        id="bill-1", number=" INV-77 ", supplier_code="ACME", po_number="PO-000001",
        currency="EUR", bill_date=BILL_DATE, payment_terms_days=terms,
        lines=list(lines) or [line(1, 10, 1000)], findings=findings, tolerance=Tolerance(),
        actor="test")


def test_a_bill_is_matched_or_held_and_due_after_the_payment_terms() -> None:
    matched = a_bill(line(1, 2, 250), line(2, 3, 100, "TEE"), terms=45)
    assert matched.status == B.MATCHED and matched.number == "INV-77"
    assert matched.due_on == date(2026, 4, 15)
    # the total is the sum of the line totals, in the bill's currency
    assert matched.total == Money(2 * 250 + 3 * 100, "EUR")
    assert matched.payment_status == PaymentStatus.OPEN
    assert [e.type for e in matched.events] == [BILL_CREATED]
    assert matched.events[0].data["status"] == "matched"
    held = a_bill(findings=(Finding(1, "MUG", RECEIVED, 4, 10),))
    assert held.status == B.HELD
    assert held.events[0].data["findings"] == [
        {"line_no": 1, "sku": "MUG", "code": RECEIVED, "expected": 4, "actual": 10}]


@pytest.mark.parametrize(("lines", "message"), [
    ([line(1), line(1)], "once"),
    ([line(1, unit_cost=0)], "more than nothing"),
    ([line(1, currency="GBP")], "currency"),
])
def test_a_bill_refuses_what_cannot_be_billed(lines: list[BillLine], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        a_bill(*lines)


@pytest.mark.parametrize("quantity", [0, -1, 2**31, True])
def test_a_bill_line_needs_a_count_of_units(quantity: int) -> None:
    with pytest.raises(InvalidInput):
        line(quantity=quantity)


def test_due_dates_count_from_the_bill_date() -> None:
    assert due_date(date(2026, 1, 31), 0) == date(2026, 1, 31)
    assert due_date(date(2026, 1, 31), 30) == date(2026, 3, 2)
    assert due_date(date(2028, 2, 1), 29) == date(2028, 3, 1)  # a leap year
    with pytest.raises(InvalidInput):
        due_date(BILL_DATE, -1)


def bill_in(status: BillStatus) -> SupplierBill:
    """A bill of 1000 EUR in the given status; partially paid means 400 of it paid."""
    bill = a_bill(line(1, 1, 1000))
    bill.status = status
    if status == B.PARTIALLY_PAID:
        bill.payments.append(SupplierPayment(Money(400, "EUR"), BILL_DATE, "T-0", 1))
    if status == B.PAID:
        bill.payments.append(SupplierPayment(Money(1000, "EUR"), BILL_DATE, "T-0", 1))
    bill.events.clear()
    return bill


def act(bill: SupplierBill, action: str) -> None:
    if action == "approve":
        bill.approve("test", "checked with the supplier")
    elif action == "reject":
        bill.reject("test", "not ours")
    elif action == "pay":
        bill.pay(Money(100, "EUR"), BILL_DATE, "T-1", "test")
    else:
        bill.pay(bill.outstanding if bill.outstanding.amount > 0 else Money(1, "EUR"),
                 BILL_DATE, "T-1", "test")


@pytest.mark.parametrize(("status", "action"), list(product(B, BILL_ACTIONS)))
def test_every_status_and_action(status: BillStatus, action: str) -> None:
    bill = bill_in(status)
    before = (bill.status, list(bill.payments))
    allowed = BILL_TRANSITIONS[status]
    if action in allowed:
        act(bill, action)
        assert bill.status == allowed[action]
        assert [e.type for e in bill.events] == [BILL_EVENTS[action]]
        assert bill.events[0].data["from"] == status and bill.events[0].data["to"] == bill.status
    else:
        with pytest.raises(InvalidTransition) as refused:
            act(bill, action)
        assert refused.value.code == "supplier_bill.invalid_transition"
        assert (bill.status, bill.payments, bill.events) == (*before, [])


def test_the_table_covers_every_status_and_the_docs_draw_it() -> None:
    assert set(BILL_TRANSITIONS) == set(B)
    assert {a for moves in BILL_TRANSITIONS.values() for a in moves} == set(BILL_ACTIONS)
    diagram = transition_diagram()
    for state, moves in BILL_TRANSITIONS.items():
        for action, target in moves.items():
            assert f"    {state} --> {target}: {action}" in diagram.splitlines()
    assert {"    [*] --> matched", "    [*] --> held"} <= set(diagram.splitlines())
    doc = Path(__file__).parents[2] / "docs" / "payables.md"
    assert f"```mermaid\n{diagram}\n```" in doc.read_text()


def test_a_held_bill_is_approved_only_with_a_reason() -> None:
    held = bill_in(B.HELD)
    for reason in (None, "   "):
        with pytest.raises(InvalidInput, match="reason"):
            held.approve("test", reason)
    assert held.status == B.HELD and held.events == []
    held.approve("test", " price agreed by phone ")
    assert (held.status, held.review_reason) == (B.APPROVED, "price agreed by phone")
    matched = bill_in(B.MATCHED)
    matched.approve("test")
    assert matched.status == B.APPROVED and "reason" not in matched.events[0].data


def test_payments_partial_then_full_and_never_more() -> None:
    bill = bill_in(B.APPROVED)
    bill.pay(Money(300, "EUR"), BILL_DATE, "T-1", "test")
    assert (bill.status, bill.payment_status, bill.outstanding) == (
        B.PARTIALLY_PAID, PaymentStatus.PARTIALLY_PAID, Money(700, "EUR"))
    with pytest.raises(Overpayment) as over:
        bill.pay(Money(701, "EUR"), BILL_DATE, "T-2", "test")
    assert over.value.extra == {"outstanding": 700}
    with pytest.raises(DuplicatePaymentReference):
        bill.pay(Money(1, "EUR"), BILL_DATE, "T-1", "test")
    for amount, message in ((Money(0, "EUR"), "more than nothing"), (Money(-5, "EUR"), "nothing"),
                            (Money(5, "GBP"), "EUR")):
        with pytest.raises(InvalidInput, match=message):
            bill.pay(amount, BILL_DATE, "T-3", "test")
    with pytest.raises(InvalidInput, match="reference"):
        bill.pay(Money(5, "EUR"), BILL_DATE, "  ", "test")
    assert len(bill.payments) == 1 and bill.status == B.PARTIALLY_PAID
    bill.pay(Money(700, "EUR"), BILL_DATE + timedelta(days=3), "T-2", "test")
    assert (bill.status, bill.payment_status, bill.outstanding.amount) == (B.PAID, PaymentStatus.PAID, 0)
    assert bill.events[-1].data == {"from": "partially_paid", "to": "paid", "amount": 700,
                                    "paid_on": "2026-03-04", "reference": "T-2", "outstanding": 0}


def test_payment_status_is_computed_from_amounts() -> None:
    assert payment_status(1000, 0) == PaymentStatus.OPEN
    assert payment_status(1000, 1) == PaymentStatus.PARTIALLY_PAID
    assert payment_status(1000, 999) == PaymentStatus.PARTIALLY_PAID
    assert payment_status(1000, 1000) == PaymentStatus.PAID


@given(st.lists(st.tuples(st.integers(1, 50), st.integers(0, 10**6)), min_size=1, max_size=6),
       st.lists(st.integers(-10, 10**7), max_size=12))
def test_payments_never_exceed_the_bill(lines: list[tuple[int, int]], attempts: list[int]) -> None:
    bill_lines = [line(n, q, u) for n, (q, u) in enumerate(lines, start=1)]
    total = sum(q * u for q, u in lines)
    if total == 0:
        return
    bill = a_bill(*bill_lines)
    assert bill.total.amount == total == sum(ln.total.amount for ln in bill.lines)
    bill.approve("test")
    for n, amount in enumerate(attempts):
        with contextlib.suppress(InvalidInput, InvalidTransition):  # refused: nothing changes
            bill.pay(Money(amount, "EUR"), BILL_DATE, f"T-{n}", "test")
        paid = sum(p.amount.amount for p in bill.payments)
        assert 0 <= paid <= total
        assert bill.outstanding.amount == total - paid
        assert str(bill.payment_status) == {B.APPROVED: "open"}.get(bill.status, str(bill.status))


@pytest.mark.parametrize(("days_late", "expected"), [
    (-30, Bucket.CURRENT), (0, Bucket.CURRENT), (1, Bucket.DAYS_1_30), (30, Bucket.DAYS_1_30),
    (31, Bucket.DAYS_31_60), (60, Bucket.DAYS_31_60), (61, Bucket.DAYS_61_90),
    (90, Bucket.DAYS_61_90), (91, Bucket.DAYS_OVER_90), (4000, Bucket.DAYS_OVER_90),
])
def test_ageing_buckets_by_days_past_due(days_late: int, expected: Bucket) -> None:
    as_of = date(2026, 6, 30)
    assert bucket(as_of - timedelta(days=days_late), as_of) == expected


def test_ageing_per_supplier_and_currency_with_a_total_per_currency() -> None:
    as_of = date(2026, 6, 30)
    items = [OpenItem("ACME", "EUR", as_of, 100), OpenItem("ACME", "EUR", date(2026, 6, 1), 200),
             OpenItem("ACME", "GBP", date(2026, 1, 1), 50), OpenItem("BOLT", "EUR", date(2026, 4, 30), 7),
             OpenItem("BOLT", "EUR", date(2026, 1, 1), 0)]
    report = age(items, as_of)
    rows = {(r.supplier_code, r.currency): (r.amounts, r.total) for r in report.suppliers}
    assert list(rows) == [("ACME", "EUR"), ("ACME", "GBP"), ("BOLT", "EUR")]
    assert rows["ACME", "EUR"][0][Bucket.CURRENT] == 100
    assert rows["ACME", "EUR"][0][Bucket.DAYS_1_30] == 200 and rows["ACME", "EUR"][1] == 300
    assert rows["ACME", "GBP"][0][Bucket.DAYS_OVER_90] == 50
    assert rows["BOLT", "EUR"][0][Bucket.DAYS_61_90] == 7 and rows["BOLT", "EUR"][1] == 7
    totals = {r.currency: r for r in report.totals}
    assert totals["EUR"].supplier_code is None and totals["EUR"].total == 307
    assert totals["GBP"].total == 50
    table = list(csv.reader(io.StringIO(report.to_csv({"ACME": "Acme, Ltd"}))))
    assert table[0] == ["row", "supplier_code", "supplier_name", "currency", "current", "days_1_30",
                        "days_31_60", "days_61_90", "days_over_90", "total"]
    assert table[1] == ["supplier", "ACME", "Acme, Ltd", "EUR", "100", "200", "0", "0", "0", "300"]
    assert table[-2:] == [["total", "", "", "EUR", "100", "200", "0", "7", "0", "307"],
                          ["total", "", "", "GBP", "0", "0", "0", "0", "50", "50"]]
