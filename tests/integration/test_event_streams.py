"""The event stream publishers against the real servers of this machine: NATS with JetStream and
Redis (ORDERMESH_TEST_NATS_URL, default nats://127.0.0.1:4222; ORDERMESH_TEST_REDIS_URL, default
redis://127.0.0.1:6379/0).

Each test publishes under a prefix of its own and removes what it made (the JetStream stream, the
Redis keys), so runs and xdist workers do not see each other's messages. An unreachable server
skips these tests, or fails them when ORDERMESH_TEST_REQUIRE_STREAMS=1 (CI).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, NoReturn
from uuid import uuid4

import nats
import nats.errors
import nats.js.errors
import pytest
import redis

from ordermesh.adapters.streams import publisher_for
from ordermesh.adapters.streams.nats_stream import NatsPublisher, stream_name_for, subject_token
from ordermesh.adapters.streams.payload import SCHEMA, encode, event_payload
from ordermesh.adapters.streams.redis_stream import RedisPublisher
from ordermesh.domain.events import Event
from ordermesh.services.ports import EventPublisher, PublishFailed

NATS_URL = os.environ.get("ORDERMESH_TEST_NATS_URL", "nats://127.0.0.1:4222")
REDIS_URL = os.environ.get("ORDERMESH_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SCHEMA_FILE = Path(__file__).resolve().parents[2] / "docs" / "schemas" / "event.schema.json"


def unavailable(what: str, why: object) -> NoReturn:
    if os.environ.get("ORDERMESH_TEST_REQUIRE_STREAMS") == "1":
        pytest.fail(f"{what} is required here but unavailable: {why}")
    pytest.skip(f"{what} tests skipped: {why}")


def order_events(order_id: str, count: int) -> list[Event]:
    start = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)
    return [Event(type=f"order.step{n}", stream="order", stream_id=order_id, actor="test",
                  data={"n": n, "order": order_id, "lines": [{"sku": "SKU-1", "qty": n}]},
                  occurred_at=start + timedelta(seconds=n))
            for n in range(count)]


def interleaved(a: list[Event], b: list[Event]) -> list[Event]:
    mixed: list[Event] = []
    for pair in zip(a, b, strict=True):
        mixed += pair
    return mixed


# -- no server needed ------------------------------------------------------------------------

def test_payload_is_the_versioned_envelope() -> None:
    event = Event(type="order.placed", stream="order", stream_id="ord_1", actor="api:web",
                  data={"total": {"amount": 1999, "currency": "EUR"}, "note": "café"},
                  occurred_at=datetime(2026, 11, 1, 10, 30, 5, 120, tzinfo=timezone(timedelta(hours=1))))
    payload = event_payload(event)
    assert payload == {"schema": "ordermesh.event/1", "id": event.id, "type": "order.placed",
                       "stream": "order", "stream_id": "ord_1", "actor": "api:web",
                       "occurred_at": "2026-11-01T09:30:05.000120Z",
                       "data": {"total": {"amount": 1999, "currency": "EUR"}, "note": "café"}}
    assert json.loads(encode(event)) == payload
    assert encode(event) == encode(event)
    naive = Event(type="x.y", stream="x", stream_id="1", actor="a",
                  occurred_at=datetime(2026, 1, 2, 3, 4, 5))  # noqa: DTZ001 - as a database gives it
    assert event_payload(naive)["occurred_at"] == "2026-01-02T03:04:05.000000Z"


def test_the_documented_schema_describes_the_payload() -> None:
    schema = json.loads(SCHEMA_FILE.read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    payload = event_payload(order_events("ord_1", 1)[0])
    assert set(schema["required"]) == set(payload) == set(schema["properties"])
    assert schema["properties"]["schema"]["const"] == SCHEMA
    assert schema["additionalProperties"] is False


def test_publisher_for_chooses_by_scheme() -> None:
    nats_publisher = publisher_for("nats://127.0.0.1:4222/acme.events")
    try:
        assert isinstance(nats_publisher, NatsPublisher)
        assert (nats_publisher.prefix, nats_publisher.stream_name) == ("acme.events", "ACME_EVENTS")
        assert publisher_for("nats://127.0.0.1:4222").name == "nats"
    finally:
        nats_publisher.close()
    redis_publisher = publisher_for("redis://127.0.0.1:6379/3?prefix=acme:events")
    assert isinstance(redis_publisher, RedisPublisher)
    assert redis_publisher.prefix == "acme:events"
    assert redis_publisher.client.connection_pool.connection_kwargs["db"] == 3
    redis_publisher.close()
    for url in ("kafka://127.0.0.1:9092", "http://example.invalid", "127.0.0.1:4222", ""):
        with pytest.raises(ValueError, match="unsupported event stream URL"):
            publisher_for(url)
    with pytest.raises(ValueError, match="prefix"):
        publisher_for("nats://127.0.0.1:4222/bad..prefix")


def test_subject_tokens_are_safe_and_distinct() -> None:
    assert subject_token("ord_01HZX9") == "ord_01HZX9"
    assert subject_token("3f2a-uuid") == "3f2a-uuid"
    tricky = ["a.b", "a_b", "a b", "a*", "a>", "a%2E", "é", ""]
    tokens = [subject_token(t) for t in tricky]
    assert len(set(tokens)) == len(tricky)
    for token in tokens:
        assert token and not any(c in token for c in ". *>\t\r\n") and token.isascii()
    assert stream_name_for("ordermesh.events") == "ORDERMESH_EVENTS"


# -- NATS JetStream --------------------------------------------------------------------------

async def _nats_check(url: str) -> None:
    nc = await nats.connect(url, allow_reconnect=False, connect_timeout=2, max_reconnect_attempts=1,
                            reconnect_time_wait=0)
    try:
        await nc.jetstream().account_info()
    finally:
        await nc.close()


@pytest.fixture(scope="module")
def nats_url() -> str:
    try:
        asyncio.run(asyncio.wait_for(_nats_check(NATS_URL), 5))
    except Exception as exc:
        unavailable(f"NATS with JetStream at {NATS_URL}", f"{type(exc).__name__}: {exc}")
    return NATS_URL


@pytest.fixture
def nats_prefix(nats_url: str) -> Iterator[str]:
    prefix = f"omtest{uuid4().hex[:12]}.events"
    yield prefix
    asyncio.run(_delete_stream(nats_url, stream_name_for(prefix)))


async def _delete_stream(url: str, name: str) -> None:
    nc = await nats.connect(url, allow_reconnect=False)
    try:
        await nc.jetstream().delete_stream(name)
    except nats.js.errors.NotFoundError:
        pass
    finally:
        await nc.close()


async def _read_subject(url: str, stream: str, subject: str) -> list[tuple[dict[str, Any], str]]:
    """Everything stored under `subject`, in order, with each message's Nats-Msg-Id."""
    nc = await nats.connect(url, allow_reconnect=False)
    try:
        js = nc.jetstream()
        sub = await js.subscribe(subject, stream=stream, ordered_consumer=True)
        found: list[tuple[dict[str, Any], str]] = []
        while True:
            try:
                msg = await sub.next_msg(timeout=0.5)
            except nats.errors.TimeoutError:
                break
            found.append((json.loads(msg.data), (msg.headers or {}).get("Nats-Msg-Id", "")))
        await sub.unsubscribe()
        return found
    finally:
        await nc.close()


