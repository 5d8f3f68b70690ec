"""Cart holds in SQL: the unit of work's repository, and the read query behind the API."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from ordermesh.adapters.db import tables as t
from ordermesh.adapters.db.repositories import insert_or_conflict
from ordermesh.domain.errors import ConcurrentUpdate
from ordermesh.domain.holds import CartHold, HoldLine, HoldStatus

_h, _hl = t.cart_holds.c, t.cart_hold_lines.c


class SqlCartHolds:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.seen: list[CartHold] = []

    def add(self, hold: CartHold, idempotency_key: str | None = None,
            request_hash: str | None = None) -> None:
        # A twin request with the same key waits on the unique index here, before any stock
        # row is touched, and is retried into a replay when the first commits.
        insert_or_conflict(self.conn, t.cart_holds, {
            "id": hold.id, "channel_code": hold.channel, "status": str(hold.status),
            "expires_at": hold.expires_at, "created_at": hold.created_at,
            "idempotency_key": idempotency_key, "request_hash": request_hash})
        self.conn.execute(insert(t.cart_hold_lines), [
            {"hold_id": hold.id, "sku": ln.sku, "location_code": ln.location,
             "quantity": ln.quantity} for ln in hold.lines])
        self.seen.append(hold)

    def get(self, hold_id: str) -> CartHold | None:
        """A hold, locked until the commit: conversions, releases and expiry of one hold run
        one after the other (on SQLite the write lock already serialises them)."""
        for hold in self.seen:
            if hold.id == hold_id:
                return hold
        row = self.conn.execute(
            select(t.cart_holds).where(_h.id == hold_id).with_for_update()).first()
        return self._load([row])[0] if row else None

    def find_by_key(self, channel: str, key: str) -> tuple[str, str | None] | None:
        """(hold id, request hash) of the hold made with this Idempotency-Key."""
        row = self.conn.execute(select(_h.id, _h.request_hash).where(
            _h.channel_code == channel, _h.idempotency_key == key)).first()
        return (row.id, row.request_hash) if row else None

    def due(self, now: datetime, limit: int) -> list[CartHold]:
        """Active holds past their expiry, oldest first, locked. Holds another transaction has
        locked (being converted or released right now) are skipped, not waited for: they are
        either gone by the next run or still due then."""
        query = (select(t.cart_holds)
                 .where(_h.status == str(HoldStatus.ACTIVE), _h.expires_at <= now)
                 .order_by(_h.expires_at, _h.id).limit(limit)
                 .with_for_update(skip_locked=True))
        return self._load(list(self.conn.execute(query)))

    def active_at(self, sku: str, location: str) -> list[CartHold]:
        """Active holds with units on one stock row, newest first, locked."""
        query = (select(_h.id)
                 .where(_h.status == str(HoldStatus.ACTIVE), _h.id.in_(
                     select(_hl.hold_id).where(_hl.sku == sku, _hl.location_code == location)))
                 .order_by(_h.created_at.desc(), _h.id.desc()).with_for_update())
        ids = self.conn.execute(query).scalars().all()
        return [hold for hold_id in ids if (hold := self.get(hold_id)) is not None]

    def save(self, hold: CartHold) -> None:
        """Write how the hold ended; only an active hold can end, once."""
        result = self.conn.execute(
            update(t.cart_holds).where(_h.id == hold.id, _h.status == str(HoldStatus.ACTIVE))
            .values(status=str(hold.status), ended_at=hold.ended_at, order_id=hold.order_id))
        if result.rowcount != 1:
            raise ConcurrentUpdate(f"cart hold {hold.id} was changed by someone else")

    def _load(self, rows: Sequence[Any]) -> list[CartHold]:
        if not rows:
            return []
        lines: dict[str, list[HoldLine]] = {row.id: [] for row in rows}
        for ln in self.conn.execute(select(t.cart_hold_lines).where(
                _hl.hold_id.in_(list(lines))).order_by(_hl.id)):
            lines[ln.hold_id].append(HoldLine(ln.sku, ln.location_code, ln.quantity))
        holds = [CartHold(row.id, row.channel_code, tuple(lines[row.id]), row.created_at,
                          row.expires_at, HoldStatus(row.status), row.ended_at, row.order_id)
                 for row in rows]
        self.seen.extend(holds)
        return holds


def hold_detail(conn: Connection, hold_id: str, channel: str | None) -> dict[str, Any] | None:
    """One hold with its lines; a channel sees only its own holds."""
    query = select(t.cart_holds).where(_h.id == hold_id)
    if channel is not None:
        query = query.where(_h.channel_code == channel)
    row = conn.execute(query).first()
    if row is None:
        return None
    lines = conn.execute(select(_hl.sku, _hl.location_code, _hl.quantity)
                         .where(_hl.hold_id == hold_id).order_by(_hl.id))
    return {**row._mapping, "channel": row.channel_code,
            "lines": [{"sku": ln.sku, "location": ln.location_code, "quantity": ln.quantity}
                      for ln in lines]}
