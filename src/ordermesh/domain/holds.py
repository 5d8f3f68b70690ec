"""Cart holds: stock a channel reserves for a cart for a few minutes before the order is placed,
and the one table that says how a hold may end.

A hold is active until exactly one of three things happens: the order is placed with it
(converted), the channel lets it go (released), or its time runs out and the worker gives the
units back (expired). Time adds two rules the table cannot express: a hold past its expiry can
no longer be converted, even before the worker has seen it, and a hold cannot be expired early.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from ordermesh.domain.errors import InvalidInput, InvalidTransition
from ordermesh.domain.events import Event
from ordermesh.domain.state_machines import mermaid


class HoldStatus(StrEnum):
    ACTIVE = "active"
    CONVERTED = "converted"
    RELEASED = "released"
    EXPIRED = "expired"


H = HoldStatus
HOLD_TRANSITIONS: dict[HoldStatus, dict[str, HoldStatus]] = {
    H.ACTIVE: {"convert": H.CONVERTED, "release": H.RELEASED, "expire": H.EXPIRED},
    H.CONVERTED: {},
    H.RELEASED: {},
    H.EXPIRED: {},
}

HOLD_EVENTS: dict[str, str] = {
    "convert": "cart_hold.converted",
    "release": "cart_hold.released",
    "expire": "cart_hold.expired",
}
HOLD_PLACED = "cart_hold.placed"
HOLD_ACTIONS: tuple[str, ...] = tuple(HOLD_EVENTS)

# Longest hold a channel may configure: a day. Longer is stock taken out of sale, not a cart.
MAX_HOLD_MINUTES = 24 * 60


class HoldsNotAllowed(InvalidInput):
    code = "cart_hold.not_allowed"
    title = "This channel may not hold carts"


class HoldExpired(InvalidTransition):
    code = "cart_hold.expired"
    title = "Cart hold expired"


class HoldNotActive(InvalidTransition):
    code = "cart_hold.not_active"
    title = "Cart hold no longer active"


class HoldNotDue(InvalidTransition):
    code = "cart_hold.not_due"
    title = "Cart hold not due to expire"


def hold_expiry(now: datetime, minutes: int | None) -> datetime:
    """When a hold placed now ends, by the channel's setting (None: the channel may not hold)."""
    if minutes is None:
        raise HoldsNotAllowed("this channel may not hold carts (no cart_hold_minutes set)")
    if not 1 <= minutes <= MAX_HOLD_MINUTES:
        raise InvalidInput(f"cart_hold_minutes must be between 1 and {MAX_HOLD_MINUTES}")
    return now + timedelta(minutes=minutes)


@dataclass(frozen=True, slots=True)
class HoldLine:
    """Units of one SKU reserved at one location for the hold."""

    sku: str
    location: str
    quantity: int

    def __post_init__(self) -> None:
        if self.quantity < 1:
            raise InvalidInput(f"{self.sku} at {self.location}: a held quantity must be >= 1")


@dataclass(slots=True)
class CartHold:
    id: str
    channel: str
    lines: tuple[HoldLine, ...]
    created_at: datetime
    expires_at: datetime
    status: HoldStatus = HoldStatus.ACTIVE
    ended_at: datetime | None = None
    order_id: str | None = None
    events: list[Event] = field(default_factory=list)

    @classmethod
    def place(cls, hold_id: str, channel: str, lines: tuple[HoldLine, ...], now: datetime,
              expires_at: datetime, actor: str) -> CartHold:
        if not lines:
            raise InvalidInput("a cart hold needs at least one line")
        if expires_at <= now:
            raise InvalidInput("a cart hold must end after it starts")
        hold = cls(hold_id, channel, lines, now, expires_at)
        hold._record(HOLD_PLACED, actor, {
            "channel": channel, "expires_at": hold.expires_at.isoformat(),
            "lines": [{"sku": ln.sku, "location": ln.location, "quantity": ln.quantity}
                      for ln in lines]})
        return hold

    def is_due(self, now: datetime) -> bool:
        return self.expires_at <= now

    def apply(self, action: str, actor: str, now: datetime, order_id: str | None = None,
              reason: str | None = None) -> None:
        """The one way a hold changes state: checked against HOLD_TRANSITIONS and the clock."""
        allowed = HOLD_TRANSITIONS[self.status]
        if action not in allowed:
            error = HoldExpired if self.status is HoldStatus.EXPIRED else HoldNotActive
            raise error(f"cannot {action} a cart hold that is {self.status}",
                        current_status=str(self.status), action=action)
        if action == "convert" and self.is_due(now):
            raise HoldExpired(f"the cart hold expired at {self.expires_at.isoformat()}",
                              current_status=str(self.status), action=action)
        if action == "expire" and not self.is_due(now):
            raise HoldNotDue(f"the cart hold runs until {self.expires_at.isoformat()}",
                             current_status=str(self.status), action=action)
        if (action == "convert") != (order_id is not None):
            raise ValueError("a hold is converted into an order, and only conversion names one")
        self.status, self.ended_at, self.order_id = allowed[action], now, order_id
        self._record(HOLD_EVENTS[action], actor, {"to": str(self.status)}
                     | ({"order_id": order_id} if order_id else {})
                     | ({"reason": reason} if reason else {}))

    def _record(self, event_type: str, actor: str, data: dict[str, Any]) -> None:
        self.events.append(Event(event_type, "cart_hold", self.id, actor, data))


def transition_diagram() -> str:
    """The cart hold state machine as a Mermaid diagram, drawn from HOLD_TRANSITIONS itself."""
    return mermaid(HOLD_TRANSITIONS, "active")
