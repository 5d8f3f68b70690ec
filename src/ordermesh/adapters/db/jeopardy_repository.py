"""Writes for jeopardy: the stage SLAs, and the flags of orders in jeopardy with their events.

A flag is one row per (order, stage), under a unique constraint: it is written with an
insert that does nothing on a conflict, and reopened with an update that only touches a
cleared row, and each answers whether it was this transaction that did it. Two workers flagging
at once therefore write one row, and only the one that wrote it records the event.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from ordermesh.adapters.db import jeopardy_queries as jq
from ordermesh.adapters.db import tables as t
from ordermesh.domain.events import Event
from ordermesh.domain.jeopardy import Flag, OrderFacts

_s, _j = t.stage_slas.c, t.order_jeopardies.c


class SqlJeopardy:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def candidates(self, now: datetime) -> list[OrderFacts]:
        return jq.candidates(self.conn, now)

    def slas(self) -> dict[tuple[str, str], int]:
        return jq.slas(self.conn)

    def put_sla(self, channel: str, stage: str, minutes: int, at: datetime) -> None:
        """Set one SLA: a new one, or a new value for an existing one."""
        dialect = postgresql if self.conn.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(t.stage_slas).values(
            channel=channel, stage=stage, minutes=minutes, updated_at=at)
        self.conn.execute(statement.on_conflict_do_update(
            index_elements=["channel", "stage"],
            set_={"minutes": statement.excluded.minutes,
                  "updated_at": statement.excluded.updated_at}))

    def remove_sla(self, channel: str, stage: str) -> bool:
        return bool(self.conn.execute(delete(t.stage_slas).where(
            _s.channel == channel, _s.stage == stage)).rowcount)

    def flags(self, order_ids: Iterable[str]) -> dict[tuple[str, str], Flag]:
        return jq.flags_of(self.conn, order_ids)

    def open_flags(self) -> list[tuple[int, str, str]]:
        """(id, order id, stage) of every flag not cleared."""
        return [(r.id, r.order_id, r.stage) for r in self.conn.execute(
            select(_j.id, _j.order_id, _j.stage).where(_j.cleared_at.is_(None)))]

    def flag(self, order_id: str, stage: str, reason: str, due_at: datetime,
             at: datetime) -> bool:
        """Flag the order's stage; False when it was flagged already (by anyone)."""
        dialect = postgresql if self.conn.dialect.name == "postgresql" else sqlite
        # RETURNING says whether a row was written: with it implicit (the id), psycopg's
        # rowcount is -1 whether the insert wrote the row or did nothing.
        return self.conn.execute(
            dialect.insert(t.order_jeopardies).values(
                order_id=order_id, stage=stage, reason=reason, due_at=due_at, flagged_at=at)
            .on_conflict_do_nothing(index_elements=["order_id", "stage"])
            .returning(_j.id)).first() is not None

    def reopen(self, order_id: str, stage: str, reason: str, due_at: datetime,
               at: datetime) -> bool:
        """Flag again a stage the order had left and came back to; False when it is open."""
        return bool(self.conn.execute(
            update(t.order_jeopardies)
            .where(_j.order_id == order_id, _j.stage == stage, _j.cleared_at.is_not(None))
            .values(reason=reason, due_at=due_at, flagged_at=at, cleared_at=None)).rowcount)

    def refresh(self, order_id: str, stage: str, reason: str, due_at: datetime) -> None:
        """An open flag's reason or due time changed (a carrier exception, a new SLA)."""
        self.conn.execute(update(t.order_jeopardies).where(
            _j.order_id == order_id, _j.stage == stage, _j.cleared_at.is_(None)).values(
            reason=reason, due_at=due_at))

    def clear(self, flag_ids: Iterable[int], at: datetime) -> int:
        ids, cleared = sorted(flag_ids), 0
        for start in range(0, len(ids), 500):
            cleared += self.conn.execute(
                update(t.order_jeopardies)
                .where(_j.id.in_(ids[start:start + 500]), _j.cleared_at.is_(None))
                .values(cleared_at=at)).rowcount
        return cleared

    def record(self, event: Event) -> None:
        """An event written in this transaction without loading its order."""
        self.conn.execute(insert(t.events).values(
            id=event.id, stream=event.stream, stream_id=event.stream_id, type=event.type,
            actor=event.actor, data=event.data, occurred_at=event.occurred_at))
