"""The counter and the warehouse system: pickups not collected in time put back on the shelf,
and fulfilments leased to a WMS worker."""

from __future__ import annotations

import logging
from datetime import timedelta

from ordermesh.domain.errors import InvalidTransition, NotFound
from ordermesh.domain.events import utcnow
from ordermesh.domain.inventory import lock_rank
from ordermesh.domain.orders import TRANSITIONS as TRANSITIONS_OF_ORDER
from ordermesh.domain.orders import OrderStatus
from ordermesh.services import commands as c
from ordermesh.services.handlers.credits import void_payment
from ordermesh.services.handlers.fulfilment import follow_fulfilments, locked
from ordermesh.services.handlers.orders import change_order_status
from ordermesh.services.handlers.payments import MoneySetup
from ordermesh.services.handlers.shipping import lock_to_move
from ordermesh.services.handlers.waiting import serve_queue
from ordermesh.services.ports import UnitOfWork

log = logging.getLogger("ordermesh.shipping")


def return_uncollected(cmd: c.ReturnUncollected, uow: UnitOfWork,
                       setup: MoneySetup) -> list[str]:
    """Pickups not collected within their channel's `pickup_hold_days` (or the one named) go
    back on the shelf: the order is cancelled and what was authorized for it released, each
    order on its own (a retry finds the ones done no longer due). An order that has had
    other units leave keeps them, and only these units are released. One that cannot be
    returned any more (collected meanwhile) is passed over by the job. Answers the ids of
    the orders cancelled."""
    if cmd.fulfilment_id is not None:
        with uow:
            order_id = uow.fulfilments.order_of(cmd.fulfilment_id)
        if order_id is None:
            raise NotFound(f"fulfilment {cmd.fulfilment_id!r} not found")
        due = [(order_id, cmd.fulfilment_id)]
    else:
        with uow:
            due = uow.shipping.uncollected(utcnow(), cmd.limit)
    cancelled = []
    for order_id, fulfilment_id in due:
        try:
            whole = _return(uow, order_id, fulfilment_id, cmd)
            if whole:
                cancelled.append(order_id)
            if whole or _nothing_left(uow, order_id):  # what was authorized for it, released
                void_payment(c.VoidPayment(cmd.actor, order_id), uow, setup)
        except (InvalidTransition, NotFound) as exc:
            if cmd.fulfilment_id is not None:
                raise
            log.info("pickup %s not returned to stock: %s", fulfilment_id, exc)
    return cancelled


def _nothing_left(uow: UnitOfWork, order_id: str) -> bool:
    with uow:
        order = uow.orders.get(order_id)
        return order is not None and all(line.to_dispatch == 0 for line in order.lines)


def _return(uow: UnitOfWork, order_id: str, fulfilment_id: str,
            cmd: c.ReturnUncollected) -> bool:
    """Return one pickup to stock; True when its order was cancelled with it."""
    with uow:
        order, fulfilment = locked(uow, fulfilment_id, cmd.location)
        if "return_to_stock" not in fulfilment.allowed():
            raise InvalidTransition(f"a fulfilment that is {fulfilment.status} is not "
                                    "returned to stock", action="return_to_stock",
                                    current_status=str(fulfilment.status))
        whole = "cancel" in TRANSITIONS_OF_ORDER.get(order.status, {})
    if whole:
        change_order_status(c.ChangeOrderStatus(
            cmd.actor, order_id, "cancel", reason="not collected in time"), uow)
    else:
        _back_on_the_shelf(uow, fulfilment_id, cmd.actor)
    return whole


def _back_on_the_shelf(uow: UnitOfWork, fulfilment_id: str, actor: str) -> None:
    """The units of a pickup not collected, from an order that has had other units leave:
    they go back on the shelf (waiting orders may take them), the order's lines no longer
    expect them, and once nothing is left to send the order is shipped."""
    with uow:
        order, fulfilment, queue = lock_to_move(uow, fulfilment_id, None)
        fulfilment.apply("return_to_stock", actor, reason="not collected in time")
        uow.fulfilments.save(fulfilment)
        allocations = [a for a in uow.allocations.active_for_order(order.seq or 0)
                       if a["fulfilment_id"] == fulfilment.id]
        priorities = uow.catalogue.location_priorities()
        for a in sorted(allocations, key=lambda a: lock_rank(a["sku"], a["location_code"],
                                                             priorities)):
            uow.stock.release(a["sku"], a["location_code"], a["quantity"])
            uow.stock.record_movement(a["sku"], a["location_code"], reserved_delta=-a["quantity"],
                                      reason="reservation_released", reference=order.number,
                                      actor=actor)
        uow.allocations.end([a["id"] for a in allocations], "release")
        by_id = {line.id: line for line in order.lines}
        for fl in fulfilment.lines:
            by_id[fl.order_line_id].cancelled += fl.quantity
        order.note("order.not_collected", actor, fulfilment_id=fulfilment.id,
                   lines=[{"line_no": by_id[ln.order_line_id].line_no, "sku": ln.sku,
                           "quantity": ln.quantity} for ln in fulfilment.lines])
        if order.status is OrderStatus.FULFILLING and all(
                line.to_dispatch == 0 for line in order.lines):
            order.apply("ship", actor)
        uow.orders.save(order)
        follow_fulfilments(uow, order, actor)
        serve_queue(uow, queue, [ln.sku for ln in fulfilment.lines], actor, utcnow().date())
        uow.commit()


# -- a warehouse system's leases and confirmations ----------------------------------------------

def lease_fulfilments(cmd: c.LeaseFulfilments, uow: UnitOfWork) -> list[str]:
    """Lease a location's open fulfilments to one WMS worker for `seconds`: no other worker
    is given them until the lease runs out (or the worker renews it by asking again)."""
    with uow:
        now = utcnow()
        ids = uow.shipping.lease(cmd.location, cmd.owner, now,
                                 now + timedelta(seconds=cmd.seconds), cmd.limit)
        uow.commit()
    return ids
