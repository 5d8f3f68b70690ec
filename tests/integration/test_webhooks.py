"""The outbox relay and webhooks on both databases, delivered over real HTTP to a receiver on
this machine that verifies our signatures with the `standardwebhooks` library: every event
relayed once (also by concurrent relays), deliveries retried on the schedule and logged, a
subscription that keeps failing disabled with an event, replays, a sender that dies in the
middle of a batch, and outbound URLs kept off private addresses."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from standardwebhooks.webhooks import Webhook

from ordermesh.adapters.db import tables as t
from ordermesh.adapters.db.engine import retry_reason
from ordermesh.adapters.db.unit_of_work import SqlUnitOfWork
from ordermesh.adapters.webhooks.sender import WebhookSender, new_secret
from ordermesh.domain.errors import ConcurrentUpdate, InvalidInput
from ordermesh.domain.webhooks import RETRY_SCHEDULE
from ordermesh.services import commands as c
from ordermesh.services.bus import MessageBus
from ordermesh.services.handlers.webhooks import WebhookSetup
from tests.builders import Clock, a_shop, place
from tests.races import together


class Receiver:
    """A webhook endpoint on 127.0.0.1: answers each request with the next status of
    `answers` (then 200), and keeps what it received."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.answers: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()},
                                          body))
                status = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def verified(self, secret: str) -> list[dict[str, Any]]:
        """Each message received, verified with the Standard Webhooks library."""
        return [Webhook(secret).verify(body, headers) for headers, body in self.received]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.server.shutdown()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def hooks(engine: Engine, bus: MessageBus, clock: Clock) -> MessageBus:
    """The shop's bus, sending webhooks to this machine (private addresses allowed here)."""
    setup = WebhookSetup(WebhookSender(allow_private=True, timeout=5), new_secret,
                         disable_after=2, clock=clock)
    hooks = MessageBus(lambda: SqlUnitOfWork(engine), retry_reason=retry_reason,
                       setup=bus.setup, shipping=bus.shipping, webhooks=setup)
    a_shop(hooks).location("WH-1").product("TEE-1").stock("TEE-1", "WH-1", 50)
    return hooks


def subscribe(bus: MessageBus, url: str, *types: str) -> dict[str, Any]:
    made: dict[str, Any] = bus.handle(c.CreateWebhookSubscription("admin", url, types or ("*",)))
    return made


def relay_and_send(bus: MessageBus) -> int:
    while bus.handle(c.RelayEvents("worker", limit=50)):
        pass
    sent: int = bus.handle(c.SendWebhooks("worker", limit=100))
    return sent


def deliveries(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(select(t.webhook_deliveries).order_by(t.webhook_deliveries.c.id)).all()


def attempts(engine: Engine, delivery_id: int) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(select(t.webhook_attempts).where(
            t.webhook_attempts.c.delivery_id == delivery_id)
            .order_by(t.webhook_attempts.c.id)).all()


def test_an_orders_events_reach_the_subscriber_signed(hooks: MessageBus, engine: Engine,
                                                      receiver: Receiver) -> None:
    subscription = subscribe(hooks, receiver.url, "order.*")
    assert subscription["secret"].startswith("whsec_")
    order = place(hooks, ("TEE-1", 1))
    sent = relay_and_send(hooks)
    with engine.connect() as conn:
        expected = conn.execute(select(t.events.c.id, t.events.c.type).where(
            t.events.c.stream == "order", t.events.c.stream_id == order.order_id,
            t.events.c.type.like("order.%")).order_by(t.events.c.seq)).all()
    assert sent == len(expected) >= 2
    messages = receiver.verified(subscription["secret"])  # the library's own check passes
    assert [(m["data"]["id"], m["type"]) for m in messages] == [tuple(e) for e in expected]
    assert all(m["version"] == "1" and m["data"]["stream_id"] == order.order_id
               for m in messages)
    assert [h["webhook-id"] for h, _ in receiver.received] == [e.id for e in expected]
    # a tampered body does not verify
    headers, body = receiver.received[0]
    with pytest.raises(Exception, match=r"(?i)signature"):
        Webhook(subscription["secret"]).verify(body.replace(b"order", b"0rder"), headers)
    # nothing is sent twice
    assert relay_and_send(hooks) == 0 and len(receiver.received) == len(expected)


def test_concurrent_relays_relay_each_event_once(hooks: MessageBus, engine: Engine,
                                                 receiver: Receiver) -> None:
    subscribe(hooks, receiver.url)
    for _ in range(8):
        place(hooks, ("TEE-1", 1))
    results = together([lambda: hooks.handle(c.RelayEvents("worker", limit=7))
                        for _ in range(4)], ConcurrentUpdate)
    while hooks.handle(c.RelayEvents("worker", limit=50)):
        pass
    with engine.connect() as conn:
        events = conn.execute(select(func.count()).select_from(t.events)).scalar_one()
        unrelayed = conn.execute(select(func.count()).select_from(t.events).where(
            t.events.c.published_at.is_(None))).scalar_one()
    assert unrelayed == 0 and all(isinstance(r, int) for r in results)
    assert len(deliveries(engine)) == events  # one delivery per event and subscription


def test_an_endpoint_that_fails_a_while_gets_the_event_on_a_later_try(
        hooks: MessageBus, engine: Engine, receiver: Receiver, clock: Clock) -> None:
    subscription = subscribe(hooks, receiver.url, "order.placed")
    place(hooks, ("TEE-1", 1))
    receiver.answers = [500, 503]
    assert relay_and_send(hooks) == 0
    [delivery] = deliveries(engine)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 500)
    wait = delivery.next_attempt_at - clock.now
    assert RETRY_SCHEDULE[0] * 0.8 <= wait <= RETRY_SCHEDULE[0] * 1.2
    assert hooks.handle(c.SendWebhooks("worker")) == 0  # not due yet
    clock.advance(seconds=10)
    assert hooks.handle(c.SendWebhooks("worker")) == 0  # 503
    clock.advance(minutes=7)
    assert hooks.handle(c.SendWebhooks("worker")) == 1
    [delivery] = deliveries(engine)
    assert (delivery.status, delivery.attempts) == ("delivered", 3)
    assert [(a.attempt, a.status_code) for a in attempts(engine, delivery.id)] == [
        (1, 500), (2, 503), (3, 200)]
    ids = {h["webhook-id"] for h, _ in receiver.received}
    assert len(ids) == 1  # the same message id on every try: the receiver deduplicates
    assert len(receiver.verified(subscription["secret"])) == 3


