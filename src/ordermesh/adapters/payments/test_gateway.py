"""The built-in `test` payment gateway: a gateway of its own, run inside Ordermesh, that behaves
like a real one so the whole money flow can be seen and tested without an account anywhere.

It keeps its own books in its own database (by default a SQLite file beside Ordermesh's), in
transactions of its own: like a real gateway, what it did is not undone when the caller's
transaction rolls back, and a repeated idempotency key gets the first answer again.

Test tokens (the card number never reaches Ordermesh; a token stands for it):

| token                   | what happens                                                     |
|-------------------------|------------------------------------------------------------------|
| tok_visa, tok_mastercard, tok_amex | authorized                                            |
| tok_declined            | refused: card_declined                                           |
| tok_insufficient_funds  | refused: insufficient_funds                                      |
| tok_expired_card        | refused: expired_card                                            |
| tok_slow                | authorized after `slow_seconds`                                  |
| tok_unavailable         | no answer: every call raises GatewayUnavailable, nothing is done |
| tok_lost_answer         | authorized, but the first answer is lost (GatewayUnavailable);   |
|                         | asking again with the same key gives the answer                  |
| tok_async               | pending; the result comes later by webhook                       |
| tok_async_declined      | pending; a refusal comes later by webhook                        |
| any other tok_...       | authorized, as a Visa card ending 4242                           |
| anything else           | refused: invalid_token                                           |

Authorizations lapse after `authorization_days`. Each capture costs a fee (`fee_percent` of the
amount, rounded half up, plus `fee_fixed`); a refund costs nothing and returns no fee. Captures
and refunds become available `settlement_days` after they happen and are paid out once a day,
per currency, net of fees and refunds. Webhooks are signed per the Standard Webhooks scheme.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    MetaData,
    String,
    Table,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from ordermesh.adapters.db.engine import make_engine
from ordermesh.adapters.simulated import kept_secret, settings_table
from ordermesh.domain.errors import InvalidInput
from ordermesh.domain.money import Money
from ordermesh.domain.payments import (
    Card,
    GatewayAnswer,
    GatewayNotice,
    GatewayUnavailable,
    Kind,
    Outcome,
    Payout,
    PayoutItem,
)

metadata = MetaData()

authorizations = Table(
    "test_gateway_authorizations", metadata,
    Column("id", String(40), primary_key=True),
    Column("token", String(200), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("captured", BigInteger, nullable=False),
    Column("refunded", BigInteger, nullable=False),
    Column("released", Boolean, nullable=False),  # voided, or closed by a final capture
    Column("status", String(16), nullable=False),  # pending | succeeded | failed
    Column("failure", String(64), nullable=True),
    Column("card", JSON, nullable=True),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Every call that moves money, by idempotency key, with the answer it got.
operations = Table(
    "test_gateway_operations", metadata,
    Column("idempotency_key", String(200), primary_key=True),
    Column("request", String(400), nullable=False),
    Column("answer", JSON, nullable=False),
    Column("answered", Boolean, nullable=False),  # False: done, but the answer was lost once
)

balance = Table(
    "test_gateway_balance", metadata,
    Column("id", String(40), primary_key=True),
    Column("type", String(16), nullable=False),  # capture | refund
    Column("source", String(40), nullable=False),  # the capture's or refund's reference
    Column("authorization", String(40), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount", BigInteger, nullable=False),  # negative for refunds
    Column("fee", BigInteger, nullable=False),
    Column("available_on", Date, nullable=False),
    Column("payout_id", String(40), nullable=True),
)

payouts = Table(
    "test_gateway_payouts", metadata,
    Column("id", String(40), primary_key=True),
    Column("currency", String(3), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("arrival_date", Date, nullable=False),
)

events = Table(
    "test_gateway_events", metadata,
    Column("id", String(40), primary_key=True),
    Column("payload", JSON, nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("delivered", Boolean, nullable=False),
)

own = settings_table(metadata, "test_gateway_settings")

CARDS = {
    "tok_visa": Card("visa", "4242", 12, 2034),
    "tok_mastercard": Card("mastercard", "4444", 11, 2033),
    "tok_amex": Card("amex", "0005", 10, 2032),
    "tok_slow": Card("visa", "1881", 9, 2031),
    "tok_lost_answer": Card("visa", "3220", 8, 2032),
    "tok_async": Card("visa", "3184", 7, 2033),
}
REFUSALS = {
    "tok_declined": "card_declined",
    "tok_insufficient_funds": "insufficient_funds",
    "tok_expired_card": "expired_card",
    "tok_async_declined": "card_declined",
}
ASYNC = {"tok_async", "tok_async_declined"}


@dataclass(frozen=True)
class TestGatewaySettings:
    __test__ = False  # not a pytest test class

    database_url: str = "sqlite:///ordermesh-test-gateway.db"
    webhook_secret: str = ""  # empty: the gateway's own, made at its first start and kept
    fee_percent: Decimal = Decimal("0.029")
    fee_fixed: int = 30
    authorization_days: int = 7
    settlement_days: int = 2
    slow_seconds: float = 2.0
    async_seconds: float = 1.0  # how long an asynchronous result takes


def _now() -> datetime:
    return datetime.now(UTC)


def _id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


class TestGateway:
    """The `test` gateway. `clock` is the gateway's own time, so tests can let days pass."""

    __test__ = False

    def __init__(self, settings: TestGatewaySettings | None = None,
                 clock: Callable[[], datetime] = _now, name: str = "test") -> None:
        self.settings = settings or TestGatewaySettings()
        self.clock = clock
        self.name = name
        self.engine: Engine = make_engine(self.settings.database_url, pool_size=5)
        metadata.create_all(self.engine)
        self.webhook = Webhook(self.settings.webhook_secret or kept_secret(self.engine, own))

    # -- the port --------------------------------------------------------------------------

    def authorize(self, token: str, amount: Money, idempotency_key: str,
                  reference: str) -> GatewayAnswer:
        if token == "tok_unavailable":
            raise GatewayUnavailable("the test gateway did not answer (tok_unavailable)")
        if token == "tok_slow":
            time.sleep(self.settings.slow_seconds)
        request = f"authorize {token} {amount.amount} {amount.currency}"
        return self._once(idempotency_key, request, lose_first=token == "tok_lost_answer",
                          work=lambda conn: self._authorize(conn, token, amount))

    def capture(self, authorization: str, amount: Money, idempotency_key: str,
                final: bool) -> GatewayAnswer:
        request = f"capture {authorization} {amount.amount} {amount.currency} {final}"
        return self._once(idempotency_key, request, lose_first=False,
                          work=lambda conn: self._capture(conn, authorization, amount, final))

    def void(self, authorization: str, idempotency_key: str) -> GatewayAnswer:
        return self._once(idempotency_key, f"void {authorization}", lose_first=False,
                          work=lambda conn: self._void(conn, authorization))

    def refund(self, authorization: str, amount: Money, idempotency_key: str) -> GatewayAnswer:
        request = f"refund {authorization} {amount.amount} {amount.currency}"
        return self._once(idempotency_key, request, lose_first=False,
                          work=lambda conn: self._refund(conn, authorization, amount))

    def status(self, authorization: str) -> GatewayAnswer:
        with self.engine.connect() as conn:
            auth = self._authorization(conn, authorization)
        if auth is None:
            return GatewayAnswer(Outcome.FAILED, authorization, failure="no_such_authorization")
        return self._auth_answer(auth)

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> GatewayNotice:
        try:
            payload = self.webhook.verify(body, {k.lower(): v for k, v in headers.items()})
        except WebhookVerificationError as exc:
            raise InvalidInput(f"webhook signature refused: {exc}") from exc
        try:
            return self._notice(payload)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidInput(f"the webhook's body is not a test gateway event: {exc!r}") from exc

    def _notice(self, payload: Any) -> GatewayNotice:
        answer = payload["answer"]
        if not (isinstance(payload["id"], str) and isinstance(payload["authorization"], str)
                and isinstance(answer, dict)
                and isinstance(payload.get("amount"), int | None)
                and isinstance(answer.get("reference"), str | None)
                and isinstance(answer.get("failure"), str | None)
                and isinstance(answer.get("fee"), int | None)
                and isinstance(answer.get("card"), dict | None)):
            raise ValueError("a field has the wrong type")
        card = answer.get("card")
        return GatewayNotice(
            id=payload["id"], kind=Kind(payload["kind"]), authorization=payload["authorization"],
            amount=payload.get("amount"),
            answer=GatewayAnswer(
                Outcome(answer["outcome"]), answer.get("reference"), answer.get("failure"),
                answer.get("fee"), Card(**card) if card else None,
                datetime.fromisoformat(answer["authorized_until"])
                if answer.get("authorized_until") else None))

    def payouts(self, since: date) -> list[Payout]:
        with self.engine.connect() as conn:
            found = conn.execute(select(payouts).where(payouts.c.arrival_date >= since)
                                 .order_by(payouts.c.arrival_date, payouts.c.id)).all()
            result = []
            for payout in found:
                items = conn.execute(select(balance).where(balance.c.payout_id == payout.id)
                                     .order_by(balance.c.id)).all()
                result.append(Payout(payout.id, payout.currency, payout.amount,
                                     payout.arrival_date,
                                     tuple(PayoutItem(i.type, i.source, i.amount, i.fee)
                                           for i in items)))
        return result

    # -- the gateway's own jobs, as time passes ----------------------------------------------

    def settle(self, day: date) -> list[str]:
        """Pay out, per currency, everything available by `day` and not paid out yet: the sum
        of captures and refunds, net of fees. Returns the new payouts' ids."""
        made = []
        with self.engine.begin() as conn:
            due = conn.execute(select(balance).where(balance.c.payout_id.is_(None),
                                                     balance.c.available_on <= day)).all()
            for currency in sorted({row.currency for row in due}):
                rows = [row for row in due if row.currency == currency]
                payout_id = _id("po")
                amount = sum(row.amount - row.fee for row in rows)
                conn.execute(insert(payouts).values(id=payout_id, currency=currency,
                                                    amount=amount, arrival_date=day))
                conn.execute(update(balance).where(balance.c.id.in_([r.id for r in rows]))
                             .values(payout_id=payout_id))
                made.append(payout_id)
        return made

    def deliver_webhooks(self, send: Callable[[bytes, dict[str, str]], None]) -> int:
        """Finish what was asynchronous and due, then send each undelivered webhook, signed;
        a webhook whose sending fails stays undelivered, to be sent again next time."""
        now = self.clock()
        with self.engine.connect() as conn:
            due = conn.execute(select(events).where(events.c.delivered.is_(False),
                                                    events.c.due_at <= now)
                               .order_by(events.c.due_at)).all()
        sent = 0
        for event in due:
            body = json.dumps(self._complete(event.id, event.payload)).encode()
            # signed at the time it is sent (the receiver checks that), whatever the clock
            timestamp = datetime.fromtimestamp(int(_now().timestamp()), UTC)
            signature = self.webhook.sign(event.id, timestamp, body.decode())
            send(body, {"webhook-id": event.id, "webhook-timestamp": str(int(timestamp.timestamp())),
                        "webhook-signature": signature, "content-type": "application/json"})
            with self.engine.begin() as conn:
                conn.execute(update(events).where(events.c.id == event.id).values(delivered=True))
            sent += 1
        return sent

    # -- inside the gateway --------------------------------------------------------------------

    def _once(self, key: str, request: str, lose_first: bool,
              work: Callable[[Connection], GatewayAnswer]) -> GatewayAnswer:
        """Do `work` once per idempotency key, in one transaction with the key's record. Two
        first calls with one key at once: the second's insert fails on the key, and it asks
        again, now waiting for the first's record and answering with it."""
        for attempt in range(3):
            try:
                return self._once_in(key, request, lose_first, work)
            except IntegrityError:
                if attempt == 2:
                    raise GatewayUnavailable("the test gateway is busy with this key") from None
        raise AssertionError("unreachable")

    def _once_in(self, key: str, request: str, lose_first: bool,
                 work: Callable[[Connection], GatewayAnswer]) -> GatewayAnswer:
        with self.engine.begin() as conn:
            known = conn.execute(select(operations).where(operations.c.idempotency_key == key)
                                 .with_for_update()).first()
            if known is None:
                answer = work(conn)
                conn.execute(insert(operations).values(
                    idempotency_key=key, request=request, answer=_answer_json(answer),
                    answered=not lose_first))
            elif known.request != request:
                return GatewayAnswer(Outcome.FAILED, None, failure="idempotency_key_reused")
            else:
                answer = _answer_of(known.answer)
                if not known.answered:
                    conn.execute(update(operations).where(operations.c.idempotency_key == key)
                                 .values(answered=True))
        if known is None and lose_first:
            raise GatewayUnavailable("the test gateway's answer was lost (tok_lost_answer)")
        return answer

    def _authorization(self, conn: Connection, auth_id: str, lock: bool = False) -> Any:
        query = select(authorizations).where(authorizations.c.id == auth_id)
        return conn.execute(query.with_for_update() if lock else query).first()

    def _authorize(self, conn: Connection, token: str, amount: Money) -> GatewayAnswer:
        now = self.clock()
        failure = REFUSALS.get(token)
        card = None if failure else CARDS.get(token, CARDS["tok_visa"] if token.startswith("tok_")
                                              else None)
        if card is None and failure is None:
            failure = "invalid_token"
        auth_id = _id("auth")
        status = "pending" if token in ASYNC else ("failed" if failure else "succeeded")
        expires = now + timedelta(days=self.settings.authorization_days)
        conn.execute(insert(authorizations).values(
            id=auth_id, token=token, currency=amount.currency, amount=amount.amount, captured=0,
            refunded=0, released=False, status=status, failure=failure,
            card=card and _card_json(card), expires_at=expires, created_at=now))
        if token in ASYNC:
            due = now + timedelta(seconds=self.settings.async_seconds)
            conn.execute(insert(events).values(
                id=_id("evt"), due_at=due, delivered=False,
                payload={"kind": "authorize", "authorization": auth_id, "amount": amount.amount}))
            return GatewayAnswer(Outcome.PENDING, auth_id)
        return self._auth_answer(self._authorization(conn, auth_id))

    def _complete(self, event_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        """An asynchronous authorization comes to its end when its webhook is first sent; the
        webhook then carries the answer (and the same answer if it is sent again)."""
        if "answer" in payload:
            return payload
        with self.engine.begin() as conn:
            auth = self._authorization(conn, payload["authorization"], lock=True)
            if auth.status == "pending":
                failure = REFUSALS.get(auth.token)
                conn.execute(update(authorizations).where(authorizations.c.id == auth.id).values(
                    status="failed" if failure else "succeeded", failure=failure,
                    card=None if failure else _card_json(CARDS.get(auth.token, CARDS["tok_visa"]))))
                auth = self._authorization(conn, auth.id)
            payload = {**payload, "id": event_id, "answer": _answer_json(self._auth_answer(auth))}
            conn.execute(update(events).where(events.c.id == event_id).values(payload=payload))
        return payload

    def _auth_answer(self, auth: Any) -> GatewayAnswer:
        outcome = Outcome(auth.status)
        card = Card(**auth.card) if auth.card else None
        expires = _aware(auth.expires_at)
        return GatewayAnswer(outcome, auth.id, auth.failure, card=card,
                             authorized_until=expires if outcome is Outcome.SUCCEEDED else None)

    def _usable(self, conn: Connection, auth_id: str, currency: str) -> tuple[Any, str | None]:
        auth = self._authorization(conn, auth_id, lock=True)
        if auth is None:
            return None, "no_such_authorization"
        if auth.status != "succeeded":
            return auth, "authorization_not_succeeded"
        if auth.currency != currency:
            return auth, "currency_mismatch"
        return auth, None

    def _capture(self, conn: Connection, auth_id: str, amount: Money,
                 final: bool) -> GatewayAnswer:
        auth, failure = self._usable(conn, auth_id, amount.currency)
        now = self.clock()
        if failure is None and auth.released:
            failure = "authorization_closed"
        if failure is None and _aware(auth.expires_at) <= now:
            failure = "authorization_expired"
        if failure is None and amount.amount > auth.amount - auth.captured:
            failure = "amount_too_large"
        if failure is not None:
            return GatewayAnswer(Outcome.FAILED, None, failure)
        fee = self._fee(amount.amount)
        capture_id = _id("cap")
        conn.execute(update(authorizations).where(authorizations.c.id == auth_id).values(
            captured=auth.captured + amount.amount, released=final))
        self._book(conn, "capture", capture_id, auth_id, amount.currency, amount.amount, fee)
        return GatewayAnswer(Outcome.SUCCEEDED, capture_id, fee=fee)

    def _void(self, conn: Connection, auth_id: str) -> GatewayAnswer:
        auth = self._authorization(conn, auth_id, lock=True)
        if auth is None or auth.status != "succeeded" or auth.released:
            return GatewayAnswer(Outcome.FAILED, None, "authorization_closed"
                                 if auth is not None else "no_such_authorization")
        conn.execute(update(authorizations).where(authorizations.c.id == auth_id)
                     .values(released=True))
        return GatewayAnswer(Outcome.SUCCEEDED, _id("void"))

    def _refund(self, conn: Connection, auth_id: str, amount: Money) -> GatewayAnswer:
        auth, failure = self._usable(conn, auth_id, amount.currency)
        if failure is None and amount.amount > auth.captured - auth.refunded:
            failure = "amount_too_large"
        if failure is not None:
            return GatewayAnswer(Outcome.FAILED, None, failure)
        refund_id = _id("re")
        conn.execute(update(authorizations).where(authorizations.c.id == auth_id)
                     .values(refunded=auth.refunded + amount.amount))
        self._book(conn, "refund", refund_id, auth_id, amount.currency, -amount.amount, 0)
        return GatewayAnswer(Outcome.SUCCEEDED, refund_id, fee=0)

    def _book(self, conn: Connection, kind: str, source: str, auth_id: str, currency: str,
              amount: int, fee: int) -> None:
        available = self.clock().date() + timedelta(days=self.settings.settlement_days)
        conn.execute(insert(balance).values(id=_id("txn"), type=kind, source=source,
                                            authorization=auth_id, currency=currency,
                                            amount=amount, fee=fee, available_on=available))

    def _fee(self, amount: int) -> int:
        percent = (Decimal(amount) * self.settings.fee_percent).quantize(Decimal(1), ROUND_HALF_UP)
        return int(percent) + self.settings.fee_fixed


def _aware(moment: datetime) -> datetime:
    """SQLite gives timestamps back without their zone; they were written in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _card_json(card: Card) -> dict[str, Any]:
    return {"brand": card.brand, "last4": card.last4, "exp_month": card.exp_month,
            "exp_year": card.exp_year}


def _answer_json(answer: GatewayAnswer) -> dict[str, Any]:
    return {"outcome": str(answer.outcome), "reference": answer.reference,
            "failure": answer.failure, "fee": answer.fee,
            "card": _card_json(answer.card) if answer.card else None,
            "authorized_until": answer.authorized_until.isoformat()
            if answer.authorized_until else None}


def _answer_of(data: dict[str, Any]) -> GatewayAnswer:
    card = data.get("card")
    until = data.get("authorized_until")
    return GatewayAnswer(Outcome(data["outcome"]), data.get("reference"), data.get("failure"),
                         data.get("fee"), Card(**card) if card else None,
                         datetime.fromisoformat(until) if until else None)
