"""Publishing events to Redis Streams, on the official redis-py client.

One stream key per thing an event is about: `<prefix>:<stream>:<stream_id>`
(`ordermesh:events:order:ord_123`), each event an entry with the fields `id`, `type` and `payload`
(the JSON of payload.py). A copy of every entry also goes to the capped stream `<prefix>:all`
(fields `id`, `type`, `key`, `entry`, `payload`), so a consumer can follow every event with one
consumer group without knowing the keys.

De-duplication: the key `<prefix>:seen:<event id>` records a published event for a few days. One
Lua script per batch checks it, adds the entries and records them: the script runs atomically, in
the order given, so a batch that fails half-way has published a prefix of its events in order,
and publishing it again adds only the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis
import redis.exceptions

from ordermesh.adapters.streams.payload import encode
from ordermesh.domain.events import Event
from ordermesh.services.ports import PublishFailed

DEFAULT_PREFIX = "ordermesh:events"
SEEN_FOR = timedelta(days=7)
ALL_MAX_LENGTH = 1_000_000  # approximate cap of `<prefix>:all`; 0: no such stream
BATCH = 100  # events per script call

# KEYS[1] = `<prefix>:all`, then per event its stream key and its seen key.
# ARGV[1] = seconds a seen key lives, ARGV[2] = cap of the all stream (0: none),
# then per event its id, type and payload.
# Seen is written after the XADD: a failure in between publishes twice, never loses an event.
_PUBLISH = """
local seen_for = ARGV[1]
local all_max = tonumber(ARGV[2])
local added = {}
for i = 1, (#KEYS - 1) / 2 do
  local key, seen = KEYS[2 * i], KEYS[2 * i + 1]
  local id, kind, payload = ARGV[3 * i], ARGV[3 * i + 1], ARGV[3 * i + 2]
  if redis.call('EXISTS', seen) == 0 then
    local entry = redis.call('XADD', key, '*', 'id', id, 'type', kind, 'payload', payload)
    if all_max > 0 then
      redis.call('XADD', KEYS[1], 'MAXLEN', '~', all_max, '*', 'id', id, 'type', kind,
                 'key', key, 'entry', entry, 'payload', payload)
    end
    redis.call('SET', seen, entry, 'EX', seen_for)
    added[#added + 1] = entry
  end
end
return added
"""


class RedisPublisher:
    """An EventPublisher on Redis Streams."""

    name = "redis"

    def __init__(self, client: redis.Redis, prefix: str = DEFAULT_PREFIX, *,
                 seen_for: timedelta = SEEN_FOR, all_max_length: int = ALL_MAX_LENGTH) -> None:
        if not prefix:
            raise ValueError("the Redis key prefix is empty")
        self.client = client
        self.prefix = prefix
        self.seen_for = seen_for
        self.all_max_length = all_max_length
        self._script = client.register_script(_PUBLISH)

    @classmethod
    def from_url(cls, url: str, *, timeout: float = 5.0, connect_timeout: float = 2.0,
                 **options: Any) -> RedisPublisher:
        """`redis://[:password@]host:port/db[?prefix=ordermesh:events]` (or `rediss://` for TLS);
        other query parameters are redis-py's own."""
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        prefix = next((value for name, value in query if name == "prefix"), DEFAULT_PREFIX)
        rest = urlencode([(name, value) for name, value in query if name != "prefix"])
        client = redis.Redis.from_url(urlunsplit(parts._replace(query=rest)),
                                      socket_timeout=timeout,
                                      socket_connect_timeout=connect_timeout)
        return cls(client, prefix, **options)

    def key(self, event: Event) -> str:
        return f"{self.prefix}:{event.stream}:{event.stream_id}"

    def seen_key(self, event_id: str) -> str:
        return f"{self.prefix}:seen:{event_id}"

    @property
    def all_key(self) -> str:
        return f"{self.prefix}:all"

    def publish(self, events: Sequence[Event]) -> None:
        for start in range(0, len(events), BATCH):
            batch = events[start:start + BATCH]
            keys: list[str] = [self.all_key]
            args: list[str | bytes | int] = [max(1, int(self.seen_for.total_seconds())),
                                             self.all_max_length]
            for event in batch:
                keys += [self.key(event), self.seen_key(event.id)]
                args += [event.id, event.type, encode(event)]
            try:
                self._script(keys=keys, args=args)
            except redis.exceptions.RedisError as exc:
                raise PublishFailed(f"Redis at {self._where()} did not take the events: "
                                    f"{type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        self.client.close()

    def _where(self) -> str:
        kwargs = self.client.connection_pool.connection_kwargs
        return f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}"


__all__ = ["DEFAULT_PREFIX", "RedisPublisher"]
