"""Events: facts that happened. Stored with the change that caused them (timeline and outbox)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# The clock every layer reads "now" from (handlers, repositories and the built-in simulators
# all call `utcnow()`). None: the real time. Only `ordermesh simulate` sets it, through
# `clock_set_to`, to replay a retail day in minutes with that day's timestamps: orders, events,
# fulfilments, payments and parcels then carry simulated times, and the analytics' stage times
# are believable. It is one value for the whole process (the API's threads included), so it
# must never be set in a process that serves real traffic.
_clock: Callable[[], datetime] | None = None


def utcnow() -> datetime:
    return _clock() if _clock is not None else datetime.now(UTC)


@contextmanager
def clock_set_to(clock: Callable[[], datetime]) -> Iterator[None]:
    """Read "now" from `clock` inside the block (the simulator's time), the real time after."""
    global _clock
    previous, _clock = _clock, clock
    try:
        yield
    finally:
        _clock = previous


@dataclass(frozen=True, slots=True)
class Event:
    type: str  # wire name, past tense: "order.placed"
    stream: str  # what it is about: "order"
    stream_id: str  # the id of that thing
    actor: str
    data: dict[str, Any] = field(default_factory=dict)
    occurred_at: datetime = field(default_factory=utcnow)
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
