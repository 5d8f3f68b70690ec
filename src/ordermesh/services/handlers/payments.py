"""Taking the money: authorize, capture, void and refund through a payment gateway.

A gateway is another system, so no database transaction is held open while it is asked. Every
money movement takes three steps:
1. one transaction checks the order and the amounts and writes the transaction row as pending,
   with the idempotency key the gateway will get (and whatever goes with it: the dispatch, the
   invoice, the credit note);
2. the gateway is called, outside any transaction, with that key;
3. one transaction writes the gateway's answer and what follows from it (a hold, a release,
   events in the order's timeline).
A crash or a lost answer between 1 and 3 leaves the row pending; asking the gateway again with
the same key (a retry of the command, or the recovery job) gets the first answer and never moves
the money twice.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from ordermesh.domain.errors import IdempotencyKeyReused, InvalidInput, InvalidTransition, NotFound
from ordermesh.domain.events import utcnow
from ordermesh.domain.invoicing import Party
from ordermesh.domain.money import Money
from ordermesh.domain.orders import TRANSITIONS, Order, OrderStatus, format_order_number
from ordermesh.domain.payments import (
    GatewayAnswer,
    GatewayUnavailable,
    Kind,
    Outcome,
    PaymentStatus,
    Transaction,
    allowed,
    capturable,
    check,
    payment_status,
    refundable,
)
from ordermesh.services import commands as c
from ordermesh.services.ports import PaymentGateway, UnitOfWork

log = logging.getLogger("ordermesh.payments")

PAYMENT_FAILED = "payment_failed"  # the hold reason of an order whose payment was refused


@dataclass(frozen=True)
class MoneySetup:
    """What the money handlers need besides the database: the gateways by name, and the
    seller named on invoices."""

    gateways: Mapping[str, PaymentGateway] = field(default_factory=dict)
    seller: Party = field(default_factory=lambda: Party("Ordermesh retailer", {}))
    payment_terms: str = "Due on receipt"


@dataclass(frozen=True)
class MoneyMove:
    payment_id: str
    transaction_id: int
    kind: str
    amount: int
    outcome: str  # pending: the answer is still to come (webhook, or the recovery job)
    failure: str | None = None


# -- reading payments -----------------------------------------------------------------------


def transactions_of(payment: Mapping[str, Any]) -> list[Transaction]:
    return [Transaction.of(row) for row in payment["transactions"]]


def status_of(payment: Mapping[str, Any]) -> PaymentStatus:
    return payment_status(transactions_of(payment))


def _order(uow: UnitOfWork, order_id: str, channel: str | None = None) -> Order:
    order = uow.orders.get(order_id)
    if order is None or (channel is not None and order.channel != channel):
        raise NotFound(f"order {order_id!r} not found")
    return order


def _current(uow: UnitOfWork, order: Order) -> dict[str, Any] | None:
    assert order.seq is not None
    payments = uow.payments.for_order(order.seq)
    return payments[-1] if payments else None


def _payment_for(uow: UnitOfWork, order: Order, kind: Kind) -> dict[str, Any]:
    """The order's current payment, if it allows `kind` now."""
    payment = _current(uow, order)
    if payment is None:
        raise InvalidTransition(f"order {order.number} has no payment to {kind}",
                                action=str(kind))
    return payment


def _gateway(setup: MoneySetup, name: str) -> PaymentGateway:
    gateway = setup.gateways.get(name)
    if gateway is None:
        raise InvalidInput(f"payment gateway {name!r} is not configured", gateway=name)
    return gateway


def _same_request(known: Mapping[str, Any], amount: int) -> None:
    if known["amount"] != amount:
        raise IdempotencyKeyReused(
            f"this reference was used for {known['kind']} of {known['amount']}, not {amount}")


@dataclass(frozen=True)
class Pending:
    """A transaction written as pending in step 1, with what steps 2 and 3 need of it."""

    key: str
    transaction_id: int
    payment_id: str
    kind: Kind
    amount: int
    currency: str
    gateway: str
    token: str
    authorization: str | None
    final: bool
    order_seq: int

    def move(self, outcome: str = Outcome.PENDING, failure: str | None = None) -> MoneyMove:
        return MoneyMove(self.payment_id, self.transaction_id, str(self.kind), self.amount,
                         str(outcome), failure)


