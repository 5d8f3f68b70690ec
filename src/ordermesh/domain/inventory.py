"""Stock: what a location holds, where a line may be reserved, and how counts from a WMS or POS
are applied without letting a stale snapshot overwrite newer sales."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class StockLevel:
    sku: str
    location: str
    on_hand: int
    reserved: int
    safety_stock: int
    last_counted_at: datetime | None = None  # the newest count applied
    last_movement_at: datetime | None = None  # the newest movement (delta) applied

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved - self.safety_stock


def lock_rank(sku: str, location: str, priorities: Mapping[str, int]) -> tuple[str, int, str]:
    """The one order in which every transaction locks stock rows: by SKU, then the location's
    priority (highest first), then its code. PostgreSQL keeps a row locked even when a
    conditional update waited for it and then found too little stock, so reservation, stock
    feeds and releases must all walk rows in this order, or they deadlock."""
    return (sku, -priorities.get(location, 0), location)


class SyncMode(StrEnum):
    ABSOLUTE = "absolute"  # a count: on hand is now exactly this
    DELTA = "delta"  # a movement: on hand changed by this much


class SyncOutcome(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"  # this source reference was applied before
    STALE = "stale"  # older than the last count applied to this SKU at this location
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class StockUpdate:
    sku: str
    location: str
    mode: SyncMode
    quantity: int
    source_reference: str
    counted_at: datetime


@dataclass(frozen=True, slots=True)
class SyncDecision:
    outcome: SyncOutcome
    on_hand_delta: int = 0
    reason: str | None = None


# How far ahead of Ordermesh's clock a feed's clock may run; a row dated later is refused, or one
# row dated in the far future would make every later count stale.
CLOCK_SKEW = timedelta(minutes=5)


def decide_sync(update: StockUpdate, level: StockLevel, seen_before: bool,
                now: datetime | None = None) -> SyncDecision:
    """Decide what one row of a stock feed does to a stock level.

    A row older than the last applied count is stale for both modes: a count would overwrite
    movements that came after it, and a delta is already part of the newer count. A count older
    than the last applied movement is stale too: it would undo that movement (a sale).
    """
    if seen_before:
        return SyncDecision(SyncOutcome.DUPLICATE)
    if now is not None and update.counted_at > now + CLOCK_SKEW:
        return SyncDecision(SyncOutcome.REJECTED, reason="counted_at is in the future")
    if level.last_counted_at is not None and update.counted_at < level.last_counted_at:
        return SyncDecision(SyncOutcome.STALE, reason="older than the last applied count")
    if (update.mode is SyncMode.ABSOLUTE and level.last_movement_at is not None
            and update.counted_at < level.last_movement_at):
        return SyncDecision(SyncOutcome.STALE, reason="older than the last applied movement")
    if update.mode is SyncMode.ABSOLUTE:
        if update.quantity < 0:
            return SyncDecision(SyncOutcome.REJECTED, reason="a count cannot be negative")
        return SyncDecision(SyncOutcome.APPLIED, update.quantity - level.on_hand)
    if level.on_hand + update.quantity < 0:
        return SyncDecision(SyncOutcome.REJECTED, reason="on hand would fall below zero")
    return SyncDecision(SyncOutcome.APPLIED, update.quantity)


def sync_order(updates: Iterable[StockUpdate], priorities: Mapping[str, int]
               ) -> list[StockUpdate]:
    """Rows in the order they are applied: by stock row in lock order, then by time."""
    return sorted(updates, key=lambda u: (*lock_rank(u.sku, u.location, priorities), u.counted_at))
