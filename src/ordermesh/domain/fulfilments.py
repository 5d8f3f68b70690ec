"""Fulfilments: the part of an order one location sends (or hands over), and the one table that
says how it may move, from the pick to the customer's door or the store's counter.

A fulfilment is shipped (`ship`) or collected (`pickup`); each method allows its own actions.
Carrier tracking moves a shipped fulfilment along; tracking events arrive late, twice or out of
order, so each is applied only if it is newer (by the carrier's own timestamp) than the last one
applied and the table allows it; anything else is kept as seen and changes nothing.

The order's fulfilment status is computed from its fulfilments (and the units still waiting for
stock), never assigned.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from ordermesh.domain.errors import InvalidInput, InvalidTransition
from ordermesh.domain.events import Event
from ordermesh.domain.state_machines import mermaid


class FulfilmentStatus(StrEnum):
    PENDING = "pending"
    PICKING = "picking"
    PACKED = "packed"
    DISPATCHED = "dispatched"
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERED = "delivered"
    EXCEPTION = "exception"
    RETURNED_TO_SENDER = "returned_to_sender"
    READY_FOR_PICKUP = "ready_for_pickup"
    COLLECTED = "collected"
    RETURNED_TO_STOCK = "returned_to_stock"  # not collected in time: back on the shelf
    CANCELLED = "cancelled"


F = FulfilmentStatus
TRANSITIONS: dict[FulfilmentStatus, dict[str, FulfilmentStatus]] = {
    # a store accepts what it was given (it stays pending), or rejects it: sourced elsewhere
    F.PENDING: {"accept": F.PENDING, "start_picking": F.PICKING, "reject": F.CANCELLED,
                "cancel": F.CANCELLED},
    # a short pick leaves it picking with fewer units; nothing found at all cancels it. A
    # pickup needs no box: it may go to the counter straight from the pick (a sale at the till
    # always does: an article no package type holds is still handed over)
    F.PICKING: {"short_pick": F.PICKING, "pack": F.PACKED, "make_ready": F.READY_FOR_PICKUP,
                "cancel": F.CANCELLED},
    F.PACKED: {"dispatch": F.DISPATCHED, "make_ready": F.READY_FOR_PICKUP,
               "cancel": F.CANCELLED},
    F.DISPATCHED: {"in_transit": F.IN_TRANSIT, "out_for_delivery": F.OUT_FOR_DELIVERY,
                   "deliver": F.DELIVERED, "exception": F.EXCEPTION},
    F.IN_TRANSIT: {"out_for_delivery": F.OUT_FOR_DELIVERY, "deliver": F.DELIVERED,
                   "exception": F.EXCEPTION, "return_to_sender": F.RETURNED_TO_SENDER},
    F.OUT_FOR_DELIVERY: {"in_transit": F.IN_TRANSIT, "deliver": F.DELIVERED,
                         "exception": F.EXCEPTION, "return_to_sender": F.RETURNED_TO_SENDER},
    F.EXCEPTION: {"in_transit": F.IN_TRANSIT, "out_for_delivery": F.OUT_FOR_DELIVERY,
                  "deliver": F.DELIVERED, "return_to_sender": F.RETURNED_TO_SENDER},
    F.READY_FOR_PICKUP: {"collect": F.COLLECTED, "return_to_stock": F.RETURNED_TO_STOCK},
    F.DELIVERED: {}, F.RETURNED_TO_SENDER: {}, F.COLLECTED: {}, F.RETURNED_TO_STOCK: {},
    F.CANCELLED: {},
}

SHIPPING_ONLY = frozenset({"dispatch", "in_transit", "out_for_delivery", "deliver", "exception",
                           "return_to_sender"})
PICKUP_ONLY = frozenset({"make_ready", "collect", "return_to_stock"})
METHOD_ACTIONS: dict[str, frozenset[str]] = {
    "ship": frozenset(a for moves in TRANSITIONS.values() for a in moves) - PICKUP_ONLY,
    "pickup": frozenset(a for moves in TRANSITIONS.values() for a in moves) - SHIPPING_ONLY,
}

# The event each action records (wire names, past tense).
ACTION_EVENTS: dict[str, str] = {
    "accept": "fulfilment.accepted", "reject": "fulfilment.rejected",
    "short_pick": "fulfilment.short_picked",
    "start_picking": "fulfilment.picking_started", "pack": "fulfilment.packed",
    "dispatch": "fulfilment.dispatched", "in_transit": "fulfilment.in_transit",
    "out_for_delivery": "fulfilment.out_for_delivery", "deliver": "fulfilment.delivered",
    "exception": "fulfilment.exception", "return_to_sender": "fulfilment.returned_to_sender",
    "make_ready": "fulfilment.ready_for_pickup", "collect": "fulfilment.collected",
    "return_to_stock": "fulfilment.returned_to_stock", "cancel": "fulfilment.cancelled",
}

# Normalised carrier tracking events, and the action each one takes.
TRACKING_ACTIONS: dict[str, str] = {
    "in_transit": "in_transit", "out_for_delivery": "out_for_delivery",
    "delivered": "deliver", "exception": "exception",
    "returned_to_sender": "return_to_sender",
}


@dataclass(frozen=True, slots=True)
class FulfilmentLine:
    order_line_id: str
    sku: str
    quantity: int

    def __post_init__(self) -> None:
        if type(self.quantity) is not int or self.quantity < 1:
            raise InvalidInput(f"{self.sku}: a fulfilment line holds at least one unit")


@dataclass(slots=True)
class Fulfilment:
    id: str
    order_id: str
    location: str
    method: str  # ship | pickup
    lines: tuple[FulfilmentLine, ...]
    status: FulfilmentStatus = FulfilmentStatus.PENDING
    tracked_at: datetime | None = None  # the carrier's time of the last tracking event applied
    version: int = 0
    events: list[Event] = field(default_factory=list)
    pickup_code: str | None = None  # asked at the counter (pickup fulfilments)
    ready_at: datetime | None = None  # at the counter since
    accepted_at: datetime | None = None  # a store took it on

    def __post_init__(self) -> None:
        if self.method not in METHOD_ACTIONS:
            raise InvalidInput(f"a fulfilment is shipped or picked up, not {self.method!r}")
        if not self.lines:
            raise InvalidInput("a fulfilment has at least one line")

    def allowed(self) -> list[str]:
        return sorted(a for a in TRANSITIONS[self.status] if a in METHOD_ACTIONS[self.method])

    def apply(self, action: str, actor: str, **data: Any) -> None:
        """The one way a fulfilment moves: checked against TRANSITIONS and its method."""
        moves = TRANSITIONS[self.status]
        if action not in moves or action not in METHOD_ACTIONS[self.method]:
            raise InvalidTransition(
                f"cannot {action} a {self.method} fulfilment that is {self.status}",
                current_status=str(self.status), action=action, allowed=self.allowed())
        previous, self.status = self.status, moves[action]
        self.events.append(Event(ACTION_EVENTS[action], "fulfilment", self.id, actor,
                                 {"order_id": self.order_id, "from": str(previous),
                                  "to": str(self.status), **data}))

    def note(self, event_type: str, actor: str, **data: Any) -> None:
        """Record something that happened to the fulfilment without moving it."""
        self.events.append(Event(event_type, "fulfilment", self.id, actor,
                                 {"order_id": self.order_id, **data}))

    def short_pick(self, found: Mapping[str, int], actor: str) -> dict[str, int]:
        """Fewer units were found than reserved: `found` gives, per order line id, the units
        found of each line named. The lines shrink to what was found (a line with none found
        leaves); answers the missing units per order line id. Nothing found at all cancels
        the fulfilment."""
        missing: dict[str, int] = {}
        for line_id, units in found.items():
            line = next((ln for ln in self.lines if ln.order_line_id == line_id), None)
            if line is None:
                raise InvalidInput(f"the fulfilment has no line {line_id!r}")
            if type(units) is not int or not 0 <= units < line.quantity:
                raise InvalidInput(f"{line.sku}: a short pick finds 0 to {line.quantity - 1} "
                                   f"units, not {units!r}", sku=line.sku)
            missing[line_id] = line.quantity - units
        kept = tuple(FulfilmentLine(ln.order_line_id, ln.sku, found.get(ln.order_line_id,
                                                                           ln.quantity))
                     for ln in self.lines if found.get(ln.order_line_id, ln.quantity) > 0)
        short = [{"sku": ln.sku, "reserved": ln.quantity, "found": found[ln.order_line_id]}
                 for ln in self.lines if ln.order_line_id in found]
        if not short:
            raise InvalidInput("a short pick names at least one line")
        self.apply("short_pick" if kept else "cancel", actor, lines=short,
                   **({} if kept else {"reason": "nothing found at the pick"}))
        if kept:
            self.lines = kept
        return missing

    def collect(self, code: str, actor: str) -> None:
        """Handed over at the counter to whoever shows the pickup code."""
        self.check_code(code)
        self.apply("collect", actor)

    def check_code(self, code: str) -> None:
        if self.pickup_code is None or not hmac.compare_digest(code, self.pickup_code):
            raise InvalidInput("the pickup code does not match", field="pickup_code")

    def follow(self, parcels: Sequence[ParcelState], actor: str, **data: Any) -> bool:
        """Move a shipped fulfilment to where its parcels are, as a whole (parcel_summary).
        Each parcel already keeps only its newest event, and the summary depends only on the
        parcels' states, so events arriving in any order end in the same place. Answers
        whether it moved."""
        event = parcel_summary(parcels)
        if event is None or self.method != "ship" or self.status is EVENT_STATUS[event]:
            return False
        latest = max(p.at for p in parcels if p.at is not None)
        action = TRACKING_ACTIONS[event]
        if action not in TRANSITIONS[self.status]:
            self.events.append(Event(
                "fulfilment.tracking_ignored", "fulfilment", self.id, actor,
                {"order_id": self.order_id, "event": event, "carrier_time": latest.isoformat(),
                 "status": str(self.status), "reason": "not a move from here", **data}))
            return False
        self.tracked_at = latest if self.tracked_at is None else max(self.tracked_at, latest)
        self.apply(action, actor, carrier_time=latest.isoformat(), **data)
        return True

    def track(self, event: str, at: datetime, actor: str, **data: Any) -> bool:
        """A carrier's tracking event, at the carrier's time `at`: applied when it is newer
        than the last one applied and the table allows it from here. A repeat, a late arrival
        or a move the table does not allow is kept as seen and changes nothing. Answers
        whether it moved the fulfilment."""
        if event not in TRACKING_ACTIONS:
            raise InvalidInput(f"unknown tracking event {event!r}",
                               allowed=sorted(TRACKING_ACTIONS))
        if at.tzinfo is None:
            raise InvalidInput("a tracking event's time needs its time zone")
        action = TRACKING_ACTIONS[event]
        newer = self.tracked_at is None or at > self.tracked_at
        if newer and action in TRANSITIONS[self.status] and self.method == "ship":
            self.tracked_at = at
            self.apply(action, actor, carrier_time=at.isoformat(), **data)
            return True
        self.events.append(Event("fulfilment.tracking_ignored", "fulfilment", self.id, actor,
                                 {"order_id": self.order_id, "event": event,
                                  "carrier_time": at.isoformat(), "status": str(self.status),
                                  "reason": "older than the last applied" if not newer
                                  else "not a move from here", **data}))
        return False


# The status each normalised tracking event means for a shipped fulfilment.
EVENT_STATUS: dict[str, FulfilmentStatus] = {
    "in_transit": F.IN_TRANSIT, "out_for_delivery": F.OUT_FOR_DELIVERY,
    "delivered": F.DELIVERED, "exception": F.EXCEPTION,
    "returned_to_sender": F.RETURNED_TO_SENDER,
}


@dataclass(frozen=True, slots=True)
class ParcelState:
    """A parcel's newest tracking event applied, at the carrier's time."""

    event: str | None = None
    at: datetime | None = None

    def newer(self, at: datetime) -> bool:
        return self.at is None or at > self.at


def parcel_summary(parcels: Sequence[ParcelState]) -> str | None:
    """Where a shipment of several parcels is, as one tracking event: delivered when every
    parcel is; an exception while one has one; returned when all came back; out for delivery
    once one is with the driver (or delivered); in transit once one moves; None before any
    scan. Some delivered and the rest returned is an exception."""
    events = [p.event for p in parcels]
    if not parcels or all(e is None for e in events):
        return None
    if all(e == "delivered" for e in events):
        return "delivered"
    if "exception" in events:
        return "exception"
    if all(e == "returned_to_sender" for e in events):
        return "returned_to_sender"
    if all(e in ("delivered", "returned_to_sender") for e in events):
        return "exception"  # some arrived, some came back: someone has to look
    if "out_for_delivery" in events or "delivered" in events:
        return "out_for_delivery"
    return "in_transit"


class OrderFulfilment(StrEnum):
    """An order's fulfilment status: computed from its fulfilments, never assigned."""

    UNFULFILLED = "unfulfilled"  # nothing has left or been started
    IN_PROGRESS = "in_progress"  # picking or packed, nothing sent yet
    PARTIALLY_DISPATCHED = "partially_dispatched"
    DISPATCHED = "dispatched"  # everything sent (or ready at the counter), not all arrived
    PARTIALLY_DELIVERED = "partially_delivered"
    DELIVERED = "delivered"  # every unit delivered or collected
    READY_FOR_PICKUP = "ready_for_pickup"  # everything waiting at the counter
    EXCEPTION = "exception"  # a carrier reported a problem with one of them
    RETURNED = "returned"  # nothing arrived: returned to sender or to stock
    CANCELLED = "cancelled"


