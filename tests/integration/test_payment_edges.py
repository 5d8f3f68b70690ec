"""The edges of the money handlers found by the review of issue 4, on both databases: late
authorizations of cancelled orders, refunds of what was captured for certain and refunds asked
again, captures that wait for one another, dispatch while the payment is being authorized,
webhooks that name no pending transaction, returns credited against what billed them, invoices
of placement, and the money jobs' own edges.

The gateway's timeouts and refusals are simulated on the `gateway` fixture's instance.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.engine import Engine
from standardwebhooks.webhooks import Webhook

from ordermesh.adapters.db import money_queries as mq
from ordermesh.adapters.db import tables as t
from ordermesh.adapters.payments import test_gateway as tg
from ordermesh.adapters.payments.test_gateway import TestGateway
from ordermesh.bootstrap import money_setup
from ordermesh.config import Settings
from ordermesh.domain.errors import InvalidInput, InvalidTransition
from ordermesh.domain.money import Money
from ordermesh.domain.payments import (
    GatewayAnswer,
    GatewayNotice,
    GatewayUnavailable,
    Kind,
    Outcome,
    PaymentStatus,
)
from ordermesh.services import commands as c
from ordermesh.services.bus import MessageBus
from ordermesh.services.handlers import money
from ordermesh.services.handlers.orders import change_order_status
from tests.builders import an_order
from tests.integration.test_payments import (  # noqa: F401
    GROSS,
    MUG,
    SHIPPING,
    TEE,
    dispatch,
    events,
    gateway_books,
    gateway_moves,
    kinds,
    order_row,
    payment_status,
    payments,
    place,
    refund,
    row_counts,
    stock,
    store,
    transactions,
)

# -- helpers ---------------------------------------------------------------------------------


def cancel(bus: MessageBus, order_id: str) -> None:
    """As POST /orders/{id}/cancel does: the order is cancelled, then its payment voided."""
    bus.handle(c.ChangeOrderStatus("test", order_id, "cancel", reason="customer"))
    bus.handle(c.VoidPayment("test", order_id))


def deliver_webhooks(bus: MessageBus, gateway: TestGateway) -> int:
    return gateway.deliver_webhooks(
        lambda body, headers: bus.handle(c.ApplyGatewayNotice("gateway:test", "test", body,
                                                              headers)))


def documents(engine: Engine, order_id: str) -> list[dict[str, Any]]:
    """The order's invoices and credit notes as the API shows them, with their status."""
    seq = order_row(engine, order_id).seq
    with engine.connect() as conn:
        return mq.invoices(conn, order_seq=seq)


def timing_out(*_: Any, **__: Any) -> GatewayAnswer:
    raise GatewayUnavailable("timed out before reaching the gateway")


def of_kind(engine: Engine, order_id: str, kind: str) -> list[Any]:
    return [r for r in transactions(engine, order_id) if r.kind == kind]


# -- an authorization answered after its order was cancelled -----------------------------------


@pytest.mark.parametrize("capture_on", ["dispatch", "placement"])
def test_an_authorization_answered_after_its_order_was_cancelled_is_voided(
        store: MessageBus, engine: Engine, gateway: TestGateway, capture_on: str) -> None:  # noqa: F811
    store.handle(c.UpdateChannel("test", "web", {"capture_on": capture_on}))
    # given an order whose authorization is answered later, by webhook
    order_id = place(store, pay_with="tok_async")
    assert kinds(engine, order_id) == [("authorize", GROSS, "pending")]
    # and the order is cancelled before the answer comes
    cancel(store, order_id)
    assert order_row(engine, order_id).status == "cancelled"
    # when the gateway's webhook says the authorization succeeded
    assert deliver_webhooks(store, gateway) == 1
    # then the authorization is released at once, and nothing is captured
    assert kinds(engine, order_id) == [("authorize", GROSS, "succeeded"),
                                       ("void", GROSS, "succeeded")]
    assert payment_status(store, order_id) is PaymentStatus.VOIDED
    assert gateway_moves(gateway, "capture") == []
    [auth] = gateway_books(gateway, tg.authorizations)
    assert (auth.captured, auth.released) == (0, True)
    assert order_row(engine, order_id).status == "cancelled"
    assert "payment.voided" in events(engine, order_id)


