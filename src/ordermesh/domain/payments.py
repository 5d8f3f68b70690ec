"""Payments: one authorization at a gateway, and the captures, voids and refunds made against
it. Every gateway call is a transaction; the payment's status is computed from them, never set.

What may be done next is a table of status -> actions, like every lifecycle here; the amounts
add their own rules: never capture more than was authorized, never refund more than was
captured, and only what was never captured can be voided.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from ordermesh.domain.errors import InvalidInput, InvalidTransition
from ordermesh.domain.money import Money


class Kind(StrEnum):
    AUTHORIZE = "authorize"
    CAPTURE = "capture"
    VOID = "void"
    REFUND = "refund"


class Outcome(StrEnum):
    PENDING = "pending"  # asked, no final answer yet (in flight, or to come by webhook)
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Transaction:
    """One call to the gateway and what it answered."""

    kind: Kind
    amount: Money
    outcome: Outcome
    idempotency_key: str  # the same key never moves money twice at the gateway
    gateway_reference: str | None = None
    failure: str | None = None  # e.g. "card_declined", "insufficient_funds"

    @classmethod
    def of(cls, fields: Mapping[str, Any]) -> Transaction:
        """From stored fields: kind, amount, currency, outcome, idempotency_key and, if
        there, gateway_reference and failure_code."""
        return cls(Kind(fields["kind"]), Money(fields["amount"], fields["currency"]),
                   Outcome(fields["outcome"]), fields["idempotency_key"],
                   fields.get("gateway_reference"), fields.get("failure_code"))


class PaymentStatus(StrEnum):
    PENDING = "pending"  # nothing authorized yet
    FAILED = "failed"  # the authorization was refused
    AUTHORIZED = "authorized"
    PARTIALLY_CAPTURED = "partially_captured"
    CAPTURED = "captured"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    VOIDED = "voided"


P = PaymentStatus
ACTIONS: dict[PaymentStatus, frozenset[Kind]] = {
    P.PENDING: frozenset({Kind.AUTHORIZE}),
    P.FAILED: frozenset({Kind.AUTHORIZE}),  # a new token may be tried
    P.AUTHORIZED: frozenset({Kind.CAPTURE, Kind.VOID}),
    P.PARTIALLY_CAPTURED: frozenset({Kind.CAPTURE, Kind.VOID, Kind.REFUND}),
    P.CAPTURED: frozenset({Kind.REFUND}),
    # what is still authorized may be captured (or released) after a refund of an earlier
    # shipment; the amounts decide whether anything is left
    P.PARTIALLY_REFUNDED: frozenset({Kind.CAPTURE, Kind.VOID, Kind.REFUND}),
    P.REFUNDED: frozenset(),
    P.VOIDED: frozenset(),
}


@dataclass(frozen=True, slots=True)
class Totals:
    authorized: int
    captured: int
    voided: int
    refunded: int

    @property
    def capturable(self) -> int:
        return max(self.authorized - self.captured - self.voided, 0)

    @property
    def refundable(self) -> int:
        return self.captured - self.refunded


def totals(transactions: Iterable[Transaction], pending: bool = False) -> Totals:
    """What succeeded, in minor units; with `pending`, what may still succeed is counted too,
    so a new call is checked against every call that could move money."""
    counted = {Outcome.SUCCEEDED, Outcome.PENDING} if pending else {Outcome.SUCCEEDED}
    sums = dict.fromkeys(Kind, 0)
    for t in transactions:
        if t.outcome in counted:
            sums[t.kind] += t.amount.amount
    return Totals(sums[Kind.AUTHORIZE], sums[Kind.CAPTURE], sums[Kind.VOID], sums[Kind.REFUND])


def capturable(transactions: Iterable[Transaction]) -> int:
    """What may still be captured, on the safe side: what was authorized, less every capture
    and void that succeeded or may still succeed."""
    transactions = list(transactions)
    done, asked = totals(transactions), totals(transactions, pending=True)
    return max(done.authorized - asked.captured - asked.voided, 0)


def refundable(transactions: Iterable[Transaction]) -> int:
    """What may still be refunded, on the safe side: what was captured for certain, less every
    refund that succeeded or may still succeed."""
    transactions = list(transactions)
    return max(totals(transactions).captured - totals(transactions, pending=True).refunded, 0)


def payment_status(transactions: Iterable[Transaction]) -> PaymentStatus:
    """The status, computed from what the gateway answered."""
    transactions = list(transactions)
    t = totals(transactions)
    if not t.authorized:
        failed = any(x.kind is Kind.AUTHORIZE and x.outcome is Outcome.FAILED for x in transactions)
        return P.FAILED if failed else P.PENDING
    if t.refunded:
        done = t.refunded >= t.captured and t.capturable == 0
        return P.REFUNDED if done else P.PARTIALLY_REFUNDED
    if t.captured:
        return P.CAPTURED if t.capturable == 0 else P.PARTIALLY_CAPTURED
    return P.VOIDED if t.voided else P.AUTHORIZED


def allowed(transactions: Iterable[Transaction]) -> frozenset[Kind]:
    """What the payment's status allows next (the amounts may still refuse it)."""
    return ACTIONS[payment_status(transactions)]


