"""The one JSON payload of an event on an event stream (NATS JetStream, Redis Streams).

Versioned by its `schema` field; a consumer checks it before reading the rest. The JSON Schema
of this envelope is docs/schemas/event.schema.json.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from ordermesh.domain.events import Event

SCHEMA = "ordermesh.event/1"


def utc_iso(moment: datetime) -> str:
    """ISO 8601 in UTC with microseconds and a `Z`: `2026-11-01T09:30:00.000000Z`.
    A naive datetime is taken as UTC (that is how the database hands them back)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_payload(event: Event) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "id": event.id,
        "type": event.type,
        "stream": event.stream,
        "stream_id": event.stream_id,
        "actor": event.actor,
        "occurred_at": utc_iso(event.occurred_at),
        "data": event.data,
    }


def encode(event: Event) -> bytes:
    """The payload as compact UTF-8 JSON with sorted keys (the same event gives the same bytes)."""
    return json.dumps(event_payload(event), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False, allow_nan=False).encode("utf-8")