SENT = frozenset({F.DISPATCHED, F.IN_TRANSIT, F.OUT_FOR_DELIVERY, F.EXCEPTION})
ARRIVED = frozenset({F.DELIVERED, F.COLLECTED})
STARTED = frozenset({F.PICKING, F.PACKED})


# Fulfilments whose units are no longer the order's to send: cancelled (given back to be
# sent another way), or not collected and put back (the order no longer expects them).
ENDED = frozenset({F.CANCELLED, F.RETURNED_TO_STOCK})


def order_fulfilment(statuses: Iterable[FulfilmentStatus], waiting: bool = False,
                     cancelled: bool = False) -> OrderFulfilment:
    """The order's fulfilment status from its fulfilments' statuses; `waiting`: some units
    are not in any fulfilment yet (backordered, or not allocated); `cancelled`: the order
    was cancelled. Units sent without a fulfilment count as a fulfilment `dispatched` (or
    `delivered`) of their own."""
    if cancelled:
        return OrderFulfilment.CANCELLED
    live = [s for s in statuses if s not in ENDED]
    if not live:
        return OrderFulfilment.UNFULFILLED if waiting else OrderFulfilment.CANCELLED
    if F.EXCEPTION in live:
        return OrderFulfilment.EXCEPTION
    arrived = sum(s in ARRIVED for s in live)
    on_the_way = sum(s in SENT or s is F.READY_FOR_PICKUP for s in live)
    if arrived == len(live) and not waiting:
        return OrderFulfilment.DELIVERED
    if arrived:
        return OrderFulfilment.PARTIALLY_DELIVERED
    if all(s is F.RETURNED_TO_SENDER for s in live) and not waiting:
        return OrderFulfilment.RETURNED
    if on_the_way == len(live) and not waiting:
        if all(s is F.READY_FOR_PICKUP for s in live):
            return OrderFulfilment.READY_FOR_PICKUP
        return OrderFulfilment.DISPATCHED
    if on_the_way:
        return OrderFulfilment.PARTIALLY_DISPATCHED
    if any(s in STARTED for s in live):
        return OrderFulfilment.IN_PROGRESS
    return OrderFulfilment.UNFULFILLED


def transition_diagram() -> str:
    """The fulfilment state machine as a Mermaid diagram, drawn from TRANSITIONS itself."""
    return mermaid(TRANSITIONS, "pending", lambda target: [target])
