"""Shipping: a fulfilment's picks that come up short, its packages, the label bought from a
carrier (rate shopping), and the stores that reject what they were given. (Tracking is in
tracking.py; the counter and WMS leases in counter.py.)

Carriers are called outside any database transaction, like payment gateways: the booking is
keyed by the fulfilment, so asking again after a lost answer or a crash books nothing new and
answers the same tracking numbers.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ordermesh.domain.carriers import (
    Booking,
    CarrierUnavailable,
    Parcel,
    ShipmentRequest,
)
from ordermesh.domain.errors import (
    DomainError,
    InvalidInput,
    InvalidTransition,
    NotFound,
    ServiceUnavailable,
)
from ordermesh.domain.events import utcnow
from ordermesh.domain.fulfilments import (
    Fulfilment,
    FulfilmentStatus,
)
from ordermesh.domain.orders import Order, OrderStatus
from ordermesh.domain.packing import Item, PackageType, fits, pack
from ordermesh.domain.rate_shopping import Choice, Preference, Quote, choose
from ordermesh.services import commands as c
from ordermesh.services.handlers.fulfilment import (
    first_time,
    locked,
    workable,
)
from ordermesh.services.handlers.resourcing import MOVABLE, move
from ordermesh.services.handlers.waiting import lock_orders, serve_queue
from ordermesh.services.ports import Carrier, UnitOfWork

log = logging.getLogger("ordermesh.shipping")

# A fulfilment rejected or short-picked moves its own units, whatever its order's other
# fulfilments have done.
MOVABLE_WITH_FULFILMENTS = (*MOVABLE, OrderStatus.FULFILLING)


@dataclass
class ShippingSetup:
    """The carriers by name (one with `webhooks` False is polled by the worker), and the
    clock carrier events are read against (an event dated ahead of it is not applied)."""

    carriers: dict[str, Carrier] = field(default_factory=dict)
    clock: Callable[[], datetime] = utcnow


# -- short picks and rejections ----------------------------------------------------------------


def short_pick(cmd: c.ShortPick, uow: UnitOfWork) -> str:
    """Fewer units found than reserved: the fulfilment keeps what was found; the stock count at
    the location goes down by the missing units (ledger reason `short_pick`), and those units
    are sourced again by the channel's rules (the count now says what the location has)."""
    with uow:
        order, fulfilment, queue = lock_to_move(uow, cmd.fulfilment_id, cmd.location)
        lines = {line.line_no: line for line in order.lines}
        found: dict[str, int] = {}
        for line_no, units in cmd.found:
            if line_no not in lines or lines[line_no].id in found:
                raise InvalidInput(f"line {line_no} is not a line of the order, or is named "
                                   "twice", line_no=line_no)
            found[lines[line_no].id] = units
        if not first_time(uow, cmd.confirmation):
            return fulfilment.id
        workable(order, "short_pick")
        missing = fulfilment.short_pick(found, cmd.actor)
        uow.fulfilments.save(fulfilment)
        by_id = {line.id: line for line in order.lines}
        today = utcnow().date()
        for line_id, units in sorted(missing.items()):
            line = by_id[line_id]
            lost = _not_there(uow, line.sku, fulfilment.location, units)
            if lost:
                uow.stock.change_on_hand(line.sku, fulfilment.location, -lost, counted_at=None,
                                         moved_at=utcnow())
                uow.stock.record_movement(line.sku, fulfilment.location, on_hand_delta=-lost,
                                          reason="short_pick", reference=order.number,
                                          actor=cmd.actor)
            move(order, line, fulfilment.location, units, "short pick", uow, cmd.actor, today,
                 movable=MOVABLE_WITH_FULFILMENTS, taken_from=fulfilment.id)
        serve_queue(uow, queue, [by_id[i].sku for i in missing], cmd.actor, today)
        uow.commit()
    return fulfilment.id


def lock_to_move(uow: UnitOfWork, fulfilment_id: str, location: str | None
                  ) -> tuple[Order, Fulfilment, list[Order]]:
    """Lock what moving a fulfilment's units touches, in the one lock order: the orders
    waiting for its SKUs with its own (placement order), the fulfilment, then the stock rows
    of those SKUs. Answers the order, the fulfilment and the waiting orders."""
    order_id = uow.fulfilments.order_of(fulfilment_id)
    seen = uow.orders.peek(order_id) if order_id is not None else None
    if seen is None:
        raise NotFound(f"fulfilment {fulfilment_id!r} not found")
    seq, skus = seen
    waiting = uow.backorders.waiting_orders(skus)
    orders = lock_orders(uow, [*waiting, seq])
    order, fulfilment = locked(uow, fulfilment_id, location)
    uow.stock.lock_levels(skus)
    return order, fulfilment, [orders[s] for s in waiting if s in orders]


