"""Publishing events to NATS JetStream, on the official nats-py client.

Each event goes to the subject `<prefix>.<stream>.<stream_id>` (`ordermesh.events.order.ord_123`)
with the header `Nats-Msg-Id: <event id>`, so JetStream drops a repeat inside the stream's
duplicate window. Messages are published one after the other, each waiting for its ack, so the
events of one order are stored in the order given. The JetStream stream (`ORDERMESH_EVENTS` for
the default prefix) covering `<prefix>.>` is created on first use if it is missing.

nats-py is asyncio; this publisher keeps one private event loop in a daemon thread and one
connection on it, so `publish` is a plain blocking call for the synchronous worker. A lost
connection is not retried in the background: the next `publish` connects again.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import re
import threading
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import StorageType

from ordermesh.adapters.streams.payload import encode
from ordermesh.domain.events import Event
from ordermesh.services.ports import PublishFailed

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "ordermesh.events"
DUPLICATE_WINDOW_SECONDS = 24 * 3600.0

T = TypeVar("T")

# A subject token is any printable ASCII but whitespace, `.`, `*` and `>`; `%` is kept for the
# escapes, so two different ids never share a subject.
_TOKEN_UNSAFE = re.compile(r"[^\x21-\x7e]|[.*>%]")


def subject_token(text: str) -> str:
    """`text` as one NATS subject token: unsafe characters become `%XX` (their UTF-8 bytes);
    an empty text becomes `%`. Ordinary ids (`ord_01H...`, UUIDs) are left as they are."""
    if not text:
        return "%"
    return _TOKEN_UNSAFE.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode("utf-8")), text)


def stream_name_for(prefix: str) -> str:
    """The JetStream stream name for a prefix: `ordermesh.events` -> `ORDERMESH_EVENTS`."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", prefix).upper()


def _check_prefix(prefix: str) -> str:
    tokens = prefix.split(".")
    if not prefix or any(not t or _TOKEN_UNSAFE.search(t) for t in tokens):
        raise ValueError(f"not a usable NATS subject prefix: {prefix!r} "
                         "(dot-separated tokens without spaces, '*', '>' or '%')")
    return prefix


class NatsPublisher:
    """An EventPublisher on NATS JetStream."""

    name = "nats"

    def __init__(self, servers: str = "nats://127.0.0.1:4222", prefix: str = DEFAULT_PREFIX, *,
                 stream_name: str | None = None, timeout: float = 5.0,
                 connect_timeout: float = 2.0,
                 duplicate_window: float = DUPLICATE_WINDOW_SECONDS) -> None:
        self.servers = servers
        self.prefix = _check_prefix(prefix)
        self.stream_name = stream_name or stream_name_for(prefix)
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.duplicate_window = duplicate_window
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._stream_ready = False
        self._closed = False
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="ordermesh-nats",
                                        daemon=True)
        self._thread.start()

    @classmethod
    def from_url(cls, url: str, **options: Any) -> NatsPublisher:
        """`nats://[user:password@]host:port[/prefix]`."""
        parts = urlsplit(url)
        prefix = parts.path.strip("/") or DEFAULT_PREFIX
        servers = urlunsplit((parts.scheme, parts.netloc, "", "", ""))
        return cls(servers, prefix, **options)

    def subject(self, event: Event) -> str:
        return f"{self.prefix}.{subject_token(event.stream)}.{subject_token(event.stream_id)}"

    # -- the port --------------------------------------------------------------------------

    def publish(self, events: Sequence[Event]) -> None:
        if not events:
            return
        batch = list(events)
        # Every step inside has its own timeout; this outer one only guards against a hang.
        limit = self.connect_timeout + self.timeout * (len(batch) + 2)
        with self._lock:
            if self._closed:
                raise PublishFailed("the NATS publisher is closed")
            self._run(self._publish(batch), limit)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._run(self._disconnect(), self.timeout)
            except PublishFailed:
                pass
            finally:
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._thread.join(timeout=self.timeout)
                if not self._thread.is_alive():
                    self._loop.close()

    # -- on the private loop ---------------------------------------------------------------

    def _run(self, coroutine: Coroutine[Any, Any, T], limit: float) -> T:
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        try:
            return future.result(timeout=limit)
        except concurrent.futures.TimeoutError as exc:
            future.cancel()
            raise PublishFailed(f"NATS at {self._where()} did not answer in {limit:.0f}s") from exc

    async def _publish(self, events: list[Event]) -> None:
        try:
            js = await self._jetstream()
            for event in events:
                try:
                    await self._publish_one(js, event)
                except nats.js.errors.NoStreamResponseError:
                    # The stream was deleted while we were connected: make it again, once.
                    await self._ensure_stream(js)
                    await self._publish_one(js, event)
        except (TimeoutError, nats.errors.Error, OSError) as exc:
            self._stream_ready = False  # it may have been deleted: look again next time
            if self._nc is not None and not self._nc.is_connected:
                await self._disconnect()
            raise PublishFailed(f"NATS at {self._where()} did not take the events: "
                                f"{type(exc).__name__}: {exc}") from exc

    async def _publish_one(self, js: JetStreamContext, event: Event) -> None:
        await js.publish(self.subject(event), encode(event), timeout=self.timeout,
                         stream=self.stream_name, headers={"Nats-Msg-Id": event.id})

    async def _jetstream(self) -> JetStreamContext:
        if self._nc is None or not self._nc.is_connected or self._js is None:
            await self._disconnect()
            nc = Client()
            try:
                await asyncio.wait_for(
                    # No reconnecting in the background: one try per server, no waiting.
                    nc.connect(self.servers, name="ordermesh", allow_reconnect=False,
                               max_reconnect_attempts=1, reconnect_time_wait=0,
                               connect_timeout=max(1, round(self.connect_timeout)),
                               error_cb=self._on_error),
                    timeout=self.connect_timeout + 1)
            except BaseException:
                await self._close_quietly(nc)
                raise
            self._nc, self._js = nc, nc.jetstream(timeout=self.timeout)
            self._stream_ready = False
        if not self._stream_ready:
            await self._ensure_stream(self._js)
            self._stream_ready = True
        return self._js

    async def _ensure_stream(self, js: JetStreamContext) -> None:
        try:
            await js.stream_info(self.stream_name)
        except nats.js.errors.NotFoundError:
            log.info("creating JetStream stream %s for %s.>", self.stream_name, self.prefix)
            await js.add_stream(name=self.stream_name, subjects=[f"{self.prefix}.>"],
                                storage=StorageType.FILE, duplicate_window=self.duplicate_window)

    async def _disconnect(self) -> None:
        nc, self._nc, self._js = self._nc, None, None
        self._stream_ready = False
        if nc is not None:
            await self._close_quietly(nc)

    @staticmethod
    async def _close_quietly(nc: Client) -> None:
        with contextlib.suppress(Exception):  # closing a connection that may be broken already
            await asyncio.wait_for(nc.close(), timeout=2)

    @staticmethod
    async def _on_error(exc: Exception) -> None:
        log.debug("nats: %s: %s", type(exc).__name__, exc)

    def _where(self) -> str:
        parts = urlsplit(self.servers)  # without the user and password of the URL
        return f"{parts.hostname}:{parts.port or 4222}" if parts.hostname else self.servers


__all__ = ["DEFAULT_PREFIX", "NatsPublisher", "stream_name_for", "subject_token"]
