"""Webhooks: which events a subscription takes, what a delivery carries, and when a failed
delivery is tried again (for more than a day), then given up.

A delivery is tried at once, then after each wait of RETRY_SCHEDULE in turn (at least 30
hours in all), each wait spread by up to a fifth either way so that many failed deliveries do
not come back at the same moment. After the last try it has failed; a subscription whose
deliveries keep failing is disabled.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ordermesh.domain.errors import InvalidInput
from ordermesh.domain.events import Event

RETRY_SCHEDULE: tuple[timedelta, ...] = (
    timedelta(seconds=5), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2),
    timedelta(hours=5), timedelta(hours=10), timedelta(hours=10), timedelta(hours=10),
)
JITTER = 0.2
PAYLOAD_VERSION = "1"  # the `version` of every payload; a breaking change makes a new one


@dataclass(frozen=True, slots=True)
class Sent:
    """What came of one attempt to deliver: the answer's status, or why there was none."""

    status_code: int | None
    latency_ms: int
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def next_attempt(attempts: int, now: datetime, rng: random.Random | None = None
                 ) -> datetime | None:
    """When to try again after `attempts` tries have failed; None: give up."""
    if attempts < 1:
        raise InvalidInput("a retry follows at least one attempt")
    if attempts > len(RETRY_SCHEDULE):
        return None
    wait = RETRY_SCHEDULE[attempts - 1]
    spread = (rng or random).uniform(1 - JITTER, 1 + JITTER)
    return now + wait * spread


def retry_window() -> timedelta:
    """How long a delivery is tried for, at the least (every wait at its shortest)."""
    return sum(RETRY_SCHEDULE, timedelta()) * (1 - JITTER)


def matches(event_types: Iterable[str], event_type: str) -> bool:
    """Whether a subscription to `event_types` takes an event: `*` takes all, `order.*` all
    of one stream, else the type itself."""
    for wanted in event_types:
        if wanted == "*" or wanted == event_type:
            return True
        if wanted.endswith(".*") and event_type.startswith(wanted[:-1]):
            return True
    return False


def check_event_types(event_types: Sequence[str]) -> list[str]:
    if not event_types:
        raise InvalidInput("a subscription takes at least one event type (or `*`)")
    for wanted in event_types:
        name = wanted.removesuffix(".*")
        if wanted != "*" and not all(part.isidentifier() for part in name.split(".")):
            raise InvalidInput(f"{wanted!r} is not an event type, `stream.*` or `*`")
    return sorted(set(event_types))


def payload(event: Event) -> dict[str, Any]:
    """What a delivery carries (Standard Webhooks style: type, timestamp, data)."""
    return {"type": event.type, "timestamp": event.occurred_at.isoformat(),
            "version": PAYLOAD_VERSION,
            "data": {"id": event.id, "stream": event.stream, "stream_id": event.stream_id,
                     "actor": event.actor, **event.data}}


def is_public(address: str) -> bool:
    """Whether an IP address is on the public internet: not private, loopback, link-local,
    multicast, reserved or unspecified (nor an IPv4 address mapped into IPv6 that is)."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.is_site_local or any(ip in net for net in TRANSLATED):
            return False  # site-local, or an IPv4 address behind NAT64 / IPv4-compatible
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None:
            return is_public(str(embedded))
    return ip.is_global and not ip.is_multicast


# IPv6 ranges that carry an IPv4 address a gateway may translate (NAT64 well-known and local
# prefixes, the old IPv4-compatible form): refused outright rather than judged by it.
TRANSLATED = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"),
              ipaddress.IPv6Network("::/96"))