def _not_there(uow: UnitOfWork, sku: str, location: str, missing: int) -> int:
    """How many of the missing units the count still holds: the count goes down by those,
    never below what stays reserved there (a count taken since may have found the loss)."""
    level = uow.stock.level_for_update(sku, location)
    if level is None:
        return 0
    return max(0, min(missing, level.on_hand - (level.reserved - missing)))


def reject_fulfilment(cmd: c.RejectFulfilment, uow: UnitOfWork) -> str:
    """A location cannot do a fulfilment it was given (a store rejects it): it is cancelled
    and its units are sourced again, never from there."""
    with uow:
        order, fulfilment, queue = lock_to_move(uow, cmd.fulfilment_id, cmd.location)
        fulfilment.apply("reject", cmd.actor, reason=cmd.reason)
        uow.fulfilments.save(fulfilment)
        by_id = {line.id: line for line in order.lines}
        today = utcnow().date()
        for fl in fulfilment.lines:
            move(order, by_id[fl.order_line_id], fulfilment.location, fl.quantity, cmd.reason,
                 uow, cmd.actor, today, rejected=True, movable=MOVABLE_WITH_FULFILMENTS,
                 taken_from=fulfilment.id)
        serve_queue(uow, queue, [ln.sku for ln in fulfilment.lines], cmd.actor, today)
        uow.commit()
    return fulfilment.id


# -- packing -----------------------------------------------------------------------------------


def put_package_type(cmd: c.PutPackageType, uow: UnitOfWork) -> None:
    """A box the locations pack into, checked by the domain before it is kept."""
    PackageType(cmd.code, cmd.length_mm, cmd.width_mm, cmd.height_mm, cmd.max_weight_grams,
                cmd.tare_grams)
    with uow:
        uow.shipping.put_package_type({
            "code": cmd.code, "name": cmd.name, "length_mm": cmd.length_mm,
            "width_mm": cmd.width_mm, "height_mm": cmd.height_mm,
            "max_weight_grams": cmd.max_weight_grams, "tare_grams": cmd.tare_grams,
            "active": cmd.active})
        uow.commit()


def pack_fulfilment(cmd: c.PackFulfilment, uow: UnitOfWork) -> str:
    """The picked units go into packages: the ones the packer gives, or the smallest box set
    of the package types that holds them (domain.packing). Each package weighs its items and
    its box."""
    with uow:
        order, fulfilment = locked(uow, cmd.fulfilment_id, cmd.location)
        if not first_time(uow, cmd.confirmation):
            return fulfilment.id
        workable(order, "pack")
        units: Counter[str] = Counter()
        for line in fulfilment.lines:
            units[line.sku] += line.quantity
        products = uow.catalogue.products(set(units))
        types = {t.code: t for t in uow.shipping.package_types()}
        items = {sku: _item(sku, products[sku]) for sku in units}
        if cmd.packages is None:
            rows = _chosen(units, items, types)
        else:
            rows = _given(cmd.packages, units, items, types)
        fulfilment.apply("pack", cmd.actor, packages=[
            {"number": r["number"], "package_type": r["package_type"],
             "weight_grams": r["weight_grams"], "items": r["items"]} for r in rows])
        uow.shipping.add_packages(fulfilment.id, rows)
        uow.fulfilments.save(fulfilment)
        uow.commit()
    return fulfilment.id


def _item(sku: str, product: dict[str, Any]) -> Item:
    return Item(sku, product.get("length_mm"), product.get("width_mm"), product.get("height_mm"),
                product.get("weight_grams") or 0, fragile=bool(product.get("fragile")))


def _chosen(units: Counter[str], items: dict[str, Item], types: dict[str, Any]
            ) -> list[dict[str, Any]]:
    every = [items[sku] for sku in sorted(units) for _ in range(units[sku])]
    if not types:  # no boxes set up: one package, weighed by its items
        return [_row(1, None, every, sum(i.weight_grams for i in every))]
    return [_row(p.number, p.type, list(p.items), p.weight_grams) for p in pack(every, list(
        types.values()))]


