"""The worker killed (SIGKILL) in the middle of relaying, on both databases, as a real process:
after a restart every event reaches the webhook subscriber (verified with the Standard
Webhooks library) and every customer mail is sent; a webhook may come twice (the receiver
deduplicates by its id), a mail at most the one in flight at the kill, under the same
Message-ID."""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from ordermesh.adapters.db import tables as t
from ordermesh.adapters.db.engine import retry_reason
from ordermesh.adapters.db.unit_of_work import SqlUnitOfWork
from ordermesh.adapters.webhooks.sender import WebhookSender, new_secret
from ordermesh.services import commands as c
from ordermesh.services.bus import MessageBus
from ordermesh.services.handlers.webhooks import WebhookSetup
from tests.builders import a_shop, place
from tests.integration.test_smtp import Inbox, smtp_server  # noqa: F401
from tests.integration.test_webhooks import Receiver, receiver  # noqa: F401
from tests.integration.test_worker_cli import ORDERMESH, environment

ORDERS = 12


def worker(url: str, smtp_port: int) -> subprocess.Popen[bytes]:
    env = environment(url, webhook_allow_private="true", smtp_host="127.0.0.1",
                      smtp_port=str(smtp_port), smtp_starttls="false",
                      worker_relay_seconds="0.2", worker_batch_size="5",
                      worker_lease_seconds="2",
                      worker_release_waves="false", worker_shipping_jobs_seconds="3600",
                      worker_payment_jobs_seconds="3600", worker_import_payouts_seconds="3600",
                      worker_expire_cart_holds_seconds="3600")
    return subprocess.Popen([ORDERMESH, "worker"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def counts(engine: Engine) -> tuple[int, int, int, int]:
    """Deliveries (all, delivered) and notifications (all, sent)."""
    d, n = t.webhook_deliveries, t.notifications
    with engine.connect() as conn:
        return (conn.execute(select(func.count()).select_from(d)).scalar_one(),
                conn.execute(select(func.count()).select_from(d)
                             .where(d.c.status == "delivered")).scalar_one(),
                conn.execute(select(func.count()).select_from(n)).scalar_one(),
                conn.execute(select(func.count()).select_from(n)
                             .where(n.c.status == "sent")).scalar_one())


def wait_for(check: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError("gave up waiting")


def test_a_worker_killed_mid_batch_loses_nothing_after_a_restart(
        database_url: str, engine: Engine, receiver: Receiver,  # noqa: F811
        smtp_server: tuple[Inbox, int]) -> None:  # noqa: F811
    inbox, smtp_port = smtp_server
    bus = MessageBus(lambda: SqlUnitOfWork(engine), retry_reason=retry_reason,
                     webhooks=WebhookSetup(WebhookSender(allow_private=True), new_secret))
    a_shop(bus).location("WH-1").product("TEE-1").stock("TEE-1", "WH-1", 100)
    bus.handle(c.UpdateChannel("test", "web", {"payment_gateway": None}))
    subscription = bus.handle(c.CreateWebhookSubscription("admin", receiver.url, ("order.*",)))
    for _ in range(ORDERS):
        place(bus, ("TEE-1", 1), payment_token=None)
    with engine.connect() as conn:
        expected = set(conn.execute(select(t.events.c.id).where(
            t.events.c.type.like("order.%"))).scalars())
    # when the worker is killed once some webhooks went out
    first = worker(database_url, smtp_port)
    try:
        wait_for(lambda: len(receiver.received) >= 5, 60)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    assert len({h["webhook-id"] for h, _ in receiver.received}) < len(expected)  # mid-way
    # and started again, until everything is out
    second = worker(database_url, smtp_port)
    try:
        wait_for(lambda: counts(engine) == (len(expected), len(expected), ORDERS, ORDERS), 90)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(30)
    # then every event reached the subscriber, signed, and each is known by its id
    verified = receiver.verified(subscription["secret"])
    assert {m["data"]["id"] for m in verified} == expected
    assert {h["webhook-id"] for h, _ in receiver.received} == expected
    # and each customer got their confirmation: one mail per order, by Message-ID
    ids = Counter(str(m["Message-ID"]) for _, _, m in inbox.received)
    assert len(ids) == ORDERS
    assert sum(n - 1 for n in ids.values()) <= 1  # at most the mail in flight at the kill
