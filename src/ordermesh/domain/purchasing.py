"""Purchasing: suppliers, purchase orders, and the one table that says how a purchase order may change.

Receiving goods is two actions in the table, so the table alone says where a receipt leads:
`receive` records goods and leaves something outstanding (-> partially_received), while
`receive_in_full` records goods after which nothing is outstanding (-> received).
`PurchaseOrder.receive()` is the way to record goods: it checks the quantities, books them on
the lines, and then picks whichever of the two actions describes the result.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from ordermesh.domain.errors import InvalidInput, InvalidTransition
from ordermesh.domain.events import Event, utcnow
from ordermesh.domain.money import CURRENCY, Money, total
from ordermesh.domain.state_machines import mermaid


class InvalidPurchaseOrderTransition(InvalidTransition):
    code = "purchase_order.invalid_transition"


def _count(value: object) -> bool:
    """A whole number of days or units; bool is an int to Python but never a count."""
    return type(value) is int


@dataclass(frozen=True, slots=True)
class Supplier:
    code: str
    name: str
    email: str
    currency: str
    lead_time_days: int
    payment_terms_days: int

    def __post_init__(self) -> None:
        if not self.code.strip() or not self.name.strip():
            raise InvalidInput("a supplier needs a code and a name")
        if "@" not in self.email.strip("@"):  # the full check belongs to the API's email type
            raise InvalidInput(f"supplier {self.code}: {self.email!r} is not an email address")
        if not isinstance(self.currency, str) or not CURRENCY.fullmatch(self.currency):
            raise InvalidInput(f"currency must be an ISO 4217 code, got {self.currency!r}")
        for name in ("lead_time_days", "payment_terms_days"):
            days = getattr(self, name)
            if not _count(days) or days < 0:
                raise InvalidInput(f"supplier {self.code}: {name} must be a whole number >= 0")


class PurchaseOrderStatus(StrEnum):
    DRAFT = "draft"
    SENT = "sent"
    PARTIALLY_RECEIVED = "partially_received"
    RECEIVED = "received"
    CLOSED = "closed"
    CANCELLED = "cancelled"


P = PurchaseOrderStatus
PO_TRANSITIONS: dict[PurchaseOrderStatus, dict[str, PurchaseOrderStatus]] = {
    P.DRAFT: {"send": P.SENT, "cancel": P.CANCELLED},
    P.SENT: {"receive": P.PARTIALLY_RECEIVED, "receive_in_full": P.RECEIVED,
             "cancel": P.CANCELLED, "close": P.CLOSED},
    # A short-close: what is still outstanding is no longer expected.
    P.PARTIALLY_RECEIVED: {"receive": P.PARTIALLY_RECEIVED, "receive_in_full": P.RECEIVED,
                           "close": P.CLOSED},
    P.RECEIVED: {"close": P.CLOSED},
    P.CLOSED: {},
    P.CANCELLED: {},
}

# The event each action records (wire names, past tense). A receipt is one kind of fact
# whether or not it completes the order; its data says which status it led to.
PO_EVENTS: dict[str, str] = {
    "send": "purchase_order.sent",
    "receive": "purchase_order.received",
    "receive_in_full": "purchase_order.received",
    "close": "purchase_order.closed",
    "cancel": "purchase_order.cancelled",
}
PO_CREATED = "purchase_order.created"
# The largest total a purchase order may reach: sums of lines are computed in SQL, and SQLite
# (unlike PostgreSQL) has no wider integer than a signed 64-bit one.
MAX_TOTAL = 2**63 - 1
PO_ACTIONS: tuple[str, ...] = tuple(PO_EVENTS)


def format_po_number(seq: int) -> str:
    return f"PO-{seq:06d}"


PO_NUMBER = re.compile(r"PO-([0-9]{1,18})", re.IGNORECASE)


def parse_po_number(number: str) -> int | None:
    match = PO_NUMBER.fullmatch(number)
    return int(match.group(1)) if match else None


# Units on one line, ordered or received: stored as a 32-bit integer.
MAX_LINE_UNITS = 2**31 - 1


@dataclass(frozen=True, slots=True)
class Receipt:
    """Goods booked against one line by one receive()."""

    line_no: int
    sku: str
    quantity: int


@dataclass(slots=True)
class PurchaseOrderLine:
    line_no: int
    sku: str
    quantity: int
    unit_cost: Money
    received: int = 0

    def __post_init__(self) -> None:
        if not _count(self.quantity) or self.quantity < 1:
            raise InvalidInput(f"line {self.line_no}: quantity must be at least 1")
        if self.quantity > MAX_LINE_UNITS:
            raise InvalidInput(f"line {self.line_no}: at most {MAX_LINE_UNITS} units a line")
        if self.unit_cost.amount < 0:
            raise InvalidInput(f"line {self.line_no}: unit cost cannot be negative")
        if not _count(self.received) or self.received < 0:
            raise InvalidInput(f"line {self.line_no}: received must be a whole number >= 0")

    @property
    def outstanding(self) -> int:
        # an over-receipt leaves nothing outstanding, never a negative amount
        return max(self.quantity - self.received, 0)

    @property
    def total(self) -> Money:
        return self.unit_cost.times(self.quantity)


@dataclass(slots=True)
class PurchaseOrder:
    id: str
    number: str | None
    supplier_code: str
    currency: str
    deliver_to: str  # location code
    lines: list[PurchaseOrderLine]
    status: PurchaseOrderStatus = PurchaseOrderStatus.DRAFT
    expected_on: date | None = None
    sent_at: datetime | None = None
    version: int = 0
    events: list[Event] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not isinstance(self.currency, str) or not CURRENCY.fullmatch(self.currency):
            raise InvalidInput(f"currency must be an ISO 4217 code, got {self.currency!r}")
        if not self.lines:
            raise InvalidInput("a purchase order needs at least one line")
        if any(line.unit_cost.currency != self.currency for line in self.lines):
            raise InvalidInput(f"all unit costs must be in the purchase order currency {self.currency}")
        # receipts name lines by number, and a SKU twice would be counted twice at receipt
        for attr in ("sku", "line_no"):
            values = [getattr(line, attr) for line in self.lines]
            duplicates = sorted({v for v in values if values.count(v) > 1})
            if duplicates:
                raise InvalidInput(f"duplicate {attr} on purchase order: {duplicates}")
        if sum(line.quantity * line.unit_cost.amount for line in self.lines) > MAX_TOTAL:
            raise InvalidInput(f"a purchase order may total at most {MAX_TOTAL} minor units",
                               max_total=MAX_TOTAL)

    @property
    def total(self) -> Money:
        return total([line.total for line in self.lines], self.currency)

    @property
    def is_fully_received(self) -> bool:
        return all(line.outstanding == 0 for line in self.lines)

    def record_created(self, actor: str) -> None:
        self._record(PO_CREATED, actor, {
            "number": self.number,
            "supplier_code": self.supplier_code,
            "deliver_to": self.deliver_to,
            "total": {"amount": self.total.amount, "currency": self.currency},
            "lines": [{"line_no": ln.line_no, "sku": ln.sku, "quantity": ln.quantity}
                      for ln in self.lines],
        })

    def apply(self, action: str, actor: str, **data: Any) -> None:
        """The one way a purchase order changes state: checked against PO_TRANSITIONS, recorded
        as an event. Goods are recorded with receive(), which applies the receiving actions."""
        self._check_can(action)
        previous, self.status = self.status, PO_TRANSITIONS[self.status][action]
        self._record(PO_EVENTS[action], actor, {"from": str(previous), "to": str(self.status), **data})

    def send(self, actor: str, today: date, lead_time_days: int) -> None:
        """Send to the supplier. An expected date agreed beforehand wins over the lead time."""
        if not _count(lead_time_days) or lead_time_days < 0:
            raise InvalidInput("lead_time_days must be a whole number >= 0")
        expected_on = self.expected_on or today + timedelta(days=lead_time_days)
        self.apply("send", actor, expected_on=expected_on.isoformat())
        self.expected_on, self.sent_at = expected_on, utcnow()

    def receive(self, quantities: Mapping[int, int], actor: str,
                allow_over_receipt: bool = False, reference: str | None = None) -> list[Receipt]:
        """Book goods received per line number; all or nothing. `reference` names the
        delivery (a delivery note, say) on the timeline."""
        self._check_can("receive")
        receipts = self._receipts(quantities, allow_over_receipt)
        over = {r.line_no: r.quantity - self._line(r.line_no).outstanding for r in receipts}
        for receipt in receipts:
            self._line(receipt.line_no).received += receipt.quantity
        action = "receive_in_full" if self.is_fully_received else "receive"
        self.apply(action, actor, **({"reference": reference} if reference else {}), receipts=[
            {"line_no": r.line_no, "sku": r.sku, "quantity": r.quantity,
             "over_received": max(over[r.line_no], 0)} for r in receipts])
        return receipts

    def close(self, actor: str, reason: str | None = None) -> None:
        self.apply("close", actor, **({"reason": reason} if reason else {}))

    def cancel(self, actor: str, reason: str | None = None) -> None:
        # goods already in the building cannot be un-ordered; closing keeps them on the record
        if any(line.received for line in self.lines):
            raise InvalidPurchaseOrderTransition(
                "cannot cancel a purchase order with goods received; close it instead",
                current_status=str(self.status), action="cancel",
                allowed=sorted(PO_TRANSITIONS[self.status]),
            )
        self.apply("cancel", actor, **({"reason": reason} if reason else {}))

    def _check_can(self, action: str) -> None:
        allowed = PO_TRANSITIONS[self.status]
        if action not in allowed:
            raise InvalidPurchaseOrderTransition(
                f"cannot {action} a purchase order that is {self.status}",
                current_status=str(self.status), action=action, allowed=sorted(allowed),
            )

    def _receipts(self, quantities: Mapping[int, int], allow_over: bool) -> list[Receipt]:
        """Check every quantity before booking any, so a bad line leaves the order untouched."""
        if not quantities:
            raise InvalidInput("a receipt needs at least one line")
        receipts = []
        for line_no, quantity in sorted(quantities.items()):
            line = self._line(line_no)
            if not _count(quantity) or quantity < 1:
                raise InvalidInput(f"line {line_no}: a received quantity must be at least 1")
            if quantity > line.outstanding and not allow_over:
                raise InvalidInput(
                    f"line {line_no}: receiving {quantity} but only {line.outstanding} outstanding",
                    line_no=line_no, quantity=quantity, outstanding=line.outstanding,
                )
            if line.received + quantity > MAX_LINE_UNITS:
                raise InvalidInput(f"line {line_no}: at most {MAX_LINE_UNITS} units received")
            receipts.append(Receipt(line_no, line.sku, quantity))
        return receipts

    def _line(self, line_no: int) -> PurchaseOrderLine:
        for line in self.lines:
            if line.line_no == line_no:
                return line
        raise InvalidInput(f"purchase order has no line {line_no}", line_no=line_no)

    def _record(self, event_type: str, actor: str, data: dict[str, Any]) -> None:
        self.events.append(Event(event_type, "purchase_order", self.id, actor, data))


def transition_diagram() -> str:
    """The purchase order state machine as a Mermaid diagram, drawn from PO_TRANSITIONS itself."""
    return mermaid(PO_TRANSITIONS, "draft")
