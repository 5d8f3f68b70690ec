"""Event streams: publishing domain events to NATS JetStream or Redis Streams (docs/events.md)."""

from __future__ import annotations

from urllib.parse import urlsplit

from ordermesh.services.ports import EventPublisher


def publisher_for(url: str) -> EventPublisher:
    """The publisher for an event stream URL:
    `nats://host:port[/prefix]` (NATS JetStream) or `redis://host:port/db[?prefix=...]` /
    `rediss://...` (Redis Streams). Nothing connects until the first `publish`."""
    scheme = urlsplit(url).scheme.lower()
    if scheme == "nats":
        from ordermesh.adapters.streams.nats_stream import NatsPublisher

        return NatsPublisher.from_url(url)
    if scheme in ("redis", "rediss"):
        from ordermesh.adapters.streams.redis_stream import RedisPublisher

        return RedisPublisher.from_url(url)
    shown = f"{scheme}://..." if scheme else repr(url)
    raise ValueError(f"unsupported event stream URL {shown}: use nats://host:port[/prefix] "
                     "for NATS JetStream or redis://host:port/db for Redis Streams")


__all__ = ["publisher_for"]
