"""The money handlers on both databases, through the bus: authorization at placement, holds for
refused payments and their release, capture per shipment with its invoice, retries that never
move money twice, recovery of lost answers, refunds with credit notes, gapless numbers under
concurrency, and the channel policies that capture or invoice at placement.

The `test` gateway keeps its own books (a SQLite file of the test): what it did is counted there.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Self

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine

from ordermesh.adapters.db import tables as t
from ordermesh.adapters.db.engine import retry_reason
from ordermesh.adapters.db.unit_of_work import SqlUnitOfWork
from ordermesh.adapters.payments import test_gateway as tg
from ordermesh.adapters.payments.test_gateway import TestGateway
from ordermesh.domain.errors import IdempotencyKeyReused, InvalidInput, InvalidTransition
from ordermesh.domain.money import Money
from ordermesh.domain.payments import GatewayAnswer, GatewayUnavailable, PaymentStatus
from ordermesh.services import commands as c
from ordermesh.services.bus import MessageBus
from ordermesh.services.handlers.payments import MoneyMove, status_of
from tests.builders import a_location, a_product, an_order
from tests.races import together

YEAR = datetime.now(UTC).year
SHIPPING = 495
TEE, MUG = 1999, 1999  # the builders' unit price


# -- setup -------------------------------------------------------------------------------------


@pytest.fixture
def store(bus: MessageBus) -> MessageBus:
    """One web channel on the `test` gateway, one warehouse, two products in stock."""
    bus.handle(c.CreateChannel("test", "web", "Web"))
    bus.handle(c.UpdateChannel("test", "web", {"payment_gateway": "test"}))
    bus.handle(c.CreateLocation("test", a_location("WH-1")))
    for sku in ("TEE-1", "MUG-1"):
        bus.handle(c.CreateProduct("test", a_product(sku)))
        bus.handle(c.AdjustStockLevel("test", sku, "WH-1", 20))
    return bus


def place(bus: MessageBus, *lines: tuple[str, int], pay_with: str = "tok_visa",
          shipping: int = SHIPPING) -> str:
    order = an_order(*(lines or (("TEE-1", 2), ("MUG-1", 1))), payment_token=pay_with,
                     shipping_total=shipping)
    return str(bus.handle(c.PlaceOrder("test", "web", order)).order_id)


def dispatch(bus: MessageBus, order_id: str, reference: str,
             *lines: tuple[int, int]) -> MoneyMove | None:
    _, move = bus.handle(c.DispatchShipment("test", order_id, reference, lines))
    return move  # type: ignore[no-any-return]


def refund(bus: MessageBus, order_id: str, reference: str, *lines: tuple[int, int],
           amount: int | None = None, invoice: str | None = None) -> MoneyMove:
    return bus.handle(c.RefundPayment(  # type: ignore[no-any-return]
        "test", order_id, reference, "returned", lines=lines, amount=amount, invoice=invoice))


# -- reading what was written ----------------------------------------------------------------


def order_row(engine: Engine, order_id: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(t.orders).where(t.orders.c.id == order_id)).one()


def payments(engine: Engine, order_id: str) -> list[Any]:
    seq = order_row(engine, order_id).seq
    with engine.connect() as conn:
        return list(conn.execute(select(t.payments).where(t.payments.c.order_seq == seq)
                                 .order_by(t.payments.c.created_at)))


def transactions(engine: Engine, order_id: str) -> list[Any]:
    seq = order_row(engine, order_id).seq
    x, p = t.payment_transactions.c, t.payments.c
    with engine.connect() as conn:
        return list(conn.execute(select(t.payment_transactions)
                                 .join(t.payments, p.id == x.payment_id)
                                 .where(p.order_seq == seq).order_by(x.id)))


def kinds(engine: Engine, order_id: str) -> list[tuple[str, int, str]]:
    return [(r.kind, r.amount, r.outcome) for r in transactions(engine, order_id)]


def payment_status(bus: MessageBus, order_id: str) -> PaymentStatus:
    with bus.uow_factory() as uow:
        order = uow.orders.get(order_id)
        assert order is not None and order.seq is not None
        return status_of(uow.payments.for_order(order.seq)[-1])


def invoices(engine: Engine, order_id: str | None = None) -> list[Any]:
    query = select(t.invoices).order_by(t.invoices.c.series, t.invoices.c.seq)
    if order_id is not None:
        query = query.where(t.invoices.c.order_seq == order_row(engine, order_id).seq)
    with engine.connect() as conn:
        return list(conn.execute(query))


def events(engine: Engine, order_id: str) -> list[str]:
    e = t.events.c
    with engine.connect() as conn:
        return list(conn.execute(select(e.type).where(e.stream_id == order_id)
                                 .order_by(e.seq)).scalars())


def stock(engine: Engine, sku: str, location: str = "WH-1") -> tuple[int, int]:
    s = t.stock_levels.c
    with engine.connect() as conn:
        row = conn.execute(select(s.on_hand, s.reserved).where(
            s.sku == sku, s.location_code == location)).one()
    return row.on_hand, row.reserved


def row_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
                for table in t.metadata.sorted_tables}


def gateway_books(gateway: TestGateway, table: Any) -> list[Any]:
    with gateway.engine.connect() as conn:
        return list(conn.execute(select(table)))


def gateway_moves(gateway: TestGateway, kind: str) -> list[Any]:
    return [row for row in gateway_books(gateway, tg.balance) if row.type == kind]


def invoice_number(n: int, series: str = "INV") -> str:
    return f"{series}-{YEAR}-{n:06d}"


GROSS = 2 * TEE + MUG + SHIPPING


# -- authorization at placement ----------------------------------------------------------------


def test_placing_an_order_with_a_token_authorizes_its_total(store: MessageBus, engine: Engine,
                                                             gateway: TestGateway) -> None:
    order_id = place(store)
    order = order_row(engine, order_id)
    assert (order.status, order.grand_total) == ("allocated", GROSS)
    [payment] = payments(engine, order_id)
    assert (payment.gateway, payment.amount, payment.currency) == ("test", GROSS, "EUR")
    assert (payment.card_brand, payment.card_last4) == ("visa", "4242")
    assert (payment.card_exp_month, payment.card_exp_year) == (12, 2034)
    assert payment.authorized_until > datetime.now(UTC) + timedelta(days=6)
    [auth] = transactions(engine, order_id)
    assert (auth.kind, auth.amount, auth.outcome) == ("authorize", GROSS, "succeeded")
    assert auth.gateway_reference == payment.authorization_reference
    assert events(engine, order_id).count("payment.authorization_requested") == 1
    timeline = events(engine, order_id)
    assert timeline.index("payment.authorization_requested") < timeline.index(
        "payment.authorized")
    assert payment_status(store, order_id) is PaymentStatus.AUTHORIZED
    # the gateway holds one authorization of the order's total
    [at_gateway] = gateway_books(gateway, tg.authorizations)
    assert (at_gateway.id, at_gateway.amount, at_gateway.status) == (
        payment.authorization_reference, GROSS, "succeeded")
    # no card number, only the token, is kept
    assert payment.token == "tok_visa"


def test_a_declined_payment_holds_the_order_until_a_new_token_is_authorized(
        store: MessageBus, engine: Engine) -> None:
    order_id = place(store, pay_with="tok_declined")
    order = order_row(engine, order_id)
    assert (order.status, order.hold_reason) == ("on_hold", "payment_failed")
    [auth] = transactions(engine, order_id)
    assert (auth.kind, auth.outcome, auth.failure_code) == ("authorize", "failed", "card_declined")
    [payment] = payments(engine, order_id)
    assert payment.card_brand is None and payment.card_last4 is None
    assert {"payment.authorization_failed", "order.held"} <= set(events(engine, order_id))
    assert payment_status(store, order_id) is PaymentStatus.FAILED
    # nothing can be dispatched while the order is held
    with pytest.raises(InvalidTransition):
        dispatch(store, order_id, "S1", (1, 2), (2, 1))

    move = store.handle(c.AuthorizePayment("test", order_id, token="tok_mastercard"))
    assert (move.kind, move.amount, move.outcome) == ("authorize", GROSS, "succeeded")
    order = order_row(engine, order_id)
    assert (order.status, order.hold_reason) == ("allocated", None)
    assert "order.released" in events(engine, order_id)
    old, new = payments(engine, order_id)
    assert old.card_brand is None and old.authorization_reference != new.authorization_reference
    assert (new.card_brand, new.card_last4, new.token) == ("mastercard", "4444", "tok_mastercard")
    assert payment_status(store, order_id) is PaymentStatus.AUTHORIZED
    # an authorized order is not authorized again
    with pytest.raises(InvalidTransition):
        store.handle(c.AuthorizePayment("test", order_id, token="tok_visa"))


def test_an_order_left_unpaid_is_cancelled_after_its_channels_time_and_gives_its_stock_back(
        store: MessageBus, engine: Engine) -> None:
    store.handle(c.UpdateChannel("test", "web", {"payment_failure_release_minutes": 30}))
    unpaid = place(store, ("TEE-1", 3), pay_with="tok_insufficient_funds")
    paid = place(store, ("TEE-1", 1))
    assert order_row(engine, unpaid).status == "on_hold"
    assert stock(engine, "TEE-1") == (20, 4)

    def held_for(minutes: float) -> None:
        with engine.begin() as conn:
            conn.execute(update(t.orders).where(t.orders.c.id == unpaid).values(
                updated_at=datetime.now(UTC) - timedelta(minutes=minutes)))

    assert store.handle(c.ReleaseUnpaidOrders("test")) == []
    held_for(29)
    assert store.handle(c.ReleaseUnpaidOrders("test")) == []
    assert order_row(engine, unpaid).status == "on_hold"
    assert stock(engine, "TEE-1") == (20, 4)
    held_for(31)
    assert store.handle(c.ReleaseUnpaidOrders("test")) == [unpaid]
    assert order_row(engine, unpaid).status == "cancelled"
    assert order_row(engine, paid).status == "allocated"
    assert stock(engine, "TEE-1") == (20, 1)  # the unpaid order's 3 units are back
    assert store.handle(c.ReleaseUnpaidOrders("test")) == []


# -- capture per shipment, with its invoice ----------------------------------------------------


def test_two_shipments_capture_and_invoice_exactly_what_each_ships(
        store: MessageBus, engine: Engine, gateway: TestGateway) -> None:
    order_id = place(store)  # line 1: TEE-1 x2, line 2: MUG-1 x1, shipping 495
    assert stock(engine, "TEE-1") == (20, 2)

    first = dispatch(store, order_id, "S1", (1, 1))
    assert first is not None
    assert (first.kind, first.outcome) == ("capture", "succeeded")
    [invoice] = invoices(engine, order_id)
    assert invoice.number == invoice_number(1)
    assert invoice.gross == TEE + SHIPPING  # the first shipment carries the shipping
    assert first.amount == invoice.gross
    assert invoice.payment_transaction_id == first.transaction_id
    assert stock(engine, "TEE-1") == (19, 1)
    assert stock(engine, "MUG-1") == (20, 1)
    assert order_row(engine, order_id).status == "fulfilling"
    assert payment_status(store, order_id) is PaymentStatus.PARTIALLY_CAPTURED
    [capture] = gateway_moves(gateway, "capture")
    assert capture.amount == TEE + SHIPPING
    [txn] = [r for r in transactions(engine, order_id) if r.kind == "capture"]
    assert (txn.gateway_reference, txn.fee, txn.final) == (capture.source, capture.fee, False)

    second = dispatch(store, order_id, "S2", (1, 1), (2, 1))
    assert second is not None
    assert (second.kind, second.amount, second.outcome) == ("capture", TEE + MUG, "succeeded")
    first_invoice, second_invoice = invoices(engine, order_id)
    assert second_invoice.number == invoice_number(2)
    assert second_invoice.gross == TEE + MUG
    assert first_invoice.gross + second_invoice.gross == GROSS
    assert stock(engine, "TEE-1") == (18, 0)
    assert stock(engine, "MUG-1") == (19, 0)
    assert order_row(engine, order_id).status == "shipped"
    assert payment_status(store, order_id) is PaymentStatus.CAPTURED
    captures = [r for r in transactions(engine, order_id) if r.kind == "capture"]
    assert [(r.amount, r.final, r.outcome) for r in captures] == [
        (TEE + SHIPPING, False, "succeeded"), (TEE + MUG, True, "succeeded")]
    # at the gateway: two captures of the order's total, and the authorization closed
    assert sorted(r.amount for r in gateway_moves(gateway, "capture")) == sorted(
        [TEE + SHIPPING, TEE + MUG])
    [auth] = gateway_books(gateway, tg.authorizations)
    assert (auth.captured, auth.released) == (GROSS, True)
    assert events(engine, order_id).count("payment.captured") == 2
    assert events(engine, order_id).count("invoice.issued") == 2


def test_a_final_capture_of_less_than_authorized_releases_the_rest(
        store: MessageBus, engine: Engine, gateway: TestGateway) -> None:
    order_id = place(store)
    move = store.handle(c.CapturePayment("test", order_id, "manual", amount=1000, final=True))
    assert (move.kind, move.amount, move.outcome) == ("capture", 1000, "succeeded")
    assert kinds(engine, order_id) == [("authorize", GROSS, "succeeded"),
                                       ("capture", 1000, "succeeded"),
                                       ("void", GROSS - 1000, "succeeded")]
    assert payment_status(store, order_id) is PaymentStatus.CAPTURED
    assert "payment.released" in events(engine, order_id)
    [auth] = gateway_books(gateway, tg.authorizations)
    assert (auth.captured, auth.released) == (1000, True)
    with pytest.raises(InvalidTransition):
        store.handle(c.CapturePayment("test", order_id, "more", amount=1))
    assert len(gateway_moves(gateway, "capture")) == 1


def test_a_dispatch_asked_again_changes_nothing(store: MessageBus, engine: Engine,
                                                gateway: TestGateway) -> None:
    order_id = place(store)
    first = dispatch(store, order_id, "S1", (1, 1))
    before = row_counts(engine)
    stock_before = stock(engine, "TEE-1")
    again = dispatch(store, order_id, "S1", (1, 1))
    assert again == first
    assert row_counts(engine) == before
    assert stock(engine, "TEE-1") == stock_before
    assert len(invoices(engine, order_id)) == 1
    assert len(gateway_moves(gateway, "capture")) == 1
    # the same reference with other lines is refused, and writes nothing
    with pytest.raises(IdempotencyKeyReused):
        dispatch(store, order_id, "S1", (1, 1), (2, 1))
    with pytest.raises(IdempotencyKeyReused):
        dispatch(store, order_id, "S1", (2, 1))
    assert row_counts(engine) == before
    assert len(gateway_moves(gateway, "capture")) == 1


def test_a_dispatch_of_more_than_is_left_is_refused_with_nothing_written(
        store: MessageBus, engine: Engine, gateway: TestGateway) -> None:
    order_id = place(store)
    before = row_counts(engine)
    for lines in [((1, 3),), ((1, 0),), ((3, 1),), ((1, 1), (1, 1))]:
        with pytest.raises(InvalidInput):
            dispatch(store, order_id, "S1", *lines)
    assert row_counts(engine) == before
    assert gateway_moves(gateway, "capture") == []
    # and the reference is still free for the right lines
    assert dispatch(store, order_id, "S1", (1, 2), (2, 1)) is not None


def test_a_lost_capture_answer_stays_pending_and_recovery_completes_it_without_capturing_twice(
        store: MessageBus, engine: Engine, gateway: TestGateway,
        monkeypatch: pytest.MonkeyPatch) -> None:
    order_id = place(store)
    real_capture = gateway.capture
    calls: list[str] = []

    def capture_then_lose_the_answer(authorization: str, amount: Money, idempotency_key: str,
                                     final: bool) -> GatewayAnswer:
        calls.append(idempotency_key)
        real_capture(authorization, amount, idempotency_key, final)  # done at the gateway
        raise GatewayUnavailable("the answer was lost on the way back")

    monkeypatch.setattr(gateway, "capture", capture_then_lose_the_answer)
    move = dispatch(store, order_id, "S1", (1, 2), (2, 1))
    assert move is not None and move.outcome == "pending"
    assert len(calls) >= 2 and len(set(calls)) == 1  # asked again, always with one key
    [capture] = [r for r in transactions(engine, order_id) if r.kind == "capture"]
    assert (capture.outcome, capture.gateway_reference) == ("pending", None)
    # the shipment is written: its invoice, and the stock gone
    [invoice] = invoices(engine, order_id)
    assert invoice.gross == GROSS
    assert stock(engine, "TEE-1") == (18, 0)
    [at_gateway] = gateway_moves(gateway, "capture")

    monkeypatch.setattr(gateway, "capture", real_capture)
    assert store.handle(c.RecoverPayments("test", older_than_seconds=0)) == 1
    [capture] = [r for r in transactions(engine, order_id) if r.kind == "capture"]
    assert (capture.outcome, capture.gateway_reference, capture.fee) == (
        "succeeded", at_gateway.source, at_gateway.fee)
    assert len(gateway_moves(gateway, "capture")) == 1  # captured once, at the gateway too
    assert payment_status(store, order_id) is PaymentStatus.CAPTURED
    assert "payment.captured" in events(engine, order_id)
    assert store.handle(c.RecoverPayments("test", older_than_seconds=0)) == 0


# -- refunds with credit notes ----------------------------------------------------------------


def shipped(bus: MessageBus) -> str:
    order_id = place(bus)
    dispatch(bus, order_id, "S1", (1, 1))
    dispatch(bus, order_id, "S2", (1, 1), (2, 1))
    return order_id


def test_a_refund_of_returned_units_comes_with_its_credit_note(
        store: MessageBus, engine: Engine, gateway: TestGateway) -> None:
    order_id = shipped(store)
    first_invoice, second_invoice = invoices(engine, order_id)
    move = refund(store, order_id, "R1", (2, 1), invoice=second_invoice.number)
    assert (move.kind, move.amount, move.outcome) == ("refund", MUG, "succeeded")
    credit = [i for i in invoices(engine, order_id) if i.kind == "credit_note"]
    assert [(i.number, i.gross, i.corrects_id, i.payment_transaction_id) for i in credit] == [
        (invoice_number(1, "CN"), MUG, second_invoice.id, move.transaction_id)]
    assert payment_status(store, order_id) is PaymentStatus.PARTIALLY_REFUNDED
    assert [r.amount for r in gateway_moves(gateway, "refund")] == [-MUG]
    assert {"credit_note.issued", "payment.refunded"} <= set(events(engine, order_id))
    # the same reference again gives the same refund and credit note
    before = row_counts(engine)
    assert refund(store, order_id, "R1", (2, 1), invoice=first_invoice.number) == move
    assert row_counts(engine) == before
    assert len(gateway_moves(gateway, "refund")) == 1
    # the returned unit is credited once: it cannot be returned again
    with pytest.raises(InvalidInput):
        refund(store, order_id, "R2", (2, 1))
    # the T-shirts were billed one per invoice: both at once fit no single invoice
    with pytest.raises(InvalidInput, match="return them per invoice"):
        refund(store, order_id, "R3", (1, 2))
    # one at a time, each credits the latest invoice that billed one still to credit
    assert refund(store, order_id, "R3", (1, 1)).amount == TEE
    assert refund(store, order_id, "R4", (1, 1)).amount == TEE
    credit = [i for i in invoices(engine, order_id) if i.kind == "credit_note"]
    assert [(i.number, i.corrects_id) for i in credit] == [
        (invoice_number(1, "CN"), second_invoice.id), (invoice_number(2, "CN"), second_invoice.id),
        (invoice_number(3, "CN"), first_invoice.id)]


def test_a_refund_over_what_was_invoiced_is_refused_with_nothing_written(
        store: MessageBus, engine: Engine, gateway: TestGateway) -> None:
    order_id = place(store)
    dispatch(store, order_id, "S1", (1, 1))
    before = row_counts(engine)
    with pytest.raises(InvalidInput):
        refund(store, order_id, "R1", amount=TEE + SHIPPING + 1)
    with pytest.raises(InvalidInput):
        refund(store, order_id, "R1", (1, 2))  # one unit of line 1 was dispatched
    with pytest.raises(InvalidInput):
        refund(store, order_id, "R1", (2, 1))  # line 2 was not dispatched at all
    assert row_counts(engine) == before
    assert gateway_moves(gateway, "refund") == []
    # all of it may be given back
    assert refund(store, order_id, "R1", amount=TEE + SHIPPING).outcome == "succeeded"
    assert [r.amount for r in gateway_moves(gateway, "refund")] == [-(TEE + SHIPPING)]
    with pytest.raises(InvalidInput):
        refund(store, order_id, "R2", amount=1)


def test_an_order_with_nothing_captured_has_nothing_to_refund(store: MessageBus,
                                                              engine: Engine) -> None:
    store.handle(c.UpdateChannel("test", "web", {"invoice_on": "placement"}))
    order_id = place(store)
    before = row_counts(engine)
    with pytest.raises(InvalidTransition):
        refund(store, order_id, "R1", amount=100)
    assert row_counts(engine) == before


def test_concurrent_refunds_never_refund_more_than_was_captured(
        store: MessageBus, engine: Engine, gateway: TestGateway) -> None:
    order_id = shipped(store)  # GROSS = 6492 captured
    # price adjustments correct the latest invoice: never more than it, nor than was captured
    latest = invoices(engine, order_id)[-1]
    results = together([lambda n=n: refund(store, order_id, f"R{n}", amount=1000)
                        for n in range(8)], InvalidInput)
    refunded = [r for r in results if isinstance(r, MoneyMove)]
    fit = min(latest.gross, GROSS) // 1000
    assert 0 < fit < 8 and len(refunded) == fit  # the others are refused
    assert all(r.outcome == "succeeded" for r in refunded)
    assert sum(r.amount for r in refunded) <= latest.gross
    credit = [i for i in invoices(engine, order_id) if i.kind == "credit_note"]
    assert sorted(i.number for i in credit) == [invoice_number(n, "CN") for n in range(1, fit + 1)]
    assert sum(i.gross for i in credit) == sum(r.amount for r in refunded)
    [auth] = gateway_books(gateway, tg.authorizations)
    assert auth.refunded == sum(r.amount for r in refunded) <= auth.captured
    assert -sum(r.amount for r in gateway_moves(gateway, "refund")) == auth.refunded


def test_a_credit_note_never_credits_more_than_the_invoice_it_corrects(
        store: MessageBus, engine: Engine) -> None:
    order_id = shipped(store)
    first_invoice, _ = invoices(engine, order_id)
    assert first_invoice.gross == TEE + SHIPPING
    with pytest.raises(InvalidInput):
        refund(store, order_id, "R1", amount=first_invoice.gross + 1,
               invoice=first_invoice.number)


def test_a_shipment_after_a_refund_is_still_captured(store: MessageBus, engine: Engine,
                                                     gateway: TestGateway) -> None:
    order_id = place(store)
    dispatch(store, order_id, "S1", (1, 1))
    refund(store, order_id, "R1", (1, 1))
    move = dispatch(store, order_id, "S2", (1, 1), (2, 1))
    assert "payment.capture_skipped" not in events(engine, order_id)
    assert move is not None
    assert (move.kind, move.amount, move.outcome) == ("capture", TEE + MUG, "succeeded")
    assert sum(r.amount for r in gateway_moves(gateway, "capture")) == GROSS


# -- concurrency -----------------------------------------------------------------------------


def test_one_shipment_dispatched_from_eight_threads_is_dispatched_once(
        store: MessageBus, engine: Engine, gateway: TestGateway) -> None:
    order_id = place(store)
    moves = together([lambda: dispatch(store, order_id, "S1", (1, 2), (2, 1))
                      for _ in range(8)], ())
    assert all(isinstance(m, MoneyMove) for m in moves)
    assert len({m.transaction_id for m in moves}) == 1
    assert {m.outcome for m in moves} == {"succeeded"}
    [invoice] = invoices(engine, order_id)
    assert invoice.number == invoice_number(1)
    assert len([r for r in transactions(engine, order_id) if r.kind == "capture"]) == 1
    assert [r.amount for r in gateway_moves(gateway, "capture")] == [GROSS]
    assert stock(engine, "TEE-1") == (18, 0)
    assert stock(engine, "MUG-1") == (19, 0)
    assert events(engine, order_id).count("order.dispatched") == 1
    assert order_row(engine, order_id).status == "shipped"


class Boom(Exception):
    """A failure inside the dispatch's transaction, after its invoice number was taken."""


