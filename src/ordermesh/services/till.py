"""A sale at the till, posted by a point of sale: the order is placed (paid as the POS
channel says: captured on placement), and handed over at once at the store: its fulfilment
released, picked, packed, made ready and collected, so the units leave the store's stock.

Each step is a command of its own, and each is safe to run again: a sale posted again with
the same receipt (the channel's external reference) finds its order and completes the steps
still to do, so a till that lost an answer simply posts again."""

from __future__ import annotations

import contextlib
from typing import Any

from ordermesh.domain.errors import DuplicateOrder, InsufficientStock, InvalidTransition
from ordermesh.services import commands as c
from ordermesh.services.bus import MessageBus


def post_sale(bus: MessageBus, actor: str, channel: str, order: dict[str, Any],
              store: str, find: Any) -> str:
    """Place and hand over; answers the order's id. `find(channel, reference)` answers the
    order id of a sale posted before, with its fulfilment and pickup code (a read). The caller
    has checked that the store has the units: a sale is not taken for stock elsewhere."""
    try:
        placed = bus.handle(c.PlaceOrder(actor, channel, order))
        order_id, again = str(placed.order_id), False
    except (DuplicateOrder, InsufficientStock):
        # posted before, or being posted right now by the same till: the stock it took is
        # this sale's own; only a sale not posted at all is refused
        order_id = find(channel, order["external_reference"])["order_id"]
        if order_id is None:
            raise
        again = True
    bus.handle(c.ReleaseFulfilments(actor, location=store, order_id=order_id))
    found = find(channel, order["external_reference"])
    fulfilment, code = found["fulfilment_id"], found["pickup_code"]
    if fulfilment is None and again:
        return order_id  # the post in hand (its payment still being taken) hands it over
    if fulfilment is None:
        raise InvalidTransition("the sale has nothing to hand over at this store: its units "
                                "are not reserved here", action="hand_over")
    steps = {"pending": c.ChangeFulfilment(actor, fulfilment, "start_picking"),
             "picking": c.PackFulfilment(actor, fulfilment),
             "packed": c.ChangeFulfilment(actor, fulfilment, "make_ready")}
    status = found["status"]
    for _ in range(len(steps) * 3):  # a till posting the same receipt twice at once: both
        if status not in steps:      # walk the steps; a step the other made is read again
            break
        with contextlib.suppress(InvalidTransition):
            bus.handle(steps[status])
        status = find(channel, order["external_reference"])["status"]
    bus.handle(c.DispatchShipment(actor, order_id, f"fulfilment:{fulfilment}", (),
                                  fulfilment_id=fulfilment, pickup_code=code))
    return order_id