def _pending(payment: Mapping[str, Any], txn: Mapping[str, Any]) -> Pending:
    return Pending(txn["idempotency_key"], int(txn["id"]), payment["id"], Kind(txn["kind"]),
                   txn["amount"], txn["currency"], payment["gateway"], payment["token"],
                   payment["authorization_reference"], bool(txn["final"]), payment["order_seq"])


def pending_of(uow: UnitOfWork, key: str) -> tuple[Pending, Mapping[str, Any]]:
    """A transaction by its key, read in a transaction of its own; and its row."""
    with uow:
        txn = uow.payments.transaction(key)
        assert txn is not None, f"transaction {key} was written in step 1"
        payment = uow.payments.get(txn["payment_id"])
        assert payment is not None
    return _pending(payment, txn), txn


def _move(txn: Mapping[str, Any]) -> MoneyMove:
    return MoneyMove(txn["payment_id"], txn["id"], txn["kind"], txn["amount"], txn["outcome"],
                     txn["failure_code"])


# -- step 1 of each movement --------------------------------------------------------------


def authorize_payment(cmd: c.AuthorizePayment, uow: UnitOfWork, setup: MoneySetup) -> MoneyMove:
    with uow:
        order = _order(uow, cmd.order_id, cmd.channel)
        pending = begin_authorization(uow, order, cmd.token, cmd.actor)
        uow.orders.save(order)
        uow.commit()
    return finish(uow, setup, pending, cmd.actor)


def begin_authorization(uow: UnitOfWork, order: Order, token: str | None,
                        actor: str) -> Pending:
    """Write a new payment for the order's total with its pending authorization."""
    assert order.seq is not None
    channel = uow.access.channel(order.channel) or {}
    gateway = channel.get("payment_gateway")
    if not gateway:
        raise InvalidInput(f"channel {order.channel!r} takes no payments through a gateway")
    token = token or order.payment_token
    if not token:
        raise InvalidInput("a payment token is needed to authorize a payment")
    if order.status is OrderStatus.CANCELLED:
        raise InvalidTransition("a cancelled order takes no payment",
                                current_status=str(order.status), action="authorize")
    current = _current(uow, order)
    if current is not None and status_of(current) not in (PaymentStatus.FAILED,
                                                          PaymentStatus.VOIDED):
        raise InvalidTransition(f"the order's payment is {status_of(current)}",
                                current_status=str(status_of(current)), action="authorize")
    payment_id = str(uuid.uuid4())
    key = f"{payment_id}:authorize"
    amount = order.grand_total
    uow.payments.add({"id": payment_id, "order_seq": order.seq, "gateway": gateway,
                      "token": token, "currency": amount.currency, "amount": amount.amount,
                      "created_at": utcnow()})
    txn_id = uow.payments.add_transaction({
        "payment_id": payment_id, "kind": str(Kind.AUTHORIZE), "amount": amount.amount,
        "currency": amount.currency, "idempotency_key": key, "actor": actor})
    order.note("payment.authorization_requested", actor, payment_id=payment_id,
               gateway=gateway, amount=amount.amount, currency=amount.currency)
    return Pending(key, txn_id, payment_id, Kind.AUTHORIZE, amount.amount, amount.currency,
                   gateway, token, None, False, order.seq)


def capture_payment(cmd: c.CapturePayment, uow: UnitOfWork, setup: MoneySetup) -> MoneyMove:
    with uow:
        order = _order(uow, cmd.order_id, cmd.channel)
        pending = begin_capture(uow, order, cmd.amount, cmd.reference, cmd.final, cmd.actor)
        uow.orders.save(order)
        uow.commit()
    return finish(uow, setup, pending, cmd.actor)


