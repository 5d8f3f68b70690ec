"""Buying stock: suppliers, and purchase orders from draft to sent, received and closed.
Goods received raise on hand at the purchase order's deliver_to location and go first to the
orders waiting for them, in the same transaction. A purchase order cancelled or closed gives the
waits promised to it a new date, in the same transaction."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from ordermesh.domain.errors import AlreadyExists, ConcurrentUpdate, InvalidInput, NotFound
from ordermesh.domain.events import utcnow
from ordermesh.domain.inventory import lock_rank
from ordermesh.domain.money import Money
from ordermesh.domain.orders import Order, format_order_number
from ordermesh.domain.purchasing import PurchaseOrder, PurchaseOrderLine, Receipt, Supplier
from ordermesh.domain.sourcing import Terms, unsupplied_promise
from ordermesh.services import commands as c
from ordermesh.services.handlers.waiting import lock_queue, serve_queue
from ordermesh.services.ports import UnitOfWork

SUPPLIER_FIELDS = ("code", "name", "email", "currency", "lead_time_days", "payment_terms_days")


@dataclass(frozen=True)
class ReceivedGoods:
    po_id: str
    allocated_orders: list[str]  # numbers of the waiting orders the goods went to


def _check_supplier(values: dict[str, Any]) -> None:
    """The domain's rules for a supplier, applied to what would be stored."""
    Supplier(**{name: values[name] for name in SUPPLIER_FIELDS})


def create_supplier(cmd: c.CreateSupplier, uow: UnitOfWork) -> str:
    values = {"active": True, **cmd.values}
    _check_supplier(values)
    with uow:
        if uow.suppliers.get(values["code"]) is not None:
            raise AlreadyExists(f"supplier {values['code']!r} exists already")
        now = utcnow()
        uow.suppliers.add({**values, "created_at": now, "updated_at": now})
        uow.commit()
    return str(values["code"])


def update_supplier(cmd: c.UpdateSupplier, uow: UnitOfWork) -> str:
    with uow:
        current = uow.suppliers.get(cmd.code)
        if current is None:
            raise NotFound(f"supplier {cmd.code!r} does not exist")
        _check_supplier({**current, **cmd.changes})
        uow.suppliers.update(cmd.code, {**cmd.changes, "updated_at": utcnow()})
        uow.commit()
    return cmd.code


def _active_supplier(uow: UnitOfWork, code: str) -> dict[str, Any]:
    supplier = uow.suppliers.get(code)
    if supplier is None or not supplier["active"]:
        raise InvalidInput(f"{code!r} is not an active supplier", supplier=code)
    return supplier


def _check_destination(uow: UnitOfWork, code: str) -> None:
    location = uow.catalogue.location(code)
    if location is None or not location["active"]:
        raise InvalidInput(f"{code!r} is not an active location", deliver_to=code)


def _check_products(uow: UnitOfWork, skus: Iterable[str]) -> None:
    skus = set(skus)
    unknown = sorted(skus - set(uow.catalogue.products(skus)))
    if unknown:
        raise InvalidInput(f"unknown SKUs: {', '.join(unknown)}", skus=unknown)


def create_purchase_order(cmd: c.CreatePurchaseOrder, uow: UnitOfWork) -> str:
    with uow:
        po = draft_purchase_order(uow, cmd.actor, cmd.values)
        uow.commit()
    return po.id


def draft_purchase_order(uow: UnitOfWork, actor: str, values: dict[str, Any]) -> PurchaseOrder:
    """Check, store and record a new draft inside the caller's transaction (a purchase order
    drafted by hand or proposed by replenishment)."""
    supplier = _active_supplier(uow, values["supplier"])
    _check_destination(uow, values["deliver_to"])
    _check_products(uow, (line["sku"] for line in values["lines"]))
    currency = supplier["currency"]
    if values.get("currency") not in (None, currency):
        raise InvalidInput(f"supplier {supplier['code']} is paid in {currency}",
                           currency=currency)
    po = PurchaseOrder(
        id=str(uuid.uuid4()), number=None, supplier_code=supplier["code"],
        currency=currency, deliver_to=values["deliver_to"],
        lines=[PurchaseOrderLine(n, ln["sku"], ln["quantity"], Money(ln["unit_cost"], currency))
               for n, ln in enumerate(values["lines"], start=1)],
        expected_on=values.get("expected_on"),
    )
    uow.purchase_orders.add(po)
    po.record_created(actor)
    return po


def _purchase_order(uow: UnitOfWork, po_id: str) -> PurchaseOrder:
    po = uow.purchase_orders.get(po_id)
    if po is None:
        raise NotFound(f"purchase order {po_id!r} not found")
    return po


