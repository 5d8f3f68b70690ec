"""Supplier payables: the supplier's bill for a purchase order, matched three ways against what
was ordered and what was received, reviewed when it does not match, and paid.

The lifecycle is a table like every other; paying is two actions in it, so the table alone says
where a payment leads: `pay` leaves something outstanding (-> partially_paid), `pay_in_full`
settles the bill (-> paid). `SupplierBill.pay()` checks the amount and picks the action.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from ordermesh.domain.errors import AlreadyExists, InvalidInput, InvalidTransition
from ordermesh.domain.events import Event
from ordermesh.domain.money import CURRENCY, Money, total
from ordermesh.domain.purchasing import MAX_LINE_UNITS, MAX_TOTAL
from ordermesh.domain.state_machines import mermaid


class InvalidBillTransition(InvalidTransition):
    code = "supplier_bill.invalid_transition"


class DuplicateBillNumber(AlreadyExists):
    code = "supplier_bill.duplicate_number"
    title = "Supplier bill already entered"


class Overpayment(InvalidInput):
    code = "supplier_bill.overpayment"
    title = "Payment exceeds what is outstanding"


class DuplicatePaymentReference(AlreadyExists):
    code = "supplier_payment.duplicate_reference"
    title = "Payment already recorded"


def _count(value: object) -> bool:
    return type(value) is int


# --- the three-way match ---------------------------------------------------------------------

BILLED_MORE_THAN_RECEIVED = "billed_more_than_received"
BILLED_MORE_THAN_ORDERED = "billed_more_than_ordered"
PRICE_ABOVE_TOLERANCE = "price_above_tolerance"


@dataclass(frozen=True, slots=True)
class Tolerance:
    """How far a bill may exceed the purchase order and still match. A unit price passes when
    it is at most `price_amount` minor units, or at most `price_percent` per cent, above the
    PO's unit cost (whichever allows more). Quantities may exceed by `quantity` units a line."""

    price_percent: Decimal = Decimal(0)
    price_amount: int = 0
    quantity: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.price_percent, Decimal) or not self.price_percent.is_finite() \
                or not Decimal(0) <= self.price_percent <= Decimal(100):
            raise InvalidInput("price_percent must be a Decimal between 0 and 100")
        for name in ("price_amount", "quantity"):
            value = getattr(self, name)
            if not _count(value) or value < 0:
                raise InvalidInput(f"{name} must be a whole number >= 0")

    def allows_price(self, po_unit_cost: int, unit_cost: int) -> bool:
        over = unit_cost - po_unit_cost
        # compared exactly, never rounded: over / po <= percent / 100
        return over <= self.price_amount or Decimal(over) * 100 <= po_unit_cost * self.price_percent

    def as_data(self) -> dict[str, Any]:
        return {"price_percent": str(self.price_percent), "price_amount": self.price_amount,
                "quantity": self.quantity}


# Nothing above the purchase order passes unless the policy says so.
DEFAULT_TOLERANCE = Tolerance()


@dataclass(frozen=True, slots=True)
class Finding:
    """One way a bill line does not match: `expected` is the purchase order's figure (units
    ordered or received, or its unit cost) and `actual` the bill's (units billed so far,
    this bill included, or the billed unit cost)."""

    line_no: int
    sku: str
    code: str
    expected: int
    actual: int

    def as_data(self) -> dict[str, Any]:
        return {"line_no": self.line_no, "sku": self.sku, "code": self.code,
                "expected": self.expected, "actual": self.actual}


def match(*, ordered: int, received: int, billed: int, po_unit_cost: int, unit_cost: int,
          tolerance: Tolerance = DEFAULT_TOLERANCE, billed_before: int = 0) -> list[str]:
    """The findings for one line: `billed` units at `unit_cost` on this bill, `billed_before`
    on the supplier's earlier bills for the same line (rejected bills do not count)."""
    findings = []
    billed_so_far = billed_before + billed
    if billed_so_far > received + tolerance.quantity:
        findings.append(BILLED_MORE_THAN_RECEIVED)
    if billed_so_far > ordered + tolerance.quantity:
        findings.append(BILLED_MORE_THAN_ORDERED)
    if not tolerance.allows_price(po_unit_cost, unit_cost):
        findings.append(PRICE_ABOVE_TOLERANCE)
    return findings


