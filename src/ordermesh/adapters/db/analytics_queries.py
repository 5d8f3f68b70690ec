"""Analytics reads: milestone timestamps, counts and sums, in SQL that runs the same on SQLite
and PostgreSQL. The figures (percentiles, rates) are computed by `domain.analytics` from what
these queries return; definitions are in docs/analytics.md.

Figures about orders are about the orders *placed* in [since, until) (`orders.created_at`,
indexed): each order counts once, in the period it was placed, with whatever happened to it
since. Payment and webhook figures count the calls made in [since, until).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Date, case, distinct, func, select, type_coerce
from sqlalchemy.engine import Connection, Row
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from ordermesh.adapters.db import tables as t
from ordermesh.domain import analytics as a

_o, _ol, _e, _f = t.orders.c, t.order_lines.c, t.events.c, t.fulfilments.c
_al, _b, _pt = t.allocations.c, t.backorders.c, t.payment_transactions.c
_wd, _wa = t.webhook_deliveries.c, t.webhook_attempts.c

STAGE_GROUPS = ("channel", "location")
SALES_GROUPS = ("channel", "day", "sku")
# A fulfilment whose units left the location (or were handed over at its counter).
SENT = ("dispatched", "in_transit", "out_for_delivery", "delivered", "exception",
        "returned_to_sender", "collected")


class utc_day(FunctionElement[date]):
    """The UTC calendar day of a timestamp column."""

    type = Date()
    name = "utc_day"
    inherit_cache = True


@compiles(utc_day, "sqlite")
def _utc_day_sqlite(element: utc_day, compiler: SQLCompiler, **kw: Any) -> str:
    return f"date({compiler.process(element.clauses, **kw)})"  # stored as naive UTC text


@compiles(utc_day, "postgresql")
def _utc_day_postgresql(element: utc_day, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(timezone('UTC', {compiler.process(element.clauses, **kw)}) AS DATE)"


def _placed(since: datetime, until: datetime) -> ColumnElement[bool]:
    return (_o.created_at >= since) & (_o.created_at < until)


def _when(kinds: Sequence[str], last: bool = False) -> ColumnElement[datetime]:
    """The first (or last) time one of the event types happened, within a group of events.
    The aggregate is given the column's type back: SQLite would answer text."""
    moment = case((_e.type.in_(kinds), _e.occurred_at))
    return type_coerce(func.max(moment) if last else func.min(moment), t.Timestamp)


# -- stage times ----------------------------------------------------------------------------

def _order_milestones(conn: Connection, since: datetime, until: datetime) -> list[Row[Any]]:
    """Per order placed in the period: channel, method, placed, the milestone events' times,
    and the latest date promised for any of its units (allocations and backorders)."""
    placed_ids = select(_o.id).where(_placed(since, until))
    placed_seqs = select(_o.seq).where(_placed(since, until))
    events = (select(_e.stream_id.label("order_id"), _when(["order.allocated"]).label("allocated"),
                     _when(["order.shipped"]).label("shipped"),
                     _when(["order.ready_for_pickup"], last=True).label("ready"),
                     _when(["order.delivered"]).label("delivered"))
              .where(_e.stream == "order", _e.stream_id.in_(placed_ids), _e.type.in_(
                  ["order.allocated", "order.shipped", "order.ready_for_pickup",
                   "order.delivered"]))
              .group_by(_e.stream_id).subquery())
    dates = select(_al.order_seq, _al.promised_on).where(_al.order_seq.in_(placed_seqs)).union_all(
        select(_b.order_seq, _b.promised_on).where(_b.order_seq.in_(placed_seqs))).subquery()
    promises = (select(dates.c.order_seq,
                       type_coerce(func.max(dates.c.promised_on), Date()).label("promised_on"))
                .group_by(dates.c.order_seq).subquery())
    query = (select(_o.channel_code, _o.fulfilment_method, _o.created_at, events.c.allocated,
                    events.c.shipped, events.c.ready, events.c.delivered, promises.c.promised_on)
             .select_from(t.orders.outerjoin(events, events.c.order_id == _o.id)
                          .outerjoin(promises, promises.c.order_seq == _o.seq))
             .where(_placed(since, until)).order_by(_o.seq))
    return list(conn.execute(query))


