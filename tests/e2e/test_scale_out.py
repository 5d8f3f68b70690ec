"""Scaled out on PostgreSQL: three API processes and three worker processes at once, as real
processes. Orders placed through all three APIs; every event is relayed once, gets exactly
one delivery row, and reaches the webhook receiver signed, each event once (the lease of a
sender is far longer than the test, so no delivery is ever sent twice); the workers share the
sending."""

from __future__ import annotations

import re
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from ordermesh.adapters.db import tables as t
from ordermesh.adapters.db.engine import retry_reason
from ordermesh.adapters.db.unit_of_work import SqlUnitOfWork
from ordermesh.adapters.webhooks.sender import WebhookSender, new_secret
from ordermesh.services import commands as c
from ordermesh.services.bus import MessageBus
from ordermesh.services.handlers.webhooks import WebhookSetup
from tests.builders import a_shop, an_order
from tests.integration.test_webhooks import Receiver, receiver  # noqa: F401
from tests.integration.test_worker_cli import ORDERMESH, environment

APIS, WORKERS, ORDERS, CLIENTS = 3, 3, 60, 6


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting for {what}")


def answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[list[tuple[subprocess.Popen[bytes], Path]]]:
    """The processes a test starts, each with its log; all stopped on the way out."""
    started: list[tuple[subprocess.Popen[bytes], Path]] = []
    yield started
    for process, _ in started:
        process.terminate()
    for process, _ in started:
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def start(processes: list[tuple[subprocess.Popen[bytes], Path]], args: list[str],
          env: dict[str, str], log_path: Path) -> None:
    with log_path.open("w") as log:
        processes.append((subprocess.Popen([ORDERMESH, *args], env=env, stdout=log,
                                           stderr=subprocess.STDOUT), log_path))


def outbox(engine: Engine) -> tuple[int, int, int]:
    """Events not relayed, deliveries, deliveries delivered."""
    e, d = t.events, t.webhook_deliveries
    with engine.connect() as conn:
        return (conn.execute(select(func.count()).select_from(e)
                             .where(e.c.published_at.is_(None))).scalar_one(),
                conn.execute(select(func.count()).select_from(d)).scalar_one(),
                conn.execute(select(func.count()).select_from(d)
                             .where(d.c.status == "delivered")).scalar_one())


def test_three_apis_and_three_workers_deliver_every_event_once(
        database_url: str, engine: Engine, receiver: Receiver,  # noqa: F811
        processes: list[tuple[subprocess.Popen[bytes], Path]], tmp_path: Path) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("the claim is about PostgreSQL: SQLite lets one writer in at a time, "
                    "so several processes on one file do not scale out")
    bus = MessageBus(lambda: SqlUnitOfWork(engine), retry_reason=retry_reason,
                     webhooks=WebhookSetup(WebhookSender(allow_private=True), new_secret))
    shop = a_shop(bus).location("WH-1").product("TEE-1").stock("TEE-1", "WH-1", 1000)
    bus.handle(c.UpdateChannel("test", "web", {"payment_gateway": None}))
    subscription = bus.handle(c.CreateWebhookSubscription("admin", receiver.url, ("order.*",)))
    settings = {"log_level": "INFO", "rate_limit_enabled": "false",
                "webhook_allow_private": "true", "mailbox_dir": str(tmp_path / "mailbox")}
    # given three API processes and three workers on one PostgreSQL database
    urls = []
    for n in range(APIS):
        port = free_port()
        urls.append(f"http://127.0.0.1:{port}")
        start(processes, ["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
              environment(database_url, **settings), tmp_path / f"api-{n}.log")
    worker_env = environment(database_url, **settings, worker_relay_seconds="0.2",
                             worker_batch_size="5", worker_lease_seconds="600",
                             worker_release_waves="false", worker_shipping_jobs_seconds="3600",
                             worker_payment_jobs_seconds="3600",
                             worker_import_payouts_seconds="3600",
                             worker_expire_cart_holds_seconds="3600",
                             worker_jeopardy_seconds="3600")
    # (generous waits: Python processes start slowly on a machine that may be busy)
    wait_for(lambda: all(answers(url) for url in urls), 120, "the API processes")
    worker_logs = [tmp_path / f"worker-{n}.log" for n in range(WORKERS)]
    for log_path in worker_logs:
        start(processes, ["worker"], worker_env, log_path)
    # when 60 orders are placed by six clients, two on each API (the load balancer)
    lock, statuses = threading.Lock(), Counter[tuple[str, int]]()

    def client(i: int) -> None:
        url = urls[i % APIS]
        with httpx.Client(timeout=60, headers=shop.headers("web")) as http:
            for n in range(i, ORDERS, CLIENTS):
                answer = http.post(f"{url}/api/v1/orders", json=an_order(
                    ("TEE-1", 1), payment_token=None), headers={"Idempotency-Key": f"o-{n}"})
                with lock:
                    statuses[url, answer.status_code] += 1

    clients = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for thread in clients:
        thread.start()
    for thread in clients:
        thread.join()
    assert statuses == {(url, 201): ORDERS // APIS for url in urls}
    with engine.connect() as conn:
        expected = set(conn.execute(select(t.events.c.id).where(
            t.events.c.type.like("order.%"))).scalars())
    assert len(expected) >= 2 * ORDERS  # placed and allocated, at least
    # then every event is relayed and every order event delivered
    wait_for(lambda: outbox(engine) == (0, len(expected), len(expected)), 120,
             "every event delivered")
    # with exactly one delivery row per event, each sent once
    d, a = t.webhook_deliveries, t.webhook_attempts
    with engine.connect() as conn:
        rows = conn.execute(select(d.c.subscription_id, d.c.event_id, d.c.attempts)).all()
        attempts = conn.execute(select(func.count()).select_from(a)).scalar_one()
    assert Counter((s, e) for s, e, _ in rows) == {(subscription["id"], e): 1 for e in expected}
    assert {n for *_, n in rows} == {1} and attempts == len(expected)
    # and the receiver got every event, signed, each once
    verified = receiver.verified(subscription["secret"])
    assert Counter(m["data"]["id"] for m in verified) == dict.fromkeys(expected, 1)
    assert Counter(h["webhook-id"] for h, _ in receiver.received) == dict.fromkeys(expected, 1)
    # and the three workers shared the sending (what each says it delivered adds up)
    for process, _ in processes:
        process.terminate()
        process.wait(60)
    delivered = [sum(int(n) for n in re.findall(r"(\d+) webhook\(s\) delivered",
                                                log_path.read_text()))
                 for log_path in worker_logs]
    assert sum(delivered) == len(expected), delivered
    assert sum(1 for n in delivered if n) >= 2, delivered
