"""Cart holds: reserve a cart's stock for a few minutes, give it back, let it expire, or turn it
into an order.

Every path takes the hold row first (locked), then stock rows in lock order, so holds,
orders, feeds and the expiry worker never wait on each other in a circle."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ordermesh.domain.errors import (
    ConcurrentUpdate,
    IdempotencyKeyReused,
    InsufficientStock,
    InvalidInput,
    NotFound,
)
from ordermesh.domain.events import utcnow
from ordermesh.domain.holds import CartHold, HoldLine, hold_expiry
from ordermesh.domain.inventory import lock_rank
from ordermesh.domain.orders import Order
from ordermesh.domain.sourcing import Demand, Plan, Request, plan
from ordermesh.services import commands as c
from ordermesh.services.handlers.sourcing import Situation, situation
from ordermesh.services.handlers.waiting import lock_queue, serve_queue
from ordermesh.services.ports import UnitOfWork


@dataclass(frozen=True)
class HeldCart:
    hold_id: str
    replayed: bool = False


def hold_cart(cmd: c.HoldCart, uow: UnitOfWork) -> HeldCart:
    with uow:
        if cmd.idempotency_key and (
                seen := uow.holds.find_by_key(cmd.channel, cmd.idempotency_key)):
            return _replay(seen, cmd.request_hash)
        channel = uow.access.channel(cmd.channel)
        if channel is None:
            raise NotFound(f"channel {cmd.channel!r} does not exist")
        now = utcnow()
        expires_at = hold_expiry(now, channel["cart_hold_minutes"])  # refused before any work
        result, sourced = _plan(cmd, uow, channel)
        short = sorted({w.sku for w in result.waits} | {r.sku for r in result.refusals})
        if short:  # a hold is stock in hand: a backorder or pre-order cannot be held
            raise InsufficientStock(f"not enough stock now for {', '.join(short)}", skus=short)
        hold = CartHold.place(str(uuid.uuid4()), cmd.channel, _parts(result), now, expires_at,
                              cmd.actor)
        uow.holds.add(hold, cmd.idempotency_key, cmd.request_hash or None)
        _reserve(hold, uow, cmd.actor, buffer=sourced.buffer)  # the buffer it was planned with
        uow.commit()
    return HeldCart(hold.id)


def _replay(seen: tuple[str, str | None], request_hash: str) -> HeldCart:
    hold_id, stored_hash = seen
    if stored_hash != (request_hash or None):
        raise IdempotencyKeyReused("this Idempotency-Key was used for a different request")
    return HeldCart(hold_id, replayed=True)


def _plan(cmd: c.HoldCart, uow: UnitOfWork, channel: Mapping[str, Any]
          ) -> tuple[Plan, Situation]:
    """Source the cart by the channel's rules (its row, read once), exactly as an order would
    be sourced now; and what it was sourced on."""
    skus = {sku for sku, _ in cmd.lines}
    products = uow.catalogue.products(skus)
    unknown = sorted(sku for sku in skus if not products.get(sku, {}).get("active"))
    if unknown:
        raise InvalidInput(f"unknown or inactive SKUs: {', '.join(unknown)}", skus=unknown)
    if cmd.pickup_location is not None:
        loc = uow.catalogue.location(cmd.pickup_location)
        if loc is None or not loc["active"] or not loc["can_pickup"]:
            raise InvalidInput(f"{cmd.pickup_location!r} is not a pickup location")
    today = utcnow().date()
    seen = situation(uow, skus, cmd.channel, today, settings=channel)
    demand = tuple(Demand(str(n), sku, quantity) for n, (sku, quantity) in enumerate(cmd.lines, 1))
    currency = cmd.currency or products[cmd.lines[0][0]]["currency"]
    return plan(Request(demand, today, currency, cmd.destination, cmd.pickup_location),
                seen.network, seen.policy), seen


def _parts(result: Plan) -> tuple[HoldLine, ...]:
    """One hold line per stock row: two cart lines of one SKU from one place are one part."""
    held: dict[tuple[str, str], int] = {}
    for a in result.allocations:
        held[a.sku, a.location] = held.get((a.sku, a.location), 0) + a.quantity
    return tuple(HoldLine(sku, location, quantity) for (sku, location), quantity in held.items())


def _reserve(hold: CartHold, uow: UnitOfWork, actor: str, buffer: int = 0) -> None:
    """Reserve the hold's parts, the channel's `buffer` left over at each row."""
    priorities = uow.catalogue.location_priorities()
    for ln in sorted(hold.lines, key=lambda ln: lock_rank(ln.sku, ln.location, priorities)):
        if not uow.stock.try_reserve(ln.sku, ln.location, ln.quantity, buffer):
            raise ConcurrentUpdate(f"stock of {ln.sku} at {ln.location} changed while holding")
        uow.stock.record_movement(ln.sku, ln.location, reserved_delta=ln.quantity,
                                  reason="cart_hold", reference=hold.id, actor=actor)


def _give_back(holds: Iterable[CartHold], uow: UnitOfWork, actor: str, reason: str,
               priorities: Mapping[str, int] | None = None) -> None:
    """Release the units of the holds, every stock row in lock order across all of them."""
    priorities = priorities if priorities is not None else uow.catalogue.location_priorities()
    parts = [(hold.id, ln) for hold in holds for ln in hold.lines]
    for hold_id, ln in sorted(parts, key=lambda p: lock_rank(p[1].sku, p[1].location,
                                                            priorities)):
        uow.stock.release(ln.sku, ln.location, ln.quantity)
        uow.stock.record_movement(ln.sku, ln.location, reserved_delta=-ln.quantity,
                                  reason=reason, reference=hold_id, actor=actor)


def _own(uow: UnitOfWork, hold_id: str, channel: str | None) -> CartHold:
    """The hold, locked; another channel's hold is not found, exactly like a missing one."""
    hold = uow.holds.get(hold_id)
    if hold is None or (channel is not None and hold.channel != channel):
        raise NotFound(f"cart hold {hold_id!r} not found")
    return hold


