"""Read queries: plain rows for lists, details and timelines. No aggregates are loaded here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.engine import Connection

from ordermesh.adapters.db import tables as t
from ordermesh.domain.orders import format_order_number, parse_order_number

# The reads of every request and of an order's answer, built once (compiled once, and found
# in the statement cache without being rebuilt).
_k, _o = t.api_keys.c, t.orders.c
PRINCIPAL = select(_k.id, _k.name, _k.role, _k.channel_code).where(
    _k.key_hash == bindparam("b_hash"), _k.revoked_at.is_(None))
ORDER_BY = {(by_number, scoped): select(t.orders).where(
    _o.seq == bindparam("b_seq") if by_number else _o.id == bindparam("b_id"),
    *([_o.channel_code == bindparam("b_channel")] if scoped else []))
    for by_number in (True, False) for scoped in (True, False)}
LINES_OF = select(t.order_lines).where(
    t.order_lines.c.order_seq == bindparam("b_seq")).order_by(t.order_lines.c.line_no)
ALLOCATIONS_OF = select(t.allocations).where(
    t.allocations.c.order_seq == bindparam("b_seq")).order_by(t.allocations.c.id)
WAITS_OF = select(t.backorders).where(
    t.backorders.c.order_seq == bindparam("b_seq")).order_by(t.backorders.c.id)
FULFILMENT_UNITS_OF = (
    select(t.fulfilments.c.status,
           func.coalesce(func.sum(t.fulfilment_lines.c.quantity), 0).label("units"))
    .join(t.fulfilment_lines, t.fulfilment_lines.c.fulfilment_id == t.fulfilments.c.id,
          isouter=True)
    .where(t.fulfilments.c.order_seq == bindparam("b_seq"))
    .group_by(t.fulfilments.c.id, t.fulfilments.c.status))


def principal(conn: Connection, key_hash: str) -> dict[str, Any] | None:
    row = conn.execute(PRINCIPAL, {"b_hash": key_hash}).first()
    return dict(row._mapping) if row else None


@dataclass(frozen=True)
class OrderFilter:
    channel: str | None = None
    status: str | None = None
    customer_email: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    external_reference: str | None = None


def list_orders(conn: Connection, f: OrderFilter, before_seq: int | None, limit: int
                ) -> list[dict[str, Any]]:
    """Newest first, keyset-paginated on the order sequence. The filters are served by indexes:
    (channel, status, seq), (status, seq), (channel, seq) and (customer_email, seq), read in
    sequence order; a reference by the unique (channel, external_reference) pair; dates by
    `created_at`."""
    o = t.orders.c
    query = select(t.orders).order_by(o.seq.desc()).limit(limit)
    if f.channel is not None:
        query = query.where(o.channel_code == f.channel)
    if f.status is not None:
        query = query.where(o.status == f.status)
    if f.customer_email is not None:
        query = query.where(o.customer_email == f.customer_email.lower())
    if f.created_from is not None:
        query = query.where(o.created_at >= f.created_from)
    if f.created_to is not None:
        query = query.where(o.created_at < f.created_to)
    if f.external_reference is not None:
        query = query.where(o.external_reference == f.external_reference)
        if f.channel is None:  # the unique (channel, reference) index, probed once per channel
            codes = conn.execute(select(t.channels.c.code)).scalars().all()
            query = query.where(o.channel_code.in_(codes))
    if before_seq is not None:
        query = query.where(o.seq < before_seq)
    return [_order_row(row) for row in conn.execute(query)]


def _order_row(row: Any) -> dict[str, Any]:
    data = dict(row._mapping)
    data["number"] = format_order_number(data["seq"])
    return data


def find_order(conn: Connection, ref: str, channel: str | None) -> dict[str, Any] | None:
    """An order by id or number, only if the caller may see it (channel keys: their own)."""
    seq = parse_order_number(ref)
    row = conn.execute(ORDER_BY[seq is not None, channel is not None],
                       {"b_seq": seq, "b_id": ref, "b_channel": channel}).first()
    return _order_row(row) if row else None


def order_detail(conn: Connection, ref: str, channel: str | None) -> dict[str, Any] | None:
    order = find_order(conn, ref, channel)
    if order is None:
        return None
    at = {"b_seq": order["seq"]}
    lines = [dict(row._mapping) for row in conn.execute(LINES_OF, at)]
    allocations = [dict(row._mapping) for row in conn.execute(ALLOCATIONS_OF, at)]
    waits = [dict(row._mapping) for row in conn.execute(WAITS_OF, at)]
    units = [(str(r.status), int(r.units)) for r in conn.execute(FULFILMENT_UNITS_OF, at)]
    return detail(order, lines, allocations, waits, units)


def detail(order: dict[str, Any], lines: list[dict[str, Any]],
           allocations: list[dict[str, Any]], waits: list[dict[str, Any]],
           fulfilment_units: list[tuple[str, int]]) -> dict[str, Any]:
    """An order's detail from its rows: its lines, each with its allocations and waits (in
    the order they were written), and the units of each of its fulfilments by status."""
    by_line: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for kind, rows in (("allocations", allocations), ("waits", waits)):
        for row in rows:
            by_line.setdefault((kind, row["line_id"]), []).append(row)
    return {**order, "number": format_order_number(order["seq"]),
            "lines": [{**ln, "allocations": by_line.get(("allocations", ln["id"]), []),
                       "waits": by_line.get(("waits", ln["id"]), [])} for ln in lines],
            "fulfilment_units": fulfilment_units}


def order_events(conn: Connection, order_id: str) -> list[dict[str, Any]]:
    e = t.events.c
    query = select(t.events).where(e.stream == "order", e.stream_id == order_id).order_by(e.seq)
    return [dict(row._mapping) for row in conn.execute(query)]


def list_channels(conn: Connection) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in conn.execute(select(t.channels).order_by(t.channels.c.code))]


def list_api_keys(conn: Connection) -> list[dict[str, Any]]:
    k = t.api_keys.c
    query = select(k.id, k.name, k.prefix, k.role, k.channel_code, k.created_at, k.revoked_at)
    return [dict(r._mapping) for r in conn.execute(query.order_by(k.created_at))]


def list_products(conn: Connection, after_sku: str | None, limit: int,
                  category: str | None = None, active: bool | None = None
                  ) -> list[dict[str, Any]]:
    p = t.products.c
    query = select(t.products).order_by(p.sku).limit(limit)
    if after_sku is not None:
        query = query.where(p.sku > after_sku)
    if category is not None:
        query = query.where(p.category == category)
    if active is not None:
        query = query.where(p.active.is_(active))
    return [dict(r._mapping) for r in conn.execute(query)]


def get_product(conn: Connection, sku: str) -> dict[str, Any] | None:
    row = conn.execute(select(t.products).where(t.products.c.sku == sku)).first()
    return dict(row._mapping) if row else None


def list_locations(conn: Connection) -> list[dict[str, Any]]:
    loc = t.locations.c
    query = select(t.locations).order_by(loc.priority.desc(), loc.code)
    return [dict(r._mapping) for r in conn.execute(query)]


def get_location(conn: Connection, code: str) -> dict[str, Any] | None:
    row = conn.execute(select(t.locations).where(t.locations.c.code == code)).first()
    return dict(row._mapping) if row else None


def list_stock_levels(conn: Connection, sku: str | None, location: str | None,
                      after: tuple[str, str] | None, limit: int) -> list[dict[str, Any]]:
    s = t.stock_levels.c
    query = select(t.stock_levels).order_by(s.sku, s.location_code).limit(limit)
    if sku is not None:
        query = query.where(s.sku == sku)
    if location is not None:
        query = query.where(s.location_code == location)
    if after is not None:
        query = query.where((s.sku > after[0]) | ((s.sku == after[0]) & (s.location_code > after[1])))
    rows = [dict(r._mapping) for r in conn.execute(query)]
    for row in rows:
        row["available"] = row["on_hand"] - row["reserved"] - row["safety_stock"]
    return rows


def list_stock_movements(conn: Connection, sku: str | None, location: str | None,
                         before_id: int | None, limit: int) -> list[dict[str, Any]]:
    m = t.stock_movements.c
    query = select(t.stock_movements).order_by(m.id.desc()).limit(limit)
    if sku is not None:
        query = query.where(m.sku == sku)
    if location is not None:
        query = query.where(m.location_code == location)
    if before_id is not None:
        query = query.where(m.id < before_id)
    return [dict(r._mapping) for r in conn.execute(query)]
