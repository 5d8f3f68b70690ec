"""Later answers, and answers that never came: a gateway's webhook applied to the pending
transaction it names, and the recovery job that asks again (same key) for what stayed pending."""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from typing import Any

from ordermesh.domain.events import utcnow
from ordermesh.domain.payments import GatewayNotice, Kind, Outcome
from ordermesh.services import commands as c
from ordermesh.services.handlers.payments import (
    MoneyMove,
    MoneySetup,
    _ask,
    _gateway,
    _move,
    _pending,
    log,
    perform,
    record,
)
from ordermesh.services.ports import UnitOfWork


def apply_gateway_notice(cmd: c.ApplyGatewayNotice, uow: UnitOfWork,
                         setup: MoneySetup) -> MoneyMove | None:
    """A webhook: verified by the gateway's adapter, then applied to the pending transaction
    it answers. A notice for something already answered changes nothing."""
    gateway = _gateway(setup, cmd.gateway)
    notice = gateway.parse_webhook(cmd.body, cmd.headers)
    with uow:
        payment = uow.payments.by_authorization(cmd.gateway, notice.authorization)
    if payment is None:
        return None  # not one of ours (another system on the same gateway account)
    txn = _noticed(payment["transactions"], notice)
    if txn is None:
        return None
    return record(uow, setup, _pending(payment, txn), notice.answer, cmd.actor)


def _noticed(transactions: list[dict[str, Any]], notice: GatewayNotice) -> dict[str, Any] | None:
    """The pending transaction a notice answers: the one with the gateway's reference for it;
    else the only pending one of its kind (and amount, when the notice gives one). A notice
    that could answer more than one is left alone: the recovery job asks for each."""
    reference = notice.answer.reference
    if reference and any(t["gateway_reference"] == reference and t["outcome"] != Outcome.PENDING
                         for t in transactions):
        return None  # answered already
    pending = [t for t in transactions
               if t["kind"] == notice.kind and t["outcome"] == Outcome.PENDING]
    by_reference = [t for t in pending if reference and t["gateway_reference"] == reference]
    if by_reference:
        return by_reference[0]
    if notice.kind is not Kind.AUTHORIZE:  # captures and refunds: only by reference or amount
        if notice.amount is None:
            return None
        pending = [t for t in pending
                   if t["amount"] == notice.amount and t["gateway_reference"] is None]
    return pending[0] if len(pending) == 1 else None


def recover_payments(cmd: c.RecoverPayments, uow: UnitOfWork, setup: MoneySetup) -> int:
    """Ask again, with the same key, for every transaction left pending longer than
    `older_than_seconds`; an authorization whose answer comes by webhook is looked up."""
    with uow:
        stale = uow.payments.pending(utcnow() - timedelta(seconds=cmd.older_than_seconds),
                                     cmd.limit)
    answered = 0
    for txn in stale:
        try:
            answered += _recover(uow, setup, txn, cmd.actor).outcome != Outcome.PENDING
        except Exception:  # one transaction that cannot be asked must not stop the others
            log.exception("payment %s: could not ask again", txn["idempotency_key"])
    return answered


# Gateways keep idempotency keys for a day (Stripe: 24 hours). Past that, asking again with the
# same key could move the money a second time, so a transaction older than this is not asked
# again: it stays pending, for an operator to settle with the gateway's dashboard.
KEYS_KEPT = timedelta(hours=23)


def _recover(uow: UnitOfWork, setup: MoneySetup, txn: dict[str, Any], actor: str) -> MoneyMove:
    with uow:
        payment = uow.payments.get(txn["payment_id"])
    assert payment is not None
    pending = _pending(payment, txn)
    if txn["kind"] == Kind.AUTHORIZE and payment["authorization_reference"]:
        gateway = _gateway(setup, payment["gateway"])
        answer = _ask(partial(gateway.status, payment["authorization_reference"]))
        return record(uow, setup, pending, answer, actor) if answer is not None else _move(txn)
    if utcnow() - txn["created_at"] > KEYS_KEPT:
        return _move(txn)
    return perform(uow, setup, pending, actor)