def test_a_subscription_that_keeps_failing_is_disabled_and_replayed_once_enabled(
        hooks: MessageBus, engine: Engine, receiver: Receiver, clock: Clock) -> None:
    subscription = subscribe(hooks, receiver.url, "order.placed")
    place(hooks, ("TEE-1", 1))
    place(hooks, ("TEE-1", 1))
    tries = len(RETRY_SCHEDULE) + 1
    receiver.answers = [500] * (2 * tries)
    relay_and_send(hooks)
    for _ in range(tries):
        clock.advance(hours=13)
        hooks.handle(c.SendWebhooks("worker"))
    found = deliveries(engine)
    assert [(d.status, d.attempts) for d in found] == [("failed", tries)] * 2
    assert len(attempts(engine, found[0].id)) == tries
    with engine.connect() as conn:
        row = conn.execute(select(t.webhook_subscriptions)).one()
        disabled = conn.execute(select(t.events.c.type).where(
            t.events.c.stream == "webhook_subscription")).scalars().all()
    assert (row.active, row.failures) == (False, 2) and "2 deliveries" in row.disabled_reason
    assert disabled == ["webhook.subscription_disabled"]
    # a replay waits for the subscription to be enabled
    with pytest.raises(InvalidInput):
        hooks.handle(c.ReplayWebhookDelivery("admin", found[0].id))
    hooks.handle(c.UpdateWebhookSubscription("admin", subscription["id"], {"active": True}))
    hooks.handle(c.ReplayWebhookDelivery("admin", found[0].id))
    assert hooks.handle(c.SendWebhooks("worker")) == 1
    assert deliveries(engine)[0].status == "delivered"
    assert [a.status_code for a in attempts(engine, found[0].id)][-1] == 200


def test_a_delivery_that_succeeds_ends_a_run_of_failures(
        hooks: MessageBus, engine: Engine, receiver: Receiver, clock: Clock) -> None:
    subscribe(hooks, receiver.url, "order.placed")
    place(hooks, ("TEE-1", 1))
    tries = len(RETRY_SCHEDULE) + 1
    receiver.answers = [500] * tries
    relay_and_send(hooks)
    for _ in range(tries):
        clock.advance(hours=13)
        hooks.handle(c.SendWebhooks("worker"))

    def failures() -> int:
        with engine.connect() as conn:
            return int(conn.execute(select(t.webhook_subscriptions.c.failures)).scalar_one())

    assert failures() == 1
    place(hooks, ("TEE-1", 1))
    relay_and_send(hooks)  # answered 200
    assert [d.status for d in deliveries(engine)] == ["failed", "delivered"]
    assert failures() == 0


