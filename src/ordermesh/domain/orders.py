"""Orders: what a customer bought, and the one table that says how an order may change."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from ordermesh.domain.errors import InvalidInput, InvalidTransition, NotFound
from ordermesh.domain.events import Event, utcnow
from ordermesh.domain.money import Money
from ordermesh.domain.state_machines import mermaid
from ordermesh.domain.tax import Taxable, TaxedAmounts, tax_line


class OrderStatus(StrEnum):
    PLACED = "placed"
    ALLOCATED = "allocated"
    BACKORDERED = "backordered"
    ON_HOLD = "on_hold"
    CANCELLED = "cancelled"
    PAID = "paid"
    FULFILLING = "fulfilling"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    COMPLETED = "completed"


class LineStatus(StrEnum):
    PENDING = "pending"
    RESERVED = "reserved"
    BACKORDERED = "backordered"
    CANCELLED = "cancelled"


L = LineStatus
LINE_TRANSITIONS: dict[LineStatus, dict[str, LineStatus]] = {
    L.PENDING: {"reserve": L.RESERVED, "backorder": L.BACKORDERED, "cancel": L.CANCELLED},
    L.RESERVED: {"backorder": L.BACKORDERED, "cancel": L.CANCELLED},
    L.BACKORDERED: {"reserve": L.RESERVED, "cancel": L.CANCELLED},
    L.CANCELLED: {},
}

# Releasing a hold returns the order to the state it was held in.
RESUME = "resume"

S = OrderStatus
TRANSITIONS: dict[OrderStatus, dict[str, str]] = {
    S.PLACED: {"allocate": S.ALLOCATED, "backorder": S.BACKORDERED, "hold": S.ON_HOLD,
               "cancel": S.CANCELLED},
    # a backordered order may already have a fulfilment released: it leaves, the rest waits
    S.BACKORDERED: {"allocate": S.ALLOCATED, "hold": S.ON_HOLD, "start_fulfilment": S.FULFILLING,
                    "cancel": S.CANCELLED},
    S.ALLOCATED: {"backorder": S.BACKORDERED, "pay": S.PAID, "hold": S.ON_HOLD,
                  "start_fulfilment": S.FULFILLING, "cancel": S.CANCELLED},
    S.ON_HOLD: {"release": RESUME, "cancel": S.CANCELLED},
    S.PAID: {"start_fulfilment": S.FULFILLING, "hold": S.ON_HOLD, "cancel": S.CANCELLED},
    S.FULFILLING: {"ship": S.SHIPPED},
    S.SHIPPED: {"deliver": S.DELIVERED},
    S.DELIVERED: {"complete": S.COMPLETED},
    S.CANCELLED: {},
    S.COMPLETED: {},
}

# Orders whose allocations are released to fulfilments (worked on at their locations).
RELEASABLE = (OrderStatus.ALLOCATED, OrderStatus.PAID, OrderStatus.FULFILLING)

# Orders whose lines may lose units not sent yet (the customer changed their mind): any order
# still to be sent, held or not. Which units are free to go is the fulfilments' to say.
LINES_CANCELLABLE = frozenset({S.PLACED, S.ALLOCATED, S.BACKORDERED, S.ON_HOLD, S.PAID,
                               S.FULFILLING})


class LineNotCancellable(InvalidTransition):
    """More units asked to be cancelled than the line has free to cancel: the rest left, or
    are being picked or packed."""

    code = "order.line_not_cancellable"
    title = "Units cannot be cancelled"

# The event each action records (wire names, past tense).
ACTION_EVENTS: dict[str, str] = {
    "allocate": "order.allocated",
    "backorder": "order.backordered",
    "hold": "order.held",
    "release": "order.released",
    "cancel": "order.cancelled",
    "pay": "order.paid",
    "start_fulfilment": "order.fulfilment_started",
    "ship": "order.shipped",
    "deliver": "order.delivered",
    "complete": "order.completed",
}

ACTIONS: tuple[str, ...] = tuple(ACTION_EVENTS)


SHIPPING = "shipping"  # the reference of an order's shipping among the things taxed


def format_order_number(seq: int) -> str:
    return f"OM-{seq:06d}"


ORDER_NUMBER = re.compile(r"OM-([0-9]{1,18})", re.IGNORECASE)


def parse_order_number(number: str) -> int | None:
    match = ORDER_NUMBER.fullmatch(number)
    return int(match.group(1)) if match else None


@dataclass(frozen=True, slots=True)
class Customer:
    email: str
    name: str
    phone: str | None = None


@dataclass(frozen=True, slots=True)
class Fulfilment:
    method: str  # "ship" or "pickup"
    pickup_location: str | None = None

    def __post_init__(self) -> None:
        if self.method not in ("ship", "pickup"):
            raise InvalidInput(f"unknown fulfilment method {self.method!r}")
        if (self.method == "pickup") != (self.pickup_location is not None):
            raise InvalidInput("a pickup names its location, and only a pickup does")


@dataclass(slots=True)
class OrderLine:
    id: str
    line_no: int
    sku: str
    quantity: int
    unit_price: Money
    status: LineStatus = LineStatus.PENDING
    tax: int = 0  # minor units, rounded once for the whole line
    tax_rate: Decimal | None = None  # 0.21 for 21 %, as taxed at placement
    tax_name: str | None = None  # "VAT 21%"
    dispatched: int = 0  # units that left the building
    returned: int = 0  # units credited back after dispatch
    cancelled: int = 0  # units that will not be sent after all (a pickup never collected)

    def __post_init__(self) -> None:
        if self.quantity < 1:
            raise InvalidInput(f"line {self.line_no}: quantity must be at least 1")
        if self.unit_price.amount < 0:
            raise InvalidInput(f"line {self.line_no}: unit price cannot be negative")

    @property
    def total(self) -> Money:
        return self.unit_price.times(self.quantity)

    @property
    def to_dispatch(self) -> int:
        if self.status is LineStatus.CANCELLED:
            return 0
        return self.quantity - self.dispatched - self.cancelled

    def kept_tax(self, prices_include_tax: bool) -> int:
        """The tax of the units not cancelled: what the order stored while none is, else those
        units taxed once, half up, as an invoice bills them (domain.invoicing), so what the
        order says it is owed and what its invoices bill stay equal to the minor unit."""
        if self.cancelled == 0:
            return self.tax
        kept = self.unit_price.amount * (self.quantity - self.cancelled)
        return tax_line(kept, self.tax_rate or Decimal(0), prices_include_tax)[1]

    def apply(self, action: str) -> None:
        """The one way a line changes status, checked against LINE_TRANSITIONS."""
        allowed = LINE_TRANSITIONS[self.status]
        if action not in allowed:
            raise InvalidTransition(f"cannot {action} a line that is {self.status}",
                                    current_status=str(self.status), action=action)
        self.status = allowed[action]


@dataclass(slots=True)
class Order:
    id: str
    channel: str
    external_reference: str | None
    customer: Customer
    billing_address: dict[str, Any]
    shipping_address: dict[str, Any] | None
    delivery_instructions: str | None
    payment_token: str | None
    fulfilment: Fulfilment
    currency: str
    lines: list[OrderLine]
    shipping_total: Money
    status: OrderStatus = OrderStatus.PLACED
    held_from: OrderStatus | None = None
    hold_reason: str | None = None
    prices_include_tax: bool = True
    shipping_tax: int = 0
    shipping_tax_rate: Decimal | None = None
    shipping_tax_name: str | None = None
    seq: int | None = None
    packaging: dict[str, Any] | None = None  # gift wrap, gift message, name on the package
    tracking_token: str | None = None  # the customer's tracking page: /track/{token}
    version: int = 0
    created_at: datetime = field(default_factory=utcnow)
    events: list[Event] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.lines:
            raise InvalidInput("an order needs at least one line")
        if self.fulfilment.method == "ship" and not self.shipping_address:
            raise InvalidInput("an order shipped to an address needs a shipping address")
        for money in [self.shipping_total, *(line.unit_price for line in self.lines)]:
            if money.currency != self.currency:
                raise InvalidInput(f"all amounts must be in the order currency {self.currency}")
        if self.shipping_total.amount < 0:
            raise InvalidInput("shipping total cannot be negative")

    @property
    def number(self) -> str:
        if self.seq is None:
            raise ValueError("an order gets its number from the repository, before it is stored")
        return format_order_number(self.seq)

    @property
    def lines_total(self) -> Money:
        """The lines as priced, less the units cancelled one by one (an order cancelled whole
        keeps the totals it had)."""
        return Money(sum(ln.unit_price.amount * (ln.quantity - ln.cancelled) for ln in self.lines),
                     self.currency)

    @property
    def shipping_due(self) -> Money:
        """The shipping, while a unit of the order is still wanted; none once all were cancelled."""
        kept = any(line.cancelled < line.quantity for line in self.lines)
        return self.shipping_total if kept else Money.zero(self.currency)

    @property
    def tax_total(self) -> Money:
        shipping_tax = self.shipping_tax if self.shipping_due.amount else 0
        return Money(sum(line.kept_tax(self.prices_include_tax) for line in self.lines)
                     + shipping_tax, self.currency)

    @property
    def grand_total(self) -> Money:
        """What the customer pays: tax is inside the prices, or added on top of them. Units
        cancelled are not paid for (the shipping neither, once every unit was cancelled)."""
        total = self.lines_total + self.shipping_due
        return total if self.prices_include_tax else total + self.tax_total

    def set_taxes(self, taxed: TaxedAmounts, prices_include_tax: bool) -> None:
        """Take each line's tax, and the shipping's (reference "shipping"), as computed."""
        by_reference = {line.reference: line for line in taxed.lines}
        self.prices_include_tax = prices_include_tax
        for line in self.lines:
            taxed_line = by_reference[line.id]
            line.tax, line.tax_rate, line.tax_name = (
                taxed_line.tax, taxed_line.rate.rate, taxed_line.rate.name)
        shipping = by_reference.get(SHIPPING)
        self.shipping_tax = shipping.tax if shipping else 0
        self.shipping_tax_rate = shipping.rate.rate if shipping else None
        self.shipping_tax_name = shipping.rate.name if shipping else None

    def taxables(self, shipping_tax_class: str, tax_classes: dict[str, str]) -> list[Taxable]:
        """The order's lines, and its shipping, as things to tax."""
        items = [Taxable(line.id, line.unit_price.amount, line.quantity, tax_classes[line.sku])
                 for line in self.lines]
        if self.shipping_total.amount:
            items.append(Taxable(SHIPPING, self.shipping_total.amount, 1, shipping_tax_class))
        return items

    def record_placed(self, actor: str) -> None:
        self._record("order.placed", actor, {
            "number": self.number,
            "channel": self.channel,
            "grand_total": {"amount": self.grand_total.amount, "currency": self.currency},
            "lines": [{"sku": ln.sku, "quantity": ln.quantity} for ln in self.lines],
        })

    def apply(self, action: str, actor: str, **data: Any) -> None:
        """The one way an order changes state: checked against TRANSITIONS, recorded as an event."""
        allowed = TRANSITIONS[self.status]
        if action not in allowed:
            raise InvalidTransition(
                f"cannot {action} an order that is {self.status}",
                current_status=str(self.status), action=action, allowed=sorted(allowed),
            )
        previous = self.status
        target = allowed[action]
        if target == RESUME:
            assert self.held_from is not None, "an order on hold knows where it came from"
            target, self.held_from = self.held_from, None
        self.held_from = previous if action == "hold" else None
        self.hold_reason = data.get("reason") if action == "hold" else None
        self.status = OrderStatus(target)
        if action == "cancel":  # a cancelled order's lines are cancelled with it
            for line in self.lines:
                if line.status is not LineStatus.CANCELLED:  # (cancelled on their own before)
                    line.apply("cancel")
        self._record(ACTION_EVENTS[action], actor, {"from": str(previous), "to": str(target), **data})

    def note(self, event_type: str, actor: str, **data: Any) -> None:
        """Record a fact that changes no status, e.g. part of a backorder allocated."""
        self._record(event_type, actor, data)

    def line(self, line_no: int) -> OrderLine:
        found = next((line for line in self.lines if line.line_no == line_no), None)
        if found is None:
            raise NotFound(f"the order has no line {line_no}", line_no=line_no)
        return found

    def cancel_units(self, line_no: int, quantity: int | None, free: int) -> tuple[OrderLine, int]:
        """Take units of a line off the order: `quantity` of them, or (None) all that can go;
        `free` is how many are not in anyone's hands (being picked, packed, sent), which only
        the fulfilments know. The line is cancelled once none of it is left. Answers the line
        and the units cancelled; `record_line_cancelled` records it once the money is known."""
        if self.status not in LINES_CANCELLABLE:
            raise InvalidTransition(f"cannot cancel a line of an order that is {self.status}",
                                    current_status=str(self.status), action="cancel_line")
        line = self.line(line_no)
        if line.to_dispatch == 0:
            done = "cancelled" if line.status is LineStatus.CANCELLED else "sent"
            raise InvalidTransition(f"line {line_no} has nothing left to cancel: it was {done}",
                                    current_status=str(line.status), action="cancel_line",
                                    line_no=line_no)
        if quantity is not None and quantity < 1:
            raise InvalidInput("cancel at least one unit", field="quantity")
        left = min(free, line.to_dispatch)
        units = left if quantity is None else quantity
        if not 1 <= units <= left:
            busy = line.to_dispatch - left
            raise LineNotCancellable(
                f"line {line_no} has {left} unit(s) that can be cancelled, not {units}"
                + (f"; {busy} are being picked or packed" if busy else ""),
                line_no=line_no, cancellable=left)
        line.cancelled += units
        if line.cancelled == line.quantity:
            line.apply("cancel")
        return line, units

    def record_line_cancelled(self, line: OrderLine, units: int, reason: str, actor: str,
                              **data: Any) -> None:
        """Record units of a line cancelled, then what that means for the order: its last line
        cancels it (as a whole cancel does); when all that is left has already left, it is
        shipped."""
        self._record("order.line_cancelled", actor, {
            "line_no": line.line_no, "sku": line.sku, "quantity": units,
            "cancelled": line.cancelled, "reason": reason,
            "grand_total": self.grand_total.amount, "currency": self.currency, **data})
        if all(ln.status is LineStatus.CANCELLED for ln in self.lines):
            self.apply("cancel", actor, reason=reason)
        elif self.status is OrderStatus.FULFILLING and all(ln.to_dispatch == 0
                                                           for ln in self.lines):
            self.apply("ship", actor)

    def stop_waiting(self, waiting: set[str], actor: str, **data: Any) -> None:
        """Some waits for supply were cancelled; `waiting`: the ids of the lines that still
        wait. A line that no longer waits is reserved (for what it holds); an order none of
        whose lines waits is allocated, now or (held) when its hold is released."""
        for line in self.lines:
            if line.status is LineStatus.BACKORDERED and line.id not in waiting:
                line.apply("reserve")
        if waiting:
            return
        if self.status is OrderStatus.BACKORDERED:
            self.apply("allocate", actor, **data)
        elif self.status is OrderStatus.ON_HOLD and self.held_from is OrderStatus.BACKORDERED:
            self.held_from = OrderStatus.ALLOCATED

    def _record(self, event_type: str, actor: str, data: dict[str, Any]) -> None:
        self.events.append(Event(event_type, "order", self.id, actor, data))


def transition_diagram() -> str:
    """The order state machine as a Mermaid diagram, drawn from TRANSITIONS itself.

    A release goes back to the state the order was held in, so it is drawn to each of them.
    """
    holdable = [state for state, moves in TRANSITIONS.items() if "hold" in moves]
    return mermaid(TRANSITIONS, "placed",
                   lambda target: holdable if target == RESUME else [target])
