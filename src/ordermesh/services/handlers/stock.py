"""Stock levels: manual adjustments and the bulk feed from a WMS or POS."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from ordermesh.domain.errors import InvalidInput, NotFound
from ordermesh.domain.events import utcnow
from ordermesh.domain.inventory import (
    StockLevel,
    StockUpdate,
    SyncMode,
    SyncOutcome,
    decide_sync,
    sync_order,
)
from ordermesh.domain.orders import Order
from ordermesh.domain.replenishment import check_reorder_settings
from ordermesh.services import commands as c
from ordermesh.services.handlers.resourcing import Foreseen, foresee, resource_shortfalls
from ordermesh.services.handlers.waiting import lock_queue, serve_queue
from ordermesh.services.ports import LevelChange, Movement, SyncSeen, UnitOfWork


def _level(uow: UnitOfWork, sku: str, location: str, checked: bool = False) -> StockLevel:
    """The stock row, locked for this transaction; created empty the first time it is needed.
    `checked` says the caller already knows the product and the location exist."""
    level = uow.stock.level_for_update(sku, location)
    if level is not None:
        return level
    if not checked and uow.catalogue.product(sku) is None:
        raise NotFound(f"product {sku!r} does not exist")
    if not checked and uow.catalogue.location(location) is None:
        raise NotFound(f"location {location!r} does not exist")
    return uow.stock.create_level(sku, location)


def adjust_stock_level(cmd: c.AdjustStockLevel, uow: UnitOfWork) -> int:
    """Returns on hand as the adjustment left it: for a change, the figure it was added to is
    known only under the row's lock."""
    _check_adjustment(cmd)
    with uow:
        now = {lv.location: lv for lv in uow.stock.levels([cmd.sku])}.get(cmd.location)
        falls = ([(cmd.sku, cmd.location)]
                 if now is not None and _on_hand_after(cmd, now) < now.reserved else [])
        foreseen = foresee(uow, falls)
        queue = lock_queue(uow, {cmd.sku}, *foreseen.orders)
        level = _level(uow, cmd.sku, cmd.location)
        if cmd.safety_stock is not None:
            uow.stock.set_safety_stock(cmd.sku, cmd.location, cmd.safety_stock)
        if cmd.reorder_point is not None and cmd.reorder_quantity is not None:
            uow.stock.set_reorder_point(cmd.sku, cmd.location, cmd.reorder_point,
                                        cmd.reorder_quantity)
        delta = _change_on_hand(cmd, level, uow)
        freed = cmd.safety_stock is not None and cmd.safety_stock < level.safety_stock
        _follow_up(uow, cmd.actor, queue, foreseen, [(cmd.sku, cmd.location, delta)], freed)
        uow.commit()
    return level.on_hand + delta


def _check_adjustment(cmd: c.AdjustStockLevel) -> None:
    given = (cmd.on_hand, cmd.on_hand_delta, cmd.safety_stock, cmd.reorder_point,
             cmd.reorder_quantity)
    if all(value is None for value in given):
        raise InvalidInput("give on_hand or on_hand_delta, safety_stock, reorder_point with "
                           "reorder_quantity, or any of them together")
    if cmd.on_hand is not None and cmd.on_hand_delta is not None:
        raise InvalidInput("give on_hand (a count) or on_hand_delta (a change), not both")
    if cmd.on_hand is not None and cmd.on_hand < 0:
        raise InvalidInput("a count cannot be negative")
    check_reorder_settings(cmd.reorder_point, cmd.reorder_quantity)


def _on_hand_after(cmd: c.AdjustStockLevel, level: StockLevel) -> int:
    """On hand after the adjustment, from this reading of the stock row."""
    if cmd.on_hand_delta is not None:
        return level.on_hand + cmd.on_hand_delta
    return level.on_hand if cmd.on_hand is None else cmd.on_hand


def _change_on_hand(cmd: c.AdjustStockLevel, level: StockLevel, uow: UnitOfWork) -> int:
    """Apply a count or a change to the locked row; returns the change. A change moves the
    row's movement mark, as a feed's delta does, so a feed's count taken before it is stale
    and cannot undo it."""
    after = _on_hand_after(cmd, level)
    if after < 0:
        raise InvalidInput(f"on hand of {cmd.sku} at {cmd.location} cannot go below 0 "
                           f"(it is {level.on_hand})", on_hand=level.on_hand)
    delta = after - level.on_hand
    if delta:
        moved = cmd.on_hand_delta is not None
        uow.stock.change_on_hand(cmd.sku, cmd.location, delta,
                                 counted_at=None if moved else utcnow(),
                                 moved_at=utcnow() if moved else None)
        uow.stock.record_movement(cmd.sku, cmd.location, on_hand_delta=delta,
                                  reason="adjustment", reference=cmd.reference,
                                  actor=cmd.actor)
    return delta


def _may_fall(uow: UnitOfWork, updates: Collection[StockUpdate],
              skus: Collection[str]) -> list[tuple[str, str]]:
    """Stock rows these updates may take below what is reserved, judged on an unlocked read."""
    now = {(lv.sku, lv.location): lv for lv in uow.stock.levels(skus)}
    falls = []
    for u in updates:
        lv = now.get((u.sku, u.location))
        after = None if lv is None else (u.quantity if u.mode == "absolute" else lv.on_hand + u.quantity)
        if lv is not None and after is not None and after < lv.reserved:
            falls.append((u.sku, u.location))
    return falls


