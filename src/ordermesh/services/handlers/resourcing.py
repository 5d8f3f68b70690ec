"""Sourcing again the lines a location cannot fulfil: rejected by it, or beyond a stock count
that fell below what is reserved."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from ordermesh.domain.errors import ConcurrentUpdate, InvalidInput, InvalidTransition, NotFound
from ordermesh.domain.events import utcnow
from ordermesh.domain.inventory import lock_rank
from ordermesh.domain.orders import Order, OrderLine, OrderStatus, format_order_number
from ordermesh.domain.sourcing import Demand, Request, plan
from ordermesh.services import commands as c
from ordermesh.services.handlers.holds import release_hold
from ordermesh.services.handlers.sourcing import (
    apply_plan,
    counting_own_shipments,
    destination,
    give_back_shipments,
    plan_summary,
    shipping_from,
    situation,
    take_plan,
)
from ordermesh.services.handlers.waiting import (
    forced_to_wait,
    lock_queue,
    rejections,
    serve_queue,
)
from ordermesh.services.ports import UnitOfWork

# Orders whose allocations may still move: nothing has been picked yet.
MOVABLE = (OrderStatus.ALLOCATED, OrderStatus.BACKORDERED, OrderStatus.PAID, OrderStatus.ON_HOLD)


def resource_line(cmd: c.ResourceLine, uow: UnitOfWork) -> str:
    """A location cannot fulfil (part of) a line, e.g. a store rejects it: source it again."""
    with uow:
        seen = uow.orders.peek(cmd.order_id)
        # the units given back may serve the queue: lock it with the order
        queue = lock_queue(uow, seen[1], seen[0]) if seen is not None else []
        order = uow.orders.get(cmd.order_id)
        if order is None or (cmd.channel is not None and order.channel != cmd.channel):
            raise NotFound(f"order {cmd.order_id!r} not found")
        line = next((ln for ln in order.lines if ln.line_no == cmd.line_no), None)
        if line is None:
            raise NotFound(f"order {order.number} has no line {cmd.line_no}")
        held = _held_at(uow, order, line, cmd.location)
        quantity = held if cmd.quantity is None else cmd.quantity
        if quantity < 1 or quantity > held:
            raise InvalidInput(f"line {cmd.line_no} has {held} allocated at {cmd.location}",
                               allocated=held)
        today = utcnow().date()
        move(order, line, cmd.location, quantity, cmd.reason, uow, cmd.actor, today,
             rejected=True)
        serve_queue(uow, queue, [line.sku], cmd.actor, today)
        uow.commit()
    return order.id


def _held_at(uow: UnitOfWork, order: Order, line: OrderLine, location: str) -> int:
    assert order.seq is not None
    return sum(a["quantity"] for a in uow.allocations.active_for_order(order.seq)
               if a["line_id"] == line.id and a["location_code"] == location
               and a["fulfilment_id"] is None)  # released units: reject the fulfilment


def move(order: Order, line: OrderLine, location: str, quantity: int, reason: str,
         uow: UnitOfWork, actor: str, today: date, rejected: bool = False,
         movable: tuple[OrderStatus, ...] = MOVABLE, taken_from: str | None = None) -> None:
    """Take `quantity` of a line away from `location` and source it again by the same rules,
    never from there. What no location can fill waits: the order was accepted, so an
    operator, not the engine, decides whether to cancel it. A location that rejected the
    line is never asked for it again. `movable`: the order statuses allowed (a fulfilment
    rejected or short-picked moves its own units while others may have left); `taken_from`:
    the fulfilment whose allocations give the units (else those no fulfilment holds first)."""
    assert order.seq is not None
    if order.status not in movable:
        raise InvalidTransition(f"cannot re-source an order that is {order.status}",
                                current_status=str(order.status), action="resource")
    _release(order, line, location, quantity, uow, actor, "reject" if rejected else "move",
             taken_from)
    shipping = shipping_from(uow, order)
    seen = counting_own_shipments(
        forced_to_wait(situation(uow, {line.sku}, order.channel, today), [line.sku]), shipping)
    avoid = {**dict(rejections(uow, order).get(line.id, ())), location: reason}
    request = Request((Demand(line.id, line.sku, quantity, tuple(sorted(avoid.items()))),), today,
                      order.currency, destination(order), order.fulfilment.pickup_location)
    result = plan(request, seen.network, seen.policy)
    waiting = frozenset(w["line_id"] for w in uow.backorders.waiting_for_order(order.seq))
    take_plan(result, seen, uow, today, shipping)
    apply_plan(order, result, seen, uow, actor, still_waiting=waiting)
    data = {"line_no": line.line_no, "moved_from": location, "quantity": quantity,
            "reason": reason, **plan_summary(order, result)}
    if result.waits and order.status is OrderStatus.ALLOCATED:
        order.apply("backorder", actor, **data)
    else:
        order.note("order.line_resourced", actor, **data)
    uow.orders.save(order)


def _release(order: Order, line: OrderLine, location: str, quantity: int, uow: UnitOfWork,
             actor: str, action: str, taken_from: str | None = None) -> None:
    """Give back `quantity` of the line's allocations at the location, newest first: those of
    fulfilment `taken_from`, or (None) those no fulfilment holds."""
    assert order.seq is not None
    held = [a for a in uow.allocations.active_for_order(order.seq)
            if a["line_id"] == line.id and a["location_code"] == location
            and a["fulfilment_id"] == taken_from]
    if sum(a["quantity"] for a in held) < quantity:
        raise InvalidInput(f"line {line.line_no} holds fewer than {quantity} at {location}",
                           line_no=line.line_no)
    left = quantity
    for allocation in sorted(held, key=lambda a: -a["id"]):
        take = min(left, allocation["quantity"])
        uow.allocations.shrink(allocation["id"], allocation["quantity"] - take, action)
        left -= take
        if not left:
            break
    give_back_shipments(uow, held, order)
    uow.stock.release(line.sku, location, quantity)
    uow.stock.record_movement(line.sku, location, reserved_delta=-quantity,
                              reason="reallocation", reference=order.number, actor=actor)


@dataclass(frozen=True)
class Foreseen:
    """What a stock command locked before any stock row, for rows it expected to fall below
    what is reserved: those rows, the cart holds and the orders with units on them."""

    rows: frozenset[tuple[str, str]]
    holds: frozenset[str]
    orders: frozenset[int]


def foresee(uow: UnitOfWork, rows: Iterable[tuple[str, str]]) -> Foreseen:
    """Lock the cart holds on rows that may fall, and name the orders with units there: the
    caller locks those with the rest of its orders, in placement order, before stock rows."""
    rows = frozenset(rows)
    holds = frozenset(hold.id for sku, location in sorted(rows)
                      for hold in uow.holds.active_at(sku, location))
    return Foreseen(rows, holds, frozenset(uow.allocations.owners_at(sorted(rows))))


def resource_shortfalls(uow: UnitOfWork, rows: Iterable[tuple[str, str]], actor: str,
                        today: date, foreseen: Foreseen) -> None:
    """Stock counts fell below what is reserved: cart holds there end first (nothing has been
    bought with them), then the newest allocations move elsewhere. A hold or an order that
    was not locked before the stock rows would now be locked after them, against the lock
    order: the command starts again instead, and locks it first the next time."""
    priorities = uow.catalogue.location_priorities()
    for sku, location in sorted(set(rows), key=lambda r: lock_rank(r[0], r[1], priorities)):
        level = uow.stock.level_for_update(sku, location)
        short = 0 if level is None else level.reserved - level.on_hand
        if short <= 0:
            continue
        if (sku, location) not in foreseen.rows:
            raise ConcurrentUpdate(f"{sku} at {location} fell further than foreseen")
        short = _end_holds(uow, sku, location, short, actor, foreseen)
        for allocation in uow.allocations.active_at(sku, location):  # newest first
            if short <= 0:
                break
            if allocation.get("fulfilment_id") is not None:
                continue  # in a fulfilment already: its picker settles it (a short pick)
            if allocation["order_seq"] not in foreseen.orders:
                raise ConcurrentUpdate(f"an order took {sku} at {location} meanwhile")
            order = uow.orders.get(format_order_number(allocation["order_seq"]))
            if order is None or order.status not in MOVABLE:
                continue
            line = next(ln for ln in order.lines if ln.id == allocation["line_id"])
            quantity = min(short, allocation["quantity"])
            move(order, line, location, quantity, "stock count fell below what is reserved",
                 uow, actor, today)
            short -= quantity


def _end_holds(uow: UnitOfWork, sku: str, location: str, short: int, actor: str,
               foreseen: Foreseen) -> int:
    """End the newest cart holds on this stock row until the shortfall is covered; returns
    what is still short."""
    for hold in uow.holds.active_at(sku, location):
        if short <= 0:
            break
        if hold.id not in foreseen.holds:
            raise ConcurrentUpdate(f"a cart hold took {sku} at {location} meanwhile")
        short -= sum(ln.quantity for ln in hold.lines if (ln.sku, ln.location) == (sku, location))
        release_hold(hold, uow, actor, "stock count fell below what is held")
    return short