failing = threading.local()


class NumberThenFail:
    def __init__(self, numbering: Any) -> None:
        self.numbering = numbering

    def next(self, series: str, year: int) -> int:
        number = int(self.numbering.next(series, year))
        if getattr(failing, "on", False):
            raise Boom(f"failed after taking {series} {number}")
        return number


class FailingUnitOfWork(SqlUnitOfWork):
    """The real unit of work, whose numbering fails (after taking a number) in threads that
    ask it to: the dispatch's transaction then rolls back."""

    def __enter__(self) -> Self:
        super().__enter__()
        self.numbering = NumberThenFail(self.numbering)
        return self


def test_concurrent_dispatches_with_rollbacks_leave_gapless_invoice_numbers(
        store: MessageBus, engine: Engine, gateway: TestGateway) -> None:
    store.handle(c.AdjustStockLevel("test", "TEE-1", "WH-1", 40))
    orders = [place(store, ("TEE-1", 1), shipping=0) for _ in range(16)]
    bus = MessageBus(lambda: FailingUnitOfWork(engine), retry_reason=retry_reason,
                     setup=store.setup)

    def job(n: int, order_id: str) -> Callable[[], Any]:
        def run() -> Any:
            failing.on = n % 3 == 0
            try:
                return dispatch(bus, order_id, "S1", (1, 1))
            finally:
                failing.on = False
        return run

    results = together([job(n, o) for n, o in enumerate(orders)], Boom)
    failed = [o for o, r in zip(orders, results, strict=True) if isinstance(r, Boom)]
    done = [o for o, r in zip(orders, results, strict=True) if isinstance(r, MoneyMove)]
    assert len(failed) == 6 and len(done) == 10
    numbers = sorted(i.seq for i in invoices(engine) if i.kind == "invoice")
    assert numbers == list(range(1, 11))
    # a failed dispatch left nothing: no invoice, no capture, its stock still reserved
    for order_id in failed:
        assert invoices(engine, order_id) == []
        assert order_row(engine, order_id).status == "allocated"
        assert [k for k, _, _ in kinds(engine, order_id)] == ["authorize"]
    assert stock(engine, "TEE-1") == (40 - 10, 6)
    assert len(gateway_moves(gateway, "capture")) == 10
    # dispatched again, they take the next numbers
    together([job(1, o) for o in failed], ())
    numbers = sorted(i.number for i in invoices(engine) if i.kind == "invoice")
    assert numbers == [invoice_number(n) for n in range(1, 17)]
    assert stock(engine, "TEE-1") == (40 - 16, 0)


