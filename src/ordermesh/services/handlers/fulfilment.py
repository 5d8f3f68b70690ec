"""Fulfilments: released per order and location from the allocations no fulfilment has taken
yet, then moved along their lifecycle (pick, pack, hand over) one action at a time."""

from __future__ import annotations

import uuid
from collections import defaultdict

from ordermesh.domain.errors import NotFound
from ordermesh.domain.fulfilments import Fulfilment, FulfilmentLine
from ordermesh.domain.orders import Order, format_order_number
from ordermesh.domain.payments import PaymentStatus
from ordermesh.services import commands as c
from ordermesh.services.handlers.payments import status_of
from ordermesh.services.ports import UnitOfWork

# An order whose card is being authorized, or was refused, is not worked on yet.
NOT_READY = (PaymentStatus.PENDING, PaymentStatus.FAILED)


def release_fulfilments(cmd: c.ReleaseFulfilments, uow: UnitOfWork) -> list[str]:
    """One fulfilment per order and location for the allocations not in one yet, for orders
    allocated (or paid, or already being fulfilled) whose payment, if they take one, is
    authorized. Orders are locked in placement order. Returns the new fulfilments' ids."""
    made: list[str] = []
    with uow:
        for seq in uow.fulfilments.unreleased(cmd.location, cmd.limit):
            order = uow.orders.get(format_order_number(seq))
            if order is None or not _payment_ready(uow, order):
                continue
            made += _release(uow, order, cmd.location, cmd.actor)
            uow.orders.save(order)
        uow.commit()
    return made


def _payment_ready(uow: UnitOfWork, order: Order) -> bool:
    assert order.seq is not None
    payments = uow.payments.for_order(order.seq)
    return not payments or status_of(payments[-1]) not in NOT_READY


def _release(uow: UnitOfWork, order: Order, location: str | None, actor: str) -> list[str]:
    assert order.seq is not None
    by_location: dict[str, list[dict[str, object]]] = defaultdict(list)
    for allocation in uow.fulfilments.unreleased_allocations(order.seq, location):
        by_location[str(allocation["location_code"])].append(allocation)
    skus = {line.id: line.sku for line in order.lines}
    made = []
    for where, allocations in sorted(by_location.items()):
        units: dict[str, int] = defaultdict(int)
        for allocation in allocations:
            units[str(allocation["line_id"])] += int(str(allocation["quantity"]))
        method = "pickup" if order.fulfilment.pickup_location == where else "ship"
        fulfilment = Fulfilment(str(uuid.uuid4()), order.id, where, method, tuple(
            FulfilmentLine(line_id, skus[line_id], n) for line_id, n in units.items()))
        uow.fulfilments.add(fulfilment, order.seq)
        uow.fulfilments.assign([int(str(a["id"])) for a in allocations], fulfilment.id)
        order.note("order.fulfilment_released", actor, fulfilment_id=fulfilment.id,
                   location=where, method=method,
                   lines=[{"sku": ln.sku, "quantity": ln.quantity} for ln in fulfilment.lines])
        made.append(fulfilment.id)
    return made


def change_fulfilment(cmd: c.ChangeFulfilment, uow: UnitOfWork) -> str:
    """Move a fulfilment by one action of its table. A cancelled fulfilment gives its
    allocations back, to be released again (or sourced elsewhere)."""
    with uow:
        fulfilment = uow.fulfilments.get(cmd.fulfilment_id)
        if fulfilment is None or (cmd.location is not None and fulfilment.location != cmd.location):
            raise NotFound(f"fulfilment {cmd.fulfilment_id!r} not found")
        fulfilment.apply(cmd.action, cmd.actor, **({"reason": cmd.reason} if cmd.reason else {}))
        if cmd.action == "cancel":
            uow.fulfilments.assign(uow.fulfilments.allocations_of(fulfilment.id), None)
        uow.fulfilments.save(fulfilment)
        uow.commit()
    return fulfilment.id
