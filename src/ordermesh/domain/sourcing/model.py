"""What sourcing works with and answers with.

`plan()` (planner.py) is pure: it takes the order's lines, where they go, the network's stock, incoming supply
and the channel's policy, and answers with allocations, waits (backorders and pre-orders) and
refusals. Every choice carries the decision that made it, so an operator can always answer
"why did this ship from Leeds?".

The order of rules:
1. eligibility (always): a location the channel cannot see, that cannot do the fulfilment type,
   that is at its daily capacity or that does not ship as far as the destination is excluded;
2. pickup store first (always, for click & collect): the store's own stock, then transfers from
   locations that ship, ready later by the sender's transfer days; a sale at the store's counter
   (`Request.at_counter`) takes the store's own shelves only, whatever its daily capacity (that
   is for picking remote orders), and what they lack is refused: never transferred or waited for;
3. the channel's preferences, in its order: fewest shipments, nearest, lowest cost, priority;
4. a line is split across locations only when no single location can fill it, and only when the
   channel allows splits; what is left waits for incoming supply (backorder or pre-order), or is
   refused when the product or the channel does not allow waiting.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from typing import Any, TypeVar

from ordermesh.domain.errors import InvalidInput, InvalidTransition
from ordermesh.domain.geo import Point, distance_km


class Preference(StrEnum):
    FEWEST_SHIPMENTS = "fewest_shipments"
    NEAREST = "nearest"
    LOWEST_COST = "lowest_cost"
    PRIORITY = "priority"


DEFAULT_PREFERENCES = (Preference.FEWEST_SHIPMENTS, Preference.NEAREST, Preference.PRIORITY)
DEFAULT_TRANSIT_DAYS = 2  # when a location has no rate table to say otherwise
COUNTER_SALE = "counter_sale"  # the rule of an allocation handed over at the till at once


def preferences(names: list[str] | tuple[str, ...]) -> tuple[Preference, ...]:
    """A channel's preference list, checked: known names, each once."""
    known = {p.value for p in Preference}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise InvalidInput(f"unknown sourcing rules: {', '.join(unknown)}; known: {sorted(known)}")
    if len(set(names)) != len(names):
        raise InvalidInput("each sourcing rule may appear once")
    return tuple(Preference(n) for n in names)


@dataclass(frozen=True, slots=True)
class Rate:
    """One band of a location's shipping rate table: up to `max_km` away, for `amount`."""

    max_km: int | None  # None: any distance
    amount: int
    currency: str
    days: int


@dataclass(frozen=True, slots=True)
class Site:
    """A location as sourcing sees it."""

    code: str
    point: Point
    can_ship: bool
    can_pickup: bool
    priority: int
    capacity_left: int | None = None  # shipments it can still take today; None: no limit
    transfer_days: int = 1
    rates: tuple[Rate, ...] = ()

    def rate(self, km: float | None, currency: str) -> Rate | None:
        """The cheapest band that covers the distance, in the order currency."""
        bands = [r for r in self.rates if r.currency == currency
                 and (km is None or r.max_km is None or km <= r.max_km)]
        return min(bands, key=lambda r: (r.amount, r.days), default=None)

    def ships_that_far(self, km: float | None) -> bool:
        return km is None or not self.rates or any(r.max_km is None or km <= r.max_km
                                                   for r in self.rates)


@dataclass(frozen=True, slots=True)
class Terms:
    """What a product allows when stock is short."""

    backorderable: bool = False
    preorder: bool = False
    release_on: date | None = None  # a pre-order ships from this date
    lead_time_days: int | None = None  # the supplier's: a backorder's date without supply


@dataclass(frozen=True, slots=True)
class Supply:
    """Incoming stock not yet promised to anyone: an open purchase-order line."""

    sku: str
    quantity: int
    arrives_on: date
    reference: str


@dataclass(frozen=True, slots=True)
class Demand:
    line_id: str
    sku: str
    quantity: int
    avoid: tuple[tuple[str, str], ...] = ()  # (location, reason): e.g. it rejected this line

    def avoids(self, location: str) -> bool:
        return any(code == location for code, _ in self.avoid)


@dataclass(frozen=True, slots=True)
class Request:
    lines: tuple[Demand, ...]
    today: date
    currency: str
    destination: Point | None = None
    pickup_at: str | None = None  # click & collect at this store
    at_counter: bool = False  # sold at the pickup store's till: its own shelves or nothing

    def __post_init__(self) -> None:
        if self.at_counter and self.pickup_at is None:
            raise InvalidInput("a sale at the counter is handed over at a store: name it")


@dataclass(frozen=True, slots=True)
class Policy:
    """A channel's sourcing settings."""

    preferences: tuple[Preference, ...] = DEFAULT_PREFERENCES
    visible: frozenset[str] | None = None  # locations the channel may use; None: all
    allow_split: bool = True
    allow_backorder: bool = True


