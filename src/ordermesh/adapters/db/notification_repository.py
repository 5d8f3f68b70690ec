"""Customer notifications in SQL: one per event and kind, taken by senders under a lease."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from ordermesh.adapters.db import tables as t

_n, _o, _ol, _p = t.notifications.c, t.orders.c, t.order_lines.c, t.products.c


class SqlNotifications:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def recipients(self, order_ids: set[str]) -> dict[str, tuple[int, str]]:
        """(sequence number, customer email) of these orders."""
        if not order_ids:
            return {}
        return {str(r.id): (int(r.seq), str(r.customer_email)) for r in self.conn.execute(
            select(_o.id, _o.seq, _o.customer_email).where(_o.id.in_(order_ids)))}

    def add(self, rows: list[dict[str, Any]], now: datetime) -> None:
        """One notification per event, kind and medium; one that exists is left alone."""
        if not rows:
            return
        dialect = postgresql if self.conn.dialect.name == "postgresql" else sqlite
        self.conn.execute(dialect.insert(t.notifications).on_conflict_do_nothing(
            index_elements=["event_id", "kind", "medium"]),
            [{**row, "status": "pending", "attempts": 0, "next_attempt_at": now,
              "created_at": now} for row in rows])

    def claim_due(self, now: datetime, lease_until: datetime, limit: int) -> list[dict[str, Any]]:
        query = (select(t.notifications).where(_n.status == "pending", _n.next_attempt_at <= now)
                 .order_by(_n.next_attempt_at, _n.id).limit(limit))
        if self.conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rows = [dict(r._mapping) for r in self.conn.execute(query)]
        if rows:
            self.conn.execute(update(t.notifications).where(
                _n.id.in_([r["id"] for r in rows])).values(next_attempt_at=lease_until))
        return rows

    def renew(self, notification_id: int, held: datetime, until: datetime) -> bool:
        """Move a pending notification's lease from `held` (this sender's) to `until`; False
        when another sender took it meanwhile (or it was answered)."""
        return bool(self.conn.execute(update(t.notifications).where(
            _n.id == notification_id, _n.status == "pending", _n.next_attempt_at == held)
            .values(next_attempt_at=until)).rowcount)

    def get(self, notification_id: int) -> dict[str, Any] | None:
        row = self.conn.execute(select(t.notifications).where(_n.id == notification_id)
                                .with_for_update()).first()
        return None if row is None else dict(row._mapping)

    def update(self, notification_id: int, values: dict[str, Any]) -> None:
        self.conn.execute(update(t.notifications).where(_n.id == notification_id)
                          .values(**values))

    def order_facts(self, order_seq: int) -> dict[str, Any]:
        """What a mail may say of an order: number, customer, total, lines with names."""
        order = self.conn.execute(select(
            _o.id, _o.seq, _o.channel_code, _o.customer_name, _o.customer_email, _o.currency,
            _o.grand_total, _o.tracking_token).where(_o.seq == order_seq)).one()
        lines = [dict(r._mapping) for r in self.conn.execute(
            select(_ol.sku, _ol.quantity, _ol.unit_price, _p.name)
            .join(t.products, _p.sku == _ol.sku).where(_ol.order_seq == order_seq)
            .order_by(_ol.line_no))]
        return {**dict(order._mapping), "lines": lines}
