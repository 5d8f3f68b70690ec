"""The built-in `test` payment gateway, as a gateway: its tokens, idempotency, limits, expiry,
fees, settlement into payouts and signed webhooks. It keeps its own books, so no Ordermesh
database is needed; its books are kept on SQLite and on PostgreSQL (a throwaway database on the
server in ORDERMESH_TEST_POSTGRES_URL)."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from ordermesh.adapters.db.engine import normalise_url
from ordermesh.adapters.payments import test_gateway as tg
from ordermesh.adapters.payments.test_gateway import TestGateway, TestGatewaySettings
from ordermesh.domain.errors import InvalidInput
from ordermesh.domain.money import Money
from ordermesh.domain.payments import (
    Card,
    GatewayAnswer,
    GatewayUnavailable,
    Kind,
    Outcome,
)
from tests.builders import Clock
from tests.races import together

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
EUR = "EUR"


def eur(amount: int) -> Money:
    return Money(amount, EUR)


def key() -> str:
    return f"key-{uuid.uuid4()}"


def fee_of(amount: int) -> int:
    """2.9% rounded half up, plus 30 minor units: the gateway's default price."""
    return int((Decimal(amount) * Decimal("0.029")).quantize(Decimal(1), ROUND_HALF_UP)) + 30


# -- the gateway's books on SQLite and on PostgreSQL --------------------------------------------


