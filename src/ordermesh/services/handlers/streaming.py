"""Publishing events to the event stream (NATS JetStream or Redis Streams): events not
streamed yet, oldest first, are read in a short transaction, published outside any
transaction in that order, and marked streamed in another. A publish that fails leaves them
for the next run, published again under the same ids (the stream drops repeats). The events
of one order are committed one after the other (under the order's lock), so reading by
sequence keeps each order's events in order."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from ordermesh.domain.events import utcnow
from ordermesh.services import commands as c
from ordermesh.services.ports import EventPublisher, PublishFailed, UnitOfWork

log = logging.getLogger("ordermesh.streams")


@dataclass
class StreamSetup:
    publisher: EventPublisher | None = None  # None: no event stream configured
    clock: Callable[[], datetime] = utcnow


def stream_events(cmd: c.StreamEvents, uow: UnitOfWork, setup: StreamSetup) -> int:
    """Publish a batch of events not streamed yet; answers how many were published."""
    if setup.publisher is None:
        return 0
    with uow:
        events = uow.webhooks.unstreamed(cmd.limit)
    if not events:
        return 0
    try:
        setup.publisher.publish(events)
    except PublishFailed as exc:
        log.warning("event stream %s: %s; %d event(s) left for the next run",
                    setup.publisher.name, exc, len(events))
        return 0
    with uow:
        uow.webhooks.streamed([e.id for e in events], setup.clock())
        uow.commit()
    return len(events)