def begin_capture(uow: UnitOfWork, order: Order, amount: int | None, reference: str,
                  final: bool, actor: str, payment: dict[str, Any] | None = None) -> Pending:
    """Write a pending capture of `amount` (None: all that is authorized and not captured)
    from `payment` (default: the order's current one)."""
    payment = payment or _payment_for(uow, order, Kind.CAPTURE)
    key = f"{payment['id']}:capture:{reference}"
    transactions = transactions_of(payment)
    known = uow.payments.transaction(key)
    if known is not None:  # asked before: the same capture (all that was left, if unnamed)
        if amount is not None:
            _same_request(known, amount)
        return _pending(payment, known)
    if order.status is OrderStatus.CANCELLED:  # cancelled, its authorization not voided yet
        raise InvalidTransition("a cancelled order is not captured",
                                current_status=str(order.status), action="capture")
    if amount is None:
        amount = capturable(transactions)
    check(transactions, Kind.CAPTURE, Money(amount, order.currency))
    values = {"payment_id": payment["id"], "kind": str(Kind.CAPTURE), "amount": amount,
              "currency": order.currency, "idempotency_key": key, "reference": reference,
              "final": final, "actor": actor}
    txn_id = uow.payments.add_transaction(values)
    order.note("payment.capture_requested", actor, payment_id=payment["id"], amount=amount,
               reference=reference)
    return _pending(payment, {**values, "id": txn_id})


def begin_void(uow: UnitOfWork, order: Order, actor: str) -> Pending | None:
    payment = _current(uow, order)
    if payment is None:
        return None
    transactions = transactions_of(payment)
    left = capturable(transactions)
    if left == 0 or Kind.VOID not in allowed(transactions):
        return None
    key = f"{payment['id']}:void"
    known = uow.payments.transaction(key)
    if known is not None:
        return _pending(payment, known)
    check(transactions, Kind.VOID, Money(left, order.currency))
    values = {"payment_id": payment["id"], "kind": str(Kind.VOID), "amount": left,
              "currency": order.currency, "idempotency_key": key, "actor": actor, "final": False}
    txn_id = uow.payments.add_transaction(values)
    order.note("payment.void_requested", actor, payment_id=payment["id"], amount=left)
    return _pending(payment, {**values, "id": txn_id})


def begin_refund(uow: UnitOfWork, order: Order, amount: int, reference: str,
                 actor: str) -> Pending:
    """Write a pending refund."""
    assert order.seq is not None
    candidates = [p for p in uow.payments.for_order(order.seq)
                  if refundable(transactions_of(p)) > 0]
    if not candidates:
        raise InvalidTransition(f"order {order.number} has no captured payment to refund",
                                action="refund")
    payment = candidates[-1]
    key = f"{payment['id']}:refund:{reference}"
    known = uow.payments.transaction(key)
    if known is not None:
        _same_request(known, amount)
        return _pending(payment, known)
    check(transactions_of(payment), Kind.REFUND, Money(amount, order.currency))
    values = {"payment_id": payment["id"], "kind": str(Kind.REFUND), "amount": amount,
              "currency": order.currency, "idempotency_key": key, "reference": reference,
              "actor": actor, "final": False}
    txn_id = uow.payments.add_transaction(values)
    order.note("payment.refund_requested", actor, payment_id=payment["id"], amount=amount,
               reference=reference)
    return _pending(payment, {**values, "id": txn_id})


# -- steps 2 and 3 ----------------------------------------------------------------------------

GATEWAY_ATTEMPTS = 3


def _ask(call: Callable[[], GatewayAnswer]) -> GatewayAnswer | None:
    """The gateway's answer, asking again (same key) when none came; None if it never did."""
    retrying = Retrying(retry=retry_if_exception_type(GatewayUnavailable),
                        stop=stop_after_attempt(GATEWAY_ATTEMPTS),
                        wait=wait_exponential(multiplier=0.05, max=0.5), reraise=True)
    try:
        return retrying(call)
    except GatewayUnavailable:
        return None


def unanswered_authorization(uow: UnitOfWork, order_id: str) -> str | None:
    """The key of the order's authorization that was written but has no answer yet (the
    process stopped between the commit and the gateway's answer), read in a transaction of
    its own; None when there is none."""
    with uow:
        order = uow.orders.get(order_id)
        payment = _current(uow, order) if order is not None else None
    if payment is None:
        return None
    return next((txn.idempotency_key for txn in transactions_of(payment)
                 if txn.kind is Kind.AUTHORIZE and txn.outcome is Outcome.PENDING
                 and payment["authorization_reference"] is None), None)


