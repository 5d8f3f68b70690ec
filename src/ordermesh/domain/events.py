"""Events: facts that happened. Stored with the change that caused them (timeline and outbox)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Event:
    type: str  # wire name, past tense: "order.placed"
    stream: str  # what it is about: "order"
    stream_id: str  # the id of that thing
    actor: str
    data: dict[str, Any] = field(default_factory=dict)
    occurred_at: datetime = field(default_factory=utcnow)
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
