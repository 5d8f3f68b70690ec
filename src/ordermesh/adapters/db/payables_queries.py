"""Read queries for supplier bills, their payments and the accounts-payable ageing: plain rows,
no aggregates loaded. Totals are computed from the lines and payments, never stored twice."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import BigInteger, cast, func, select
from sqlalchemy.engine import Connection

from ordermesh.adapters.db import tables as t
from ordermesh.domain.payables import AgeingReport, BillStatus, OpenItem, age, payment_status
from ordermesh.domain.purchasing import format_po_number

_b, _bl, _sp = t.supplier_bills.c, t.supplier_bill_lines.c, t.supplier_payments.c


# PostgreSQL sums big integers as numeric; the casts keep them integers (bounded by MAX_TOTAL)
BILL_TOTAL = (select(cast(func.coalesce(func.sum(_bl.quantity * _bl.unit_cost), 0), BigInteger))
              .where(_bl.bill_seq == _b.seq).correlate(t.supplier_bills)
              .scalar_subquery().label("total"))


def _paid(as_of: date | None = None) -> Any:
    query = select(cast(func.coalesce(func.sum(_sp.amount), 0), BigInteger)).where(
        _sp.bill_seq == _b.seq)
    if as_of is not None:
        query = query.where(_sp.paid_on <= as_of)
    return query.correlate(t.supplier_bills).scalar_subquery().label("paid")


@dataclass(frozen=True)
class BillFilter:
    status: str | None = None
    supplier: str | None = None


def _header(row: Any) -> dict[str, Any]:
    data = dict(row._mapping)
    data["purchase_order"] = format_po_number(data.pop("po_seq"))
    data["outstanding"] = data["total"] - data["paid"]
    data["payment_status"] = str(payment_status(data["total"], data["paid"]))
    return data


def list_bills(conn: Connection, f: BillFilter, before_seq: int | None,
               limit: int) -> list[dict[str, Any]]:
    """Newest first, keyset-paginated on the bill sequence."""
    query = (select(t.supplier_bills, BILL_TOTAL, _paid())
             .order_by(_b.seq.desc()).limit(limit))
    if f.status is not None:
        query = query.where(_b.status == f.status)
    if f.supplier is not None:
        query = query.where(_b.supplier_code == f.supplier)
    if before_seq is not None:
        query = query.where(_b.seq < before_seq)
    return [_header(row) for row in conn.execute(query)]


def bill_detail(conn: Connection, bill_id: str) -> dict[str, Any] | None:
    """The bill with its lines, the match findings and the payments made."""
    row = conn.execute(select(t.supplier_bills, BILL_TOTAL, _paid())
                       .where(_b.id == bill_id)).first()
    if row is None:
        return None
    bill = _header(row)
    lines = conn.execute(select(t.supplier_bill_lines).where(_bl.bill_seq == bill["seq"])
                         .order_by(_bl.line_no))
    bill["lines"] = [{"line_no": ln.line_no, "sku": ln.sku, "quantity": ln.quantity,
                      "unit_cost": ln.unit_cost, "line_total": ln.quantity * ln.unit_cost}
                     for ln in lines]
    payments = conn.execute(select(t.supplier_payments).where(_sp.bill_seq == bill["seq"])
                            .order_by(_sp.id))
    bill["payments"] = [{"amount": p.amount, "paid_on": p.paid_on, "reference": p.reference,
                         "recorded_at": p.created_at} for p in payments]
    return bill


def find_bill(conn: Connection, bill_id: str) -> str | None:
    return conn.execute(select(_b.id).where(_b.id == bill_id)).scalar()


def bill_events(conn: Connection, bill_id: str) -> list[dict[str, Any]]:
    e = t.events.c
    query = (select(t.events).where(e.stream == "supplier_bill", e.stream_id == bill_id)
             .order_by(e.seq))
    return [dict(row._mapping) for row in conn.execute(query)]


def open_items(conn: Connection, as_of: date) -> list[OpenItem]:
    """What each bill dated on or before `as_of` still owed that day: its total less the
    payments made by then. Rejected bills owe nothing."""
    paid = _paid(as_of)
    query = (select(_b.supplier_code, _b.currency, _b.due_on, BILL_TOTAL, paid)
             .where(_b.bill_date <= as_of, _b.status != str(BillStatus.REJECTED))
             .order_by(_b.seq))
    return [OpenItem(row.supplier_code, row.currency, row.due_on, row.total - row.paid)
            for row in conn.execute(query) if row.total > row.paid]


def supplier_names(conn: Connection) -> dict[str, str]:
    return {row.code: row.name for row in conn.execute(select(t.suppliers.c.code, t.suppliers.c.name))}


def ageing(conn: Connection, as_of: date) -> tuple[AgeingReport, dict[str, str]]:
    """The accounts-payable ageing at `as_of`, and the suppliers' names to show with it."""
    return age(open_items(conn, as_of), as_of), supplier_names(conn)
