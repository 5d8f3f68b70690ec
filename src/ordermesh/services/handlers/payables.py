"""Supplier payables: bills entered against purchase orders and matched three ways, reviewed,
and paid. Entering a bill locks its purchase order, so bills for one order are matched one
after the other and each sees what the earlier ones billed; a payment locks its bill, so two
payments can never together exceed what it owes."""

from __future__ import annotations

import uuid

from ordermesh.domain.errors import InvalidInput, NotFound
from ordermesh.domain.money import Money
from ordermesh.domain.payables import (
    BillLine,
    DuplicateBillNumber,
    PoLine,
    SupplierBill,
    three_way_match,
)
from ordermesh.domain.purchasing import PurchaseOrder, PurchaseOrderStatus
from ordermesh.services import commands as c
from ordermesh.services.ports import UnitOfWork

# A bill is for goods that were ordered: not for a draft nobody sent, nor a cancelled order.
NOT_BILLABLE = {PurchaseOrderStatus.DRAFT, PurchaseOrderStatus.CANCELLED}


def create_supplier_bill(cmd: c.CreateSupplierBill, uow: UnitOfWork) -> str:
    with uow:
        po = _billable_purchase_order(uow, cmd.purchase_order, cmd.currency)
        number = cmd.number.strip()
        existing = uow.supplier_bills.find_number(po.supplier_code, number)
        if existing is not None:
            raise DuplicateBillNumber(
                f"bill {number!r} of supplier {po.supplier_code} is already entered",
                bill_id=existing)
        supplier = uow.suppliers.get(po.supplier_code)
        assert supplier is not None  # a foreign key
        lines = _lines(po, cmd.lines)
        billed_before = uow.supplier_bills.billed_before(po.number or "")
        po_lines = [PoLine(ln.line_no, ln.sku, ln.quantity, ln.received, ln.unit_cost.amount,
                           billed_before.get(ln.line_no, 0)) for ln in po.lines]
        bill = SupplierBill.enter(
            id=str(uuid.uuid4()), number=number, supplier_code=po.supplier_code,
            po_number=po.number or "", currency=po.currency, bill_date=cmd.bill_date,
            payment_terms_days=supplier["payment_terms_days"], lines=lines,
            findings=three_way_match(po_lines, lines, cmd.tolerance), tolerance=cmd.tolerance,
            actor=cmd.actor)
        uow.supplier_bills.add(bill)
        uow.commit()
    return bill.id


def _billable_purchase_order(uow: UnitOfWork, ref: str, currency: str | None) -> PurchaseOrder:
    po = uow.purchase_orders.get(ref)  # locked until the commit
    if po is None:
        raise NotFound(f"purchase order {ref!r} not found")
    if po.status in NOT_BILLABLE:
        raise InvalidInput(f"purchase order {po.number} is {po.status}: it cannot be billed",
                           purchase_order_status=str(po.status))
    if currency not in (None, po.currency):
        raise InvalidInput(f"purchase order {po.number} is in {po.currency}, not {currency}",
                           currency=po.currency)
    return po


def _lines(po: PurchaseOrder, billed: tuple[tuple[int, int, int], ...]) -> list[BillLine]:
    skus = {line.line_no: line.sku for line in po.lines}
    unknown = sorted(no for no, _, _ in billed if no not in skus)
    if unknown:
        raise InvalidInput(f"purchase order {po.number} has no line {unknown[0]}", line_nos=unknown)
    return [BillLine(no, skus[no], quantity, Money(unit_cost, po.currency))
            for no, quantity, unit_cost in billed]


def _bill(uow: UnitOfWork, bill_id: str) -> SupplierBill:
    bill = uow.supplier_bills.get(bill_id)
    if bill is None:
        raise NotFound(f"supplier bill {bill_id!r} not found")
    return bill


def approve_supplier_bill(cmd: c.ApproveSupplierBill, uow: UnitOfWork) -> str:
    with uow:
        bill = _bill(uow, cmd.bill_id)
        bill.approve(cmd.actor, cmd.reason)
        uow.supplier_bills.save(bill)
        uow.commit()
    return bill.id


def reject_supplier_bill(cmd: c.RejectSupplierBill, uow: UnitOfWork) -> str:
    with uow:
        bill = _bill(uow, cmd.bill_id)
        bill.reject(cmd.actor, cmd.reason)
        uow.supplier_bills.save(bill)
        uow.commit()
    return bill.id


def record_supplier_payment(cmd: c.RecordSupplierPayment, uow: UnitOfWork) -> str:
    with uow:
        bill = _bill(uow, cmd.bill_id)  # locked: the outstanding amount cannot change under us
        if cmd.currency not in (None, bill.currency):
            raise InvalidInput(f"the bill is in {bill.currency}, not {cmd.currency}",
                               currency=bill.currency)
        bill.pay(Money(cmd.amount, bill.currency), cmd.paid_on, cmd.reference, cmd.actor)
        uow.supplier_bills.save(bill)
        uow.commit()
    return bill.id
