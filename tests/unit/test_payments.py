"""Payments: status computed from the gateway's answers; every (status, action) pair."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ordermesh.domain.errors import InvalidInput, InvalidTransition
from ordermesh.domain.money import Money
from ordermesh.domain.payments import (
    ACTIONS,
    Kind,
    Outcome,
    PaymentStatus,
    Transaction,
    check,
    payment_status,
    totals,
)

S, K = PaymentStatus, Kind
keys = itertools.count()


def tx(kind: Kind, amount: int, ok: bool = True) -> Transaction:
    return Transaction(kind, Money(amount, "EUR"), Outcome.SUCCEEDED if ok else Outcome.FAILED,
                       f"key-{next(keys)}")


# A history that reaches each status, with what may still move afterwards.
HISTORIES: dict[PaymentStatus, list[Transaction]] = {
    S.PENDING: [],
    S.FAILED: [tx(K.AUTHORIZE, 1000, ok=False)],
    S.AUTHORIZED: [tx(K.AUTHORIZE, 1000)],
    S.PARTIALLY_CAPTURED: [tx(K.AUTHORIZE, 1000), tx(K.CAPTURE, 400)],
    S.CAPTURED: [tx(K.AUTHORIZE, 1000), tx(K.CAPTURE, 400), tx(K.VOID, 600)],
    # a first shipment captured and part of it refunded; the rest may still be captured
    S.PARTIALLY_REFUNDED: [tx(K.AUTHORIZE, 1000), tx(K.CAPTURE, 400), tx(K.REFUND, 100)],
    S.REFUNDED: [tx(K.AUTHORIZE, 1000), tx(K.CAPTURE, 1000), tx(K.REFUND, 1000)],
    S.VOIDED: [tx(K.AUTHORIZE, 1000), tx(K.VOID, 1000)],
}


@pytest.mark.parametrize("status", list(S))
def test_each_history_computes_its_status(status: PaymentStatus) -> None:
    assert payment_status(HISTORIES[status]) is status


def fitting(status: PaymentStatus, kind: Kind) -> int:
    """An amount the amounts allow for this action in this status (the table decides)."""
    t = totals(HISTORIES[status])
    return {K.AUTHORIZE: 1000, K.CAPTURE: max(t.capturable, 1), K.VOID: t.capturable or 1,
            K.REFUND: max(t.refundable, 1)}[kind]


@pytest.mark.parametrize(("status", "kind"), list(itertools.product(S, K)))
def test_every_status_and_action(status: PaymentStatus, kind: Kind) -> None:
    amount = Money(fitting(status, kind), "EUR")
    if kind in ACTIONS[status]:
        check(HISTORIES[status], kind, amount)  # allowed: no error
    else:
        with pytest.raises(InvalidTransition):
            check(HISTORIES[status], kind, amount)


def test_after_a_refund_what_is_left_of_the_authorization_is_still_captured() -> None:
    history = [tx(K.AUTHORIZE, 1000), tx(K.CAPTURE, 400), tx(K.REFUND, 400)]
    assert payment_status(history) is S.PARTIALLY_REFUNDED  # 600 still to capture
    check(history, K.CAPTURE, Money(600, "EUR"))
    history.append(tx(K.CAPTURE, 600))
    assert payment_status(history) is S.PARTIALLY_REFUNDED
    with pytest.raises(InvalidInput):  # all of it captured: nothing more
        check(history, K.CAPTURE, Money(1, "EUR"))
    history.append(tx(K.REFUND, 600))
    assert payment_status(history) is S.REFUNDED


def test_amounts_never_exceed_what_is_there() -> None:
    history = [tx(K.AUTHORIZE, 1000), tx(K.CAPTURE, 700)]
    with pytest.raises(InvalidInput):
        check(history, K.CAPTURE, Money(301, "EUR"))
    with pytest.raises(InvalidInput):
        check(history, K.REFUND, Money(701, "EUR"))
    with pytest.raises(InvalidInput):
        check(history, K.VOID, Money(100, "EUR"))  # a void releases all of the rest, 300
    with pytest.raises(InvalidInput):
        check(history, K.CAPTURE, Money(100, "USD"))
    with pytest.raises(InvalidInput):
        check(history, K.CAPTURE, Money(0, "EUR"))
    check(history, K.CAPTURE, Money(300, "EUR"))
    check(history, K.VOID, Money(300, "EUR"))


def test_failed_calls_move_nothing() -> None:
    history = [tx(K.AUTHORIZE, 1000), tx(K.CAPTURE, 1000, ok=False)]
    assert payment_status(history) is S.AUTHORIZED
    assert totals(history).capturable == 1000


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([K.CAPTURE, K.VOID, K.REFUND]),
                          st.integers(1, 1500), st.booleans()), max_size=12))
def test_allowed_calls_never_move_more_than_there_is(calls: list[tuple[Kind, int, bool]]) -> None:
    history = [tx(K.AUTHORIZE, 1000)]
    for kind, amount, ok in calls:
        try:
            check(history, kind, Money(amount, "EUR"))
        except (InvalidInput, InvalidTransition):
            continue
        history.append(tx(kind, amount, ok))
    t = totals(history)
    assert t.captured + t.voided <= t.authorized
    assert t.refunded <= t.captured