def _given(packages: tuple[c.PackageIn, ...], units: Counter[str], items: dict[str, Item],
           types: dict[str, Any]) -> list[dict[str, Any]]:
    packed: Counter[str] = Counter()
    rows = []
    for number, given in enumerate(packages, start=1):
        box = None
        if given.package_type is not None:
            box = types.get(given.package_type)
            if box is None:
                raise InvalidInput(f"no package type {given.package_type!r}")
        inside = []
        for sku, n in given.items:
            if sku not in units or n < 1:
                raise InvalidInput(f"package {number}: {sku} is not in the fulfilment", sku=sku)
            packed[sku] += n
            if packed[sku] > units[sku]:  # before making a unit of each: bodies may be huge
                raise InvalidInput(f"the packages hold more {sku} than the fulfilment's "
                                   f"{units[sku]}", sku=sku)
            inside += [items[sku]] * n
        weight = given.weight_grams if given.weight_grams is not None else (
            sum(i.weight_grams for i in inside) + (box.tare_grams if box else 0))
        if box is not None and (weight > box.max_weight_grams or not fits(inside, box)):
            raise InvalidInput(f"package {number}: its items do not go into a {box.code} "
                               f"(up to {box.max_weight_grams} g)", package=number)
        rows.append(_row(number, box, inside, weight))
    if packed != units:
        raise InvalidInput("the packages hold other units than the fulfilment",
                           packed=dict(sorted(packed.items())), expected=dict(sorted(units.items())))
    return rows


def _row(number: int, box: Any, items: list[Item], weight: int) -> dict[str, Any]:
    counted = Counter(i.sku for i in items)
    return {"number": number, "package_type": box.code if box else None,
            "weight_grams": max(weight, 1),
            "length_mm": box.length_mm if box else None,
            "width_mm": box.width_mm if box else None,
            "height_mm": box.height_mm if box else None,
            "items": [{"sku": sku, "quantity": n} for sku, n in sorted(counted.items())]}


# -- booking -----------------------------------------------------------------------------------


def book_shipment(cmd: c.BookShipment, uow: UnitOfWork, setup: ShippingSetup) -> dict[str, Any]:
    """Buy the label of a packed fulfilment: every carrier set up (or the one named) quotes its
    packages, and the quote the channel prefers (cheapest or fastest) that arrives by the date
    promised is booked; or the carrier and tracking numbers entered by hand are recorded.
    Booked once: asked again, it answers the shipment booked."""
    with uow:  # read what the carrier needs; nothing is written here
        order, fulfilment = locked(uow, cmd.fulfilment_id, cmd.location)
        known = uow.shipping.shipment(fulfilment.id)
        if known is not None:
            return _same(known, cmd)
        workable(order, "pack")
        if fulfilment.method != "ship" or fulfilment.status is not FulfilmentStatus.PACKED:
            raise InvalidTransition(f"a label is bought for a packed shipment, not a "
                                    f"{fulfilment.method} fulfilment that is {fulfilment.status}",
                                    current_status=str(fulfilment.status), action="book")
        request = _request(uow, order, fulfilment)
        channel = uow.access.channel(order.channel) or {}
        promised = uow.shipping.promised_on(fulfilment.id)
    if cmd.manual is not None:
        booking, choice = _entered(cmd.manual, request, order.currency)
    else:
        booking, choice = _bought(setup, cmd, request, promised,
                                  Preference(channel.get("shipping_preference") or "cheapest"))
    with uow:
        order, fulfilment = locked(uow, cmd.fulfilment_id, cmd.location)
        known = uow.shipping.shipment(fulfilment.id)
        if known is not None:  # booked meanwhile: by the same key, the same booking
            if cmd.manual is None and known["carrier_shipment_id"] != booking.shipment_id \
                    and booking.carrier in setup.carriers:
                _give_back(setup.carriers[booking.carrier], booking)  # not by the same key
            return _same(known, cmd)
        refusal: DomainError | None = None
        if fulfilment.status is not FulfilmentStatus.PACKED:
            refusal = InvalidTransition(f"the fulfilment became {fulfilment.status} meanwhile",
                                        current_status=str(fulfilment.status), action="book")
        elif len(booking.tracking_numbers) != len(request.parcels) or (
                booking.labels and len(booking.labels) != len(request.parcels)):
            refusal = InvalidInput(f"{len(request.parcels)} package(s) need as many tracking "
                                   f"numbers (and labels), not {len(booking.tracking_numbers)}")
        if refusal is not None:  # bought for nothing: given back, as far as the carrier can
            if cmd.manual is None and booking.carrier in setup.carriers:
                _give_back(setup.carriers[booking.carrier], booking)
            raise refusal
        first_time(uow, cmd.confirmation)  # booked once anyway: claims the reference
        values = {
            "id": str(uuid.uuid4()), "fulfilment_id": fulfilment.id,
            "carrier": "manual" if cmd.manual else booking.carrier,
            "carrier_name": cmd.manual.carrier_name if cmd.manual else booking.carrier,
            "service": booking.service, "carrier_shipment_id": booking.shipment_id,
            "amount": booking.amount, "currency": booking.currency,
            "delivers_on": booking.delivers_on, "tracking_url": booking.tracking_url or None,
            "choice": choice, "status": "booked"}
        uow.shipping.add_shipment(values, list(booking.tracking_numbers), list(booking.labels))
        fulfilment.note("fulfilment.label_created", cmd.actor, carrier=values["carrier_name"],
                        service=booking.service, tracking_numbers=list(booking.tracking_numbers),
                        amount=booking.amount, currency=booking.currency,
                        delivers_on=booking.delivers_on.isoformat() if booking.delivers_on
                        else None, reason=choice.get("explanation"))
        uow.fulfilments.save(fulfilment)
        uow.commit()
    return values