@pytest.fixture(scope="session")
def gateway_postgres() -> Iterator[str]:
    """A throwaway database for the gateway's books, dropped at the end of the session."""
    server = os.environ.get("ORDERMESH_TEST_POSTGRES_URL", DEFAULT_SERVER)
    admin = create_engine(normalise_url(server), isolation_level="AUTOCOMMIT")
    name = f"ordermesh_gateway_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        if os.environ.get("ORDERMESH_TEST_REQUIRE_POSTGRES") == "1":
            raise
        pytest.skip(f"PostgreSQL unreachable at {server!r} ({type(exc).__name__}): the "
                    "gateway's PostgreSQL tests are skipped")
    url = make_url(normalise_url(server)).set(database=name).render_as_string(
        hide_password=False)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def books(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of the gateway's books: a new SQLite file, or the emptied PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'gw.db'}"
    url: str = request.getfixturevalue("gateway_postgres")
    engine = create_engine(normalise_url(url))
    tg.metadata.create_all(engine)
    names = ", ".join(table.name for table in tg.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names}"))
    engine.dispose()
    return url


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def gateway(books: str, clock: Clock) -> Iterator[TestGateway]:
    gateway = TestGateway(TestGatewaySettings(database_url=books, slow_seconds=0.05,
                                              async_seconds=0), clock=clock)
    yield gateway
    gateway.engine.dispose()


def rows(gateway: TestGateway, table: object) -> list[object]:
    with gateway.engine.connect() as conn:
        return list(conn.execute(select(table)))  # type: ignore[call-overload]


def count(gateway: TestGateway, table: object) -> int:
    with gateway.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def authorized(gateway: TestGateway, amount: int = 1000, currency: str = EUR) -> str:
    answer = gateway.authorize("tok_visa", Money(amount, currency), key(), "OM-000001")
    assert answer.outcome is Outcome.SUCCEEDED and answer.reference
    return answer.reference


def captured(gateway: TestGateway, auth: str, amount: int, final: bool = False,
             currency: str = EUR) -> GatewayAnswer:
    answer = gateway.capture(auth, Money(amount, currency), key(), final)
    assert answer.outcome is Outcome.SUCCEEDED, answer
    return answer


# -- test tokens -----------------------------------------------------------------------------


@pytest.mark.parametrize(("token", "card"), [
    ("tok_visa", Card("visa", "4242", 12, 2034)),
    ("tok_mastercard", Card("mastercard", "4444", 11, 2033)),
    ("tok_amex", Card("amex", "0005", 10, 2032)),
    ("tok_slow", Card("visa", "1881", 9, 2031)),
    ("tok_visa_4242", Card("visa", "4242", 12, 2034)),  # any other tok_...
])
def test_a_good_token_is_authorized_with_display_data_until_the_authorization_lapses(
        gateway: TestGateway, clock: Clock, token: str, card: Card) -> None:
    answer = gateway.authorize(token, eur(1999), key(), "OM-000001")
    assert answer.outcome is Outcome.SUCCEEDED
    assert answer.failure is None
    assert answer.reference is not None and answer.reference.startswith("auth_")
    assert answer.card == card
    assert answer.authorized_until == clock.now + timedelta(days=7)
    # and the gateway says the same when asked later
    assert gateway.status(answer.reference) == answer


@pytest.mark.parametrize(("token", "failure"), [
    ("tok_declined", "card_declined"),
    ("tok_insufficient_funds", "insufficient_funds"),
    ("tok_expired_card", "expired_card"),
    ("card_4111", "invalid_token"),  # not a token at all
])
def test_a_refused_token_is_refused_with_its_code_and_no_card(
        gateway: TestGateway, token: str, failure: str) -> None:
    answer = gateway.authorize(token, eur(1999), key(), "OM-000001")
    assert answer.outcome is Outcome.FAILED
    assert answer.failure == failure
    assert answer.card is None
    assert answer.authorized_until is None
    # and nothing can be captured from it
    assert answer.reference is not None
    refused = gateway.capture(answer.reference, eur(100), key(), final=False)
    assert (refused.outcome, refused.failure) == (Outcome.FAILED, "authorization_not_succeeded")


def test_an_unavailable_gateway_raises_and_records_nothing(gateway: TestGateway) -> None:
    k = key()
    for _ in range(2):
        with pytest.raises(GatewayUnavailable):
            gateway.authorize("tok_unavailable", eur(1999), k, "OM-000001")
    assert count(gateway, tg.authorizations) == 0
    assert count(gateway, tg.operations) == 0


def test_a_lost_answer_is_given_again_for_the_same_key_and_authorizes_once(
        gateway: TestGateway) -> None:
    k = key()
    with pytest.raises(GatewayUnavailable):
        gateway.authorize("tok_lost_answer", eur(1999), k, "OM-000001")
    # the work was done: one authorization exists
    [auth] = rows(gateway, tg.authorizations)
    again = gateway.authorize("tok_lost_answer", eur(1999), k, "OM-000001")
    assert again.outcome is Outcome.SUCCEEDED
    assert again.reference == auth.id  # type: ignore[attr-defined]
    assert again.card == Card("visa", "3220", 8, 2032)
    assert gateway.authorize("tok_lost_answer", eur(1999), k, "OM-000001") == again
    assert count(gateway, tg.authorizations) == 1


def test_an_asynchronous_authorization_is_answered_by_a_signed_webhook(
        gateway: TestGateway) -> None:
    answer = gateway.authorize("tok_async", eur(1999), key(), "OM-000001")
    assert answer.outcome is Outcome.PENDING
    assert answer.reference is not None and answer.card is None
    assert gateway.status(answer.reference).outcome is Outcome.PENDING
    sent: list[tuple[bytes, dict[str, str]]] = []
    assert gateway.deliver_webhooks(lambda body, headers: sent.append((body, headers))) == 1
    [(body, headers)] = sent
    assert {"webhook-id", "webhook-timestamp", "webhook-signature"} <= set(headers)
    notice = gateway.parse_webhook(body, headers)
    assert notice.kind is Kind.AUTHORIZE
    assert notice.authorization == answer.reference
    assert notice.id == headers["webhook-id"]
    assert notice.amount == 1999
    assert notice.answer.outcome is Outcome.SUCCEEDED
    assert notice.answer.reference == answer.reference
    assert notice.answer.card == Card("visa", "3184", 7, 2033)
    assert notice.answer.authorized_until is not None
    assert gateway.status(answer.reference) == notice.answer
    # a delivered webhook is not sent again
    assert gateway.deliver_webhooks(lambda body, headers: sent.append((body, headers))) == 0


def test_an_asynchronous_refusal_comes_by_webhook_too(gateway: TestGateway) -> None:
    answer = gateway.authorize("tok_async_declined", eur(1999), key(), "OM-000001")
    assert answer.outcome is Outcome.PENDING
    sent: list[tuple[bytes, dict[str, str]]] = []
    gateway.deliver_webhooks(lambda body, headers: sent.append((body, headers)))
    notice = gateway.parse_webhook(*sent[0])
    assert (notice.answer.outcome, notice.answer.failure) == (Outcome.FAILED, "card_declined")
    assert notice.answer.card is None


def test_a_webhook_whose_sending_fails_is_sent_again_with_the_same_answer(
        gateway: TestGateway) -> None:
    answer = gateway.authorize("tok_async", eur(1999), key(), "OM-000001")

    def fail(body: bytes, headers: dict[str, str]) -> None:
        raise ConnectionError("the receiver is down")

    with pytest.raises(ConnectionError):
        gateway.deliver_webhooks(fail)
    sent: list[tuple[bytes, dict[str, str]]] = []
    assert gateway.deliver_webhooks(lambda body, headers: sent.append((body, headers))) == 1
    notice = gateway.parse_webhook(*sent[0])
    assert notice.authorization == answer.reference
    assert notice.answer.outcome is Outcome.SUCCEEDED


def test_a_webhook_with_a_bad_signature_or_a_tampered_body_is_refused(
        gateway: TestGateway) -> None:
    gateway.authorize("tok_async", eur(1999), key(), "OM-000001")
    sent: list[tuple[bytes, dict[str, str]]] = []
    gateway.deliver_webhooks(lambda body, headers: sent.append((body, headers)))
    [(body, headers)] = sent
    gateway.parse_webhook(body, headers)  # the genuine one is accepted
    payload = json.loads(body)
    payload["answer"]["outcome"] = "failed"
    with pytest.raises(InvalidInput):
        gateway.parse_webhook(json.dumps(payload).encode(), headers)
    with pytest.raises(InvalidInput):
        gateway.parse_webhook(body + b" ", headers)
    with pytest.raises(InvalidInput):
        gateway.parse_webhook(body, {**headers, "webhook-signature": "v1,AAAAAAAAAAAAAAAAAAAA"})
    with pytest.raises(InvalidInput):
        gateway.parse_webhook(body, {**headers, "webhook-id": "evt_other"})
    # signed with another secret
    other = TestGateway(TestGatewaySettings(
        database_url=gateway.settings.database_url,
        webhook_secret="whsec_c29tZS1vdGhlci1zZWNyZXQtb2YtMzItYnl0ZXM="), clock=gateway.clock)
    with pytest.raises(InvalidInput):
        other.parse_webhook(body, headers)
    other.engine.dispose()


# -- idempotency -----------------------------------------------------------------------------


def test_a_capture_asked_twice_with_one_key_captures_once(gateway: TestGateway,
                                                          clock: Clock) -> None:
    auth = authorized(gateway, 1000)
    k = key()
    first = gateway.capture(auth, eur(400), k, final=False)
    second = gateway.capture(auth, eur(400), k, final=False)
    assert first.outcome is Outcome.SUCCEEDED
    assert second == first
    # the same key for another amount is refused, and moves nothing
    reused = gateway.capture(auth, eur(500), k, final=False)
    assert (reused.outcome, reused.failure) == (Outcome.FAILED, "idempotency_key_reused")
    assert len([b for b in rows(gateway, tg.balance) if b.type == "capture"]) == 1  # type: ignore[attr-defined]
    # the money moved once: 600 are still capturable, not 200
    assert captured(gateway, auth, 600).outcome is Outcome.SUCCEEDED
    assert gateway.capture(auth, eur(1), key(), False).failure == "amount_too_large"
    gateway.settle(clock.now.date() + timedelta(days=2))
    [payout] = gateway.payouts(clock.now.date())
    assert payout.amount == 1000 - fee_of(400) - fee_of(600)


def test_a_refund_asked_twice_with_one_key_refunds_once(gateway: TestGateway,
                                                        clock: Clock) -> None:
    auth = authorized(gateway, 1000)
    capture = captured(gateway, auth, 1000, final=True)
    k = key()
    first = gateway.refund(auth, eur(300), k)
    assert first.outcome is Outcome.SUCCEEDED and first.reference
    assert gateway.refund(auth, eur(300), k) == first
    reused = gateway.refund(auth, eur(200), k)
    assert (reused.outcome, reused.failure) == (Outcome.FAILED, "idempotency_key_reused")
    refunds = [b for b in rows(gateway, tg.balance) if b.type == "refund"]  # type: ignore[attr-defined]
    assert [(r.source, r.amount, r.fee) for r in refunds] == [(first.reference, -300, 0)]  # type: ignore[attr-defined]
    gateway.settle(clock.now.date() + timedelta(days=2))
    [payout] = gateway.payouts(clock.now.date())
    assert payout.amount == 1000 - 300 - (capture.fee or 0)


def test_one_key_for_another_kind_of_call_is_refused(gateway: TestGateway) -> None:
    auth = authorized(gateway, 1000)
    k = key()
    captured_once = gateway.capture(auth, eur(500), k, final=False)
    assert captured_once.outcome is Outcome.SUCCEEDED
    refused = gateway.refund(auth, eur(500), k)
    assert (refused.outcome, refused.failure) == (Outcome.FAILED, "idempotency_key_reused")
    assert count(gateway, tg.balance) == 1


# -- capture limits, expiry, void, refunds ----------------------------------------------------


def test_captures_are_partial_and_several_and_never_more_than_authorized(
        gateway: TestGateway) -> None:
    auth = authorized(gateway, 1000)
    too_much = gateway.capture(auth, eur(1001), key(), final=False)
    assert (too_much.outcome, too_much.failure) == (Outcome.FAILED, "amount_too_large")
    assert too_much.reference is None
    references = {captured(gateway, auth, amount).reference for amount in (300, 300, 300)}
    assert len(references) == 3
    assert gateway.capture(auth, eur(101), key(), False).failure == "amount_too_large"
    last = captured(gateway, auth, 100)
    assert last.fee == fee_of(100)
    assert gateway.capture(auth, eur(1), key(), False).failure == "amount_too_large"
    [auth_row] = rows(gateway, tg.authorizations)
    assert auth_row.captured == 1000  # type: ignore[attr-defined]


def test_a_currency_other_than_the_authorizations_is_refused(gateway: TestGateway) -> None:
    auth = authorized(gateway, 1000)
    answer = gateway.capture(auth, Money(100, "USD"), key(), final=False)
    assert (answer.outcome, answer.failure) == (Outcome.FAILED, "currency_mismatch")
    unknown = gateway.capture("auth_nope", eur(100), key(), final=False)
    assert unknown.failure == "no_such_authorization"
    assert gateway.status("auth_nope").failure == "no_such_authorization"


def test_a_final_capture_closes_the_authorization(gateway: TestGateway) -> None:
    auth = authorized(gateway, 1000)
    captured(gateway, auth, 400, final=True)
    later = gateway.capture(auth, eur(100), key(), final=False)
    assert (later.outcome, later.failure) == (Outcome.FAILED, "authorization_closed")
    void = gateway.void(auth, key())
    assert (void.outcome, void.failure) == (Outcome.FAILED, "authorization_closed")
    # what was captured can still be refunded
    assert gateway.refund(auth, eur(400), key()).outcome is Outcome.SUCCEEDED


def test_an_authorization_lapses_after_its_days(gateway: TestGateway, clock: Clock) -> None:
    auth = authorized(gateway, 1000)
    clock.advance(days=7, seconds=-1)
    captured(gateway, auth, 100)
    clock.advance(seconds=1)
    lapsed = gateway.capture(auth, eur(100), key(), final=False)
    assert (lapsed.outcome, lapsed.failure) == (Outcome.FAILED, "authorization_expired")
    # what was captured before it lapsed is refundable
    assert gateway.refund(auth, eur(100), key()).outcome is Outcome.SUCCEEDED


def test_a_void_releases_the_authorization(gateway: TestGateway) -> None:
    auth = authorized(gateway, 1000)
    void = gateway.void(auth, key())
    assert void.outcome is Outcome.SUCCEEDED and void.reference
    assert gateway.capture(auth, eur(100), key(), False).failure == "authorization_closed"
    assert gateway.void(auth, key()).failure == "authorization_closed"
    assert gateway.void("auth_nope", key()).failure == "no_such_authorization"
    declined = gateway.authorize("tok_declined", eur(1000), key(), "OM-000002")
    assert declined.reference is not None
    assert gateway.void(declined.reference, key()).outcome is Outcome.FAILED
    assert count(gateway, tg.balance) == 0  # a void moves no money


def test_a_void_after_a_partial_capture_keeps_what_was_captured(gateway: TestGateway) -> None:
    auth = authorized(gateway, 1000)
    captured(gateway, auth, 250)
    assert gateway.void(auth, key()).outcome is Outcome.SUCCEEDED
    assert gateway.capture(auth, eur(100), key(), False).failure == "authorization_closed"
    assert gateway.refund(auth, eur(251), key()).failure == "amount_too_large"
    assert gateway.refund(auth, eur(250), key()).outcome is Outcome.SUCCEEDED


def test_refunds_are_partial_and_several_and_never_more_than_captured(
        gateway: TestGateway) -> None:
    auth = authorized(gateway, 1000)
    nothing_yet = gateway.refund(auth, eur(1), key())
    assert (nothing_yet.outcome, nothing_yet.failure) == (Outcome.FAILED, "amount_too_large")
    captured(gateway, auth, 600)
    first = gateway.refund(auth, eur(200), key())
    second = gateway.refund(auth, eur(300), key())
    assert first.outcome is second.outcome is Outcome.SUCCEEDED
    assert first.reference != second.reference
    assert first.fee == second.fee == 0
    assert gateway.refund(auth, eur(101), key()).failure == "amount_too_large"
    assert gateway.refund(auth, eur(100), key()).outcome is Outcome.SUCCEEDED
    assert gateway.refund(auth, eur(1), key()).failure == "amount_too_large"
    [auth_row] = rows(gateway, tg.authorizations)
    assert (auth_row.captured, auth_row.refunded) == (600, 600)  # type: ignore[attr-defined]


# -- fees and settlement ---------------------------------------------------------------------


@pytest.mark.parametrize(("amount", "fee"), [
    (1000, 59),  # 29 + 30
    (1050, 60),  # 30.45 -> 30, + 30
    (500, 45),  # 14.5 -> 15 (half up, not to even), + 30
    (1500, 74),  # 43.5 -> 44, + 30
    (1017, 59),  # 29.493 -> 29, + 30
    (1, 30),  # 0.029 -> 0, + 30
    (123457, 3610),  # 3580.253 -> 3580, + 30
])
def test_each_capture_costs_its_fee_rounded_half_up(gateway: TestGateway, amount: int,
                                                   fee: int) -> None:
    assert fee == fee_of(amount)
    auth = authorized(gateway, amount)
    assert captured(gateway, auth, amount).fee == fee
    [booked] = rows(gateway, tg.balance)
    assert (booked.amount, booked.fee) == (amount, fee)  # type: ignore[attr-defined]


def test_captures_and_refunds_are_paid_out_per_currency_net_of_fees_and_refunds(
        gateway: TestGateway, clock: Clock) -> None:
    today = clock.now.date()
    eur_auth = authorized(gateway, 5000)
    usd_auth = authorized(gateway, 3000, currency="USD")
    eur_captures = [captured(gateway, eur_auth, amount) for amount in (1000, 1050)]
    usd_capture = captured(gateway, usd_auth, 3000, currency="USD")
    eur_refund = gateway.refund(eur_auth, eur(500), key())
    assert eur_refund.outcome is Outcome.SUCCEEDED
    # before settlement_days pass, nothing is paid out
    assert gateway.settle(today) == []
    assert gateway.settle(today + timedelta(days=1)) == []
    assert gateway.payouts(today) == []
    made = gateway.settle(today + timedelta(days=2))
    assert len(made) == 2
    payouts = {p.currency: p for p in gateway.payouts(today)}
    assert set(payouts) == {"EUR", "USD"}
    assert {p.id for p in payouts.values()} == set(made)
    assert payouts["EUR"].amount == 1000 + 1050 - 500 - fee_of(1000) - fee_of(1050)
    assert payouts["USD"].amount == 3000 - fee_of(3000)
    assert payouts["EUR"].arrival_date == today + timedelta(days=2)
    for payout in payouts.values():
        assert all(item.net == item.amount - item.fee for item in payout.items)
        assert sum(item.net for item in payout.items) == payout.amount
    eur_items = {item.gateway_reference: item for item in payouts["EUR"].items}
    assert {ref: (i.type, i.amount, i.fee) for ref, i in eur_items.items()} == {
        eur_captures[0].reference: ("capture", 1000, 59),
        eur_captures[1].reference: ("capture", 1050, 60),
        eur_refund.reference: ("refund", -500, 0),
    }
    [usd_item] = payouts["USD"].items
    assert usd_item.gateway_reference == usd_capture.reference
    # what was paid out is paid out once
    assert gateway.settle(today + timedelta(days=3)) == []
    # a later capture goes into a later payout
    clock.advance(days=1)
    late = captured(gateway, eur_auth, 100)
    assert gateway.settle(today + timedelta(days=2)) == []
    [later] = gateway.settle(today + timedelta(days=3))
    assert [p.id for p in gateway.payouts(today + timedelta(days=3))] == [later]
    [late_payout] = gateway.payouts(today + timedelta(days=3))
    assert late_payout.amount == 100 - fee_of(100)
    assert [i.gateway_reference for i in late_payout.items] == [late.reference]


# -- concurrency -----------------------------------------------------------------------------


def test_concurrent_captures_never_capture_more_than_authorized(gateway: TestGateway) -> None:
    auth = authorized(gateway, 1000)
    answers = together([lambda: gateway.capture(auth, eur(100), key(), final=False)
                        for _ in range(16)], ())
    outcomes = [(a.outcome, a.failure) for a in answers]
    assert outcomes.count((Outcome.SUCCEEDED, None)) == 10
    assert outcomes.count((Outcome.FAILED, "amount_too_large")) == 6
    [auth_row] = rows(gateway, tg.authorizations)
    assert auth_row.captured == 1000  # type: ignore[attr-defined]
    assert sum(b.amount for b in rows(gateway, tg.balance)) == 1000  # type: ignore[attr-defined]


def test_concurrent_refunds_never_refund_more_than_captured(gateway: TestGateway) -> None:
    auth = authorized(gateway, 1000)
    captured(gateway, auth, 1000, final=True)
    answers = together([lambda: gateway.refund(auth, eur(300), key()) for _ in range(8)], ())
    assert [a.outcome for a in answers].count(Outcome.SUCCEEDED) == 3
    [auth_row] = rows(gateway, tg.authorizations)
    assert auth_row.refunded == 900  # type: ignore[attr-defined]


def test_concurrent_calls_with_one_key_all_get_the_one_answer(gateway: TestGateway) -> None:
    auth = authorized(gateway, 1000)
    k = key()

    def capture() -> object:
        try:
            return gateway.capture(auth, eur(100), k, final=False)
        except Exception as exc:  # anything but an answer is what this test looks for
            return exc

    answers = together([capture for _ in range(8)], ())
    [auth_row] = rows(gateway, tg.authorizations)
    assert auth_row.captured == 100  # type: ignore[attr-defined]  # money moved once
    errors = [a for a in answers if isinstance(a, Exception)]
    assert not [e for e in errors if not isinstance(e, GatewayUnavailable)], errors
    assert len({a.reference for a in answers if isinstance(a, GatewayAnswer)}) == 1