# -- refunds: of what was captured for certain, and asked again after a refusal ----------------


def test_a_capture_waiting_for_its_answer_is_not_refundable(
        store: MessageBus, engine: Engine, gateway: TestGateway,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    # given a first shipment captured, and a second whose capture timed out (still pending)
    order_id = place(store)
    dispatch(store, order_id, "S1", (1, 1))
    monkeypatch.setattr(gateway, "capture", timing_out)
    move = dispatch(store, order_id, "S2", (1, 1), (2, 1))
    assert move is not None and move.outcome == "pending"
    monkeypatch.undo()
    first, second = documents(engine, order_id)
    assert (first["gross"], second["gross"]) == (TEE + SHIPPING, TEE + MUG)
    # when the second invoice is refunded in full, more than was captured for certain
    before = row_counts(engine)
    with pytest.raises(InvalidInput):
        refund(store, order_id, "R1", amount=TEE + MUG, invoice=second["number"])
    # then it is refused with nothing written, and the gateway was not asked
    assert row_counts(engine) == before
    assert gateway_moves(gateway, "refund") == []
    # and what was captured for certain can be refunded
    move = refund(store, order_id, "R1", amount=TEE + SHIPPING, invoice=first["number"])
    assert (move.amount, move.outcome) == (TEE + SHIPPING, "succeeded")
    assert [r.amount for r in gateway_moves(gateway, "refund")] == [-(TEE + SHIPPING)]


def test_a_refund_refused_by_the_gateway_is_made_when_asked_again(
        store: MessageBus, engine: Engine, gateway: TestGateway,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    order_id = place(store)
    dispatch(store, order_id, "S1", (1, 2), (2, 1))
    # given the gateway refuses a refund
    monkeypatch.setattr(gateway, "refund", lambda *_: GatewayAnswer(
        Outcome.FAILED, None, "charge_disputed"))
    refused = refund(store, order_id, "R1", amount=1000)
    assert (refused.outcome, refused.failure) == ("failed", "charge_disputed")
    [credit_note] = [d for d in documents(engine, order_id) if d["kind"] == "credit_note"]
    assert (credit_note["gross"], credit_note["status"]) == (1000, "refund_failed")
    monkeypatch.undo()
    # when it is asked again with the same reference
    again = refund(store, order_id, "R1", amount=1000)
    # then a new attempt is made, and succeeds, for the same credit note
    assert (again.kind, again.amount, again.outcome) == ("refund", 1000, "succeeded")
    assert again.transaction_id != refused.transaction_id
    [credit_note] = [d for d in documents(engine, order_id) if d["kind"] == "credit_note"]
    assert (credit_note["gross"], credit_note["status"]) == (1000, "refunded")
    assert [r.amount for r in gateway_moves(gateway, "refund")] == [-1000]
    assert payment_status(store, order_id) is PaymentStatus.PARTIALLY_REFUNDED
    # and asking once more gives that refund, with nothing more written or refunded
    before = row_counts(engine)
    assert refund(store, order_id, "R1", amount=1000) == again
    assert row_counts(engine) == before
    assert len(gateway_moves(gateway, "refund")) == 1


# -- captures that wait for one another ----------------------------------------------------------


def test_a_final_capture_while_another_waits_keeps_the_authorization_open_until_both_are_answered(
        store: MessageBus, engine: Engine, gateway: TestGateway,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    order_id = place(store)
    real_capture = gateway.capture
    asked: list[tuple[int, bool]] = []

    def capture(authorization: str, amount: Money, idempotency_key: str,
                final: bool) -> GatewayAnswer:
        asked.append((amount.amount, final))
        return real_capture(authorization, amount, idempotency_key, final)

    # given the first shipment's capture timed out before it reached the gateway
    monkeypatch.setattr(gateway, "capture", timing_out)
    first = dispatch(store, order_id, "S1", (1, 1))
    assert first is not None and first.outcome == "pending"
    monkeypatch.setattr(gateway, "capture", capture)
    # when the last shipment is dispatched
    last = dispatch(store, order_id, "S2", (1, 1), (2, 1))
    # then its capture is not sent as final: the first may still be captured
    assert last is not None and (last.amount, last.outcome) == (TEE + MUG, "succeeded")
    assert asked == [(TEE + MUG, False)]
    [auth] = gateway_books(gateway, tg.authorizations)
    assert auth.released is False
    # and once the recovery job has the first one answered, both captures succeeded
    assert store.handle(c.RecoverPayments("test", older_than_seconds=0)) == 1
    captures = of_kind(engine, order_id, "capture")
    assert [(r.reference, r.amount, r.outcome) for r in captures] == [
        ("shipment:S1", TEE + SHIPPING, "succeeded"), ("shipment:S2", TEE + MUG, "succeeded")]
    assert payment_status(store, order_id) is PaymentStatus.CAPTURED
    [auth] = gateway_books(gateway, tg.authorizations)
    assert auth.captured == GROSS
    assert [d["status"] for d in documents(engine, order_id)] == ["paid", "paid"]
    with pytest.raises((InvalidInput, InvalidTransition)):  # nothing is left to capture
        store.handle(c.CapturePayment("test", order_id, "more", amount=1))


def test_the_rest_is_released_when_the_capture_answered_last_was_refused(
        store: MessageBus, engine: Engine, gateway: TestGateway,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    # given the first shipment's capture timed out, and the last shipment was captured
    order_id = place(store)
    real_capture = gateway.capture
    monkeypatch.setattr(gateway, "capture", timing_out)
    dispatch(store, order_id, "S1", (1, 1))
    monkeypatch.setattr(gateway, "capture", real_capture)
    dispatch(store, order_id, "S2", (1, 1), (2, 1))
    # when the recovery job asks again for the first, and the gateway refuses it
    monkeypatch.setattr(gateway, "capture", lambda *_: GatewayAnswer(
        Outcome.FAILED, None, "authorization_expired"))
    assert store.handle(c.RecoverPayments("test", older_than_seconds=0)) == 1
    monkeypatch.undo()
    # then everything is dispatched and answered: what was not captured is released
    assert kinds(engine, order_id)[1:] == [("capture", TEE + SHIPPING, "failed"),
                                           ("capture", TEE + MUG, "succeeded"),
                                           ("void", TEE + SHIPPING, "succeeded")]
    assert payment_status(store, order_id) is PaymentStatus.CAPTURED
    [auth] = gateway_books(gateway, tg.authorizations)
    assert (auth.captured, auth.released) == (TEE + MUG, True)


# -- no dispatch while the payment is being authorized ---------------------------------------


def test_an_order_is_not_dispatched_while_its_payment_is_being_authorized(
        store: MessageBus, engine: Engine, gateway: TestGateway) -> None:  # noqa: F811
    # given an order whose authorization is still to be answered
    order_id = place(store, pay_with="tok_async")
    before = row_counts(engine)
    stock_before = stock(engine, "TEE-1")
    # when it is dispatched, then that is refused with nothing written
    with pytest.raises(InvalidTransition):
        dispatch(store, order_id, "S1", (1, 2), (2, 1))
    assert row_counts(engine) == before
    assert stock(engine, "TEE-1") == stock_before
    # and once the authorization is answered, the same shipment goes, and is captured
    assert deliver_webhooks(store, gateway) == 1
    move = dispatch(store, order_id, "S1", (1, 2), (2, 1))
    assert move is not None and (move.amount, move.outcome) == (GROSS, "succeeded")
    assert [d["status"] for d in documents(engine, order_id)] == ["paid"]


# -- webhooks answer the transaction they name -------------------------------------------------


def test_a_refund_notice_that_names_no_pending_refund_answers_none(
        store: MessageBus, engine: Engine, gateway: TestGateway,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    order_id = place(store)
    dispatch(store, order_id, "S1", (1, 2), (2, 1))
    # given a refund whose call timed out (pending), then another one that succeeded
    monkeypatch.setattr(gateway, "refund", timing_out)
    assert refund(store, order_id, "R1", amount=500).outcome == "pending"
    monkeypatch.undo()
    assert refund(store, order_id, "R2", amount=700).outcome == "succeeded"
    [authorization] = [p.authorization_reference for p in payments(engine, order_id)]
    [done] = [r for r in of_kind(engine, order_id, "refund") if r.reference == "R2"]
    # when the gateway notifies refunds that are not the pending one and gives no amount
    # (Stripe's charge.refunded names the newest refund of the charge), or gives the total
    for n, (reference, amount) in enumerate([(done.gateway_reference, None),
                                             (done.gateway_reference, 1200),
                                             ("re_not_ours", None)]):
        notice = GatewayNotice(f"evt_{n}", Kind.REFUND, authorization,
                               GatewayAnswer(Outcome.SUCCEEDED, reference), amount=amount)
        monkeypatch.setattr(gateway, "parse_webhook", lambda body, headers, n=notice: n)
        store.handle(c.ApplyGatewayNotice("gateway:test", "test", b"{}", {}))
        # then the pending refund is left pending, for the recovery job
        refunds = of_kind(engine, order_id, "refund")
        assert [(r.reference, r.amount, r.outcome, r.gateway_reference) for r in refunds] == [
            ("R1", 500, "pending", None), ("R2", 700, "succeeded", done.gateway_reference)]
    assert [d["status"] for d in documents(engine, order_id) if d["kind"] == "credit_note"] == [
        "refund_pending", "refunded"]
    # and the recovery job makes it at the gateway
    monkeypatch.undo()
    assert store.handle(c.RecoverPayments("test", older_than_seconds=0)) == 1
    assert sorted(r.amount for r in gateway_moves(gateway, "refund")) == [-700, -500]
    assert payment_status(store, order_id) is PaymentStatus.PARTIALLY_REFUNDED


# -- returns, credited against the invoice that billed them -------------------------------------


def test_returned_units_are_credited_against_the_invoice_that_billed_them(
        store: MessageBus, engine: Engine) -> None:  # noqa: F811
    store.handle(c.PutTaxRate("test", "standard", "NL", None, "0.21", "VAT 21%"))
    # given two T-shirts on a first invoice (with the shipping) and the mug on a second
    order_id = place(store)
    dispatch(store, order_id, "S1", (1, 2))
    dispatch(store, order_id, "S2", (2, 1))
    first, second = documents(engine, order_id)
    assert (first["gross"], second["gross"]) == (2 * TEE + SHIPPING, MUG)
    [tees] = [line for line in first["lines"] if line["sku"] == "TEE-1"]
    # when the T-shirts are returned
    move = refund(store, order_id, "R1", (1, 2))
    # then the credit note corrects the first invoice, at what it billed for them
    assert move.amount == 2 * TEE
    credit_note = documents(engine, order_id)[-1]
    assert (credit_note["kind"], credit_note["corrects"]) == ("credit_note", first["number"])
    [line] = credit_note["lines"]
    assert (line["quantity"], line["net"], line["tax"], line["gross"]) == (
        2, tees["net"], tees["tax"], tees["gross"])
    # and the mug's return credits the second
    refund(store, order_id, "R2", (2, 1))
    docs = {d["number"]: d for d in documents(engine, order_id)}
    assert docs[documents(engine, order_id)[-1]["number"]]["corrects"] == second["number"]
    # no invoice is credited more than it billed
    assert (docs[first["number"]]["credited"], docs[first["number"]]["status"]) == (
        2 * TEE, "partially_credited")
    assert (docs[second["number"]]["credited"], docs[second["number"]]["status"]) == (
        MUG, "credited")


def test_the_shipping_is_credited_once(store: MessageBus, engine: Engine,  # noqa: F811
                                       gateway: TestGateway) -> None:
    order_id = place(store)
    dispatch(store, order_id, "S1", (1, 2), (2, 1))
    # given the shipping was refunded
    move = store.handle(c.RefundPayment("test", order_id, "SH1", "late", include_shipping=True))
    assert (move.amount, move.outcome) == (SHIPPING, "succeeded")
    # when it is refunded again under another reference
    before = row_counts(engine)
    with pytest.raises(InvalidInput):
        store.handle(c.RefundPayment("test", order_id, "SH2", "late", include_shipping=True))
    # then that is refused with nothing written
    assert row_counts(engine) == before
    assert [r.amount for r in gateway_moves(gateway, "refund")] == [-SHIPPING]
    [credit_note] = [d for d in documents(engine, order_id) if d["kind"] == "credit_note"]
    assert [(line["description"], line["gross"]) for line in credit_note["lines"]] == [
        ("Shipping", SHIPPING)]


# -- invoices of placement ---------------------------------------------------------------------


def test_an_order_invoiced_on_placement_is_not_invoiced_again_on_dispatch(
        store: MessageBus, engine: Engine) -> None:  # noqa: F811
    # given an order invoiced when it was placed
    store.handle(c.UpdateChannel("test", "web", {"invoice_on": "placement"}))
    order_id = place(store)
    # when its channel invoices on dispatch from then on, and the order is dispatched
    store.handle(c.UpdateChannel("test", "web", {"invoice_on": "dispatch"}))
    move = dispatch(store, order_id, "S1", (1, 2), (2, 1))
    assert move is not None and (move.amount, move.outcome) == (GROSS, "succeeded")
    # then its one invoice stands, paid by the capture
    [invoice] = documents(engine, order_id)
    assert (invoice["reference"], invoice["gross"], invoice["status"]) == ("order", GROSS, "paid")


def test_a_cancelled_order_invoiced_on_placement_and_never_paid_is_credited(
        store: MessageBus, engine: Engine, gateway: TestGateway) -> None:  # noqa: F811
    store.handle(c.UpdateChannel("test", "web", {"invoice_on": "placement"}))
    order_id = place(store)
    # when the order is cancelled before anything was captured
    cancel(store, order_id)
    # then its invoice is credited in full by a credit note, and nothing is refunded
    invoice, credit_note = documents(engine, order_id)
    assert (credit_note["kind"], credit_note["reference"], credit_note["corrects"]) == (
        "credit_note", "cancel", invoice["number"])
    assert credit_note["gross"] == invoice["gross"] == GROSS
    assert (invoice["credited"], invoice["status"]) == (GROSS, "credited")
    assert payment_status(store, order_id) is PaymentStatus.VOIDED
    assert gateway_moves(gateway, "refund") == []
    # and voiding again credits nothing more
    store.handle(c.VoidPayment("test", order_id))
    assert len(documents(engine, order_id)) == 2


def test_an_order_paid_and_invoiced_on_placement_shows_its_invoice_paid(
        store: MessageBus, engine: Engine) -> None:  # noqa: F811
    # given a till: captured and invoiced when the sale is made
    store.handle(c.UpdateChannel("test", "web", {"capture_on": "placement",
                                                 "invoice_on": "placement"}))
    order_id = place(store)
    assert payment_status(store, order_id) is PaymentStatus.CAPTURED
    # then its invoice is paid
    [invoice] = documents(engine, order_id)
    assert (invoice["gross"], invoice["status"]) == (GROSS, "paid")


# -- the money jobs --------------------------------------------------------------------------


def test_the_unpaid_order_job_leaves_an_order_paid_after_it_was_read(
        store: MessageBus, engine: Engine, gateway: TestGateway,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    # given an order held for a refused payment long enough to be cancelled
    order_id = place(store, ("TEE-1", 3), pay_with="tok_insufficient_funds")
    with engine.begin() as conn:
        conn.execute(update(t.orders).where(t.orders.c.id == order_id).values(
            updated_at=datetime.now(UTC) - timedelta(days=1)))
    def paid_meanwhile(cmd: c.ChangeOrderStatus, uow: Any) -> str:
        # the customer pays between the job's reading and its cancelling
        store.handle(c.AuthorizePayment("customer", order_id, token="tok_visa"))
        return change_order_status(cmd, uow)

    monkeypatch.setattr(money, "change_order_status", paid_meanwhile)
    # when the job runs, then the order is left as it is: allocated, authorized, its stock kept
    assert store.handle(c.ReleaseUnpaidOrders("worker")) == []
    assert order_row(engine, order_id).status == "allocated"
    assert payment_status(store, order_id) is PaymentStatus.AUTHORIZED
    assert stock(engine, "TEE-1") == (20, 3)
    [auth] = [a for a in gateway_books(gateway, tg.authorizations) if a.status == "succeeded"]
    assert (auth.token, auth.released) == ("tok_visa", False)


def test_the_unpaid_order_job_credits_the_placement_invoice_of_an_order_it_cancels(
        store: MessageBus, engine: Engine) -> None:  # noqa: F811
    # given an order invoiced on placement, held for a refused payment long enough
    store.handle(c.UpdateChannel("test", "web", {"invoice_on": "placement"}))
    order_id = place(store, pay_with="tok_insufficient_funds")
    with engine.begin() as conn:
        conn.execute(update(t.orders).where(t.orders.c.id == order_id).values(
            updated_at=datetime.now(UTC) - timedelta(days=1)))
    # when the job cancels it
    assert store.handle(c.ReleaseUnpaidOrders("worker")) == [order_id]
    # then its invoice, never paid, is credited in full
    invoice, credit_note = documents(engine, order_id)
    assert (credit_note["reference"], credit_note["corrects"], credit_note["gross"]) == (
        "cancel", invoice["number"], GROSS)
    assert invoice["status"] == "credited"


def test_the_recovery_job_goes_on_past_a_payment_whose_gateway_is_not_configured(
        store: MessageBus, engine: Engine, gateway: TestGateway,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    # given an authorization through a gateway this installation does not have (first)
    store.handle(c.CreateChannel("test", "pos", "POS"))
    store.handle(c.UpdateChannel("test", "pos", {"payment_gateway": "stripe"}))
    elsewhere = str(store.handle(c.PlaceOrder("test", "pos", an_order(
        ("TEE-1", 1), payment_token="pm_card_visa"))).order_id)
    assert store.handle(c.AuthorizePayment("test", elsewhere)).outcome == "pending"
    # and a capture through the test gateway whose answer was lost (second)
    order_id = place(store)
    monkeypatch.setattr(gateway, "capture", timing_out)
    dispatch(store, order_id, "S1", (1, 2), (2, 1))
    monkeypatch.undo()
    # when the recovery job runs, then it answers the second
    assert store.handle(c.RecoverPayments("worker", older_than_seconds=0)) == 1
    assert [(r.kind, r.outcome) for r in of_kind(engine, order_id, "capture")] == [
        ("capture", "succeeded")]
    assert kinds(engine, elsewhere) == [("authorize", 1999, "pending")]


def test_the_recovery_job_does_not_ask_again_after_the_gateway_forgot_the_key(
        store: MessageBus, engine: Engine, gateway: TestGateway,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    # given a capture whose call timed out two days ago
    order_id = place(store)
    monkeypatch.setattr(gateway, "capture", timing_out)
    dispatch(store, order_id, "S1", (1, 2), (2, 1))
    monkeypatch.undo()
    [capture] = of_kind(engine, order_id, "capture")
    with engine.begin() as conn:
        conn.execute(update(t.payment_transactions)
                     .where(t.payment_transactions.c.id == capture.id)
                     .values(created_at=datetime.now(UTC) - timedelta(days=2)))
    # when the recovery job runs, then it leaves it pending, for an operator
    assert store.handle(c.RecoverPayments("worker", older_than_seconds=0)) == 0
    [capture] = of_kind(engine, order_id, "capture")
    assert capture.outcome == "pending"
    assert gateway_moves(gateway, "capture") == []


def test_asking_again_for_an_authorization_still_to_come_adds_no_events(
        store: MessageBus, engine: Engine) -> None:  # noqa: F811
    order_id = place(store, pay_with="tok_async")
    assert events(engine, order_id).count("payment.pending") == 1
    # when the recovery job asks for it three times before the webhook comes
    for _ in range(3):
        assert store.handle(c.RecoverPayments("worker", older_than_seconds=0)) == 0
    # then the timeline says once that it is pending
    assert events(engine, order_id).count("payment.pending") == 1
    assert kinds(engine, order_id) == [("authorize", GROSS, "pending")]


# -- webhooks of the test gateway --------------------------------------------------------------


def signed(secret_of: Any, msg_id: str, body: str) -> dict[str, str]:
    now = datetime.now(UTC).replace(microsecond=0)
    return {"webhook-id": msg_id, "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": secret_of.sign(msg_id, now, body),
            "content-type": "application/json"}


NOT_AN_EVENT = [
    pytest.param({"id": "evt_1"}, id="no-answer"),
    pytest.param([], id="not-an-object"),
    pytest.param({"id": "evt_1", "kind": "settle", "authorization": "auth_1",
                  "answer": {"outcome": "succeeded"}}, id="unknown-kind"),
    pytest.param({"id": "evt_1", "kind": "authorize", "authorization": "auth_1",
                  "answer": {"outcome": "succeeded", "card": {"brand": "visa"}}}, id="bad-card"),
    pytest.param({"id": "evt_1", "kind": "authorize", "authorization": "auth_1", "answer": 1},
                 id="answer-not-an-object"),
    pytest.param({"id": "evt_1", "kind": "authorize", "authorization": ["auth_1"],
                  "answer": {"outcome": "succeeded"}},
                 id="authorization-not-a-string"),
]


@pytest.mark.parametrize("payload", NOT_AN_EVENT)
def test_a_signed_webhook_that_is_not_a_test_gateway_event_is_refused(
        store: MessageBus, engine: Engine, gateway: TestGateway,  # noqa: F811
        client: TestClient, payload: Any) -> None:
    order_id = place(store, pay_with="tok_async")
    before = row_counts(engine)
    # when the gateway's own secret signs a body that is not one of its events
    body = json.dumps(payload)
    response = client.post("/api/v1/payment-webhooks/test", content=body,
                           headers=signed(gateway.webhook, "msg_1", body))
    # then it is refused as invalid input, with nothing written
    assert response.status_code == 422, response.text
    assert row_counts(engine) == before
    assert kinds(engine, order_id) == [("authorize", GROSS, "pending")]


def test_a_webhook_signed_with_the_formerly_published_secret_is_refused(
        store: MessageBus, engine: Engine, client: TestClient) -> None:  # noqa: F811
    order_id = place(store, pay_with="tok_async_declined")
    [payment] = payments(engine, order_id)
    auth = payment.authorization_reference
    body = json.dumps({"id": "evt_x", "kind": "authorize", "authorization": auth, "answer": {
        "outcome": "succeeded", "reference": auth, "authorized_until": "2040-01-01T00:00:00+00:00",
        "card": {"brand": "visa", "last4": "0000", "exp_month": 1, "exp_year": 2040}}})
    public = Webhook("whsec_b3JkZXJtZXNoLXRlc3QtZ2F0ZXdheS1zZWNyZXQ=")
    response = client.post("/api/v1/payment-webhooks/test", content=body,
                           headers=signed(public, "evt_x", body))
    assert response.status_code == 422, response.text
    assert kinds(engine, order_id) == [("authorize", GROSS, "pending")]


# -- captures asked again, channels without a gateway, the test gateway off by default ---------


def test_a_capture_of_all_that_is_left_asked_again_is_the_same_capture(
        store: MessageBus, engine: Engine, gateway: TestGateway) -> None:  # noqa: F811
    order_id = place(store)
    first = store.handle(c.CapturePayment("test", order_id, "C1"))
    assert (first.amount, first.outcome) == (GROSS, "succeeded")
    before = row_counts(engine)
    assert store.handle(c.CapturePayment("test", order_id, "C1")) == first
    assert row_counts(engine) == before
    assert [r.amount for r in gateway_moves(gateway, "capture")] == [GROSS]


def test_a_new_channel_takes_no_payment_until_its_gateway_is_set(
        store: MessageBus, engine: Engine, gateway: TestGateway, client: TestClient) -> None:  # noqa: F811
    # given a new channel whose gateway was never set
    store.handle(c.CreateChannel("test", "kiosk", "Kiosk"))
    key = store.handle(c.CreateApiKey("test", "operator", "operator")).key
    listed = client.get("/api/v1/channels", headers={"Authorization": f"Bearer {key}"})
    assert listed.status_code == 200, listed.text
    assert {ch["code"]: ch["payment_gateway"] for ch in listed.json()} == {
        "web": "test", "kiosk": None}
    # when an order with a token is placed on it, then no payment is asked for
    placed = store.handle(c.PlaceOrder("test", "kiosk", an_order(
        ("TEE-1", 1), payment_token="tok_visa")))
    order_id = str(placed.order_id)
    assert order_row(engine, order_id).status == "allocated"
    assert payments(engine, order_id) == []
    assert "payment.authorization_requested" not in events(engine, order_id)
    assert gateway_books(gateway, tg.authorizations) == []


def test_the_test_gateway_is_there_only_when_enabled(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ORDERMESH_TEST_GATEWAY_ENABLED", "ORDERMESH_STRIPE_API_KEY",
                 "ORDERMESH_TEST_GATEWAY_URL", "ORDERMESH_TEST_GATEWAY_WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)
    url = f"sqlite:///{tmp_path / 'ordermesh.db'}"
    assert "test" not in money_setup(Settings(_env_file=None, database_url=url)).gateways
    enabled = money_setup(Settings(_env_file=None, database_url=url,
                                   test_gateway_enabled=True)).gateways
    assert isinstance(enabled.get("test"), TestGateway)
    assert (tmp_path / "ordermesh-test-gateway.db").exists()


# -- an order asked again after its first attempt got no answer from the gateway --------------


def test_an_order_asked_again_under_its_key_asks_the_gateway_for_its_authorization(
        store: MessageBus, engine: Engine, gateway: TestGateway,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    order = an_order(("TEE-1", 2), ("MUG-1", 1), payment_token="tok_visa",
                     shipping_total=SHIPPING)
    placing = c.PlaceOrder("test", "web", order, idempotency_key="checkout-7",
                           request_hash="same-request")
    # given an order committed while the gateway could not be reached (as when the server
    # stops between the commit and the answer)
    monkeypatch.setattr(gateway, "authorize", timing_out)
    first = store.handle(placing)
    monkeypatch.undo()
    assert kinds(engine, first.order_id) == [("authorize", GROSS, "pending")]
    # when the client sends the same request again under the same key
    again = store.handle(placing)
    # then it is the same order, and its authorization is asked for and answered now
    assert (again.order_id, again.replayed) == (first.order_id, True)
    assert kinds(engine, first.order_id) == [("authorize", GROSS, "succeeded")]
    assert len(gateway_books(gateway, tg.authorizations)) == 1
    # and a third time changes nothing more
    store.handle(placing)
    assert kinds(engine, first.order_id) == [("authorize", GROSS, "succeeded")]
    assert len(gateway_books(gateway, tg.authorizations)) == 1