def _follow_up(uow: UnitOfWork, actor: str, queue: list[Order], foreseen: Foreseen,
               changes: list[tuple[str, str, int]], freed: bool = False) -> None:
    """After on-hand changes: allocations beyond a fallen count move elsewhere, then stock
    that came in (or was freed from safety stock) goes to waiting lines."""
    today = utcnow().date()
    fallen = [(sku, location) for sku, location, delta in changes if delta < 0]
    if fallen:
        resource_shortfalls(uow, fallen, actor, today, foreseen)
    grown = {sku for sku, _, delta in changes if delta > 0 or freed}
    if grown:
        serve_queue(uow, queue, grown, actor, today)


@dataclass(frozen=True)
class SyncResult:
    source_reference: str
    outcome: SyncOutcome
    on_hand_delta: int = 0
    reason: str | None = None


def sync_stock(cmd: c.SyncStock, uow: UnitOfWork) -> list[SyncResult]:
    """Apply a batch of counts and deltas in one transaction; each row reports what it did.
    The rows are read and written set-wise: one read of the stock rows and one of the source
    references seen before, then one statement per kind of write for the whole batch."""
    refs = [u.source_reference for u in cmd.updates]
    if len(set(refs)) != len(refs):
        raise InvalidInput("each row of a stock sync needs its own source_reference")
    with uow:
        results = _sync_batch(uow, cmd.actor, cmd.updates)
        uow.commit()
    return [results[ref] for ref in refs]


def _sync_batch(uow: UnitOfWork, actor: str, updates: Collection[StockUpdate]
                ) -> dict[str, SyncResult]:
    results: dict[str, SyncResult] = {}
    known_skus = uow.stock_sync.products({u.sku for u in updates})
    # holds, then orders in placement order, then stock rows, as every command locks
    foreseen = foresee(uow, _may_fall(uow, updates, known_skus))
    queue = lock_queue(uow, known_skus, *foreseen.orders)
    known_locations = uow.catalogue.location_priorities()
    valid = []
    for update in updates:
        if update.sku not in known_skus:
            results[update.source_reference] = SyncResult(
                update.source_reference, SyncOutcome.REJECTED, reason="unknown sku")
        elif update.location not in known_locations:
            results[update.source_reference] = SyncResult(
                update.source_reference, SyncOutcome.REJECTED, reason="unknown location")
        else:
            valid.append(update)
    ordered = sync_order(valid, known_locations)
    now = utcnow()
    levels = uow.stock_sync.levels({(u.sku, u.location) for u in valid})
    missing = list(dict.fromkeys((u.sku, u.location) for u in ordered
                                 if (u.sku, u.location) not in levels))
    uow.stock_sync.create_levels(missing, now)
    levels.update({key: StockLevel(*key, on_hand=0, reserved=0, safety_stock=0) for key in missing})
    seen_before = uow.stock_sync.seen([u.source_reference for u in valid])
    remembered: list[SyncSeen] = []
    movements: list[Movement] = []
    changed: dict[tuple[str, str], int] = {}  # the net change of on hand
    for update in ordered:
        key = (update.sku, update.location)
        ref = update.source_reference
        decision = decide_sync(update, levels[key], ref in seen_before, now=now)
        results[ref] = SyncResult(ref, decision.outcome, decision.on_hand_delta, decision.reason)
        if decision.outcome is SyncOutcome.DUPLICATE:
            continue
        remembered.append(SyncSeen(ref, update.sku, update.location, str(decision.outcome)))
        if decision.outcome is not SyncOutcome.APPLIED:
            continue
        levels[key] = _after(levels[key], decision.on_hand_delta, update)
        changed[key] = changed.get(key, 0) + decision.on_hand_delta
        if decision.on_hand_delta:  # the ledger holds changes; sync refs hold every count
            movements.append(Movement(*key, decision.on_hand_delta, f"sync_{update.mode}", ref))
    uow.stock_sync.remember(remembered, now)
    uow.stock_sync.change_levels([
        LevelChange(*key, delta, levels[key].last_counted_at, levels[key].last_movement_at)
        for key, delta in changed.items()], now)
    uow.stock_sync.record_movements(movements, actor, now)
    by_ref = {u.source_reference: u for u in updates}
    _follow_up(uow, actor, queue, foreseen, [(by_ref[r.source_reference].sku,
                                 by_ref[r.source_reference].location, r.on_hand_delta)
                                for r in results.values() if r.on_hand_delta])
    return results


def _newest(mark: datetime | None, moment: datetime | None) -> datetime | None:
    if mark is None or moment is None:
        return mark or moment
    return max(mark, moment)


def _after(level: StockLevel, delta: int, update: StockUpdate) -> StockLevel:
    """The stock row as the next row of the batch sees it, once a row was applied: a count
    or a movement moves its time mark forward, never back."""
    counted, moved = level.last_counted_at, level.last_movement_at
    if update.mode is SyncMode.ABSOLUTE:
        counted = _newest(counted, update.counted_at)
    else:
        moved = _newest(moved, update.counted_at)
    return StockLevel(level.sku, level.location, level.on_hand + delta, level.reserved,
                      level.safety_stock, counted, moved)
