"""Customer notifications: which recorded events tell the customer something, and as what.

An event notifies the customer when its type is in NOTIFICATIONS; the table gives the kind of
message (`dispatched`, `refunded`, ...) that the adapters in adapters/notify compose and send.
A few kinds depend on the event's data, decided by the refinements below:

- `order.backordered` and `order.backorder_repromised` are `preordered` when every unit that
  waits is a pre-order (`waits[].kind == "preorder"`), otherwise `backordered`; a re-promise
  that changed no wait notifies nothing.
- `order.dispatched` is `partially_dispatched` when its data says `final: false` (units are
  still to leave), otherwise `dispatched`; a pickup handed over at the counter
  (`collected_at` in the data) notifies nothing here: the `order.delivered` that follows does.

Only events about the order or its parcels notify: `fulfilment.out_for_delivery` (one parcel
is on the van) but not `fulfilment.delivered`, since the order's own `order.delivered` follows
once every fulfilment has arrived. Failures (`payment.refund_failed`) never notify.

Senders raise NotificationFailed for a temporary failure (retry later, the same message: its
Message-ID is derived from the event id, so a resend is recognisable) and NotificationRejected
when the message will never be accepted (retrying does not help).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

ORDER_CONFIRMED: Final = "order_confirmed"
BACKORDERED: Final = "backordered"
PREORDERED: Final = "preordered"
PARTIALLY_DISPATCHED: Final = "partially_dispatched"
DISPATCHED: Final = "dispatched"
OUT_FOR_DELIVERY: Final = "out_for_delivery"
DELIVERED: Final = "delivered"
READY_FOR_PICKUP: Final = "ready_for_pickup"
CANCELLED: Final = "cancelled"
REFUNDED: Final = "refunded"

# Every kind of customer message, in the order an order lives through them.
KINDS: tuple[str, ...] = (
    ORDER_CONFIRMED, BACKORDERED, PREORDERED, PARTIALLY_DISPATCHED, DISPATCHED,
    OUT_FOR_DELIVERY, DELIVERED, READY_FOR_PICKUP, CANCELLED, REFUNDED,
)

# event type -> the kind of message it sends the customer (before the refinements below)
NOTIFICATIONS: dict[str, str] = {
    "order.placed": ORDER_CONFIRMED,
    "order.backordered": BACKORDERED,
    "order.backorder_repromised": BACKORDERED,
    "order.dispatched": DISPATCHED,
    "fulfilment.out_for_delivery": OUT_FOR_DELIVERY,
    "order.delivered": DELIVERED,
    "order.ready_for_pickup": READY_FOR_PICKUP,
    "order.cancelled": CANCELLED,
    "payment.refunded": REFUNDED,
}


class NotificationFailed(Exception):
    """The message could not be sent now (network, server busy, 4xx): send it again later."""


class NotificationRejected(Exception):
    """The message will never be accepted as it is (unknown recipient, invalid number)."""


def _waiting(kind: str, data: Mapping[str, Any]) -> str | None:
    waits = [w for w in data.get("waits") or () if isinstance(w, Mapping)]
    if not waits:
        return kind if "waits" not in data else None
    return PREORDERED if all(w.get("kind") == "preorder" for w in waits) else BACKORDERED


def _dispatched(kind: str, data: Mapping[str, Any]) -> str | None:
    if data.get("collected_at") is not None:
        return None
    return PARTIALLY_DISPATCHED if data.get("final") is False else DISPATCHED


_REFINEMENTS: dict[str, Callable[[str, Mapping[str, Any]], str | None]] = {
    "order.backordered": _waiting,
    "order.backorder_repromised": _waiting,
    "order.dispatched": _dispatched,
}


def notification_for(event_type: str, data: Mapping[str, Any]) -> str | None:
    """The kind of message the event sends the customer, or None when it sends none."""
    kind = NOTIFICATIONS.get(event_type)
    if kind is None:
        return None
    refine = _REFINEMENTS.get(event_type)
    return refine(kind, data) if refine is not None else kind
