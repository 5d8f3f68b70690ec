"""Reads for jeopardy (docs/jeopardy.md): the facts of every open order that the stage clocks
need, the SLAs, the orders stuck now, the orders flagged and their counts.

The facts are read in six set-based queries whatever the number of orders (orders, payments,
waiting units, unsent allocations, fulfilments, and the fulfilment events that say when each
left and whether it was short-picked), then put together per order in Python. The stage rules
themselves are domain.jeopardy's.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.engine import Connection

from ordermesh.adapters.db import tables as t
from ordermesh.domain.events import utcnow
from ordermesh.domain.jeopardy import (
    Assessment,
    Flag,
    OrderFacts,
    Parcel,
    PaymentTry,
    Stage,
    Unsent,
    Waiting,
    assess,
    most_late_first,
)
from ordermesh.domain.orders import format_order_number

_o, _p, _x, _b = t.orders.c, t.payments.c, t.payment_transactions.c, t.backorders.c
_a, _f, _e = t.allocations.c, t.fulfilments.c, t.events.c
_s, _j = t.stage_slas.c, t.order_jeopardies.c

CLOSED = ("cancelled", "completed", "delivered")  # orders no stage clock runs for
DISPATCHED, SHORT_PICKED = "fulfilment.dispatched", "fulfilment.short_picked"
_MINUTE = timedelta(minutes=1)


def _open_orders(now: datetime, channel: str | None) -> Select[Any]:
    query = select(_o.seq).where(_o.status.not_in(CLOSED), _o.created_at <= now)
    return query.where(_o.channel_code == channel) if channel is not None else query


def candidates(conn: Connection, now: datetime, channel: str | None = None) -> list[OrderFacts]:
    """Every open order placed by `now` (of one channel, if given), with its facts."""
    open_orders = _open_orders(now, channel)
    orders = conn.execute(
        select(_o.seq, _o.id, _o.channel_code, _o.status, _o.hold_reason, _o.created_at)
        .where(_o.seq.in_(open_orders)).order_by(_o.seq)).all()
    if not orders:
        return []
    payments, waiting, unsent = _money_and_stock(conn, open_orders)
    parcels = _parcels(conn, open_orders)
    return [OrderFacts(o.id, format_order_number(o.seq), o.channel_code, o.status,
                       o.created_at, o.hold_reason, tuple(payments[o.seq]),
                       tuple(waiting[o.seq]), tuple(unsent[o.seq]), tuple(parcels[o.seq]))
            for o in orders]


def _money_and_stock(conn: Connection, open_orders: Select[Any]) -> tuple[
        dict[int, list[PaymentTry]], dict[int, list[Waiting]], dict[int, list[Unsent]]]:
    """The open orders' payments (oldest first), units waiting for supply, and allocations
    whose units have not left."""
    payments: dict[int, list[PaymentTry]] = defaultdict(list)
    for pay in conn.execute(
            select(_p.order_seq, _p.created_at, _x.outcome, _x.completed_at)
            .join(t.payment_transactions, (_x.payment_id == _p.id) & (_x.kind == "authorize"))
            .where(_p.order_seq.in_(open_orders)).order_by(_p.order_seq, _p.created_at, _p.id)):
        payments[pay.order_seq].append(PaymentTry(pay.created_at, pay.outcome, pay.completed_at))
    waiting: dict[int, list[Waiting]] = defaultdict(list)
    for wait in conn.execute(select(_b.order_seq, _b.created_at, _b.promised_on).where(
            _b.status == "waiting", _b.order_seq.in_(open_orders))):
        waiting[wait.order_seq].append(Waiting(wait.created_at, wait.promised_on))
    unsent: dict[int, list[Unsent]] = defaultdict(list)
    for alloc in conn.execute(
            select(_a.order_seq, _a.created_at, _a.ready_on, _a.fulfilment_id)
            .where(_a.status == "active", _a.order_seq.in_(open_orders))):
        unsent[alloc.order_seq].append(Unsent(alloc.created_at, alloc.ready_on,
                                              alloc.fulfilment_id))
    return payments, waiting, unsent


def _parcels(conn: Connection, open_orders: Select[Any]) -> dict[int, list[Parcel]]:
    """The open orders' fulfilments, each with when it left and whether it was short-picked
    (from its events, found through the events' (stream, stream_id) index)."""
    theirs = select(_f.id).where(_f.order_seq.in_(open_orders))
    facts: dict[tuple[str, str], datetime] = {
        (r.stream_id, r.type): r.first for r in conn.execute(
            select(_e.stream_id, _e.type, func.min(_e.occurred_at).label("first"))
            .where(_e.stream == "fulfilment", _e.stream_id.in_(theirs),
                   _e.type.in_([DISPATCHED, SHORT_PICKED]))
            .group_by(_e.stream_id, _e.type))}
    found: dict[int, list[Parcel]] = defaultdict(list)
    for r in conn.execute(select(_f.id, _f.order_seq, _f.method, _f.status, _f.created_at,
                                 _f.ready_at).where(_f.order_seq.in_(open_orders))
                          .order_by(_f.created_at, _f.id)):
        found[r.order_seq].append(Parcel(r.id, r.method, r.status, r.created_at, r.ready_at,
                                         facts.get((r.id, DISPATCHED)),
                                         (r.id, SHORT_PICKED) in facts))
    return found


# -- SLAs --------------------------------------------------------------------------------------


def slas(conn: Connection) -> dict[tuple[str, str], int]:
    """Every SLA set, by (channel or '*', stage)."""
    return {(r.channel, r.stage): r.minutes
            for r in conn.execute(select(_s.channel, _s.stage, _s.minutes))}


def stage_slas(conn: Connection) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in conn.execute(
        select(t.stage_slas).order_by(_s.channel, _s.stage))]