def send_purchase_order(cmd: c.SendPurchaseOrder, uow: UnitOfWork) -> str:
    """Record that the order went to the supplier; it is expected after the supplier's lead
    time unless a date was agreed when it was drafted."""
    with uow:
        po = _purchase_order(uow, cmd.po_id)
        supplier = _active_supplier(uow, po.supplier_code)
        po.send(cmd.actor, utcnow().date(), supplier["lead_time_days"])
        uow.purchase_orders.save(po)
        uow.commit()
    return po.id


def receive_purchase_order(cmd: c.ReceivePurchaseOrder, uow: UnitOfWork) -> ReceivedGoods:
    with uow:
        po = _purchase_order(uow, cmd.po_id)
        if cmd.location is not None and cmd.location != po.deliver_to:
            raise InvalidInput(f"{po.number} is delivered to {po.deliver_to}, not {cmd.location}",
                               deliver_to=po.deliver_to)
        receipts = po.receive(cmd.quantities, cmd.actor, cmd.allow_over_receipt, cmd.reference)
        uow.purchase_orders.save(po)
        queue = lock_queue(uow, {r.sku for r in receipts})  # order rows before stock rows
        _put_away(uow, po, receipts, cmd.actor)
        served = serve_queue(uow, queue, {r.sku for r in receipts}, cmd.actor, utcnow().date())
        uow.commit()
    return ReceivedGoods(po.id, served)


def _put_away(uow: UnitOfWork, po: PurchaseOrder, receipts: list[Receipt], actor: str) -> None:
    """Raise on hand at the destination, stock rows in the one lock order every writer uses."""
    assert po.number is not None
    where, now = po.deliver_to, utcnow()
    priorities = uow.catalogue.location_priorities()
    for r in sorted(receipts, key=lambda r: lock_rank(r.sku, where, priorities)):
        if uow.stock.level_for_update(r.sku, where) is None:
            uow.stock.create_level(r.sku, where)
        uow.stock.change_on_hand(r.sku, where, r.quantity, counted_at=None, moved_at=now)
        uow.stock.record_movement(r.sku, where, on_hand_delta=r.quantity,
                                  reason="purchase_receipt", reference=po.number, actor=actor)


def close_purchase_order(cmd: c.ClosePurchaseOrder, uow: UnitOfWork) -> str:
    """Nothing more is expected: what is still outstanding will not come."""
    return _end(uow, cmd.po_id, cmd.actor, lambda po: po.close(cmd.actor, cmd.reason))


def cancel_purchase_order(cmd: c.CancelPurchaseOrder, uow: UnitOfWork) -> str:
    return _end(uow, cmd.po_id, cmd.actor, lambda po: po.cancel(cmd.actor, cmd.reason))


def _end(uow: UnitOfWork, po_id: str, actor: str,
         change: Callable[[PurchaseOrder], None]) -> str:
    """Close or cancel. The waits promised to the purchase order's lines no longer count on
    them: each is dated again as a wait without supply (the supplier's lead time, a release
    date, or undated) and its order's timeline says so. The purchase order is locked first,
    then those orders in order of placement: the order receipts take them in too."""
    with uow:
        po = _purchase_order(uow, po_id)
        seqs = sorted({w["order_seq"] for w in uow.backorders.promised_from(po.id)})
        orders = [order for seq in seqs
                  if (order := uow.orders.get(format_order_number(seq))) is not None]
        change(po)
        uow.purchase_orders.save(po)
        waits = uow.backorders.promised_from(po.id)  # read again, under the locks
        if {w["order_seq"] for w in waits} - set(seqs):
            raise ConcurrentUpdate(f"an order was promised supply from {po.number} meanwhile")
        _repromise(uow, po, orders, waits, actor)
        uow.commit()
    return po.id


def _repromise(uow: UnitOfWork, po: PurchaseOrder, orders: list[Order],
               waits: list[dict[str, Any]], actor: str) -> None:
    today = utcnow().date()
    terms = uow.sourcing.terms({w["sku"] for w in waits})
    for order in orders:
        mine = [w for w in waits if w["order_seq"] == order.seq]
        if not mine:
            continue  # served since it was looked up
        numbers = {line.id: line.line_no for line in order.lines}
        changed = []
        for w in mine:
            promised_on, why = unsupplied_promise(
                w["sku"], terms.get(w["sku"], Terms()), today,
                pickup=order.fulfilment.pickup_location is not None)
            why = replace(why, explanation=f"{w['supply']} will not come ({po.status}); "
                                           f"{why.explanation}")
            uow.backorders.repromise(w["id"], promised_on, why)
            changed.append({
                "line_no": numbers[w["line_id"]], "sku": w["sku"], "quantity": w["quantity"],
                "kind": w["kind"], "supply": w["supply"],
                "previous_promised_on": _iso(w["promised_on"]),
                "promised_on": _iso(promised_on), "why": why.explanation})
        order.note("order.backorder_repromised", actor, purchase_order=po.number,
                   purchase_order_status=str(po.status), waits=changed)
        uow.orders.save(order)


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None