async def _stored(url: str, stream: str) -> int:
    nc = await nats.connect(url, allow_reconnect=False)
    try:
        info = await nc.jetstream().stream_info(stream)
        return info.state.messages
    finally:
        await nc.close()


@pytest.fixture
def nats_publisher(nats_url: str, nats_prefix: str) -> Iterator[NatsPublisher]:
    publisher = NatsPublisher.from_url(f"{nats_url}/{nats_prefix}")
    yield publisher
    publisher.close()


def test_nats_keeps_each_orders_events_in_order(nats_url: str, nats_publisher: NatsPublisher) -> None:
    a, b = order_events("ord_a", 6), order_events("ord_b", 6)
    nats_publisher.publish(interleaved(a[:4], b[:4]))
    nats_publisher.publish(interleaved(a[4:], b[4:]))
    stream, prefix = nats_publisher.stream_name, nats_publisher.prefix
    for events in (a, b):
        read = asyncio.run(_read_subject(nats_url, stream, f"{prefix}.order.{events[0].stream_id}"))
        assert [payload["id"] for payload, _ in read] == [e.id for e in events]
        assert [msg_id for _, msg_id in read] == [e.id for e in events]
    assert asyncio.run(_stored(nats_url, stream)) == 12


def test_nats_publishing_again_adds_nothing(nats_url: str, nats_publisher: NatsPublisher) -> None:
    a, b = order_events("ord_a", 3), order_events("ord_b", 3)
    nats_publisher.publish(a)
    nats_publisher.publish(a + b)  # a retry of a batch that got half through
    nats_publisher.publish(interleaved(a, b))
    again = NatsPublisher.from_url(f"{nats_url}/{nats_publisher.prefix}")  # another process
    try:
        again.publish(b)
    finally:
        again.close()
    assert asyncio.run(_stored(nats_url, nats_publisher.stream_name)) == 6
    read = asyncio.run(_read_subject(nats_url, nats_publisher.stream_name,
                                     f"{nats_publisher.prefix}.order.ord_b"))
    assert [payload["id"] for payload, _ in read] == [e.id for e in b]