@dataclass(frozen=True, slots=True)
class PoLine:
    """What the purchase order says about one line when the bill arrives."""

    line_no: int
    sku: str
    ordered: int
    received: int
    unit_cost: int
    billed_before: int = 0


def three_way_match(po_lines: Sequence[PoLine], bill_lines: Sequence[BillLine],
                    tolerance: Tolerance = DEFAULT_TOLERANCE) -> tuple[Finding, ...]:
    by_no = {line.line_no: line for line in po_lines}
    findings: list[Finding] = []
    for line in bill_lines:
        po = by_no.get(line.line_no)
        if po is None:
            raise InvalidInput(f"the purchase order has no line {line.line_no}", line_no=line.line_no)
        for code in match(ordered=po.ordered, received=po.received, billed=line.quantity,
                          po_unit_cost=po.unit_cost, unit_cost=line.unit_cost.amount,
                          tolerance=tolerance, billed_before=po.billed_before):
            expected = {BILLED_MORE_THAN_RECEIVED: po.received, BILLED_MORE_THAN_ORDERED: po.ordered,
                        PRICE_ABOVE_TOLERANCE: po.unit_cost}[code]
            actual = line.unit_cost.amount if code == PRICE_ABOVE_TOLERANCE \
                else po.billed_before + line.quantity
            findings.append(Finding(line.line_no, po.sku, code, expected, actual))
    return tuple(findings)


# --- the bill and its lifecycle --------------------------------------------------------------

class BillStatus(StrEnum):
    MATCHED = "matched"
    HELD = "held"  # for review: the match found something
    APPROVED = "approved"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    REJECTED = "rejected"


B = BillStatus
BILL_TRANSITIONS: dict[BillStatus, dict[str, BillStatus]] = {
    B.MATCHED: {"approve": B.APPROVED, "reject": B.REJECTED},
    B.HELD: {"approve": B.APPROVED, "reject": B.REJECTED},
    B.APPROVED: {"pay": B.PARTIALLY_PAID, "pay_in_full": B.PAID},
    B.PARTIALLY_PAID: {"pay": B.PARTIALLY_PAID, "pay_in_full": B.PAID},
    B.PAID: {},
    B.REJECTED: {},
}
BILL_EVENTS: dict[str, str] = {
    "approve": "supplier_bill.approved",
    "reject": "supplier_bill.rejected",
    "pay": "supplier_bill.payment_recorded",
    "pay_in_full": "supplier_bill.payment_recorded",
}
BILL_CREATED = "supplier_bill.created"
BILL_ACTIONS: tuple[str, ...] = tuple(BILL_EVENTS)


class PaymentStatus(StrEnum):
    OPEN = "open"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"


def payment_status(bill_total: int, paid: int) -> PaymentStatus:
    if paid <= 0:
        return PaymentStatus.OPEN
    return PaymentStatus.PAID if paid >= bill_total else PaymentStatus.PARTIALLY_PAID


def due_date(bill_date: date, payment_terms_days: int) -> date:
    """Net terms: the bill is due `payment_terms_days` after its date."""
    if not _count(payment_terms_days) or payment_terms_days < 0:
        raise InvalidInput("payment_terms_days must be a whole number >= 0")
    return bill_date + timedelta(days=payment_terms_days)


@dataclass(slots=True)
class BillLine:
    line_no: int  # the purchase order line billed
    sku: str
    quantity: int
    unit_cost: Money

    def __post_init__(self) -> None:
        if not _count(self.quantity) or not 1 <= self.quantity <= MAX_LINE_UNITS:
            raise InvalidInput(f"line {self.line_no}: quantity must be between 1 and {MAX_LINE_UNITS}")
        if self.unit_cost.amount < 0:
            raise InvalidInput(f"line {self.line_no}: unit cost cannot be negative")

    @property
    def total(self) -> Money:
        return self.unit_cost.times(self.quantity)


@dataclass(frozen=True, slots=True)
class SupplierPayment:
    amount: Money
    paid_on: date
    reference: str  # the bank transfer, say: one reference pays a bill once
    id: int | None = None  # None until stored