def _milestones(row: Row[Any]) -> a.Milestones:
    return a.order_milestones(row.fulfilment_method, row.created_at, row.allocated, row.shipped,
                              row.ready, row.delivered)


def _fulfilment_milestones(conn: Connection, since: datetime, until: datetime
                           ) -> list[tuple[str, a.Milestones]]:
    """Per fulfilment (not cancelled) of an order placed in the period: its location, the
    order's placed and allocated times, its own dispatch (or ready at the counter) and
    arrival (delivered or collected)."""
    placed_ids = select(_o.id).where(_placed(since, until))
    fulfilment_ids = select(_f.id).join(t.orders, _o.seq == _f.order_seq).where(
        _placed(since, until))
    allocated = (select(_e.stream_id.label("order_id"),
                        _when(["order.allocated"]).label("allocated"))
                 .where(_e.stream == "order", _e.type == "order.allocated",
                        _e.stream_id.in_(placed_ids))
                 .group_by(_e.stream_id).subquery())
    moves = (select(_e.stream_id.label("fulfilment_id"),
                    _when(["fulfilment.dispatched", "fulfilment.ready_for_pickup"]).label("sent"),
                    _when(["fulfilment.delivered", "fulfilment.collected"]).label("arrived"))
             .where(_e.stream == "fulfilment", _e.stream_id.in_(fulfilment_ids))
             .group_by(_e.stream_id).subquery())
    query = (select(_f.location_code, _o.created_at, allocated.c.allocated, moves.c.sent,
                    moves.c.arrived)
             .select_from(t.fulfilments.join(t.orders, _o.seq == _f.order_seq)
                          .outerjoin(allocated, allocated.c.order_id == _o.id)
                          .outerjoin(moves, moves.c.fulfilment_id == _f.id))
             .where(_placed(since, until), _f.status != "cancelled").order_by(_f.created_at, _f.id))
    return [(row.location_code, a.Milestones(row.created_at, row.allocated, row.sent, row.arrived))
            for row in conn.execute(query)]


def _stage_rows(table: dict[tuple[Any, str], a.StageFigures], key: str) -> list[dict[str, Any]]:
    return [{key: group, "stage": stage, "count": f.count, "p50": f.p50, "p90": f.p90}
            for (group, stage), f in table.items()]


def stage_times(conn: Connection, since: datetime, until: datetime, by: str
                ) -> list[dict[str, Any]]:
    """Count, p50 and p90 (exact `timedelta`s) per group and stage, over the orders placed in
    [since, until). By channel each order counts once; by location each of its fulfilments
    counts at its location (placed and allocated being the order's), so an order split over two
    locations counts at both, and an order not yet released to a location at none."""
    if by == "channel":
        rows = [(row.channel_code, _milestones(row))
                for row in _order_milestones(conn, since, until)]
    elif by == "location":
        rows = _fulfilment_milestones(conn, since, until)
    else:
        raise ValueError(f"stage times are grouped by {' or '.join(STAGE_GROUPS)}, not {by!r}")
    return _stage_rows(a.stage_table(rows), "group")


def stage_trend(conn: Connection, since: datetime, until: datetime) -> list[dict[str, Any]]:
    """Per UTC day the orders were placed (every day of [since, until), empty ones too) and per
    stage: count, p50 and p90 of the stages those orders completed."""
    first, last = since.astimezone(UTC).date(), (until - timedelta(microseconds=1)).astimezone(
        UTC).date()
    rows = [(row.created_at.date(), _milestones(row))
            for row in _order_milestones(conn, since, until)]
    return _stage_rows(a.stage_table(rows, a.Period(first, last).days), "day")


# -- rates ----------------------------------------------------------------------------------

