"""Read queries for suppliers and purchase orders: plain rows, no aggregates loaded."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from ordermesh.adapters.db import tables as t
from ordermesh.domain.purchasing import format_po_number, parse_po_number

_po, _pol = t.purchase_orders.c, t.purchase_order_lines.c
# What a purchase order is worth: computed from its lines, never stored twice.
PO_TOTAL = (select(func.coalesce(func.sum(_pol.quantity * _pol.unit_cost), 0))
            .where(_pol.po_seq == _po.seq).correlate(t.purchase_orders)
            .scalar_subquery().label("total"))


def list_suppliers(conn: Connection, active: bool | None = None) -> list[dict[str, Any]]:
    query = select(t.suppliers).order_by(t.suppliers.c.code)
    if active is not None:
        query = query.where(t.suppliers.c.active.is_(active))
    return [dict(row._mapping) for row in conn.execute(query)]


def get_supplier(conn: Connection, code: str) -> dict[str, Any] | None:
    row = conn.execute(select(t.suppliers).where(t.suppliers.c.code == code)).first()
    return dict(row._mapping) if row else None


@dataclass(frozen=True)
class PurchaseOrderFilter:
    status: str | None = None
    supplier: str | None = None


def list_purchase_orders(conn: Connection, f: PurchaseOrderFilter, before_seq: int | None,
                         limit: int) -> list[dict[str, Any]]:
    """Newest first, keyset-paginated on the purchase order sequence."""
    query = select(t.purchase_orders, PO_TOTAL).order_by(_po.seq.desc()).limit(limit)
    if f.status is not None:
        query = query.where(_po.status == f.status)
    if f.supplier is not None:
        query = query.where(_po.supplier_code == f.supplier)
    if before_seq is not None:
        query = query.where(_po.seq < before_seq)
    return [_header(row) for row in conn.execute(query)]


def _header(row: Any) -> dict[str, Any]:
    data = dict(row._mapping)
    data["number"] = format_po_number(data["seq"])
    return data


def find_purchase_order(conn: Connection, ref: str) -> dict[str, Any] | None:
    """A purchase order by id or number (PO-000123)."""
    seq = parse_po_number(ref)
    where = _po.seq == seq if seq is not None else _po.id == ref
    row = conn.execute(select(t.purchase_orders, PO_TOTAL).where(where)).first()
    return _header(row) if row else None


def purchase_order_detail(conn: Connection, ref: str) -> dict[str, Any] | None:
    """The header with its lines: ordered, received and still outstanding."""
    po = find_purchase_order(conn, ref)
    if po is None:
        return None
    query = (select(t.purchase_order_lines, t.products.c.name.label("product_name"))
             .join(t.products, t.products.c.sku == _pol.sku)
             .where(_pol.po_seq == po["seq"]).order_by(_pol.line_no))
    po["lines"] = [{**dict(row._mapping), "outstanding": max(row.quantity - row.received, 0),
                    "line_total": row.quantity * row.unit_cost} for row in conn.execute(query)]
    return po


def purchase_order_events(conn: Connection, po_id: str) -> list[dict[str, Any]]:
    e = t.events.c
    query = (select(t.events).where(e.stream == "purchase_order", e.stream_id == po_id)
             .order_by(e.seq))
    return [dict(row._mapping) for row in conn.execute(query)]