@dataclass(slots=True)
class SupplierBill:
    id: str
    number: str  # the supplier's own bill number, unique per supplier
    supplier_code: str
    po_number: str
    currency: str
    bill_date: date
    due_on: date
    lines: list[BillLine]
    status: BillStatus
    findings: tuple[Finding, ...] = ()
    review_reason: str | None = None
    payments: list[SupplierPayment] = field(default_factory=list)
    version: int = 0
    events: list[Event] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not isinstance(self.currency, str) or not CURRENCY.fullmatch(self.currency):
            raise InvalidInput(f"currency must be an ISO 4217 code, got {self.currency!r}")
        if not self.number.strip():
            raise InvalidInput("a supplier bill needs the supplier's bill number")
        if not self.lines:
            raise InvalidInput("a supplier bill needs at least one line")
        numbers = [line.line_no for line in self.lines]
        if len(set(numbers)) != len(numbers):
            raise InvalidInput("bill each purchase order line once")
        if any(line.unit_cost.currency != self.currency for line in self.lines):
            raise InvalidInput(f"all unit costs must be in the bill currency {self.currency}")
        if self.due_on < self.bill_date:
            raise InvalidInput("a bill cannot be due before its date")
        if sum(line.quantity * line.unit_cost.amount for line in self.lines) > MAX_TOTAL:
            raise InvalidInput(f"a bill may total at most {MAX_TOTAL} minor units")

    @classmethod
    def enter(cls, *, id: str, number: str, supplier_code: str, po_number: str, currency: str,
              bill_date: date, payment_terms_days: int, lines: list[BillLine],
              findings: Iterable[Finding], tolerance: Tolerance, actor: str) -> SupplierBill:
        """A bill as it arrives: matched, or held for review when the match found anything."""
        findings = tuple(findings)
        bill = cls(id=id, number=number.strip(), supplier_code=supplier_code, po_number=po_number,
                   currency=currency, bill_date=bill_date,
                   due_on=due_date(bill_date, payment_terms_days), lines=lines,
                   status=B.HELD if findings else B.MATCHED, findings=findings)
        if bill.total.amount <= 0:
            raise InvalidInput("a supplier bill must be for more than nothing")
        bill._record(BILL_CREATED, actor, {
            "number": bill.number, "supplier_code": supplier_code, "purchase_order": po_number,
            "status": str(bill.status), "total": {"amount": bill.total.amount, "currency": currency},
            "due_on": bill.due_on.isoformat(), "tolerance": tolerance.as_data(),
            "findings": [f.as_data() for f in findings]})
        return bill

    @property
    def total(self) -> Money:
        return total([line.total for line in self.lines], self.currency)

    @property
    def paid(self) -> Money:
        return total([p.amount for p in self.payments], self.currency)

    @property
    def outstanding(self) -> Money:
        return self.total - self.paid

    @property
    def payment_status(self) -> PaymentStatus:
        return payment_status(self.total.amount, self.paid.amount)

    def approve(self, actor: str, reason: str | None = None) -> None:
        """A held bill is approved only with a reason: someone looked and accepts it."""
        reason = (reason or "").strip() or None
        if self.status == B.HELD and reason is None:
            raise InvalidInput("approving a held bill needs a reason")
        self._apply("approve", actor, **({"reason": reason} if reason else {}))
        self.review_reason = reason or self.review_reason

    def reject(self, actor: str, reason: str | None = None) -> None:
        reason = (reason or "").strip() or None
        self._apply("reject", actor, **({"reason": reason} if reason else {}))
        self.review_reason = reason or self.review_reason

    def pay(self, amount: Money, paid_on: date, reference: str, actor: str) -> SupplierPayment:
        """Record a payment of (part of) what is outstanding; never more."""
        self._check_can("pay")
        if amount.currency != self.currency:
            raise InvalidInput(f"the bill is in {self.currency}, not {amount.currency}")
        if amount.amount <= 0:
            raise InvalidInput("a payment must be for more than nothing")
        if amount.amount > self.outstanding.amount:
            raise Overpayment(f"paying {amount.amount} but only {self.outstanding.amount} is outstanding",
                              outstanding=self.outstanding.amount)
        reference = reference.strip()
        if not reference:
            raise InvalidInput("a payment needs a reference")
        if any(p.reference == reference for p in self.payments):
            raise DuplicatePaymentReference(f"payment {reference!r} is already recorded on this bill",
                                            reference=reference)
        payment = SupplierPayment(amount, paid_on, reference)
        self.payments.append(payment)
        action = "pay_in_full" if self.outstanding.amount == 0 else "pay"
        self._apply(action, actor, amount=amount.amount, paid_on=paid_on.isoformat(),
                    reference=reference, outstanding=self.outstanding.amount)
        return payment

    def _apply(self, action: str, actor: str, **data: Any) -> None:
        self._check_can(action)
        previous, self.status = self.status, BILL_TRANSITIONS[self.status][action]
        self._record(BILL_EVENTS[action], actor, {"from": str(previous), "to": str(self.status), **data})

    def _check_can(self, action: str) -> None:
        allowed = BILL_TRANSITIONS[self.status]
        if action not in allowed:
            raise InvalidBillTransition(
                f"cannot {action} a supplier bill that is {self.status}",
                current_status=str(self.status), action=action, allowed=sorted(allowed))

    def _record(self, event_type: str, actor: str, data: dict[str, Any]) -> None:
        self.events.append(Event(event_type, "supplier_bill", self.id, actor, data))