def test_a_sender_that_dies_mid_batch_leaves_its_deliveries_to_the_next(
        hooks: MessageBus, engine: Engine, receiver: Receiver, clock: Clock) -> None:
    subscribe(hooks, receiver.url, "order.placed")
    for _ in range(3):
        place(hooks, ("TEE-1", 1))
    while hooks.handle(c.RelayEvents("worker")):
        pass
    # a sender takes the batch and dies before sending (its lease holds them a minute)
    uow = SqlUnitOfWork(engine)
    with uow:
        taken = uow.webhooks.claim_due(clock.now, clock.now + hooks.webhooks.lease, 100)
        uow.commit()
    assert len(taken) == 3
    assert hooks.handle(c.SendWebhooks("worker")) == 0  # leased: nobody else sends them
    clock.advance(seconds=61)
    assert hooks.handle(c.SendWebhooks("worker")) == 3
    assert [d.status for d in deliveries(engine)] == ["delivered"] * 3
    assert len(receiver.received) == 3


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8000/hooks", "http://localhost/hooks", "http://10.0.0.7/hooks",
    "http://169.254.169.254/latest/meta-data", "http://[::1]/hooks", "http://0.0.0.0/",
    "ftp://example.com/hooks", "http://user:pass@example.com/hooks",
])
def test_outbound_urls_keep_off_private_addresses(engine: Engine, url: str) -> None:
    guarded = MessageBus(lambda: SqlUnitOfWork(engine), retry_reason=retry_reason,
                         webhooks=WebhookSetup(WebhookSender(allow_private=False), new_secret))
    with pytest.raises(InvalidInput):
        subscribe(guarded, url)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.webhook_subscriptions)
                            ).scalar_one() == 0


def test_a_private_address_is_refused_at_sending_too(engine: Engine, hooks: MessageBus,
                                                     receiver: Receiver) -> None:
    subscribe(hooks, receiver.url, "order.placed")
    place(hooks, ("TEE-1", 1))
    hooks.webhooks.sender = WebhookSender(allow_private=False)  # the rule tightened since
    assert relay_and_send(hooks) == 0
    [delivery] = deliveries(engine)
    assert delivery.last_status_code is None and "public" in delivery.last_error
    assert receiver.received == []
    assert json.loads(json.dumps(delivery.last_error))  # kept as text in the log


class Breaking(WebhookSender):
    """A sender that fails in a way no one foresaw, for one URL."""

    def __init__(self, bad: str) -> None:
        super().__init__(allow_private=True, timeout=5)
        self.bad = bad

    def send(self, url: str, *args: Any) -> Any:
        if url == self.bad:
            raise RuntimeError("something nobody foresaw")
        return super().send(url, *args)


def test_one_subscription_that_breaks_the_sender_does_not_hold_up_the_others(
        hooks: MessageBus, engine: Engine, receiver: Receiver) -> None:
    broken = receiver.url + "/broken"
    subscribe(hooks, broken, "order.placed")
    subscribe(hooks, receiver.url, "order.placed")
    hooks.webhooks.sender = Breaking(broken)
    place(hooks, ("TEE-1", 1))
    assert relay_and_send(hooks) == 1  # the one that breaks is a failed attempt, no more
    found = {d.subscription_id: d for d in deliveries(engine)}
    statuses = sorted((d.status, d.attempts, d.last_error is not None) for d in found.values())
    assert statuses == [("delivered", 1, False), ("pending", 1, True)]


def test_a_sender_whose_lease_ran_out_does_not_send_what_another_took(
        hooks: MessageBus, engine: Engine, receiver: Receiver, clock: Clock) -> None:
    subscribe(hooks, receiver.url, "order.placed")
    place(hooks, ("TEE-1", 1))
    while hooks.handle(c.RelayEvents("worker")):
        pass
    uow = SqlUnitOfWork(engine)
    held = clock.now + hooks.webhooks.lease
    with uow:  # sender A takes it, and is slow
        [taken] = uow.webhooks.claim_due(clock.now, held, 10)
        uow.commit()
    clock.advance(seconds=61)  # A's lease ran out: sender B takes it and delivers it
    assert hooks.handle(c.SendWebhooks("worker")) == 1
    with uow:  # A, back at last, finds it no longer holds the delivery: it sends nothing
        assert not uow.webhooks.renew(taken["id"], held, clock.now + hooks.webhooks.lease)
    assert len(receiver.received) == 1


def test_urls_the_client_would_not_take_are_refused_when_subscribing(engine: Engine) -> None:
    guarded = MessageBus(lambda: SqlUnitOfWork(engine), retry_reason=retry_reason,
                         webhooks=WebhookSetup(WebhookSender(allow_private=False), new_secret))
    for url in ("https://93.184.216.34/ho\toks", "https://93.184.216.34/a b",
                "http://[64:ff9b::a9fe:a9fe]/", "http://2130706433/", "http://0x7f.1/"):
        with pytest.raises(InvalidInput):
            subscribe(guarded, url)
