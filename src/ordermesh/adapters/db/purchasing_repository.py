"""Suppliers and purchase orders in SQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Connection

from ordermesh.adapters.db import tables as t
from ordermesh.adapters.db.repositories import insert_or_conflict
from ordermesh.domain.errors import ConcurrentUpdate
from ordermesh.domain.events import utcnow
from ordermesh.domain.money import Money
from ordermesh.domain.purchasing import (
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseOrderStatus,
    format_po_number,
    parse_po_number,
)

_pol = t.purchase_order_lines.c
SET_RECEIVED = (update(t.purchase_order_lines)
                .where(_pol.po_seq == bindparam("b_seq"), _pol.line_no == bindparam("b_line_no"))
                .values(received=bindparam("b_received")))


class SqlSuppliers:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def get(self, code: str) -> dict[str, Any] | None:
        row = self.conn.execute(select(t.suppliers).where(t.suppliers.c.code == code)).first()
        return dict(row._mapping) if row else None

    def add(self, values: dict[str, Any]) -> None:
        insert_or_conflict(self.conn, t.suppliers, values)

    def update(self, code: str, values: dict[str, Any]) -> None:
        self.conn.execute(update(t.suppliers).where(t.suppliers.c.code == code).values(values))


class SqlPurchaseOrders:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.seen: list[PurchaseOrder] = []

    def add(self, po: PurchaseOrder) -> None:
        """Store a new purchase order; the database gives it its sequence (and so its number)."""
        now = utcnow()
        result = insert_or_conflict(self.conn, t.purchase_orders, {
            "id": po.id, "supplier_code": po.supplier_code, "deliver_to": po.deliver_to,
            "currency": po.currency, "status": str(po.status), "expected_on": po.expected_on,
            "sent_at": po.sent_at, "version": po.version, "created_at": now, "updated_at": now,
        })
        assert result.inserted_primary_key is not None
        seq = int(result.inserted_primary_key[0])
        po.number = format_po_number(seq)
        self.conn.execute(insert(t.purchase_order_lines), [
            {"po_seq": seq, "line_no": ln.line_no, "sku": ln.sku, "quantity": ln.quantity,
             "unit_cost": ln.unit_cost.amount, "received": ln.received}
            for ln in po.lines
        ])
        self.seen.append(po)

    def get(self, po_id: str) -> PurchaseOrder | None:
        """A purchase order by id or number (PO-000123), locked until the commit so concurrent
        receipts of one order run one after the other."""
        seq = parse_po_number(po_id)
        for po in self.seen:  # one object per purchase order in a transaction
            if po.id == po_id or (seq is not None and po.number == format_po_number(seq)):
                return po
        p = t.purchase_orders.c
        where = p.seq == seq if seq is not None else p.id == po_id
        row = self.conn.execute(select(t.purchase_orders).where(where).with_for_update()).first()
        if row is None:
            return None
        lines = self.conn.execute(select(t.purchase_order_lines).where(
            _pol.po_seq == row.seq).order_by(_pol.line_no))
        po = _purchase_order(row, list(lines))
        self.seen.append(po)
        return po

    def save(self, po: PurchaseOrder) -> None:
        """Write status, dates and received quantities; fails if another transaction changed
        the purchase order since it was read."""
        p = t.purchase_orders.c
        seq = _seq(po)
        result = self.conn.execute(
            update(t.purchase_orders).where(p.seq == seq, p.version == po.version)
            .values(status=str(po.status), expected_on=po.expected_on, sent_at=po.sent_at,
                    version=po.version + 1, updated_at=utcnow()))
        if result.rowcount != 1:
            raise ConcurrentUpdate(f"purchase order {po.number} was changed by someone else")
        po.version += 1
        self.conn.execute(SET_RECEIVED, [
            {"b_seq": seq, "b_line_no": ln.line_no, "b_received": ln.received} for ln in po.lines])


def _seq(po: PurchaseOrder) -> int:
    seq = parse_po_number(po.number or "")
    if seq is None:
        raise ValueError("a purchase order gets its number when it is stored")
    return seq


def _purchase_order(row: Any, line_rows: list[Any]) -> PurchaseOrder:
    lines = [PurchaseOrderLine(ln.line_no, ln.sku, ln.quantity, Money(ln.unit_cost, row.currency),
                               ln.received) for ln in line_rows]
    return PurchaseOrder(
        id=row.id, number=format_po_number(row.seq), supplier_code=row.supplier_code,
        currency=row.currency, deliver_to=row.deliver_to, lines=lines,
        status=PurchaseOrderStatus(row.status), expected_on=row.expected_on,
        sent_at=row.sent_at, version=row.version,
    )
