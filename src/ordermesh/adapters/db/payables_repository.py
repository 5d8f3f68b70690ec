"""Supplier bills and their payments in SQL: the unit of work's repository."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Connection

from ordermesh.adapters.db import tables as t
from ordermesh.adapters.db.repositories import insert_or_conflict
from ordermesh.domain.errors import ConcurrentUpdate
from ordermesh.domain.events import utcnow
from ordermesh.domain.money import Money
from ordermesh.domain.payables import (
    BillLine,
    BillStatus,
    Finding,
    SupplierBill,
    SupplierPayment,
)
from ordermesh.domain.purchasing import format_po_number, parse_po_number

_b, _bl, _sp = t.supplier_bills.c, t.supplier_bill_lines.c, t.supplier_payments.c
_pol = t.purchase_order_lines.c


def _po_seq(po_number: str) -> int:
    seq = parse_po_number(po_number)
    if seq is None:
        raise ValueError(f"{po_number!r} is not a purchase order number")
    return seq


class SqlSupplierBills:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.seen: list[SupplierBill] = []
        self._seqs: dict[str, int] = {}

    def find_number(self, supplier_code: str, number: str) -> str | None:
        """The id of the supplier's bill with this number, if it was entered already."""
        return self.conn.execute(select(_b.id).where(
            _b.supplier_code == supplier_code, _b.number == number)).scalar()

    def billed_before(self, po_number: str) -> dict[int, int]:
        """Units billed so far per purchase order line, on bills not rejected."""
        query = (select(_bl.line_no, func.sum(_bl.quantity))
                 .join(t.supplier_bills, _b.seq == _bl.bill_seq)
                 .where(_b.po_seq == _po_seq(po_number), _b.status != str(BillStatus.REJECTED))
                 .group_by(_bl.line_no))
        return {line_no: int(units) for line_no, units in self.conn.execute(query)}

    def add(self, bill: SupplierBill) -> None:
        now, po_seq = utcnow(), _po_seq(bill.po_number)
        # a concurrent bill with the same number fails on the unique key: the command is run
        # again and then finds the bill that won
        result = insert_or_conflict(self.conn, t.supplier_bills, {
            "id": bill.id, "supplier_code": bill.supplier_code, "number": bill.number,
            "po_seq": po_seq, "currency": bill.currency, "bill_date": bill.bill_date,
            "due_on": bill.due_on, "status": str(bill.status),
            "findings": [f.as_data() for f in bill.findings], "review_reason": bill.review_reason,
            "version": bill.version, "created_at": now, "updated_at": now})
        assert result.inserted_primary_key is not None
        seq = self._seqs[bill.id] = int(result.inserted_primary_key[0])
        line_ids = {row.line_no: row.id for row in self.conn.execute(
            select(_pol.line_no, _pol.id).where(_pol.po_seq == po_seq))}
        self.conn.execute(insert(t.supplier_bill_lines), [
            {"bill_seq": seq, "po_line_id": line_ids[ln.line_no], "line_no": ln.line_no,
             "sku": ln.sku, "quantity": ln.quantity, "unit_cost": ln.unit_cost.amount}
            for ln in bill.lines])
        self.seen.append(bill)

    def get(self, bill_id: str) -> SupplierBill | None:
        """A bill with its lines and payments, locked until the commit: payments of one bill
        are recorded one after the other (on SQLite the write lock already serialises them)."""
        for bill in self.seen:
            if bill.id == bill_id:
                return bill
        row = self.conn.execute(
            select(t.supplier_bills).where(_b.id == bill_id).with_for_update()).first()
        if row is None:
            return None
        lines = self.conn.execute(
            select(t.supplier_bill_lines).where(_bl.bill_seq == row.seq).order_by(_bl.line_no))
        payments = self.conn.execute(
            select(t.supplier_payments).where(_sp.bill_seq == row.seq).order_by(_sp.id))
        bill = _bill(row, list(lines), list(payments))
        self._seqs[bill.id] = row.seq
        self.seen.append(bill)
        return bill

    def save(self, bill: SupplierBill) -> None:
        """Write the status and new payments; fails if another transaction changed the bill
        since it was read."""
        seq = self._seqs[bill.id]
        result = self.conn.execute(
            update(t.supplier_bills).where(_b.seq == seq, _b.version == bill.version)
            .values(status=str(bill.status), review_reason=bill.review_reason,
                    version=bill.version + 1, updated_at=utcnow()))
        if result.rowcount != 1:
            raise ConcurrentUpdate(f"supplier bill {bill.id} was changed by someone else")
        bill.version += 1
        for i, payment in enumerate(bill.payments):
            if payment.id is None:
                stored = insert_or_conflict(self.conn, t.supplier_payments, {
                    "bill_seq": seq, "amount": payment.amount.amount, "paid_on": payment.paid_on,
                    "reference": payment.reference, "created_at": utcnow()})
                assert stored.inserted_primary_key is not None
                bill.payments[i] = replace(payment, id=int(stored.inserted_primary_key[0]))


def _bill(row: Any, lines: list[Any], payments: list[Any]) -> SupplierBill:
    currency = row.currency
    return SupplierBill(
        id=row.id, number=row.number, supplier_code=row.supplier_code,
        po_number=format_po_number(row.po_seq), currency=currency, bill_date=row.bill_date,
        due_on=row.due_on,
        lines=[BillLine(ln.line_no, ln.sku, ln.quantity, Money(ln.unit_cost, currency))
               for ln in lines],
        status=BillStatus(row.status),
        findings=tuple(Finding(**f) for f in row.findings),
        review_reason=row.review_reason,
        payments=[SupplierPayment(Money(p.amount, currency), p.paid_on, p.reference, p.id)
                  for p in payments],
        version=row.version,
    )
