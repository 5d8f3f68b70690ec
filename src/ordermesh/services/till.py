"""A sale at the till, posted by a point of sale: the order is placed (paid as the POS
channel says: captured on placement), and handed over at once at the store: its fulfilment
released, picked, made ready and collected, so the units leave the store's stock.

The customer stands at the counter with the goods, so the sale is placed `at_counter`: its
units come off that store's shelves whatever the store's daily capacity (that is for picking
remote orders), and a sale the shelves cannot fill is refused by sourcing inside the placing
transaction, before anything is written or the card is asked. Nothing goes into a box: a
counter sale is handed over, not shipped (from picking straight to the counter), so an
article no package type holds is sold like any other.

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
    order id of a sale posted before, with its fulfilment and pickup code (a read). A sale
    the store's shelves cannot fill raises InsufficientStock with nothing written (the caller
    may check the shelves first, for a quicker answer)."""
    try:
        placed = bus.handle(c.PlaceOrder(actor, channel, order, at_counter=True))
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
    if fulfilment is None:  # sourced at this store only, so not released: not paid, or held
        raise InvalidTransition("the sale is placed but not handed over: its payment was "
                                "refused or is still being taken, or the order is held",
                                action="hand_over", order_id=order_id)
    to_counter = c.ChangeFulfilment(actor, fulfilment, "make_ready")  # no box: handed over
    steps = {"pending": c.ChangeFulfilment(actor, fulfilment, "start_picking"),
             "picking": to_counter, "packed": to_counter}
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
