"""Fulfilments: released per order and location from the allocations no fulfilment has taken
yet, then moved along their lifecycle (pick, pack, hand over) one action at a time."""

from __future__ import annotations

import secrets
import uuid
from collections import defaultdict

from ordermesh.domain.errors import (
    IdempotencyKeyReused,
    InvalidInput,
    InvalidTransition,
    NotFound,
)
from ordermesh.domain.events import utcnow
from ordermesh.domain.fulfilments import (
    Fulfilment,
    FulfilmentLine,
    OrderFulfilment,
    order_fulfilment,
)
from ordermesh.domain.orders import RELEASABLE, Order, OrderStatus, format_order_number
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
        if cmd.order_id is not None:  # this order only
            seen = uow.orders.peek(cmd.order_id)
            seqs = [seen[0]] if seen is not None else []
        else:
            seqs = uow.fulfilments.unreleased(cmd.location, cmd.limit)
        for seq in seqs:
            order = uow.orders.get(format_order_number(seq))
            if order is None or order.status not in RELEASABLE or not _payment_ready(
                    uow, order):
                continue
            made += _release(uow, order, cmd.location, cmd.actor, cmd.wave)
            uow.orders.save(order)
        uow.commit()
    return made


def _payment_ready(uow: UnitOfWork, order: Order) -> bool:
    assert order.seq is not None
    payments = uow.payments.for_order(order.seq)
    return not payments or status_of(payments[-1]) not in NOT_READY


def _release(uow: UnitOfWork, order: Order, location: str | None, actor: str,
             wave: str | None) -> list[str]:
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
        # a click & collect order is handed over at its store's counter, whichever location
        # picks it (units from elsewhere travel with the store's own transfers)
        method = "pickup" if order.fulfilment.pickup_location is not None else "ship"
        fulfilment = Fulfilment(str(uuid.uuid4()), order.id, where, method, tuple(
            FulfilmentLine(line_id, skus[line_id], n) for line_id, n in units.items()),
            pickup_code=f"{secrets.randbelow(10**6):06d}" if method == "pickup" else None)
        uow.fulfilments.add(fulfilment, order.seq, wave)
        uow.fulfilments.assign([int(str(a["id"])) for a in allocations], fulfilment.id)
        order.note("order.fulfilment_released", actor, fulfilment_id=fulfilment.id,
                   location=where, method=method, wave=wave,
                   lines=[{"sku": ln.sku, "quantity": ln.quantity} for ln in fulfilment.lines])
        made.append(fulfilment.id)
    return made


def locked(uow: UnitOfWork, fulfilment_id: str, location: str | None,
           channel: str | None = None) -> tuple[Order, Fulfilment]:
    """The fulfilment and its order, locked in the one order: the order first."""
    order_id = uow.fulfilments.order_of(fulfilment_id)
    order = uow.orders.get(order_id) if order_id is not None else None
    fulfilment = uow.fulfilments.get(fulfilment_id) if order is not None else None
    if (order is None or fulfilment is None
            or (location is not None and fulfilment.location != location)
            or (channel is not None and order.channel != channel)):
        raise NotFound(f"fulfilment {fulfilment_id!r} not found")
    return order, fulfilment


# Orders whose fulfilments may be worked on: not held, not cancelled, not done. (A
# backordered order's released fulfilment leaves; the rest of it waits.)
WORKABLE = (OrderStatus.ALLOCATED, OrderStatus.PAID, OrderStatus.FULFILLING,
            OrderStatus.BACKORDERED)
WORK = frozenset({"start_picking", "short_pick", "pack", "make_ready", "dispatch", "collect"})


def workable(order: Order, action: str) -> None:
    """Refuse to move a fulfilment on (pick, pack, label, hand over) for an order that is
    held or ended: it would be packed and labelled for nothing."""
    if action in WORK and order.status not in WORKABLE:
        raise InvalidTransition(f"order {order.number} is {order.status}: its fulfilments wait",
                                current_status=str(order.status), action=action)


# The moves that are only a move; the others have commands of their own (a rejection
# re-sources, a pack makes packages, a dispatch takes stock and money, tracking comes from
# carriers, a return to stock gives the units back).
SIMPLE_ACTIONS = frozenset({"accept", "start_picking", "make_ready", "cancel"})


def change_fulfilment(cmd: c.ChangeFulfilment, uow: UnitOfWork) -> str:
    """Move a fulfilment by one action of its table. A cancelled fulfilment gives its
    allocations back, to be released again (or sourced elsewhere)."""
    if cmd.action not in SIMPLE_ACTIONS:
        raise InvalidInput(f"{cmd.action!r} is not a move made by itself",
                           allowed=sorted(SIMPLE_ACTIONS))
    with uow:
        order, fulfilment = locked(uow, cmd.fulfilment_id, cmd.location)
        if not first_time(uow, cmd.confirmation):
            return fulfilment.id
        workable(order, cmd.action)
        fulfilment.apply(cmd.action, cmd.actor, **({"reason": cmd.reason} if cmd.reason else {}))
        if cmd.action == "accept":
            fulfilment.accepted_at = fulfilment.accepted_at or utcnow()
        if cmd.action == "make_ready":  # the customer is told where, and the code to show
            fulfilment.ready_at = utcnow()
            order.note("order.ready_for_pickup", cmd.actor, fulfilment_id=fulfilment.id,
                       location=fulfilment.location, pickup_code=fulfilment.pickup_code)
            uow.orders.save(order)
        if cmd.action == "cancel":
            uow.fulfilments.assign(uow.fulfilments.allocations_of(fulfilment.id), None)
        uow.fulfilments.save(fulfilment)
        uow.commit()
    return fulfilment.id


def follow_fulfilments(uow: UnitOfWork, order: Order, actor: str) -> None:
    """An order whose every unit has left is delivered once each of its fulfilments has
    arrived (delivered, or collected at the counter). Call after saving the fulfilments."""
    assert order.seq is not None
    statuses = uow.fulfilments.statuses_for_order(order.seq)
    if (order.status is OrderStatus.SHIPPED
            and order_fulfilment(statuses) is OrderFulfilment.DELIVERED):
        order.apply("deliver", actor)
        uow.orders.save(order)


WMS_SCOPE = "wms"  # idempotency scope of confirmations, by the sender's reference


def first_time(uow: UnitOfWork, confirmation: tuple[str, str] | None) -> bool:
    """A confirmation is done once per the sender's own reference: (reference, request hash).
    False when that reference was done before with the same request; the same reference with
    another request is refused."""
    if confirmation is None:
        return True
    reference, request_hash = confirmation
    seen = uow.idempotency.find(WMS_SCOPE, reference)
    if seen is None:
        uow.idempotency.claim(WMS_SCOPE, reference, request_hash)
        return True
    if seen[0] != request_hash:
        raise IdempotencyKeyReused(f"confirmation {reference!r} was sent before with other "
                                   "content")
    return False