def ask_again(uow: UnitOfWork, setup: MoneySetup, order_id: str, actor: str) -> None:
    """Ask the gateway once more for the order's authorization left without an answer, if
    there is one; if that fails too, it stays pending for the recovery job (nothing is
    raised: the caller's answer stands)."""
    try:
        if key := unanswered_authorization(uow, order_id):
            perform(uow, setup, key, actor)
    except Exception:
        log.exception("order %s: its authorization has no answer yet; the recovery job asks "
                      "again", order_id)


def finish(uow: UnitOfWork, setup: MoneySetup, pending: Pending, actor: str) -> MoneyMove:
    """Steps 2 and 3 after step 1 committed. Whatever goes wrong here leaves the transaction
    pending for the recovery job, and is not raised: the command's own change is done, and
    running it again from the start must not be the answer to a failure after its commit."""
    try:
        return perform(uow, setup, pending, actor)
    except Exception:
        log.exception("payment %s: no answer recorded yet; the recovery job asks again",
                      pending.key)
        return pending.move()


def perform(uow: UnitOfWork, setup: MoneySetup, pending: Pending | str,
            actor: str) -> MoneyMove:
    """Ask the gateway for a pending transaction (again, if it was asked before) and record
    the answer. An answer that does not come leaves the transaction pending."""
    if isinstance(pending, str):
        pending, txn = pending_of(uow, pending)
        if txn["outcome"] != Outcome.PENDING:
            return _move(txn)
    p = pending
    gateway = _gateway(setup, p.gateway)
    amount = Money(p.amount, p.currency)
    auth = p.authorization or ""
    if p.kind is Kind.AUTHORIZE:
        if p.authorization is not None:  # asked before, the answer is to come by webhook
            return p.move()
        order_number = format_order_number(p.order_seq)
        answer = _ask(lambda: gateway.authorize(p.token, amount, p.key, order_number))
    elif p.kind is Kind.CAPTURE:
        answer = _ask(lambda: gateway.capture(auth, amount, p.key, p.final))
    elif p.kind is Kind.VOID:
        answer = _ask(lambda: gateway.void(auth, p.key))
    else:
        answer = _ask(lambda: gateway.refund(auth, amount, p.key))
    if answer is None:
        return p.move()
    return record(uow, setup, p, answer, actor)


def record(uow: UnitOfWork, setup: MoneySetup, pending: Pending, answer: GatewayAnswer,
           actor: str) -> MoneyMove:
    """Step 3: the gateway's answer to a pending transaction, and what follows from it. The
    order is locked first, so of two answers to one transaction (a webhook and the recovery
    job) the second sees the first and changes nothing."""
    follow_up: Pending | None = None
    with uow:
        order = _order(uow, format_order_number(pending.order_seq))
        txn = uow.payments.transaction(pending.key)
        assert txn is not None
        if txn["outcome"] != Outcome.PENDING:
            return _move(txn)
        kind = pending.kind
        if answer.outcome is Outcome.PENDING:
            if answer.reference == txn["gateway_reference"]:
                return _move(txn)  # still pending, as known: nothing to write
            if kind is Kind.AUTHORIZE and answer.reference:
                uow.payments.authorized(pending.payment_id,
                                        {"authorization_reference": answer.reference})
            if answer.reference:
                uow.payments.set_reference(txn["id"], answer.reference)
            order.note("payment.pending", actor, payment_id=pending.payment_id, kind=str(kind))
            uow.orders.save(order)
            uow.commit()
            return _move({**txn, "gateway_reference": answer.reference})
        uow.payments.complete(txn["id"], answer.outcome, answer.reference, answer.failure,
                              answer.fee)
        follow_up = _follow(uow, order, {"id": pending.payment_id}, txn, kind, answer, actor)
        uow.orders.save(order)
        uow.commit()
    done = {**txn, "outcome": str(answer.outcome), "failure_code": answer.failure}
    if follow_up is not None:  # written with the answer: the recovery job finds it if need be
        finish(uow, setup, follow_up, actor)
    return _move(done)