def transition_diagram() -> str:
    """Drawn from BILL_TRANSITIONS; a bill starts matched or held, as its match decides."""
    start, *moves = mermaid(BILL_TRANSITIONS, "matched").split("\n", 2)[1:]
    return "\n".join(["stateDiagram-v2", start, "    [*] --> held", *moves])


# --- accounts-payable ageing -----------------------------------------------------------------

class Bucket(StrEnum):
    CURRENT = "current"  # not yet due
    DAYS_1_30 = "days_1_30"
    DAYS_31_60 = "days_31_60"
    DAYS_61_90 = "days_61_90"
    DAYS_OVER_90 = "days_over_90"


BUCKETS: tuple[Bucket, ...] = tuple(Bucket)


def bucket(due_on: date, as_of: date) -> Bucket:
    """Where an amount due on `due_on` stands at `as_of`, by whole days past due."""
    late = (as_of - due_on).days
    if late <= 0:
        return Bucket.CURRENT
    if late <= 30:
        return Bucket.DAYS_1_30
    if late <= 60:
        return Bucket.DAYS_31_60
    return Bucket.DAYS_61_90 if late <= 90 else Bucket.DAYS_OVER_90


@dataclass(frozen=True, slots=True)
class OpenItem:
    """What one bill still owed at the as-of date."""

    supplier_code: str
    currency: str
    due_on: date
    outstanding: int


@dataclass(frozen=True, slots=True)
class AgeingRow:
    supplier_code: str | None  # None: the total of every supplier in this currency
    currency: str
    amounts: dict[Bucket, int]

    @property
    def total(self) -> int:
        return sum(self.amounts.values())


@dataclass(frozen=True, slots=True)
class AgeingReport:
    as_of: date
    suppliers: list[AgeingRow]  # by supplier, then currency
    totals: list[AgeingRow]  # one per currency: amounts in two currencies never add up

    def to_csv(self, names: dict[str, str]) -> str:
        """Suppliers first, then a total per currency; amounts in minor units."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["row", "supplier_code", "supplier_name", "currency", *BUCKETS, "total"])
        for kind, group in (("supplier", self.suppliers), ("total", self.totals)):
            writer.writerows([kind, r.supplier_code or "", names.get(r.supplier_code or "", ""),
                              r.currency, *(r.amounts[b] for b in BUCKETS), r.total] for r in group)
        return out.getvalue()


def age(items: Iterable[OpenItem], as_of: date) -> AgeingReport:
    per_supplier: dict[tuple[str, str], dict[Bucket, int]] = {}
    per_currency: dict[str, dict[Bucket, int]] = {}
    for item in items:
        if item.outstanding <= 0:
            continue
        where = bucket(item.due_on, as_of)
        for amounts in (per_supplier.setdefault((item.supplier_code, item.currency), _empty()),
                        per_currency.setdefault(item.currency, _empty())):
            amounts[where] += item.outstanding
    return AgeingReport(
        as_of,
        [AgeingRow(code, cur, amounts) for (code, cur), amounts in sorted(per_supplier.items())],
        [AgeingRow(None, cur, amounts) for cur, amounts in sorted(per_currency.items())])


def _empty() -> dict[Bucket, int]:
    return dict.fromkeys(BUCKETS, 0)
