"""The worker's money jobs on both databases: authorizations about to lapse are flagged once
and renewed, and the settle-payments job runs the test gateway's day (webhooks, payouts)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlalchemy.engine import Engine

from ordermesh.adapters.db import tables as t
from ordermesh.adapters.payments.test_gateway import TestGateway
from ordermesh.bootstrap import App
from ordermesh.entrypoints.worker import settle_payments
from ordermesh.services import commands as c
from ordermesh.services.bus import MessageBus
from tests.integration.test_payments import events, payments, place, store  # noqa: F401


def test_an_authorization_about_to_lapse_is_flagged_once_and_renewed(
        store: MessageBus, engine: Engine) -> None:  # noqa: F811
    order_id = place(store)
    (first,) = payments(engine, order_id)
    # given the authorization lapses in an hour, and another order's in three days
    with engine.begin() as conn:
        conn.execute(update(t.payments).where(t.payments.c.id == first.id).values(
            authorized_until=datetime.now(UTC) + timedelta(hours=1)))
    later = place(store)
    # when the job looks a day ahead
    flagged = store.handle(c.FlagExpiringAuthorizations("worker", within_hours=24))
    # then only the first is flagged, voided, and authorized again with the same token
    assert flagged == [first.id]
    old, new = payments(engine, order_id)
    assert old.id == first.id and old.expiry_flagged_at is not None
    assert (new.token, new.card_last4) == (first.token, "4242")
    assert new.authorized_until > datetime.now(UTC) + timedelta(days=6)
    timeline = events(engine, order_id)
    assert timeline[timeline.index("payment.authorization_expiring"):] == [
        "payment.authorization_expiring", "payment.void_requested", "payment.voided",
        "payment.authorization_requested", "payment.authorized"]
    # and asking again flags nothing more; the other order was never touched
    assert store.handle(c.FlagExpiringAuthorizations("worker", within_hours=24)) == []
    assert len(payments(engine, later)) == 1


def test_the_settle_payments_job_sends_the_test_gateways_webhooks_and_pays_out(
        store: MessageBus, engine: Engine, gateway: TestGateway,  # noqa: F811
        ordermesh: App) -> None:
    order_id = place(store, pay_with="tok_async")
    (payment,) = payments(engine, order_id)
    assert payment.card_last4 is None  # the answer is still to come
    summary = settle_payments(ordermesh)
    assert "1 webhook(s)" in summary, summary
    (payment,) = payments(engine, order_id)
    assert payment.card_last4 == "3184"
    assert "payment.authorized" in events(engine, order_id)
