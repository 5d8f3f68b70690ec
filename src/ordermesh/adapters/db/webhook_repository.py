"""The outbox and webhooks in SQL: events not relayed yet, subscriptions, one delivery per
subscription and event, and every attempt. Rows several workers could take at once are taken
with FOR UPDATE SKIP LOCKED on PostgreSQL (SQLite lets one writer in at a time)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from ordermesh.adapters.db import tables as t
from ordermesh.domain.events import Event, utcnow

_e, _s, _d, _a = (t.events.c, t.webhook_subscriptions.c, t.webhook_deliveries.c,
                  t.webhook_attempts.c)


class SqlWebhooks:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def _skip_locked(self, query: Any, of: Any = None) -> Any:
        """Rows another transaction holds are passed over (PostgreSQL; SQLite has one writer):
        only the rows of `of` when the query joins others, which stay free for the rest."""
        if self.conn.dialect.name == "postgresql":
            return query.with_for_update(skip_locked=True, of=of)
        return query

    # -- the outbox ------------------------------------------------------------------------

    def unrelayed(self, limit: int) -> list[Event]:
        """Events not relayed yet, oldest first, taken by this transaction."""
        rows = self.conn.execute(self._skip_locked(
            select(t.events).where(_e.published_at.is_(None)).order_by(_e.seq).limit(limit)))
        return [_event(r) for r in rows]

    def unstreamed(self, limit: int) -> list[Event]:
        """Events not published to the event stream yet, oldest first (read, not taken)."""
        rows = self.conn.execute(select(t.events).where(_e.streamed_at.is_(None))
                                 .order_by(_e.seq).limit(limit))
        return [_event(r) for r in rows]

    def streamed(self, event_ids: list[str], at: datetime) -> None:
        self.conn.execute(update(t.events).where(_e.id.in_(event_ids)).values(streamed_at=at))

    def relayed(self, event_ids: list[str], at: datetime) -> None:
        self.conn.execute(update(t.events).where(_e.id.in_(event_ids)).values(published_at=at))

    def record(self, event: Event) -> None:
        """An event about a subscription itself (not an aggregate of a unit of work)."""
        self.conn.execute(insert(t.events).values(
            id=event.id, stream=event.stream, stream_id=event.stream_id, type=event.type,
            actor=event.actor, data=event.data, occurred_at=event.occurred_at))

    def event(self, event_id: str) -> Event | None:
        r = self.conn.execute(select(t.events).where(_e.id == event_id)).first()
        return None if r is None else _event(r)

    # -- subscriptions -----------------------------------------------------------------------

    def add_subscription(self, values: dict[str, Any]) -> None:
        now = utcnow()
        self.conn.execute(insert(t.webhook_subscriptions).values(
            **values, active=True, failures=0, created_at=now, updated_at=now))

    def subscription(self, subscription_id: str, lock: bool = False) -> dict[str, Any] | None:
        query = select(t.webhook_subscriptions).where(_s.id == subscription_id)
        if lock:
            query = query.with_for_update()
        row = self.conn.execute(query).first()
        return None if row is None else dict(row._mapping)

    def update_subscription(self, subscription_id: str, values: dict[str, Any]) -> None:
        self.conn.execute(update(t.webhook_subscriptions).where(_s.id == subscription_id)
                          .values(**values, updated_at=utcnow()))

    def active_subscriptions(self) -> list[dict[str, Any]]:
        return [dict(r._mapping) for r in self.conn.execute(
            select(_s.id, _s.event_types).where(_s.active))]

    # -- deliveries --------------------------------------------------------------------------

    def add_deliveries(self, rows: list[dict[str, Any]], now: datetime) -> None:
        """One delivery per subscription and event, due `now`; one that exists already is
        left alone."""
        if not rows:
            return
        dialect = postgresql if self.conn.dialect.name == "postgresql" else sqlite
        self.conn.execute(dialect.insert(t.webhook_deliveries).on_conflict_do_nothing(
            index_elements=["subscription_id", "event_id"]),
            [{**row, "status": "pending", "attempts": 0, "next_attempt_at": now,
              "created_at": now} for row in rows])

    def claim_due(self, now: datetime, lease_until: datetime, limit: int) -> list[dict[str, Any]]:
        """Deliveries due now, of active subscriptions, oldest first; each is leased (its next
        attempt moved to `lease_until`) so no other sender takes it meanwhile. A sender that
        dies leaves it to be taken again when the lease runs out."""
        rows = [dict(r._mapping) for r in self.conn.execute(self._skip_locked(
            select(t.webhook_deliveries).join(
                t.webhook_subscriptions, _s.id == _d.subscription_id)
            .where(_d.status == "pending", _d.next_attempt_at <= now, _s.active)
            .order_by(_d.next_attempt_at, _d.id).limit(limit), of=t.webhook_deliveries))]
        if rows:
            self.conn.execute(update(t.webhook_deliveries).where(
                _d.id.in_([r["id"] for r in rows])).values(next_attempt_at=lease_until))
        return rows

    def renew(self, delivery_id: int, held: datetime, until: datetime) -> bool:
        """Move a pending delivery's lease from `held` (this sender's) to `until`; False when
        it is no longer held so (taken by another sender, or answered)."""
        return bool(self.conn.execute(update(t.webhook_deliveries).where(
            _d.id == delivery_id, _d.status == "pending", _d.next_attempt_at == held)
            .values(next_attempt_at=until)).rowcount)

    def delivery(self, delivery_id: int, lock: bool = False) -> dict[str, Any] | None:
        query = select(t.webhook_deliveries).where(_d.id == delivery_id)
        if lock:
            query = query.with_for_update()
        row = self.conn.execute(query).first()
        return None if row is None else dict(row._mapping)

    def attempted(self, delivery_id: int, attempt: int, status_code: int | None,
                  latency_ms: int, error: str | None) -> None:
        self.conn.execute(insert(t.webhook_attempts).values(
            delivery_id=delivery_id, attempt=attempt, at=utcnow(), status_code=status_code,
            latency_ms=latency_ms, error=error))

    def update_delivery(self, delivery_id: int, values: dict[str, Any]) -> None:
        self.conn.execute(update(t.webhook_deliveries).where(_d.id == delivery_id)
                          .values(**values))


def _event(row: Any) -> Event:
    return Event(row.type, row.stream, row.stream_id, row.actor, dict(row.data),
                 row.occurred_at, row.id)