def _order_facts(conn: Connection, since: datetime, until: datetime) -> list[Row[Any]]:
    """Per order placed in the period: status, units ordered, whether a line ever waited for
    stock (a backorder, not a pre-order), fulfilments sent, and its placement decision (the
    data of its first `order.allocated` / `order.backordered` event)."""
    units = select(func.sum(_ol.quantity)).where(_ol.order_seq == _o.seq).scalar_subquery()
    backordered = select(func.count()).select_from(t.backorders).where(
        _b.order_seq == _o.seq, _b.kind == "backorder").scalar_subquery()
    sent = select(func.count()).select_from(t.fulfilments).where(
        _f.order_seq == _o.seq, _f.status.in_(SENT)).scalar_subquery()
    first = (select(_e.stream_id.label("order_id"), func.min(_e.seq).label("seq"))
             .where(_e.stream == "order", _e.type.in_(["order.allocated", "order.backordered"]),
                    _e.stream_id.in_(select(_o.id).where(_placed(since, until))))
             .group_by(_e.stream_id).subquery())
    decision = t.events.alias("decision")
    query = (select(_o.status, units.label("units"), backordered.label("backorders"),
                    sent.label("sent"), decision.c.data)
             .select_from(t.orders.outerjoin(first, first.c.order_id == _o.id)
                          .outerjoin(decision, decision.c.seq == first.c.seq))
             .where(_placed(since, until)).order_by(_o.seq))
    return list(conn.execute(query))


def _payment_rate(conn: Connection, since: datetime, until: datetime) -> a.Rate:
    """Failed authorizations / authorizations answered; those still pending are excluded."""
    outcomes: dict[str, int] = {outcome: count for outcome, count in conn.execute(
        select(_pt.outcome, func.count()).where(_pt.kind == "authorize", _pt.created_at >= since,
                                                _pt.created_at < until)
        .group_by(_pt.outcome))}
    failed = outcomes.get("failed", 0)
    return a.Rate(failed, failed + outcomes.get("succeeded", 0), outcomes.get("pending", 0))


def _webhook_rate(conn: Connection, since: datetime, until: datetime) -> a.Rate:
    """Failed attempts (no answer, or not 2xx) / attempts."""
    ok = (_wa.status_code >= 200) & (_wa.status_code < 300)
    attempts, succeeded = conn.execute(
        select(func.count(), func.count(case((ok, 1))))
        .where(_wa.at >= since, _wa.at < until)).one()
    return a.Rate(attempts - succeeded, attempts)


def rates(conn: Connection, since: datetime, until: datetime) -> list[dict[str, Any]]:
    """The process rates of the period, each as numerator, denominator and excluded (cases
    left out of the denominator on purpose). See docs/analytics.md for each definition."""
    facts = _order_facts(conn, since, until)
    arrivals = []
    for row in _order_milestones(conn, since, until):
        day = a.arrival_day(row.fulfilment_method, _milestones(row))
        if day is not None:
            arrivals.append((day, row.promised_on))
    found = {
        "fill_rate": a.fill_rate((int(r.units), r.data) for r in facts),
        "split_shipment_rate": a.split_rate(r.sent for r in facts),
        "backorder_rate": a.share(r.backorders > 0 for r in facts),
        "cancellation_rate": a.share(r.status == "cancelled" for r in facts),
        "on_time_delivery_rate": a.on_time_rate(arrivals),
        "payment_failure_rate": _payment_rate(conn, since, until),
        "webhook_failure_rate": _webhook_rate(conn, since, until),
    }
    return [{"name": name, "numerator": rate.numerator, "denominator": rate.denominator,
             "excluded": rate.excluded} for name, rate in found.items()]


# -- sales ----------------------------------------------------------------------------------

def sales(conn: Connection, since: datetime, until: datetime, by: str) -> list[dict[str, Any]]:
    """Per group and currency (never summed across currencies): orders, units and revenue in
    minor units, over the orders placed in [since, until) that are not cancelled. Revenue is the
    lines' totals at the prices charged; shipping is not a sale of goods and is left out, so
    the three groupings add up to the same totals."""
    groups: dict[str, ColumnElement[Any]] = {
        "channel": _o.channel_code, "day": utc_day(_o.created_at), "sku": _ol.sku}
    if by not in groups:
        raise ValueError(f"sales are grouped by {', '.join(SALES_GROUPS)}, not {by!r}")
    group = groups[by]
    query = (select(group.label("group"), _o.currency, func.count(distinct(_o.seq)),
                    func.sum(_ol.quantity), func.sum(_ol.line_total))
             .select_from(t.orders.join(t.order_lines, _ol.order_seq == _o.seq))
             .where(_placed(since, until), _o.status != "cancelled")
             .group_by(group, _o.currency).order_by(group, _o.currency))
    return [{"group": g.isoformat() if isinstance(g, date) else g, "currency": currency,
             "orders": int(orders), "units": int(units), "revenue": int(revenue)}
            for g, currency, orders, units, revenue in conn.execute(query)]