def _follow(uow: UnitOfWork, order: Order, payment: dict[str, Any], txn: dict[str, Any],
            kind: Kind, answer: GatewayAnswer, actor: str) -> Pending | None:
    """What an answer means for the order: events, a hold or a release, and the movement that
    must follow, written as pending in the same transaction (a capture of a channel that
    captures on placement; a void of an authorization that came after its order was
    cancelled, or that is left over once everything is dispatched and captured)."""
    ok = answer.outcome is Outcome.SUCCEEDED
    facts: dict[str, Any] = {"payment_id": payment["id"], "amount": txn["amount"],
                             "currency": txn["currency"]}
    if answer.reference:
        facts["gateway_reference"] = answer.reference
    if not ok:
        facts["failure"] = answer.failure
    if kind is Kind.AUTHORIZE:
        card = answer.card
        uow.payments.authorized(payment["id"], {
            "authorization_reference": answer.reference,
            "authorized_until": answer.authorized_until,
            "card_brand": card and card.brand, "card_last4": card and card.last4,
            "card_exp_month": card and card.exp_month, "card_exp_year": card and card.exp_year})
        if card is not None:
            facts["card"] = {"brand": card.brand, "last4": card.last4}
        order.note("payment.authorized" if ok else "payment.authorization_failed", actor, **facts)
        if not ok and "hold" in TRANSITIONS[order.status]:
            order.apply("hold", actor, reason=PAYMENT_FAILED)
        if not ok:
            return None
        if order.status is OrderStatus.CANCELLED:  # answered after the order was cancelled
            return begin_void(uow, order, actor)
        if order.status is OrderStatus.ON_HOLD and order.hold_reason == PAYMENT_FAILED:
            order.apply("release", actor, reason="payment_authorized")
        channel = uow.access.channel(order.channel) or {}
        if channel.get("capture_on") == "placement":
            return begin_capture(uow, order, None, "placement", True, actor)
        return None
    if kind is Kind.CAPTURE:
        facts.update(fee=answer.fee, reference=txn["reference"])
        order.note("payment.captured" if ok else "payment.capture_failed", actor, **facts)
        return _after_capture(uow, order, payment, txn, actor, ok)
    if kind is Kind.VOID:
        order.note("payment.voided" if ok else "payment.void_failed", actor, **facts)
        return None
    facts["reference"] = txn["reference"]
    order.note("payment.refunded" if ok else "payment.refund_failed", actor, **facts)
    return None


def _after_capture(uow: UnitOfWork, order: Order, payment: dict[str, Any],
                   txn: dict[str, Any], actor: str, ok: bool) -> Pending | None:
    """A final capture closes the authorization: what is left of it is released (recorded as
    a void the gateway made with the capture). When the last capture was not final because
    another was still waiting for its answer, the rest is voided once all are answered. A
    fully captured order before fulfilment is paid."""
    current = uow.payments.get(payment["id"])
    assert current is not None
    transactions = transactions_of(current)
    left = capturable(transactions)
    if ok and txn["final"] and left > 0:
        uow.payments.add_transaction({
            "payment_id": payment["id"], "kind": str(Kind.VOID), "amount": left,
            "currency": txn["currency"], "idempotency_key": f"{txn['idempotency_key']}:rest",
            "reference": txn["reference"], "outcome": str(Outcome.SUCCEEDED),
            "gateway_reference": txn["gateway_reference"], "actor": actor,
            "completed_at": utcnow()})
        order.note("payment.released", actor, payment_id=payment["id"], amount=left,
                   reason="final_capture")
    if ok and left == 0 and order.status is OrderStatus.ALLOCATED:
        order.apply("pay", actor)
    in_flight = any(t.kind is Kind.CAPTURE and t.outcome is Outcome.PENDING for t in transactions)
    dispatched = all(line.to_dispatch == 0 for line in order.lines)
    closed = txn["final"] and ok  # the gateway released the rest with the final capture
    if not closed and left > 0 and dispatched and not in_flight \
            and order.status is not OrderStatus.ALLOCATED:
        return begin_void(uow, order, actor)
    return None
