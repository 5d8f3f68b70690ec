"""Sourcing inside a transaction: read the network, plan, and apply the plan with conditional
updates in lock order. A stock row or a day's capacity taken by someone else since it was read
raises ConcurrentUpdate, and the bus runs the whole command again on fresh figures."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from ordermesh.domain.errors import ConcurrentUpdate
from ordermesh.domain.geo import Point
from ordermesh.domain.inventory import StockLevel, lock_rank
from ordermesh.domain.orders import LineStatus, Order
from ordermesh.domain.sourcing import (
    COUNTER_SALE,
    Allocation,
    Demand,
    Network,
    Plan,
    Policy,
    Request,
    Terms,
    channel_policy,
    plan,
)
from ordermesh.services.ports import SourcingReads, UnitOfWork


@dataclass(frozen=True)
class Situation:
    """The network as one channel sees it, read once per command."""

    network: Network
    policy: Policy
    supply_ids: dict[str, int]  # supply reference -> purchase-order line id
    levels: tuple[StockLevel, ...] = ()  # the figures read, before the channel's buffer
    buffer: int = 0  # units the channel holds back at every location


def situation(reads: SourcingReads, skus: Iterable[str], channel: str | None,
              today: date, with_levels: bool = False,
              terms: Mapping[str, Terms] | None = None,
              settings: Mapping[str, Any] | None = None,
              with_supply: bool = True) -> Situation:
    """What sourcing needs, as the channel sees it (no channel: every location, no buffer).
    `with_levels` also keeps the stock figures read, for answers that show them; `terms` are
    the products' terms, and `settings` the channel's row, when the caller has read them.
    Without `with_supply` the incoming supply is left unread (see `supply_added`)."""
    skus = set(skus)
    if settings is not None:
        policy, buffer = channel_policy(settings)
    else:
        policy, buffer = reads.sourcing.policy(channel) if channel else (Policy(), 0)
    levels: tuple[StockLevel, ...] = ()
    if with_levels:
        levels = tuple(reads.stock.levels(skus, active_only=True))
        available = {(lv.sku, lv.location): lv.available - buffer for lv in levels
                     if lv.available > buffer}
    else:
        available = reads.stock.free(skus, buffer)
    network = Network(tuple(reads.sourcing.sites(today)), available,
                      terms if terms is not None else reads.sourcing.terms(skus))
    seen = Situation(network, policy, {}, levels, buffer)
    return supply_added(reads, seen, skus, today) if with_supply else seen


def supply_added(reads: SourcingReads, seen: Situation, skus: Iterable[str],
                 today: date) -> Situation:
    """The situation with the incoming supply read too. Supply only decides what a line
    stock cannot fill waits for (the planner turns to it after every location's stock), so a
    plan made without it that took everything from stock is the plan it would make with it:
    a caller may plan without supply first and read it only when something is left over."""
    supplies, supply_ids = reads.sourcing.supply(set(skus), today)
    return replace(seen, network=replace(seen.network, supply=tuple(supplies)),
                   supply_ids=supply_ids)


def destination(order: Order) -> Point | None:
    address = order.shipping_address or {}
    if address.get("latitude") is None or address.get("longitude") is None:
        return None
    return Point(address["latitude"], address["longitude"])


def source(order: Order, demand: list[Demand], seen: Situation, today: date,
           at_counter: bool = False) -> Plan:
    """`at_counter`: a sale at the pickup store's till, from its own shelves or not at all."""
    request = Request(tuple(demand), today, order.currency, destination(order),
                      order.fulfilment.pickup_location, at_counter)
    return plan(request, seen.network, seen.policy)


def shipping_from(uow: UnitOfWork, order: Order) -> frozenset[str]:
    """Locations already sending part of the order: adding to a shipment takes no capacity."""
    assert order.seq is not None
    return frozenset(a["location_code"] for a in uow.allocations.active_for_order(order.seq))


def counting_own_shipments(seen: Situation, shipping: frozenset[str]) -> Situation:
    """The network as a re-sourced order sees it: a location already shipping part of it is
    not full for it, even at its capacity."""
    sites = tuple(replace(site, capacity_left=site.capacity_left + 1)
                  if site.code in shipping and site.capacity_left is not None else site
                  for site in seen.network.sites)
    return replace(seen, network=replace(seen.network, sites=sites))


def give_back_shipments(uow: UnitOfWork, released: list[dict[str, Any]], order: Order) -> None:
    """Locations that no longer send anything of the order get their day's capacity back (a
    hand-over at the counter took none)."""
    still = shipping_from(uow, order)
    days: dict[str, date] = {}
    for a in released:
        if (a.get("decision") or {}).get("rule") == COUNTER_SALE:
            continue
        day = a["created_at"].date()
        days[a["location_code"]] = min(day, days.get(a["location_code"], day))
    for location, day in sorted(days.items()):
        if location not in still:
            uow.sourcing.give_back_capacity(location, day)


def apply_plan(order: Order, result: Plan, seen: Situation, uow: UnitOfWork, actor: str,
               still_waiting: frozenset[str] = frozenset()) -> None:
    """Record the plan's allocations, their ledger lines and its waits, and set line
    statuses; the stock and capacity they stand for are taken by `take_plan`, which every
    caller runs in the same transaction. `still_waiting`: lines with quantities waiting from
    before, which stay backordered."""
    assert order.seq is not None
    in_order = _in_lock_order(result, seen)
    uow.allocations.add_all(order.seq, in_order)
    uow.stock.record_reservations([(a.sku, a.location, a.quantity) for a in in_order],
                                  order.number, actor)
    for wait in result.waits:
        uow.backorders.add(order.seq, wait, seen.supply_ids.get(wait.supply or ""))
    mark_lines(order, result, still_waiting)


def mark_lines(order: Order, result: Plan, still_waiting: frozenset[str] = frozenset()) -> None:
    """Each line's status by the plan: backordered while any of it waits, else reserved once
    it has an allocation. Marking a line twice changes nothing."""
    waiting = {w.line_id for w in result.waits} | still_waiting
    for line in order.lines:
        if line.id in waiting and line.status is not LineStatus.BACKORDERED:
            line.apply("backorder")
        elif line.id not in waiting and line.status is not LineStatus.RESERVED and (
                result.allocated(line.id)):
            line.apply("reserve")


def take_plan(result: Plan, seen: Situation, uow: UnitOfWork, today: date,
              shipping: frozenset[str] = frozenset()) -> None:
    """Reserve the plan's stock, each row only while it still has the units beyond the
    channel's buffer (planned on figures that may have changed since), and count its
    shipments against the locations' daily capacity; ConcurrentUpdate (the command runs
    again) if the stock or the capacity went meanwhile. Stock rows are taken in lock order,
    then capacity rows in code order, as every other writer does. These are the rows other
    orders wait for: a caller that can takes them as late in its transaction as it may."""
    for a in _in_lock_order(result, seen):
        if not uow.stock.try_reserve(a.sku, a.location, a.quantity, seen.buffer):
            raise ConcurrentUpdate(f"stock of {a.sku} at {a.location} changed while sourcing")
    limited = {site.code for site in seen.network.sites if site.capacity_left is not None}
    for code in sorted((result.shipments - shipping) & limited):
        if not uow.sourcing.take_capacity(code, today):
            raise ConcurrentUpdate(f"{code} reached its daily capacity while sourcing")


def _in_lock_order(result: Plan, seen: Situation) -> list[Allocation]:
    priorities = {site.code: site.priority for site in seen.network.sites}
    return sorted(result.allocations, key=lambda a: lock_rank(a.sku, a.location, priorities))


def plan_summary(order: Order, result: Plan) -> dict[str, Any]:
    """What the timeline shows of a plan: where each part comes from and why."""
    numbers = {line.id: line.line_no for line in order.lines}
    return {
        "allocations": [{
            "line_no": numbers[a.line_id], "sku": a.sku, "location": a.location,
            "quantity": a.quantity, "source": str(a.source), "promised_on": a.promised_on.isoformat(),
            "rule": a.decision.rule, "why": a.decision.explanation} for a in result.allocations],
        "waits": [{
            "line_no": numbers[w.line_id], "sku": w.sku, "quantity": w.quantity,
            "kind": str(w.kind), "promised_on": w.promised_on.isoformat() if w.promised_on else None,
            "why": w.decision.explanation} for w in result.waits],
    }