def _same(known: dict[str, Any], cmd: c.BookShipment) -> dict[str, Any]:
    """The shipment booked, when what is asked agrees with it; else 409, so a caller never
    takes another booking for its own."""
    if cmd.manual is not None:
        agrees = (known["carrier"] == "manual"
                  and known["carrier_name"] == cmd.manual.carrier_name)
    else:
        agrees = (known["carrier"] != "manual"
                  and cmd.carrier in (None, known["carrier"])
                  and cmd.service in (None, known["service"]))
    if not agrees:
        raise InvalidTransition(f"the shipment is booked already: {known['carrier_name']} "
                                f"{known['service']}", action="book",
                                shipment_id=known["id"])
    return known


def _give_back(carrier: Carrier, booking: Booking) -> None:
    try:
        carrier.cancel(booking.shipment_id)
    except (CarrierUnavailable, DomainError) as exc:
        log.warning("label %s bought for nothing and not cancelled: %s", booking.shipment_id,
                    exc)


def _request(uow: UnitOfWork, order: Order, fulfilment: Fulfilment) -> ShipmentRequest:
    location = uow.catalogue.location(fulfilment.location) or {}
    if order.shipping_address is None:
        raise InvalidInput(f"order {order.number} has no delivery address")
    packaging = order.packaging or {}
    name = packaging.get("name_on_package") or order.customer.name
    packages = uow.shipping.packages(fulfilment.id)
    if not packages:
        raise InvalidTransition("the fulfilment has no packages: pack it first", action="book")
    return ShipmentRequest(
        fulfilment.id, {**location.get("address", {}), "name": location.get("name")},
        {**order.shipping_address, "name": name},
        tuple(Parcel(p["weight_grams"], p["length_mm"], p["width_mm"], p["height_mm"])
              for p in packages),
        utcnow().date())


def _entered(manual: c.ManualBooking, request: ShipmentRequest,
             currency: str) -> tuple[Booking, dict[str, Any]]:
    numbers = tuple(n.strip() for n in manual.tracking_numbers)
    if not all(numbers) or len(set(numbers)) != len(numbers):
        raise InvalidInput("each package needs its own tracking number")
    booking = Booking(manual.carrier_name, manual.service, "", numbers, 0, currency,
                      request.ready_on, manual.tracking_url or "")
    return booking, {"explanation": f"entered by hand: {manual.carrier_name}", "quotes": []}


def _bought(setup: ShippingSetup, cmd: c.BookShipment, request: ShipmentRequest,
            promised: Any, preference: Preference) -> tuple[Booking, dict[str, Any]]:
    if cmd.carrier is not None and cmd.carrier not in setup.carriers:
        raise InvalidInput(f"no carrier {cmd.carrier!r} is set up",
                           carriers=sorted(setup.carriers))
    asked = [cmd.carrier] if cmd.carrier else sorted(setup.carriers)
    if not asked:
        raise InvalidInput("no carrier is set up: enter the carrier and tracking numbers by hand")
    quotes: list[Quote] = []
    silent = []
    for name in asked:
        try:
            quotes += setup.carriers[name].rates(request)
        except CarrierUnavailable:
            silent.append(name)
    if cmd.service is not None:
        quotes = [q for q in quotes if q.service == cmd.service]
    if not quotes and silent:
        raise ServiceUnavailable(f"no answer from {', '.join(silent)}: ask again",
                                 carriers=silent)
    choice: Choice = choose(quotes, promised, preference)
    try:
        booking = setup.carriers[choice.quote.carrier].create_shipment(
            request, choice.quote, f"fulfilment:{request.reference}")
    except CarrierUnavailable as exc:
        raise ServiceUnavailable(f"{choice.quote.carrier} did not confirm the booking: ask "
                                 "again (the same booking is answered)") from exc
    return booking, {
        "explanation": choice.explanation, "keeps_promise": choice.keeps_promise,
        "preference": str(preference), "promised_on": promised.isoformat() if promised else None,
        "no_answer": silent,
        "quotes": [{"carrier": q.carrier, "service": q.service, "amount": q.amount,
                    "currency": q.currency, "delivers_on": q.delivers_on.isoformat()}
                   for q in quotes]}