def test_nats_payload_round_trips(nats_url: str, nats_publisher: NatsPublisher) -> None:
    event = Event(type="order.placed", stream="order", stream_id="web.1 *x", actor="api:web",
                  data={"total": 1999, "currency": "EUR", "name": "Zoë"})
    nats_publisher.publish([event])
    subject = f"{nats_publisher.prefix}.order.{subject_token('web.1 *x')}"
    assert subject.endswith(".order.web%2E1%20%2Ax")
    [(payload, msg_id)] = asyncio.run(_read_subject(nats_url, nats_publisher.stream_name, subject))
    assert msg_id == event.id
    assert payload == event_payload(event)
    assert payload["schema"] == "ordermesh.event/1"
    assert (payload["id"], payload["type"], payload["data"]) == (event.id, "order.placed", event.data)


def test_nats_makes_the_stream_again_when_it_was_deleted(nats_url: str,
                                                          nats_publisher: NatsPublisher) -> None:
    first, second = order_events("ord_a", 2)
    nats_publisher.publish([first])
    asyncio.run(_delete_stream(nats_url, nats_publisher.stream_name))
    nats_publisher.publish([second])
    assert asyncio.run(_stored(nats_url, nats_publisher.stream_name)) == 1


def test_nats_unreachable_raises_publish_failed_quickly() -> None:
    publisher = NatsPublisher.from_url("nats://127.0.0.1:1")
    started = time.monotonic()
    try:
        with pytest.raises(PublishFailed, match=r"127\.0\.0\.1:1"):
            publisher.publish(order_events("ord_a", 1))
        with pytest.raises(PublishFailed):
            publisher.publish(order_events("ord_a", 1))  # and again, not stuck
    finally:
        publisher.close()
    assert time.monotonic() - started < 5
    with pytest.raises(PublishFailed, match="closed"):
        publisher.publish(order_events("ord_a", 1))
    publisher.close()  # twice is harmless


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_nats(port: int, store: Path) -> subprocess.Popen[bytes]:
    binary = shutil.which("nats-server") or shutil.which("nats-server", path="/usr/sbin:/usr/local/bin")
    if binary is None:
        unavailable("nats-server", "the binary is not installed")
    server = subprocess.Popen([binary, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(store)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            asyncio.run(asyncio.wait_for(_nats_check(f"nats://127.0.0.1:{port}"), 2))
            return server
        except Exception:
            time.sleep(0.1)
    server.kill()
    pytest.fail("a private nats-server did not start")


def test_nats_connects_again_after_the_server_restarts(tmp_path: Path, nats_url: str) -> None:
    port = _free_port()
    server = _start_nats(port, tmp_path / "js")
    publisher = NatsPublisher.from_url(f"nats://127.0.0.1:{port}", timeout=2)
    a = order_events("ord_a", 3)
    try:
        publisher.publish(a[:1])
        server.terminate()
        server.wait(10)
        with pytest.raises(PublishFailed):
            publisher.publish(a[1:2])
        server = _start_nats(port, tmp_path / "js")
        publisher.publish(a)  # the failed batch again, and more
        url = f"nats://127.0.0.1:{port}"
        read = asyncio.run(_read_subject(url, publisher.stream_name, "ordermesh.events.order.ord_a"))
        assert [payload["id"] for payload, _ in read] == [e.id for e in a]
    finally:
        publisher.close()
        server.terminate()
        server.wait(10)


# -- Redis Streams ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def redis_url() -> str:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        unavailable(f"Redis at {REDIS_URL}", f"{type(exc).__name__}: {exc}")
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture
def redis_publisher(redis_url: str) -> Iterator[RedisPublisher]:
    prefix = f"omtest:{uuid4().hex[:12]}:events"
    publisher = RedisPublisher.from_url(f"{redis_url}?prefix={prefix}")
    yield publisher
    keys = list(publisher.client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        publisher.client.delete(*keys)
    publisher.close()


def _entries(publisher: RedisPublisher, key: str) -> list[dict[str, str]]:
    raw: Any = publisher.client.xrange(key)
    return [{k.decode(): v.decode() for k, v in fields.items()} for _, fields in raw]


def test_redis_keeps_each_orders_events_in_order(redis_publisher: RedisPublisher) -> None:
    a, b = order_events("ord_a", 6), order_events("ord_b", 6)
    redis_publisher.publish(interleaved(a[:4], b[:4]))
    redis_publisher.publish(interleaved(a[4:], b[4:]))
    prefix = redis_publisher.prefix
    for events in (a, b):
        entries = _entries(redis_publisher, f"{prefix}:order:{events[0].stream_id}")
        assert [e["id"] for e in entries] == [e.id for e in events]
        assert [e["type"] for e in entries] == [e.type for e in events]
    everything = _entries(redis_publisher, f"{prefix}:all")
    assert [e["id"] for e in everything] == [e.id for e in interleaved(a, b)]
    assert {e["key"] for e in everything} == {f"{prefix}:order:ord_a", f"{prefix}:order:ord_b"}


def test_redis_publishing_again_adds_nothing(redis_publisher: RedisPublisher) -> None:
    a, b = order_events("ord_a", 3), order_events("ord_b", 3)
    redis_publisher.publish(a)
    redis_publisher.publish(a + b)
    redis_publisher.publish([*interleaved(a, b), a[0]])
    again = RedisPublisher.from_url(f"{REDIS_URL}?prefix={redis_publisher.prefix}")
    again.publish(b)
    again.close()
    prefix = redis_publisher.prefix
    assert [e["id"] for e in _entries(redis_publisher, f"{prefix}:order:ord_a")] == [e.id for e in a]
    assert [e["id"] for e in _entries(redis_publisher, f"{prefix}:order:ord_b")] == [e.id for e in b]
    assert redis_publisher.client.xlen(f"{prefix}:all") == 6
    ttl = int(redis_publisher.client.ttl(f"{prefix}:seen:{a[0].id}"))
    assert 6 * 86400 < ttl <= 7 * 86400


def test_redis_payload_round_trips(redis_publisher: RedisPublisher) -> None:
    event = Event(type="order.placed", stream="order", stream_id="web:1 x", actor="api:web",
                  data={"total": 1999, "currency": "EUR", "name": "Zoë"})
    redis_publisher.publish([event])
    [entry] = _entries(redis_publisher, f"{redis_publisher.prefix}:order:web:1 x")
    assert (entry["id"], entry["type"]) == (event.id, "order.placed")
    payload = json.loads(entry["payload"])
    assert payload == event_payload(event)
    assert payload["schema"] == "ordermesh.event/1"
    assert payload["data"] == event.data


def test_redis_publishes_large_batches_in_order(redis_publisher: RedisPublisher) -> None:
    a = order_events("ord_a", 250)  # more than one script call
    redis_publisher.publish(a)
    redis_publisher.publish(a)
    entries = _entries(redis_publisher, f"{redis_publisher.prefix}:order:ord_a")
    assert [e["id"] for e in entries] == [e.id for e in a]


def test_redis_unreachable_raises_publish_failed_quickly() -> None:
    publisher: EventPublisher = publisher_for("redis://127.0.0.1:1/0")
    started = time.monotonic()
    with pytest.raises(PublishFailed, match=r"127\.0\.0\.1:1"):
        publisher.publish(order_events("ord_a", 1))
    publisher.close()
    assert time.monotonic() - started < 5