def check(transactions: Iterable[Transaction], kind: Kind, amount: Money) -> None:
    """Refuse a call the payment's status or amounts do not allow, before it reaches the
    gateway."""
    transactions = list(transactions)
    status = payment_status(transactions)
    if kind not in ACTIONS[status]:
        raise InvalidTransition(f"cannot {kind} a payment that is {status}",
                                current_status=str(status), action=str(kind),
                                allowed=sorted(ACTIONS[status]))
    currencies = {t.amount.currency for t in transactions}
    if currencies and amount.currency not in currencies:
        raise InvalidInput(f"this payment is in {currencies.pop()}, not {amount.currency}")
    if amount.amount < 1:
        raise InvalidInput("an amount to move is at least one minor unit")
    left = capturable(transactions)
    if kind is Kind.VOID and amount.amount != left:
        raise InvalidInput(f"a void releases all that is not captured: {left}", limit=left)
    limit = {Kind.CAPTURE: left, Kind.REFUND: refundable(transactions)}
    if kind in limit and amount.amount > limit[kind]:
        raise InvalidInput(f"cannot {kind} {amount.amount}: only {limit[kind]} can be",
                           limit=limit[kind])


# What a gateway answers. Adapters translate their gateway's objects into these.


@dataclass(frozen=True, slots=True)
class Card:
    """What may be shown of a card: never its number."""

    brand: str
    last4: str
    exp_month: int
    exp_year: int


@dataclass(frozen=True, slots=True)
class GatewayAnswer:
    outcome: Outcome
    reference: str | None  # the gateway's id of what was done (authorization, capture, refund)
    failure: str | None = None  # card_declined, insufficient_funds, expired_card, ...
    fee: int | None = None  # minor units, when the gateway says at once
    card: Card | None = None
    authorized_until: datetime | None = None  # when an authorization lapses


class GatewayUnavailable(Exception):
    """The call did not get an answer (timeout, network, 5xx): it may or may not have been
    done, so it is asked again with the same idempotency key."""


@dataclass(frozen=True, slots=True)
class GatewayNotice:
    """A webhook, verified and read: a later answer to an earlier call."""

    id: str  # the gateway's event id: a notice is applied once
    kind: Kind
    authorization: str  # the authorization it concerns
    answer: GatewayAnswer
    amount: int | None = None


@dataclass(frozen=True, slots=True)
class PayoutItem:
    """One movement a payout consists of: a capture (positive), a refund (negative), or a fee
    or adjustment on its own."""

    type: str  # capture | refund | fee | adjustment
    gateway_reference: str  # the capture's or refund's reference, as the gateway answered it
    amount: int
    fee: int

    @property
    def net(self) -> int:
        return self.amount - self.fee


@dataclass(frozen=True, slots=True)
class Payout:
    id: str
    currency: str
    amount: int  # what reached the settlement account
    arrival_date: date
    items: tuple[PayoutItem, ...]