def release_cart_hold(cmd: c.ReleaseCartHold, uow: UnitOfWork) -> str:
    with uow:
        hold = _own(uow, cmd.hold_id, cmd.channel)
        skus = {ln.sku for ln in hold.lines}
        queue = lock_queue(uow, skus)  # the units given back go to waiting orders first
        release_hold(hold, uow, cmd.actor)
        serve_queue(uow, queue, skus, cmd.actor, utcnow().date())
        uow.commit()
    return hold.id


def release_hold(hold: CartHold, uow: UnitOfWork, actor: str, reason: str | None = None) -> None:
    """End an active hold and give its units back."""
    hold.apply("release", actor, utcnow(), reason=reason)
    _give_back([hold], uow, actor, "cart_hold_released")
    uow.holds.save(hold)


def expire_cart_holds(cmd: c.ExpireCartHolds, uow: UnitOfWork) -> int:
    """Expire one batch of due holds in one transaction; returns how many. The worker repeats
    the command while batches come back full, so a backlog never becomes one long lock."""
    if cmd.limit < 1:
        raise InvalidInput("limit must be at least 1")
    now = cmd.now or utcnow()
    with uow:
        holds = uow.holds.due(now, cmd.limit)
        skus = {ln.sku for hold in holds for ln in hold.lines}
        queue = lock_queue(uow, skus)  # the units given back go to waiting orders first
        for hold in holds:
            hold.apply("expire", cmd.actor, now)
        _give_back(holds, uow, cmd.actor, "cart_hold_expired")
        for hold in holds:
            uow.holds.save(hold)
        serve_queue(uow, queue, skus, cmd.actor, now.date())
        uow.commit()
    return len(holds)


def convert_hold(uow: UnitOfWork, hold_id: str, order: Order, actor: str) -> CartHold:
    """Within PlaceOrder: end the hold as converted into `order` and give its units back, so
    the order is then sourced as usual with them available. The caller saves the hold once the
    order row exists (the hold refers to it).

    The order may be sourced from rows ranked before the ones released here, so every stock
    row of the hold's and the order's SKUs is locked first, in lock order: the release and the
    reservation that follow then wait for no one, and no cycle of waits can form."""
    hold = _own(uow, hold_id, order.channel)
    hold.apply("convert", actor, utcnow(), order_id=order.id)
    priorities = uow.catalogue.location_priorities()
    skus = {ln.sku for ln in hold.lines} | {ln.sku for ln in order.lines}
    uow.stock.lock_levels(skus)
    _give_back([hold], uow, actor, "cart_hold_converted", priorities)
    return hold
