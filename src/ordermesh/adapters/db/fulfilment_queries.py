"""Reads of fulfilments: lists, one with its lines, and the pick list of a location."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from ordermesh.adapters.db import tables as t
from ordermesh.domain.orders import format_order_number

_f, _fl, _o, _ol = t.fulfilments.c, t.fulfilment_lines.c, t.orders.c, t.order_lines.c


def fulfilments(conn: Connection, location: str | None = None, status: str | None = None,
                order_seq: int | None = None, fulfilment_id: str | None = None,
                limit: int = 200) -> list[dict[str, Any]]:
    """Fulfilments with their lines (line number, SKU, units), oldest first."""
    query = (select(t.fulfilments, _o.id.label("order_id"), _o.seq.label("o_seq"))
             .join(t.orders, _o.seq == _f.order_seq).order_by(_f.created_at, _f.id).limit(limit))
    for column, value in ((_f.location_code, location), (_f.status, status),
                          (_f.order_seq, order_seq), (_f.id, fulfilment_id)):
        if value is not None:
            query = query.where(column == value)
    found = [dict(row._mapping) for row in conn.execute(query)]
    if not found:
        return []
    lines: dict[str, list[dict[str, Any]]] = {}
    for row in conn.execute(
            select(_fl.fulfilment_id, _fl.sku, _fl.quantity, _ol.line_no)
            .join(t.order_lines, _ol.id == _fl.order_line_id)
            .where(_fl.fulfilment_id.in_([f["id"] for f in found])).order_by(_ol.line_no)):
        lines.setdefault(row.fulfilment_id, []).append(
            {"line_no": row.line_no, "sku": row.sku, "quantity": row.quantity})
    return [{**f, "order_number": format_order_number(f["o_seq"]),
             "lines": lines.get(f["id"], [])} for f in found]


def pick_list(conn: Connection, location: str) -> list[dict[str, Any]]:
    """What to pick at a location: the pending fulfilments' units by SKU, with the orders
    they go to."""
    rows = conn.execute(
        select(_fl.sku, _fl.quantity, _f.id, _f.order_seq)
        .join(t.fulfilments, _f.id == _fl.fulfilment_id)
        .where(_f.location_code == location, _f.status == "pending")
        .order_by(_fl.sku, _f.order_seq))
    by_sku: dict[str, dict[str, Any]] = {}
    for row in rows:
        entry = by_sku.setdefault(row.sku, {"sku": row.sku, "quantity": 0, "orders": []})
        entry["quantity"] += row.quantity
        entry["orders"].append({"order_number": format_order_number(row.order_seq),
                                "fulfilment_id": row.id, "quantity": row.quantity})
    return list(by_sku.values())