# -- stuck orders, flagged orders --------------------------------------------------------------


def assessed(conn: Connection, now: datetime, stage: Stage | None = None,
             channel: str | None = None) -> list[tuple[OrderFacts, Assessment]]:
    """Every stage of every open order measured against its SLA at `now`."""
    set_slas = slas(conn)
    return [(facts, found) for facts in candidates(conn, now, channel)
            for found in assess(facts, set_slas, now)
            if stage is None or found.stage == stage]


def stuck(conn: Connection, now: datetime, stage: Stage | None = None,
          channel: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """The orders at risk of missing, or past, a stage's SLA at `now`: the most late first."""
    late = [(f, a) for f, a in assessed(conn, now, stage, channel) if a.at_risk]
    return [stuck_row(f, a) for f, a in most_late_first(late)[:limit]]


def stuck_row(facts: OrderFacts, found: Assessment) -> dict[str, Any]:
    return {"order_id": facts.order_id, "number": facts.number, "channel": facts.channel,
            "stage": str(found.stage), "reason": str(found.reason),
            "started_at": found.started_at, "due_at": found.due_at,
            "sla_minutes": found.sla_minutes, "minutes": found.minutes,
            "overdue": found.overdue}


def open_jeopardies(conn: Connection, limit: int = 200,
                    now: datetime | None = None) -> list[dict[str, Any]]:
    """The flags not cleared yet, the earliest due first, with the minutes past due at `now`
    (negative: still to go)."""
    now = now or utcnow()
    rows = conn.execute(
        select(_j.id, _j.order_id, _j.stage, _j.reason, _j.due_at, _j.flagged_at,
               _o.seq, _o.channel_code).join(t.orders, _o.id == _j.order_id)
        .where(_j.cleared_at.is_(None)).order_by(_j.due_at, _j.id).limit(limit))
    return [{"id": r.id, "order_id": r.order_id, "number": format_order_number(r.seq),
             "channel": r.channel_code, "stage": r.stage, "reason": r.reason,
             "flagged_at": r.flagged_at, "due_at": r.due_at,
             "minutes": (now - r.due_at) // _MINUTE, "overdue": now >= r.due_at}
            for r in rows]


def jeopardy_counts(conn: Connection) -> list[dict[str, Any]]:
    """Open flags per stage and reason (the dashboard's tile)."""
    return [{"stage": r.stage, "reason": r.reason, "count": r.count} for r in conn.execute(
        select(_j.stage, _j.reason, func.count().label("count"))
        .where(_j.cleared_at.is_(None)).group_by(_j.stage, _j.reason)
        .order_by(_j.stage, _j.reason))]


def flags_of(conn: Connection, order_ids: Iterable[str]) -> dict[tuple[str, str], Flag]:
    """The flags ever raised for these orders, by (order id, stage)."""
    ids, found = sorted(set(order_ids)), {}
    for start in range(0, len(ids), 500):  # a bounded IN list on either database
        for r in conn.execute(select(_j.order_id, _j.stage, _j.reason, _j.due_at, _j.cleared_at)
                              .where(_j.order_id.in_(ids[start:start + 500]))):
            found[(r.order_id, r.stage)] = Flag(r.cleared_at is None, r.reason, r.due_at)
    return found
