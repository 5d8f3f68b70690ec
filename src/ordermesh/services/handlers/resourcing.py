"""Sourcing again: waiting lines when stock arrives, and lines a location cannot fulfil."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import date

from ordermesh.domain.errors import InvalidInput, InvalidTransition, NotFound
from ordermesh.domain.events import utcnow
from ordermesh.domain.inventory import lock_rank
from ordermesh.domain.orders import Order, OrderLine, OrderStatus, format_order_number
from ordermesh.domain.sourcing import Demand, Request, Terms, plan
from ordermesh.services import commands as c
from ordermesh.services.handlers.sourcing import (
    apply_plan,
    destination,
    plan_summary,
    situation,
    source,
)
from ordermesh.services.ports import UnitOfWork

# Orders whose allocations may still move: nothing has been picked yet.
MOVABLE = (OrderStatus.ALLOCATED, OrderStatus.BACKORDERED, OrderStatus.PAID, OrderStatus.ON_HOLD)


def allocate_waiting(uow: UnitOfWork, skus: Iterable[str], actor: str, today: date) -> list[str]:
    """Stock arrived: give it to waiting lines, first placed first served. Returns the numbers
    of the orders that got something."""
    served = []
    for seq in uow.backorders.waiting_orders(skus):
        order = uow.orders.get(format_order_number(seq))
        if order is None or order.status is not OrderStatus.BACKORDERED:
            continue  # held orders keep their place in the queue untouched
        if _source_waits(order, uow, actor, today):
            served.append(order.number)
    return served


def _source_waits(order: Order, uow: UnitOfWork, actor: str, today: date) -> bool:
    assert order.seq is not None
    waits = uow.backorders.waiting_for_order(order.seq)
    wanted: dict[str, int] = {}
    for w in waits:
        wanted[w["line_id"]] = wanted.get(w["line_id"], 0) + w["quantity"]
    avoid = _rejections(uow, order)
    demand = [Demand(line.id, line.sku, wanted[line.id], avoid.get(line.id, ()))
              for line in order.lines if line.id in wanted]
    seen = situation(uow, {d.sku for d in demand}, order.channel, today)
    result = source(order, demand, seen, today)
    if not result.allocations or result.refusals:
        return False  # nothing new for this order: its waits and their promises stand
    uow.backorders.resolve([w["id"] for w in waits], "replaced")
    apply_plan(order, result, seen, uow, actor, today)
    summary = plan_summary(order, result)
    if result.waits:
        order.note("order.backorder_partly_allocated", actor, **summary)
    else:
        order.apply("allocate", actor, **summary)
    uow.orders.save(order)
    return True


def resource_line(cmd: c.ResourceLine, uow: UnitOfWork) -> str:
    """A location cannot fulfil (part of) a line, e.g. a store rejects it: source it again."""
    with uow:
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
        move(order, line, cmd.location, quantity, cmd.reason, uow, cmd.actor, utcnow().date(),
             rejected=True)
        uow.commit()
    return order.id


def _held_at(uow: UnitOfWork, order: Order, line: OrderLine, location: str) -> int:
    assert order.seq is not None
    return sum(a["quantity"] for a in uow.allocations.active_for_order(order.seq)
               if a["line_id"] == line.id and a["location_code"] == location)


def move(order: Order, line: OrderLine, location: str, quantity: int, reason: str,
         uow: UnitOfWork, actor: str, today: date, rejected: bool = False) -> None:
    """Take `quantity` of a line away from `location` and source it again by the same rules,
    never from there. What no location can fill waits: the order was accepted, so an
    operator, not the engine, decides whether to cancel it. A location that rejected the
    line is never asked for it again."""
    assert order.seq is not None
    if order.status not in MOVABLE:
        raise InvalidTransition(f"cannot re-source an order that is {order.status}",
                                current_status=str(order.status), action="resource")
    _release(order, line, location, quantity, uow, actor, "rejected" if rejected else "moved")
    seen = situation(uow, {line.sku}, order.channel, today)
    terms = seen.network.terms.get(line.sku, Terms())
    seen = replace(seen, network=replace(seen.network, terms={
        line.sku: replace(terms, backorderable=True)}), policy=replace(seen.policy,
                                                                       allow_backorder=True))
    avoid = {**dict(_rejections(uow, order).get(line.id, ())), location: reason}
    request = Request((Demand(line.id, line.sku, quantity, tuple(sorted(avoid.items()))),), today,
                      order.currency, destination(order), order.fulfilment.pickup_location)
    result = plan(request, seen.network, seen.policy)
    waiting = frozenset(w["line_id"] for w in uow.backorders.waiting_for_order(order.seq))
    apply_plan(order, result, seen, uow, actor, today, still_waiting=waiting)
    data = {"line_no": line.line_no, "moved_from": location, "quantity": quantity,
            "reason": reason, **plan_summary(order, result)}
    if result.waits and order.status is OrderStatus.ALLOCATED:
        order.apply("backorder", actor, **data)
    else:
        order.note("order.line_resourced", actor, **data)
    uow.orders.save(order)


def _rejections(uow: UnitOfWork, order: Order) -> dict[str, tuple[tuple[str, str], ...]]:
    """Per line, the locations that rejected it before."""
    assert order.seq is not None
    found: dict[str, list[tuple[str, str]]] = {}
    for line_id, location in uow.allocations.rejected_for_order(order.seq):
        found.setdefault(line_id, []).append((location, "rejected this line before"))
    return {line_id: tuple(pairs) for line_id, pairs in found.items()}


def _release(order: Order, line: OrderLine, location: str, quantity: int, uow: UnitOfWork,
             actor: str, status: str) -> None:
    """Give back `quantity` of the line's allocations at the location, newest first."""
    assert order.seq is not None
    held = [a for a in uow.allocations.active_for_order(order.seq)
            if a["line_id"] == line.id and a["location_code"] == location]
    left = quantity
    for allocation in sorted(held, key=lambda a: -a["id"]):
        take = min(left, allocation["quantity"])
        uow.allocations.shrink(allocation["id"], allocation["quantity"] - take, status)
        left -= take
        if not left:
            break
    uow.stock.release(line.sku, location, quantity)
    uow.stock.record_movement(line.sku, location, reserved_delta=-quantity,
                              reason="reallocation", reference=order.number, actor=actor)


def resource_shortfalls(uow: UnitOfWork, rows: Iterable[tuple[str, str]], actor: str,
                        today: date) -> None:
    """Stock counts fell below what is reserved: move the newest allocations elsewhere."""
    priorities = uow.catalogue.location_priorities()
    for sku, location in sorted(set(rows), key=lambda r: lock_rank(r[0], r[1], priorities)):
        level = uow.stock.level_for_update(sku, location)
        short = 0 if level is None else level.reserved - level.on_hand
        for allocation in uow.allocations.active_at(sku, location):  # newest first
            if short <= 0:
                break
            order = uow.orders.get(format_order_number(allocation["order_seq"]))
            if order is None or order.status not in MOVABLE:
                continue
            line = next(ln for ln in order.lines if ln.id == allocation["line_id"])
            quantity = min(short, allocation["quantity"])
            move(order, line, location, quantity, "stock count fell below what is reserved",
                 uow, actor, today)
            short -= quantity
