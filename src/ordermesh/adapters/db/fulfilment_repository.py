"""Fulfilments in SQL: written with their lines, read locked, saved against their version."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection

from ordermesh.adapters.db import tables as t
from ordermesh.domain.errors import ConcurrentUpdate
from ordermesh.domain.events import utcnow
from ordermesh.domain.fulfilments import Fulfilment, FulfilmentLine, FulfilmentStatus
from ordermesh.domain.orders import RELEASABLE

_f, _fl, _a, _o = t.fulfilments.c, t.fulfilment_lines.c, t.allocations.c, t.orders.c
IN_THE_BUILDING = ("pending", "picking", "packed", "ready_for_pickup")


class SqlFulfilments:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.seen: list[Fulfilment] = []
        self._lines: dict[str, tuple[FulfilmentLine, ...]] = {}  # as read, to write changes

    def add(self, fulfilment: Fulfilment, order_seq: int, wave: str | None = None) -> None:
        now = utcnow()
        self.conn.execute(insert(t.fulfilments).values(
            id=fulfilment.id, order_seq=order_seq, location_code=fulfilment.location,
            method=fulfilment.method, status=str(fulfilment.status),
            tracked_at=fulfilment.tracked_at, version=fulfilment.version, created_at=now,
            updated_at=now, pickup_code=fulfilment.pickup_code, wave_id=wave))
        self.conn.execute(insert(t.fulfilment_lines), [
            {"fulfilment_id": fulfilment.id, "order_line_id": line.order_line_id,
             "sku": line.sku, "quantity": line.quantity} for line in fulfilment.lines])
        self.seen.append(fulfilment)
        self._lines[fulfilment.id] = fulfilment.lines

    def get(self, fulfilment_id: str) -> Fulfilment | None:
        """A fulfilment, locked until the commit."""
        for known in self.seen:
            if known.id == fulfilment_id:
                return known
        row = self.conn.execute(
            select(t.fulfilments, _o.id.label("order_id")).join(t.orders, _o.seq == _f.order_seq)
            .where(_f.id == fulfilment_id).with_for_update(of=t.fulfilments)).first()
        if row is None:
            return None
        lines = self.conn.execute(select(t.fulfilment_lines).where(
            _fl.fulfilment_id == fulfilment_id).order_by(_fl.id))
        fulfilment = Fulfilment(
            row.id, row.order_id, row.location_code, row.method,
            tuple(FulfilmentLine(ln.order_line_id, ln.sku, ln.quantity) for ln in lines),
            FulfilmentStatus(row.status), row.tracked_at, row.version,
            pickup_code=row.pickup_code, ready_at=row.ready_at, accepted_at=row.accepted_at)
        self.seen.append(fulfilment)
        self._lines[fulfilment.id] = fulfilment.lines
        return fulfilment

    def order_of(self, fulfilment_id: str) -> str | None:
        """The id of the fulfilment's order, read without a lock (to lock the order first)."""
        return self.conn.execute(select(_o.id).join(t.fulfilments, _o.seq == _f.order_seq)
                                 .where(_f.id == fulfilment_id)).scalar()

    def save(self, fulfilment: Fulfilment) -> None:
        done = self.conn.execute(update(t.fulfilments).where(
            _f.id == fulfilment.id, _f.version == fulfilment.version).values(
            status=str(fulfilment.status), tracked_at=fulfilment.tracked_at,
            ready_at=fulfilment.ready_at, accepted_at=fulfilment.accepted_at,
            version=fulfilment.version + 1, updated_at=utcnow())).rowcount
        if done != 1:
            raise ConcurrentUpdate(f"fulfilment {fulfilment.id} was changed by someone else")
        fulfilment.version += 1
        if self._lines.get(fulfilment.id) != fulfilment.lines:  # a short pick shrank them
            kept = {ln.order_line_id: ln.quantity for ln in fulfilment.lines}
            for line in self._lines.get(fulfilment.id, ()):
                where = (_fl.fulfilment_id == fulfilment.id,
                         _fl.order_line_id == line.order_line_id)
                if line.order_line_id not in kept:
                    self.conn.execute(delete(t.fulfilment_lines).where(*where))
                elif kept[line.order_line_id] != line.quantity:
                    self.conn.execute(update(t.fulfilment_lines).where(*where)
                                      .values(quantity=kept[line.order_line_id]))
            self._lines[fulfilment.id] = fulfilment.lines

    def statuses_for_order(self, order_seq: int) -> list[FulfilmentStatus]:
        return [FulfilmentStatus(s) for s in self.conn.execute(
            select(_f.status).where(_f.order_seq == order_seq)).scalars()]

    def unreleased(self, location: str | None, limit: int) -> list[int]:
        """Orders with active allocations no fulfilment has taken yet (at `location`), in
        placement order."""
        query = (select(_a.order_seq).distinct()
                 .join(t.orders, _o.seq == _a.order_seq)
                 .where(_a.status == "active", _a.fulfilment_id.is_(None),
                        _o.status.in_([str(s) for s in RELEASABLE]))
                 .order_by(_a.order_seq).limit(limit))
        if location is not None:
            query = query.where(_a.location_code == location)
        return [int(seq) for seq in self.conn.execute(query).scalars()]

    def unreleased_allocations(self, order_seq: int, location: str | None) -> list[dict[str, Any]]:
        query = select(t.allocations).where(_a.order_seq == order_seq, _a.status == "active",
                                            _a.fulfilment_id.is_(None)).order_by(_a.id)
        if location is not None:
            query = query.where(_a.location_code == location)
        return [dict(row._mapping) for row in self.conn.execute(query)]

    def assign(self, allocation_ids: list[int], fulfilment_id: str | None) -> None:
        self.conn.execute(update(t.allocations).where(_a.id.in_(allocation_ids))
                          .values(fulfilment_id=fulfilment_id))

    def open_for_order(self, order_seq: int) -> list[str]:
        """The order's fulfilments that have not left or ended yet, oldest first."""
        return [str(i) for i in self.conn.execute(select(_f.id).where(
            _f.order_seq == order_seq, _f.status.in_(IN_THE_BUILDING))
            .order_by(_f.created_at, _f.id)).scalars()]

    def allocations_of(self, fulfilment_id: str) -> list[int]:
        return [int(i) for i in self.conn.execute(select(_a.id).where(
            _a.fulfilment_id == fulfilment_id, _a.status == "active")).scalars()]
