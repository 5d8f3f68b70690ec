"""Reads of the operator console's order pages: the order search, and all that the order page
shows of one order (built from the API's own queries, plus its notification log).

The search box takes an order number, a customer's e-mail address, a channel's own order
reference or a SKU, and finds the orders matching any of them. Each kind of key is its own
query through its own index, read in the page's order and no further than the page: the number
is the primary key, the e-mail `ix_orders_customer_email_seq`, the reference the unique
(channel, reference) pair asked once per channel, a SKU `ix_order_lines_sku`. Pages are keyset
pages on the order sequence, newest first.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, false, func, or_, select, union_all
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
    keys = _keys(conn, search)
    newest = after is None
    bound = before if newest else after
    seqs = _first(conn, keys, bound, newest, limit + 1)  # one more: is there another page?
    more = len(seqs) > limit
    seqs = sorted(seqs[:limit], reverse=True)
    if not seqs:
        return OrderPage()
    first, last = seqs[0], seqs[-1]
    rows = {row.seq: dict(row._mapping) for row in conn.execute(
        select(*_SUMMARY).where(_o.seq.in_(seqs)))}
    orders = _with_lines_and_payments(conn, [rows[seq] for seq in seqs])
    if newest:  # newer ones exist only if this page started below the newest
        newer = before is not None and _any(conn, keys, lambda seq: seq > first)
        return OrderPage(orders, first if newer else None, last if more else None)
    older = _any(conn, keys, lambda seq: seq < last)
    return OrderPage(orders, first if more else None, last if older else None)


_SUMMARY = (_o.seq, _o.id, _o.channel_code, _o.external_reference, _o.status, _o.customer_email,
            _o.currency, _o.grand_total, _o.created_at)
Key = tuple[Select[Any], Any]  # the sequences of the orders one key finds, and their column


def _first(conn: Connection, keys: list[Key], bound: int | None, newest: bool,
           limit: int) -> list[int]:
    """The `limit` newest (or oldest) sequences beyond the bound that any key finds, in that
    order. Each key is asked for its own first `limit` in index order, so none reads further
    than the page needs (the orders of a popular SKU are not all read to show fifty)."""
    parts = []
    for key, seq in keys:
        if bound is not None:
            key = key.where(seq < bound if newest else seq > bound)
        part = key.order_by(seq.desc() if newest else seq).limit(limit).subquery()
        parts.append(select(part.c[0]))
    found = {int(value) for value in conn.execute(union_all(*parts)).scalars()}
    return sorted(found, reverse=newest)[:limit]


def _any(conn: Connection, keys: list[Key], beyond: Callable[[Any], Any]) -> bool:
    """Whether any key finds an order beyond a sequence."""
    return bool(conn.execute(select(exists(union_all(*(
        key.where(beyond(seq)) for key, seq in keys))))).scalar())


def _keys(conn: Connection, search: OrderSearch) -> list[Key]:
    """One query per kind of key the search text may be (number, e-mail, reference, SKU), each
    with the filters, each through its own index; without text, the filters alone."""
    filters = [column == value for column, value in ((_o.status, search.status),
                                                      (_o.channel_code, search.channel))
               if value is not None]
    if search.placed_from is not None:
        filters.append(_o.created_at >= search.placed_from)
    if search.placed_before is not None:
        filters.append(_o.created_at < search.placed_before)
    q = search.q.strip()
    if not q:
        return [(select(_o.seq).where(*filters), _o.seq)]
    keys: list[Key] = []
    number = parse_order_number(q) if DIGITS.fullmatch(q) is None else int(q)
    if number is not None:
        keys.append((select(_o.seq).where(_o.seq == number, *filters), _o.seq))
    if "@" in q:
        keys.append((select(_o.seq).where(_o.customer_email == q.lower(), *filters), _o.seq))
    channels = conn.execute(select(t.channels.c.code)).scalars().all()
    if channels:  # the unique (channel, reference) index, one lookup per channel
        keys.append((select(_o.seq).where(or_(*(
            and_(_o.channel_code == code, _o.external_reference == q) for code in channels)),
            *filters), _o.seq))
    if SKU.fullmatch(q):  # (an e-mail address is no SKU: no need to read the lines)
        for sku in sorted({q, q.upper()}):  # one index range each, read in order
            keys.append((select(_ol.order_seq).distinct().join(t.orders, _o.seq == _ol.order_seq)
                         .where(_ol.sku == sku, *filters), _ol.order_seq))
    return keys or [(select(_o.seq).where(false()), _o.seq)]  # text that can be no key


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
