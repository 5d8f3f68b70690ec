"""Reads of the operator console's order pages: the order search, and all that the order page
shows of one order (built from the API's own queries, plus its notification log).

The search box takes an order number, a customer's e-mail address, a channel's own order
reference or a SKU, and finds the orders matching any of them. Each key is looked up through
an index: the number is the primary key, the e-mail `ix_orders_customer_email`, the reference
the unique (channel, reference) pair asked once per channel. A SKU is looked up in the order
lines, which have no index on `sku` yet: that part scans them until one is added (docs/console.md
says so). Pages are keyset pages on the order sequence, newest first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, false, func, or_, select, union
from sqlalchemy.engine import Connection
from sqlalchemy.sql import Select

from ordermesh.adapters.db import fulfilment_queries, queries
from ordermesh.adapters.db import money_queries as mq
from ordermesh.adapters.db import tables as t
from ordermesh.domain.orders import format_order_number, parse_order_number
from ordermesh.domain.payments import Transaction, payment_status

_o, _ol, _n = t.orders.c, t.order_lines.c, t.notifications.c
DIGITS = re.compile(r"[0-9]{1,18}")  # a bare order number
SKU = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")  # what a SKU may be (schemas.common.Code)
_p, _x = t.payments.c, t.payment_transactions.c


@dataclass(frozen=True)
class OrderSearch:
    q: str = ""
    status: str | None = None
    channel: str | None = None
    placed_from: datetime | None = None
    placed_before: datetime | None = None  # exclusive


@dataclass
class OrderPage:
    orders: list[dict[str, Any]] = field(default_factory=list)
    newer: int | None = None  # the first order's sequence, when newer orders match
    older: int | None = None  # the last order's sequence, when older orders match


def search_orders(conn: Connection, search: OrderSearch, before: int | None, after: int | None,
                  limit: int) -> OrderPage:
    """A page of the matching orders, newest first: the `limit` older than `before` (the next
    page), or the `limit` just newer than `after` (the previous page)."""
    query = _matching(conn, search)
    if after is not None:
        rows = list(reversed(conn.execute(
            query.where(_o.seq > after).order_by(_o.seq).limit(limit)).all()))
    else:
        if before is not None:
            query = query.where(_o.seq < before)
        rows = list(conn.execute(query.order_by(_o.seq.desc()).limit(limit)).all())
    if not rows:
        return OrderPage()
    first, last = rows[0].seq, rows[-1].seq
    found = _matching(conn, search)

    def any_where(condition: Any) -> bool:
        return bool(conn.execute(select(exists(found.where(condition)))).scalar())

    orders = _with_lines_and_payments(conn, [dict(row._mapping) for row in rows])
    return OrderPage(orders, first if any_where(_o.seq > first) else None,
                     last if any_where(_o.seq < last) else None)


def _matching(conn: Connection, search: OrderSearch) -> Select[Any]:
    query = select(_o.seq, _o.id, _o.channel_code, _o.external_reference, _o.status,
                   _o.customer_email, _o.currency, _o.grand_total, _o.created_at)
    if search.q.strip():
        query = query.where(_o.seq.in_(_keys(conn, search.q.strip())))
    for column, value in ((_o.status, search.status), (_o.channel_code, search.channel)):
        if value is not None:
            query = query.where(column == value)
    if search.placed_from is not None:
        query = query.where(_o.created_at >= search.placed_from)
    if search.placed_before is not None:
        query = query.where(_o.created_at < search.placed_before)
    return query


def _keys(conn: Connection, q: str) -> Any:
    """The sequences of the orders the search text names, by each kind of key at once."""
    found: list[Select[Any]] = []
    number = parse_order_number(q) if DIGITS.fullmatch(q) is None else int(q)
    if number is not None:
        found.append(select(_o.seq).where(_o.seq == number))
    if "@" in q:
        found.append(select(_o.seq).where(_o.customer_email == q.lower()))
    channels = conn.execute(select(t.channels.c.code)).scalars().all()
    if channels:  # the unique (channel, reference) index, one lookup per channel
        found.append(select(_o.seq).where(or_(*(
            and_(_o.channel_code == code, _o.external_reference == q) for code in channels))))
    if SKU.fullmatch(q):  # (an e-mail address is no SKU: no need to read the lines)
        found.append(select(_ol.order_seq).where(_ol.sku.in_(sorted({q, q.upper()}))))
    if len(found) > 1:
        return union(*found).scalar_subquery()
    return (found[0] if found else select(_o.seq).where(false())).scalar_subquery()


def _with_lines_and_payments(conn: Connection, orders: list[dict[str, Any]]
                             ) -> list[dict[str, Any]]:
    """Each order with its number, its count of lines and the status of its latest payment."""
    seqs = [o["seq"] for o in orders]
    lines = {int(row[0]): int(row[1]) for row in conn.execute(
        select(_ol.order_seq, func.count()).where(_ol.order_seq.in_(seqs))
        .group_by(_ol.order_seq))}
    statuses = payment_statuses(conn, seqs)
    return [{**o, "number": format_order_number(o["seq"]), "lines": int(lines.get(o["seq"], 0)),
             "payment_status": statuses.get(o["seq"])} for o in orders]


def payment_statuses(conn: Connection, order_seqs: list[int]) -> dict[int, str]:
    """The status of each order's latest payment (computed from its gateway calls)."""
    latest: dict[int, str] = {}
    for row in conn.execute(select(_p.id, _p.order_seq).where(_p.order_seq.in_(order_seqs))
                            .order_by(_p.created_at, _p.id)):
        latest[row.order_seq] = row.id
    calls: dict[str, list[Transaction]] = {payment_id: [] for payment_id in latest.values()}
    for row in conn.execute(select(t.payment_transactions).where(
            _x.payment_id.in_(list(calls))).order_by(_x.id)):
        calls[row.payment_id].append(Transaction.of(dict(row._mapping)))
    return {seq: str(payment_status(calls[payment_id])) for seq, payment_id in latest.items()}


def order_page(conn: Connection, ref: str) -> dict[str, Any] | None:
    """Everything the order page shows of one order (by id or number): the API's order
    detail, its payments with their gateway calls, fulfilments with their shipments, invoices
    and credit notes, notifications, and every event of its stream, oldest first."""
    order = queries.order_detail(conn, ref, None)
    if order is None:
        return None
    return {**order,
            "payments": mq.payments_of(conn, order["seq"]),
            "fulfilments": fulfilment_queries.fulfilments(conn, order_seq=order["seq"]),
            "invoices": mq.invoices(conn, order_seq=order["seq"]),
            "notifications": notification_log(conn, order["seq"]),
            "events": queries.order_events(conn, order["id"])}


def notification_log(conn: Connection, order_seq: int) -> list[dict[str, Any]]:
    """What the customer was told of the order, oldest first, and whether it went out."""
    return [dict(row._mapping) for row in conn.execute(
        select(t.notifications).where(_n.order_seq == order_seq).order_by(_n.id))]