# -- dashboard ------------------------------------------------------------------------------

def _age(now: datetime, oldest: datetime | None) -> int | None:
    return None if oldest is None else max(0, int((now - oldest).total_seconds()))


def _waiting(conn: Connection) -> dict[str, int]:
    ready = select(_f.order_seq).where(_f.status == "ready_for_pickup").distinct().subquery()
    has_ready = ready.c.order_seq.is_not(None)
    query = (select(_o.status, has_ready, func.count())
             .select_from(t.orders.outerjoin(ready, ready.c.order_seq == _o.seq))
             .where(_o.status.in_(list(a.WAITING_BY_STATUS))).group_by(_o.status, has_ready))
    return a.waiting((status, bool(ready), count) for status, ready, count in conn.execute(query))


def _waits(conn: Connection) -> dict[str, dict[str, int]]:
    """Lines waiting for supply now, by kind: orders, lines and units."""
    found = {kind: {"orders": 0, "lines": 0, "units": 0} for kind in ("backorder", "preorder")}
    for kind, orders, lines, units in conn.execute(
            select(_b.kind, func.count(distinct(_b.order_seq)), func.count(), func.sum(_b.quantity))
            .where(_b.status == "waiting").group_by(_b.kind)):
        found[kind] = {"orders": orders, "lines": lines, "units": int(units)}
    return found


def dashboard(conn: Connection, now: datetime) -> dict[str, Any]:
    """Where things stand at `now`: today's (UTC) sales by channel, orders waiting per stage,
    lines waiting for supply, today's failed payment calls, and the outbox and webhook lag."""
    today = now.astimezone(UTC).date()
    start, end = a.day_start(today), a.day_start(today + timedelta(days=1))
    waits = _waits(conn)
    failures: dict[str, int] = {kind: count for kind, count in conn.execute(
        select(_pt.kind, func.count()).where(_pt.outcome == "failed", _pt.created_at >= start,
                                             _pt.created_at < end)
        .group_by(_pt.kind).order_by(_pt.kind))}
    unpublished, oldest_event = conn.execute(
        select(func.count(), type_coerce(func.min(_e.occurred_at), t.Timestamp))
        .where(_e.published_at.is_(None))).one()
    deliveries = {status: (count, oldest) for status, count, oldest in conn.execute(
        select(_wd.status, func.count(), type_coerce(func.min(_wd.created_at), t.Timestamp))
        .where(_wd.status.in_(["pending", "failed"])).group_by(_wd.status))}
    pending, oldest_pending = deliveries.get("pending", (0, None))
    return {
        "now": now, "day": today,
        "orders_today": sales(conn, start, end, "channel"),
        "orders_yesterday": sales(conn, start - timedelta(days=1), start, "channel"),
        "waiting": _waiting(conn),
        "open_backorders": waits["backorder"], "open_preorders": waits["preorder"],
        "payment_failures_today": {"total": sum(failures.values()), "by_kind": failures},
        "outbox": {"unpublished": unpublished, "oldest_age_seconds": _age(now, oldest_event)},
        "webhooks": {"pending": pending, "failed": deliveries.get("failed", (0, None))[0],
                     "oldest_pending_age_seconds": _age(now, oldest_pending)},
    }


def open_fulfilments(conn: Connection, location: str) -> list[dict[str, Any]]:
    """A location's fulfilments waiting for its people, counted by status (a store's
    dashboard): to pick, being picked, packed, and at the counter."""
    return [{"status": status, "count": count} for status, count in conn.execute(
        select(_f.status, func.count()).where(
            _f.location_code == location,
            _f.status.in_(["pending", "picking", "packed", "ready_for_pickup"]))
        .group_by(_f.status).order_by(_f.status))]
