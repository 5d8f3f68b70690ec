"""The queue of waiting lines: when stock arrives or is given back, the orders waiting for it
are served first placed, first served, in the same transaction, so a new order never jumps it.

Commands that serve the queue lock the waiting orders (`lock_queue`) before they lock any stock
row: order rows first, in placement order, then stock rows in lock order, is how every command
that touches more than one order takes its locks."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import date

from ordermesh.domain.orders import Order, OrderStatus, format_order_number
from ordermesh.domain.sourcing import Demand, Terms
from ordermesh.services.handlers.sourcing import (
    Situation,
    apply_plan,
    counting_own_shipments,
    plan_summary,
    shipping_from,
    situation,
    source,
    take_plan,
)
from ordermesh.services.ports import UnitOfWork

# Held orders keep their place in the queue untouched; the others take what arrives (an order
# being fulfilled too: a line of it may wait after a short pick or a rejection).
SERVED = (OrderStatus.BACKORDERED, OrderStatus.ALLOCATED, OrderStatus.PAID,
          OrderStatus.FULFILLING)


def lock_queue(uow: UnitOfWork, skus: Iterable[str], *also: int) -> list[Order]:
    """Lock the orders waiting for these SKUs, with the orders `also` (sequence numbers) the
    command works on, all in placement order, and then every stock row of these SKUs in lock
    order: the command may give back and take stock anywhere among them. Returns the waiting
    orders, first placed first."""
    skus = set(skus)
    waiting = uow.backorders.waiting_orders(skus)
    locked = lock_orders(uow, [*waiting, *also])
    uow.stock.lock_levels(skus)
    return [locked[seq] for seq in waiting if seq in locked]


def lock_orders(uow: UnitOfWork, seqs: Iterable[int]) -> dict[int, Order]:
    """Lock orders in placement order: the one order in which commands take order rows."""
    locked = {}
    for seq in sorted(set(seqs)):
        order = uow.orders.get(format_order_number(seq))
        if order is not None:
            locked[seq] = order
    return locked


def serve_queue(uow: UnitOfWork, queue: list[Order], skus: Iterable[str], actor: str,
                today: date) -> list[str]:
    """Give stock of these SKUs to the waiting orders locked by `lock_queue`, first placed
    first served; stop when none is left. Orders that started waiting after the queue was
    locked are not taken in now (that would lock an order row after stock rows): the next
    stock to arrive serves them. Returns the numbers of the orders that got something."""
    skus = set(skus)
    served = []
    for order in queue:
        if not uow.stock.free(skus):
            break
        if order.status in SERVED and _serve(order, skus, uow, actor, today):
            served.append(order.number)
    return served


def forced_to_wait(seen: Situation, skus: Iterable[str]) -> Situation:
    """An accepted order's lines wait rather than being refused, whatever the product or the
    channel would allow a new order: whether to cancel is an operator's decision."""
    terms = {sku: replace(seen.network.terms.get(sku, Terms()), backorderable=True)
             for sku in skus}
    return replace(seen, network=replace(seen.network, terms={**seen.network.terms, **terms}),
                   policy=replace(seen.policy, allow_backorder=True))


def rejections(uow: UnitOfWork, order: Order) -> dict[str, tuple[tuple[str, str], ...]]:
    """Per line, the locations that rejected it before: they are not asked again."""
    assert order.seq is not None
    found: dict[str, list[tuple[str, str]]] = {}
    for line_id, location in uow.allocations.rejected_for_order(order.seq):
        found.setdefault(line_id, []).append((location, "rejected this line before"))
    return {line_id: tuple(pairs) for line_id, pairs in found.items()}


def _serve(order: Order, skus: set[str], uow: UnitOfWork, actor: str, today: date) -> bool:
    """Source again the order's waits for these SKUs; False if none of it can be allocated."""
    assert order.seq is not None
    all_waits = uow.backorders.waiting_for_order(order.seq)
    waits = [w for w in all_waits if w["sku"] in skus]
    wanted: dict[str, int] = {}
    for w in waits:
        wanted[w["line_id"]] = wanted.get(w["line_id"], 0) + w["quantity"]
    avoid = rejections(uow, order)
    demand = [Demand(line.id, line.sku, wanted[line.id], avoid.get(line.id, ()))
              for line in order.lines if line.id in wanted]
    shipping = shipping_from(uow, order)
    seen = counting_own_shipments(forced_to_wait(situation(uow, skus, order.channel, today),
                                                 skus), shipping)
    result = source(order, demand, seen, today)
    if not result.allocations:
        return False  # nothing for this order yet: its waits and their promises stand
    uow.backorders.resolve([w["id"] for w in waits], "replace")
    others = frozenset(w["line_id"] for w in all_waits if w["sku"] not in skus)
    take_plan(result, seen, uow, today, shipping)
    apply_plan(order, result, seen, uow, actor, still_waiting=others)
    summary = plan_summary(order, result)
    if result.waits or others:
        order.note("order.backorder_partly_allocated", actor, **summary)
    elif order.status is OrderStatus.BACKORDERED:
        order.apply("allocate", actor, **summary)
    else:  # a paid (or allocated) order whose moved line waited: it is whole again
        order.note("order.backorder_allocated", actor, **summary)
    uow.orders.save(order)
    return True
