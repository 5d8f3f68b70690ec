"""Crashes under load, on SQLite and PostgreSQL: `ordermesh serve` and `ordermesh worker` run as
real processes while clients place orders (each with an Idempotency-Key), a warehouse client
picks, packs, labels and dispatches them (each dispatch captures its order's payment at the
test gateway and invoices it) and a customer-service client refunds part or all of what was
captured (each refund with a credit note). At seeded random moments the server's process
group, the worker or both are killed with SIGKILL and started again; clients send a request
that got no answer again, with the same key or reference. Afterwards the worker drains the
outbox and the books are read straight from the databases (Ordermesh's and the test
gateway's): every order answered 201 exists, once per key; stock rows agree with their
allocations and ledger; every event was relayed and delivered to the webhook consumer, which
after deduplication by its id saw each exactly once; invoice and credit-note numbers have no
gaps; no money was captured or refunded twice, and the gateway agrees with Ordermesh to the
cent. (At full size: `pytest -m heavy`; docs/reliability.md has the figures.)"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import Engine, make_url

from ordermesh.adapters.db import tables as t
from ordermesh.adapters.db.engine import make_engine, normalise_url, retry_reason
from ordermesh.adapters.db.migrate import upgrade
from ordermesh.adapters.db.unit_of_work import SqlUnitOfWork
from ordermesh.adapters.notify.email import MailboxSender
from ordermesh.adapters.payments.test_gateway import (
    TestGateway,
    TestGatewaySettings,
    authorizations,
    balance,
    operations,
)
from ordermesh.adapters.webhooks.sender import WebhookSender, new_secret
from ordermesh.domain.invoicing import Party
from ordermesh.services import commands as c
from ordermesh.services.bus import MessageBus
from ordermesh.services.handlers.payments import MoneySetup
from ordermesh.services.handlers.webhooks import WebhookSetup
from tests.builders import a_shop
from tests.crash_world import FINAL, Processes, Receiver, Size, Tally, run_load
from tests.e2e.race_api import assert_books_agree, heavy_only_when_asked  # noqa: F401

SIZES = [pytest.param(Size(clients=2, kills=3, pause=(1.0, 3.0)), id="default"),
         pytest.param(Size(clients=4, kills=20, pause=(2.0, 6.0)), id="heavy",
                      marks=pytest.mark.heavy)]
SEED = int(os.environ.get("ORDERMESH_TEST_CRASH_SEED", "20261127"))
SELLER = Party("Ordermesh Test Shop", {"line1": "1 Market Street", "city": "Amsterdam",
                                       "postal_code": "1011 AA", "country": "NL"})


@pytest.fixture(params=["sqlite", "postgresql"])
def crash_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated database of this test's own: a SQLite file, or a PostgreSQL database
    (ordermesh_crash_...) on the server the suite uses, dropped afterwards."""
    if request.param == "sqlite":
        path = tmp_path / "ordermesh.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    suite_database: str = request.getfixturevalue("postgres_database")  # or a skip
    server = make_url(normalise_url(suite_database)).set(database="postgres")
    name = f"ordermesh_crash_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = server.set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url, pool_size=1)
    upgrade(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


@pytest.mark.parametrize("size", SIZES)
def test_killing_the_server_and_the_worker_under_load_loses_and_doubles_nothing(
        crash_database: str, tmp_path: Path, receiver: Receiver, size: Size) -> None:
    started = time.monotonic()
    engine = make_engine(crash_database)
    processes = Processes(crash_database, tmp_path)
    gateway = TestGateway(TestGatewaySettings(database_url=processes.gateway_url))
    bus = MessageBus(lambda: SqlUnitOfWork(engine), retry_reason=retry_reason,
                     setup=MoneySetup({"test": gateway}, SELLER),
                     webhooks=WebhookSetup(WebhookSender(allow_private=True), new_secret))
    rng = random.Random(f"{SEED}-{engine.dialect.name}-{size}")
    try:
        # given a shop taking cards at the test gateway, with one plentiful product, two
        # ordinary ones and one that runs out, and a webhook consumer of every event
        shop = a_shop(bus, channels=("web",)).location("WH-1")
        stock = {"TEE-1": 100_000, "MUG-1": 5_000, "CAP-1": 3_000, "LAST-1": 40}
        for sku, units in stock.items():
            shop.product(sku).stock(sku, "WH-1", units)
        bus.handle(c.PutPackageType("test", "M", "Box M", 400, 300, 200, 15_000, 300))
        subscription = bus.handle(c.CreateWebhookSubscription("admin", receiver.url, ("*",)))
        receiver.secret = subscription["secret"]
        processes.start_server()
        processes.start_worker()
        processes.wait_healthy()
        load_started = time.monotonic()
        # when clients place, dispatch and refund orders while the server and the worker are
        # killed at random moments and started again
        tally = run_load(processes, shop.keys, size, rng)
        load_ended = time.monotonic()
        # and, once the clients are done, the server stops (uvicorn raises SIGTERM again
        # once it has shut down cleanly), what a killed server left waiting for the gateway's
        # answer is asked again (the worker's recovery job, without its minute of patience),
        # and the worker drains the outbox
        assert processes.stop_server() in (0, -signal.SIGTERM), processes.log("server")
        recovered = bus.handle(c.RecoverPayments("worker", older_than_seconds=0, limit=10_000))
        drain(processes, engine)
        drained = time.monotonic()
    finally:
        processes.close()
    # then nothing the clients were told was lost, and nothing happened twice
    try:
        assert tally.unexpected == []
        # (a run that failed in a process that lived on would have left a traceback)
        for name in ("server", "worker"):
            assert "Traceback" not in (tmp_path / f"{name}.log").read_text(), processes.log(name)
        check_orders(engine, tally)
        check_stock(engine, tally)
        deliveries = check_events(engine, receiver, subscription["id"], processes)
        check_mail(engine, tmp_path / "mailbox")
        documents = check_documents(engine, tally)
        check_money(engine, gateway.engine)
    finally:
        engine.dispose()
        gateway.engine.dispose()
    statuses = Counter[str]()
    for answer, count in tally.answers.items():
        statuses[answer.rsplit(" ", 1)[1]] += count
    print(f"\ncrash on {engine.dialect.name} (seed {SEED}): {size.clients} placing clients, "
          f"killed {dict(processes.kills)}; set-up {load_started - started:.1f} s, load "
          f"{load_ended - load_started:.1f} s, drain {drained - load_ended:.1f} s, checks "
          f"{time.monotonic() - drained:.1f} s; answers {dict(sorted(statuses.items()))}; "
          f"{len(tally.placed)} orders, {len(tally.refused)} refused for stock, "
          f"{tally.resent} requests unanswered at first, {tally.replayed_after_loss} orders "
          f"answered from their key after a lost answer, {len(tally.dispatched)} dispatched, "
          f"{len(tally.refunds)} refunds, {recovered} payment answers recovered; {deliveries}; "
          f"{documents}")


def drain(processes: Processes, engine: Engine, rounds: int = 3) -> None:
    """Let the worker relay and send everything; stopped, it must have left nothing (a job run
    between the last look and the stop may have made more: then it runs again)."""
    for _ in range(rounds):
        if processes.worker is None or processes.worker.poll() is not None:
            processes.start_worker()
        deadline = time.monotonic() + 300
        while left(engine) and time.monotonic() < deadline:
            time.sleep(0.3)
        assert processes.stop_worker() == 0, processes.log("worker")
        if not left(engine):
            return
    raise AssertionError(f"the worker left {left(engine)}: {processes.log('worker')}")


def left(engine: Engine) -> dict[str, int]:
    """What the worker has still to do: events to relay, webhooks and mails to send, and
    payments waiting for the gateway's answer."""
    e, d, n, x = t.events.c, t.webhook_deliveries.c, t.notifications.c, t.payment_transactions.c
    counts = {
        "unrelayed events": select(func.count()).where(e.published_at.is_(None)),
        "webhooks not delivered": select(func.count()).where(d.status != "delivered"),
        "mails not sent": select(func.count()).where(n.status != "sent"),
        "payments pending": select(func.count()).where(x.outcome == "pending"),
    }
    with engine.connect() as conn:
        found = {what: int(conn.execute(query).scalar_one()) for what, query in counts.items()}
    return {what: count for what, count in found.items() if count}


def check_orders(engine: Engine, tally: Tally) -> None:
    """Every order answered 201 exists; every order was answered to the client that placed it,
    one per key, the key naming it; no refused key left a trace."""
    k = t.idempotency_keys.c
    with engine.connect() as conn:
        orders = set(conn.execute(select(t.orders.c.id)).scalars())
        keys = {key: order for key, order in conn.execute(
            select(k.key, k.order_id).where(k.scope == "web"))}
    assert len(set(tally.placed.values())) == len(tally.placed)  # one order per key
    assert set(tally.placed.values()) == orders
    assert keys == tally.placed
    assert not set(tally.refused) & set(keys)


def check_stock(engine: Engine, tally: Tally) -> None:
    """The stock rows agree with their allocations and ledger, and the units that left are
    the units dispatched; every fulfilment a client was told is dispatched is, and no other."""
    assert_books_agree(engine)
    m, f = t.stock_movements.c, t.fulfilments.c
    with engine.connect() as conn:
        left_stock = conn.execute(select(func.coalesce(func.sum(m.on_hand_delta), 0))
                                  .where(m.reason == "dispatched")).scalar_one()
        dispatched_units = conn.execute(select(func.coalesce(
            func.sum(t.order_lines.c.dispatched), 0))).scalar_one()
        dispatched = set(conn.execute(select(f.id).where(
            f.status.in_(FINAL - {"cancelled"}))).scalars())
    assert -left_stock == dispatched_units
    assert dispatched == set(tally.dispatched)


def check_events(engine: Engine, receiver: Receiver, subscription_id: str,
                 processes: Processes) -> str:
    """Every event was relayed to one delivery, delivered. The consumer got every event, each
    signed; a webhook came twice only with the same webhook-id and body (at least once,
    deduplicated by id), and at most once for each time the worker was killed (the one in
    flight); after deduplication it saw each event exactly once."""
    d = t.webhook_deliveries.c
    with engine.connect() as conn:
        events = set(conn.execute(select(t.events.c.id)).scalars())
        deliveries = Counter(conn.execute(select(d.event_id).where(
            d.subscription_id == subscription_id, d.status == "delivered")).scalars())
        all_deliveries = conn.execute(select(func.count()).select_from(t.webhook_deliveries)
                                      ).scalar_one()
    assert deliveries == Counter(events)
    assert all_deliveries == len(events)
    assert all(verified for _, _, verified in receiver.received)
    bodies: dict[str, set[bytes]] = defaultdict(set)
    for webhook_id, body, _ in receiver.received:
        bodies[webhook_id].add(body)
    assert all(len(b) == 1 for b in bodies.values())  # a repeat is the same message
    assert {json.loads(next(iter(b)))["data"]["id"] for b in bodies.values()} == events
    assert set(bodies) == events
    repeats = len(receiver.received) - len(bodies)
    assert repeats <= processes.kills["worker"]
    return f"{len(events)} events, {repeats} webhook(s) received twice"


def check_mail(engine: Engine, mailbox: Path) -> None:
    """Every customer mail the events called for was sent (kept in the mailbox by its
    Message-ID; a mail sent twice replaces itself there)."""
    n = t.notifications.c
    with engine.connect() as conn:
        ids = list(conn.execute(select(n.message_id)).scalars())
    assert ids, "the orders sent no mail"
    sender = MailboxSender(mailbox)
    assert all(i is not None and sender.path_for(i).exists() for i in ids)
    assert len(set(ids)) == len(ids)


def check_documents(engine: Engine, tally: Tally) -> str:
    """Invoice and credit-note numbers run 1..n per series and year, and the counters say n;
    one invoice per dispatch, one credit note per refund, of its amount."""
    i = t.invoices.c
    with engine.connect() as conn:
        rows = conn.execute(select(i.series, i.year, i.seq, i.kind, i.reference, i.gross)).all()
        counters = {(r.series, r.year): r.last for r in conn.execute(
            select(t.document_counters))}
    numbers: dict[tuple[str, int], list[int]] = defaultdict(list)
    for row in rows:
        numbers[(row.series, row.year)].append(row.seq)
    for series, seqs in numbers.items():
        assert sorted(seqs) == list(range(1, len(seqs) + 1)), series
    assert counters == {series: len(seqs) for series, seqs in numbers.items()}
    kinds = Counter(row.kind for row in rows)
    assert kinds["invoice"] == len(tally.dispatched)
    assert {row.reference: row.gross for row in rows if row.kind == "credit_note"} == tally.refunds
    return f"{kinds['invoice']} invoices, {kinds['credit_note']} credit notes"


def check_money(engine: Engine, gateway: Engine) -> None:
    """No payment waits for an answer; none captured more than authorized nor refunded more
    than captured; every call Ordermesh made reached the gateway once per idempotency key and
    every call the gateway answered is one Ordermesh recorded; each capture and refund is
    booked once at the gateway, and per authorization the gateway's captured and refunded
    amounts are Ordermesh's to the cent."""
    with engine.connect() as conn:
        payments = {row.id: row for row in conn.execute(select(t.payments))}
        transactions = conn.execute(select(t.payment_transactions)).all()
    with gateway.connect() as conn:
        at_gateway = {row.id: row for row in conn.execute(select(authorizations))}
        asked = {row.idempotency_key: row for row in conn.execute(select(operations))}
        booked = conn.execute(select(balance)).all()
    assert not [tx for tx in transactions if tx.outcome == "pending"]
    # every gateway call Ordermesh recorded (not the rest released with a final capture,
    # which the gateway did by itself), and no other
    assert {tx.idempotency_key for tx in transactions
            if not tx.idempotency_key.endswith(":rest")} == set(asked)
    moved: dict[str, Counter[str]] = defaultdict(Counter)
    for tx in transactions:
        if tx.outcome == "succeeded" and tx.kind in ("capture", "refund"):
            moved[tx.payment_id][tx.kind] += tx.amount
            assert asked[tx.idempotency_key].answer["reference"] == tx.gateway_reference
    assert all(n == 1 for n in Counter(row.source for row in booked).values())
    assert {row.source for row in booked} == {
        tx.gateway_reference for tx in transactions
        if tx.outcome == "succeeded" and tx.kind in ("capture", "refund")}
    assert set(at_gateway) == {row.authorization_reference for row in payments.values()}
    for payment_id, payment in payments.items():
        auth = at_gateway[payment.authorization_reference]
        captured, refunded = moved[payment_id]["capture"], moved[payment_id]["refund"]
        assert refunded <= captured <= payment.amount == auth.amount
        assert (auth.captured, auth.refunded) == (captured, refunded), payment_id
        booked_here = [row.amount for row in booked if row.authorization == auth.id]
        assert sum(a for a in booked_here if a > 0) == captured
        assert -sum(a for a in booked_here if a < 0) == refunded
