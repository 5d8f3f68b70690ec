"""Reconciliation: does each payout the gateway made add up to our own captures, refunds and
fees? Per payout, captured - refunded - fees = paid out; every movement the payout lists must
be one of ours, for the amount we recorded; what does not match is listed for review.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date


@dataclass(frozen=True, slots=True)
class Ours:
    """One of our succeeded captures or refunds, as we recorded it."""

    reference: str  # the gateway's reference for it
    kind: str  # capture | refund
    amount: int  # positive, minor units
    fee: int | None  # as the gateway told us at the time, if it did
    order_number: str


@dataclass(frozen=True, slots=True)
class Item:
    type: str  # capture | refund | fee | adjustment
    reference: str
    amount: int  # signed: refunds negative
    fee: int


@dataclass(frozen=True, slots=True)
class Finding:
    payout: str | None  # None: one of ours that no payout has settled yet
    reference: str
    problem: str  # unknown_movement | amount_differs | fee_differs | not_settled | total_differs
    expected: int | None
    actual: int | None
    order_number: str | None = None


@dataclass(frozen=True)
class PayoutCheck:
    gateway: str
    payout: str
    arrival_date: date
    currency: str
    paid_out: int
    captured: int
    refunded: int
    fees: int
    other: int  # fees and adjustments the gateway booked on their own
    findings: list[Finding] = field(default_factory=list)

    @property
    def expected(self) -> int:
        return self.captured - self.refunded - self.fees + self.other

    @property
    def difference(self) -> int:
        return self.paid_out - self.expected

    @property
    def reconciled(self) -> bool:
        return self.difference == 0 and not self.findings


def check_payout(gateway: str, payout: str, arrival_date: date, currency: str, paid_out: int,
                 items: Iterable[Item], ours: Mapping[str, list[Ours]]) -> PayoutCheck:
    """Each capture or refund the payout lists is matched to one of ours with the same
    reference, kind and amount (a gateway may make several captures under one reference: each
    is matched once)."""
    items = list(items)
    unmatched = {ref: list(movements) for ref, movements in ours.items()}
    findings: list[Finding] = []
    captured = refunded = fees = other = 0
    for item in items:
        fees += item.fee
        if item.type in ("capture", "refund"):
            sign = 1 if item.type == "capture" else -1
            if item.type == "capture":
                captured += item.amount
            else:
                refunded -= item.amount
            mine = _match(unmatched.get(item.reference, []), item.type, item.amount * sign)
            if mine is None:
                findings.append(Finding(payout, item.reference, "unknown_movement", None,
                                        item.amount))
                continue
            if mine.amount * sign != item.amount:
                findings.append(Finding(payout, item.reference, "amount_differs",
                                        mine.amount * sign, item.amount, mine.order_number))
            if mine.fee is not None and mine.fee != item.fee:
                findings.append(Finding(payout, item.reference, "fee_differs", mine.fee,
                                        item.fee, mine.order_number))
        else:
            other += item.amount
            findings.append(Finding(payout, item.reference, f"gateway_{item.type}", None,
                                    item.amount))
    result = PayoutCheck(gateway, payout, arrival_date, currency, paid_out, captured, refunded,
                         fees, other, findings)
    if result.difference:
        findings.append(Finding(payout, payout, "total_differs", result.expected, paid_out))
    return result


def _match(candidates: list[Ours], kind: str, amount: int) -> Ours | None:
    """Take the movement of this kind and amount, else any of this kind (its amount then
    differs); None if there is none left."""
    same_kind = [o for o in candidates if o.kind == kind]
    found = next((o for o in same_kind if o.amount == amount), None) or next(iter(same_kind), None)
    if found is not None:
        candidates.remove(found)
    return found


def not_settled(ours: Iterable[Ours]) -> list[Finding]:
    """Our movements old enough to have been paid out that no payout lists."""
    return [Finding(None, o.reference, "not_settled", o.amount if o.kind == "capture"
                    else -o.amount, None, o.order_number) for o in ours]