# -- channel policies ----------------------------------------------------------------------------


@pytest.mark.parametrize("changes", [{"capture_on": "shipment"}, {"invoice_on": "never"},
                                     {"payment_failure_release_minutes": -5}])
def test_a_channels_payment_policy_is_one_it_knows(store: MessageBus,
                                                   changes: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput):
        store.handle(c.UpdateChannel("test", "web", changes))


def test_a_channel_that_captures_on_placement_captures_the_whole_order_at_once(
        store: MessageBus, engine: Engine, gateway: TestGateway) -> None:
    store.handle(c.UpdateChannel("test", "web", {"capture_on": "placement"}))
    order_id = place(store)
    assert kinds(engine, order_id) == [("authorize", GROSS, "succeeded"),
                                       ("capture", GROSS, "succeeded")]
    [capture] = [r for r in transactions(engine, order_id) if r.kind == "capture"]
    assert (capture.reference, capture.final) == ("placement", True)
    assert order_row(engine, order_id).status == "paid"
    assert "order.paid" in events(engine, order_id)
    assert payment_status(store, order_id) is PaymentStatus.CAPTURED
    assert [r.amount for r in gateway_moves(gateway, "capture")] == [GROSS]
    assert invoices(engine, order_id) == []  # invoiced on dispatch
    # dispatch captures nothing more, and invoices the shipment
    assert dispatch(store, order_id, "S1", (1, 2), (2, 1)) is None
    assert len(gateway_moves(gateway, "capture")) == 1
    [invoice] = invoices(engine, order_id)
    assert invoice.gross == GROSS
    assert order_row(engine, order_id).status == "shipped"


def test_a_channel_that_invoices_on_placement_issues_the_invoice_at_once(
        store: MessageBus, engine: Engine, gateway: TestGateway) -> None:
    store.handle(c.UpdateChannel("test", "web", {"invoice_on": "placement"}))
    order_id = place(store)
    [invoice] = invoices(engine, order_id)
    assert (invoice.number, invoice.kind, invoice.gross, invoice.reference) == (
        invoice_number(1), "invoice", GROSS, "order")
    assert "invoice.issued" in events(engine, order_id)
    assert gateway_moves(gateway, "capture") == []  # captured on dispatch
    move = dispatch(store, order_id, "S1", (1, 2), (2, 1))
    assert move is not None and (move.amount, move.outcome) == (GROSS, "succeeded")
    assert len(invoices(engine, order_id)) == 1  # not invoiced twice