def channel_policy(channel: Mapping[str, Any]) -> tuple[Policy, int]:
    """A channel's sourcing policy, from its settings, and the units it holds back at every
    location (its safety buffer)."""
    visible = channel["visible_locations"]
    return Policy(preferences(channel["sourcing_rules"]),
                  frozenset(visible) if visible is not None else None,
                  channel["allow_split"], channel["allow_backorder"]), channel["safety_buffer"]


@dataclass(frozen=True, slots=True)
class Network:
    sites: tuple[Site, ...]
    available: Mapping[tuple[str, str], int]  # (sku, location) -> units free to promise
    terms: Mapping[str, Terms] = field(default_factory=dict)
    supply: tuple[Supply, ...] = ()


@dataclass(frozen=True, slots=True)
class Candidate:
    location: str
    distance_km: float | None
    cost: int | None
    priority: int
    fills: int  # lines it can fill whole


@dataclass(frozen=True, slots=True)
class Decision:
    """Why a location was chosen: the rule that decided, what was considered and excluded."""

    rule: str
    explanation: str
    considered: tuple[Candidate, ...] = ()
    excluded: tuple[tuple[str, str], ...] = ()  # (location, reason)


class AllocationStatus(StrEnum):
    ACTIVE = "active"
    RELEASED = "released"  # given back: the order was cancelled
    MOVED = "moved"  # a stock count fell below it; sourced again elsewhere
    REJECTED = "rejected"  # its location cannot fulfil it; never asked for the line again
    DISPATCHED = "dispatched"  # its units left the location


A = AllocationStatus
ALLOCATION_TRANSITIONS: dict[AllocationStatus, dict[str, AllocationStatus]] = {
    A.ACTIVE: {"release": A.RELEASED, "move": A.MOVED, "reject": A.REJECTED,
               "dispatch": A.DISPATCHED},
    A.RELEASED: {}, A.MOVED: {}, A.REJECTED: {}, A.DISPATCHED: {},
}


class WaitStatus(StrEnum):
    WAITING = "waiting"
    REPLACED = "replaced"  # sourced again: allocated, or waiting under a new promise
    CANCELLED = "cancelled"  # its order was cancelled


W = WaitStatus
WAIT_TRANSITIONS: dict[WaitStatus, dict[str, WaitStatus]] = {
    W.WAITING: {"replace": W.REPLACED, "cancel": W.CANCELLED},
    W.REPLACED: {}, W.CANCELLED: {},
}


Status = TypeVar("Status", AllocationStatus, WaitStatus)


def ends_as(transitions: dict[Status, dict[str, Status]], current: Status, action: str) -> Status:
    """The status an action leads to, checked against the table."""
    allowed = transitions[current]
    if action not in allowed:
        raise InvalidTransition(f"cannot {action} what is {current}",
                                current_status=str(current), action=action)
    return allowed[action]


class Source(StrEnum):
    STOCK = "stock"  # from the location's own stock
    TRANSFER = "transfer"  # moved to the pickup store first


class WaitKind(StrEnum):
    BACKORDER = "backorder"
    PREORDER = "preorder"


@dataclass(frozen=True, slots=True)
class Allocation:
    line_id: str
    sku: str
    location: str
    quantity: int
    source: Source
    ready_on: date  # leaves the location, or can be collected
    promised_on: date  # reaches the customer (ship) or can be collected (pickup)
    decision: Decision


@dataclass(frozen=True, slots=True)
class Wait:
    line_id: str
    sku: str
    quantity: int
    kind: WaitKind
    promised_on: date | None  # None: no supply in sight and no lead time known
    supply: str | None
    decision: Decision


@dataclass(frozen=True, slots=True)
class Refusal:
    line_id: str
    sku: str
    quantity: int
    reason: str


@dataclass(frozen=True, slots=True)
class Plan:
    allocations: tuple[Allocation, ...]
    waits: tuple[Wait, ...]
    refusals: tuple[Refusal, ...]

    @property
    def shipments(self) -> frozenset[str]:
        """The locations that send something: a hand-over at the counter sends nothing, so it
        takes none of a location's daily capacity."""
        return frozenset(a.location for a in self.allocations
                         if a.decision.rule != COUNTER_SALE)

    def allocated(self, line_id: str) -> int:
        return sum(a.quantity for a in self.allocations if a.line_id == line_id)

    def waiting(self, line_id: str) -> int:
        return sum(w.quantity for w in self.waits if w.line_id == line_id)


def after(day: date, days: int) -> date:
    """`days` after `day`; a promise past the end of the calendar is its last day."""
    return day + timedelta(days=days) if (date.max - day).days >= days else date.max


def distance_to(site: Site, destination: Point | None) -> float | None:
    return None if destination is None else distance_km(site.point, destination)
