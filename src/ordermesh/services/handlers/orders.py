"""Order capture and order status changes."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from ordermesh.domain.errors import (
    DuplicateOrder,
    IdempotencyKeyReused,
    InsufficientStock,
    InvalidInput,
    InvalidTransition,
    NotFound,
)
from ordermesh.domain.events import utcnow
from ordermesh.domain.inventory import lock_rank
from ordermesh.domain.money import Money
from ordermesh.domain.orders import Customer, Fulfilment, Order, OrderLine, OrderStatus
from ordermesh.domain.payments import Kind, Outcome
from ordermesh.domain.sourcing import Demand
from ordermesh.domain.tax import apply_tax
from ordermesh.services import commands as c
from ordermesh.services.handlers.holds import convert_hold
from ordermesh.services.handlers.invoicing import invoice_whole_order
from ordermesh.services.handlers.payments import (
    MoneySetup,
    Pending,
    ask_again,
    begin_authorization,
    finish,
)
from ordermesh.services.handlers.sourcing import (
    apply_plan,
    give_back_shipments,
    mark_lines,
    plan_summary,
    situation,
    source,
    supply_added,
    take_plan,
)
from ordermesh.services.handlers.waiting import lock_queue, serve_queue
from ordermesh.services.ports import ProductFacts, UnitOfWork


@dataclass(frozen=True)
class PlacedOrder:
    order_id: str
    replayed: bool = False
    # The order as this command wrote it (queries.order_detail's shape), when nothing has
    # changed it since its commit; None asks the caller to read it.
    detail: dict[str, Any] | None = None


def place_order(cmd: c.PlaceOrder, uow: UnitOfWork, setup: MoneySetup | None = None) -> PlacedOrder:
    """Capture an order: source it, reserve its stock, tax it, write its invoice when the
    channel invoices on placement, and write its authorization (asked of the gateway right
    after the commit). A request seen before under its Idempotency-Key answers the order it
    made."""
    setup = setup or MoneySetup()
    order_id = str(uuid.uuid4())
    authorization: Pending | None = None
    detail: dict[str, Any] | None = None
    with uow:
        # Claimed first, for the order about to be written, so a concurrent twin waits on
        # this row and then replays.
        seen = (uow.idempotency.claim_for(cmd.channel, cmd.idempotency_key, cmd.request_hash,
                                          order_id) if cmd.idempotency_key else None)
        if seen is None:
            authorization, detail = _capture(cmd, order_id, uow, setup)
    if seen is not None:
        replayed = _replay(seen, cmd.request_hash)
        # The first attempt may have stopped between its commit and the gateway's answer:
        # the retry asks for it rather than leave the order waiting for the recovery job.
        ask_again(uow, setup, replayed.order_id, cmd.actor)
        return replayed
    if authorization is not None:  # the gateway's answer is written to the order
        finish(uow, setup, authorization, cmd.actor)
    return PlacedOrder(order_id, detail=detail)


def _capture(cmd: c.PlaceOrder, order_id: str, uow: UnitOfWork,
             setup: MoneySetup) -> tuple[Pending | None, dict[str, Any] | None]:
    """Write the order and all it takes, and commit; the authorization to ask for, if any,
    and the order as written."""
    authorization: Pending | None = None
    ref = cmd.order.get("external_reference")
    if ref and (existing := uow.orders.find_by_external_reference(cmd.channel, ref)):
        raise DuplicateOrder(f"order {ref!r} of channel {cmd.channel!r} was captured before",
                             order_id=existing)
    products = _products_for(cmd.order["lines"], uow)  # (one read for tax and sourcing)
    order = _build_order(cmd, order_id, uow)
    channel = uow.access.channel(cmd.channel) or {}
    _tax(order, products, channel, uow)
    hold_id = cmd.order.get("cart_hold")
    # the hold's units are given back first, so the order is sourced with them available
    hold = convert_hold(uow, hold_id, order, cmd.actor) if hold_id else None
    today = utcnow().date()
    network = situation(uow, set(products), order.channel, today, settings=channel or None,
                        terms={sku: facts.terms for sku, facts in products.items()},
                        with_supply=False)
    demand = [Demand(line.id, line.sku, line.quantity) for line in order.lines]
    result = source(order, demand, network, today, at_counter=cmd.at_counter)
    if result.waits and not result.refusals:  # what stock cannot fill waits for supply
        network = supply_added(uow, network, set(products), today)
        result = source(order, demand, network, today, at_counter=cmd.at_counter)
    if result.refusals:
        short = sorted({r.sku for r in result.refusals})
        raise InsufficientStock(f"not enough stock for {', '.join(short)}", skus=short,
                                reasons={r.sku: r.reason for r in result.refusals})
    # The order and its lines are inserted as the plan leaves them, not updated right after
    # (an order refused above takes no number).
    mark_lines(order, result)
    uow.orders.number(order)
    order.record_placed(cmd.actor)
    order.apply("backorder" if result.waits else "allocate", cmd.actor,
                **plan_summary(order, result))
    uow.orders.add(order)
    if hold is not None:
        uow.holds.save(hold)
    apply_plan(order, result, network, uow, cmd.actor)
    # The rows other orders wait for (stock, a location's capacity, the invoice counter) are
    # taken last, in that order, so each is held for as short a time as it can be.
    invoicing = channel.get("invoice_on") == "placement"
    if invoicing:
        take_plan(result, network, uow, today)
        invoice_whole_order(uow, setup, order, cmd.actor)
    gateway = channel.get("payment_gateway")
    if order.payment_token and gateway in setup.gateways:
        authorization = begin_authorization(uow, order, None, cmd.actor)
    elif order.payment_token and gateway:
        order.note("payment.not_attempted", cmd.actor, gateway=gateway,
                   reason="the gateway is not configured")
    uow.orders.save(order)
    if not invoicing:
        take_plan(result, network, uow, today)
    # the answer, unless the gateway's answer will change the order after the commit
    detail = uow.written_order(order.id) if authorization is None else None
    uow.commit()
    return authorization, detail


def _tax(order: Order, products: dict[str, ProductFacts], channel: dict[str, Any],
         uow: UnitOfWork) -> None:
    """Tax every line and the shipping by the destination's rates. Until a single rate is set
    up, Ordermesh taxes nothing (a new installation); after that a missing rate refuses the
    order rather than selling untaxed."""
    inclusive = bool(channel.get("prices_include_tax", True))
    table = uow.tax.table()
    if not table.rates:
        order.prices_include_tax = inclusive
        return
    country, region = _destination(order, uow)
    classes = {sku: facts.tax_class for sku, facts in products.items()}
    taxables = order.taxables(str(channel.get("shipping_tax_class") or "standard"), classes)
    order.set_taxes(apply_tax(taxables, table, country, region, inclusive), inclusive)


def _destination(order: Order, uow: UnitOfWork) -> tuple[str, str | None]:
    """Where the goods go: the shipping address, or the pickup location's address. A region
    is taken as an ISO 3166-2 code ("US-CA"), its country prefix added where it is missing."""
    if order.fulfilment.pickup_location is not None:
        location = uow.catalogue.location(order.fulfilment.pickup_location) or {}
        address = location.get("address") or {}
    else:
        address = order.shipping_address or {}
    country = str(address.get("country", "")).upper()
    region = address.get("region")
    if not region:
        return country, None
    region = str(region).strip().upper()
    return country, region if region.startswith(f"{country}-") else f"{country}-{region}"


def _replay(seen: tuple[str, str | None], request_hash: str) -> PlacedOrder:
    stored_hash, order_id = seen
    if stored_hash != request_hash or order_id is None:
        raise IdempotencyKeyReused("this Idempotency-Key was used for a different request")
    return PlacedOrder(order_id, replayed=True)


def _products_for(lines: list[dict[str, Any]], uow: UnitOfWork) -> dict[str, ProductFacts]:
    skus = {line["sku"] for line in lines}
    products = uow.sourcing.products(skus)
    unknown = sorted(sku for sku in skus if sku not in products or not products[sku].active)
    if unknown:
        raise InvalidInput(f"unknown or inactive SKUs: {', '.join(unknown)}", skus=unknown)
    return products


def _build_order(cmd: c.PlaceOrder, order_id: str, uow: UnitOfWork) -> Order:
    data = cmd.order
    currency = data["currency"]
    fulfilment = Fulfilment(data["fulfilment"]["method"], data["fulfilment"].get("location"))
    if fulfilment.pickup_location is not None:
        loc = uow.catalogue.location(fulfilment.pickup_location)
        if loc is None or not loc["active"] or not loc["can_pickup"]:
            raise InvalidInput(f"{fulfilment.pickup_location!r} is not a pickup location")
    lines = [
        OrderLine(str(uuid.uuid4()), n, ln["sku"], ln["quantity"], Money(ln["unit_price"], currency))
        for n, ln in enumerate(data["lines"], start=1)
    ]
    customer = data["customer"]
    return Order(
        id=order_id, channel=cmd.channel,
        external_reference=data.get("external_reference"),
        customer=Customer(customer["email"], customer["name"], customer.get("phone")),
        billing_address=data["billing_address"], shipping_address=data.get("shipping_address"),
        delivery_instructions=data.get("delivery_instructions"),
        packaging=data.get("packaging"), tracking_token=secrets.token_urlsafe(18),
        payment_token=data.get("payment_token"), fulfilment=fulfilment, currency=currency,
        lines=lines, shipping_total=Money(data.get("shipping_total", 0), currency),
    )


def change_order_status(cmd: c.ChangeOrderStatus, uow: UnitOfWork) -> str:
    serves = cmd.action in ("cancel", "release")  # stock or an order may come back to the queue
    with uow:
        seen = uow.orders.peek(cmd.order_id) if serves else None
        queue = lock_queue(uow, seen[1], seen[0]) if seen is not None else []
        order = uow.orders.get(cmd.order_id)
        if order is None or (cmd.channel is not None and order.channel != cmd.channel):
            raise NotFound(f"order {cmd.order_id!r} not found")
        if cmd.when_held_for is not None and (order.status is not OrderStatus.ON_HOLD
                                              or order.hold_reason != cmd.when_held_for):
            return order.id  # no longer held for that reason: nothing to do
        data = {"reason": cmd.reason} if cmd.reason else {}
        skus = {line.sku for line in order.lines}
        order.apply(cmd.action, cmd.actor, **data, **cmd.data)
        if cmd.action == "cancel":
            _no_capture_in_flight(order, uow)
            _cancel_fulfilments(order, uow, cmd.actor)  # locked before the stock rows
            _release_allocations(order, uow, cmd.actor)
        uow.orders.save(order)
        if serves:
            serve_queue(uow, queue, skus, cmd.actor, utcnow().date())
        uow.commit()
    return order.id


def _no_capture_in_flight(order: Order, uow: UnitOfWork) -> None:
    """A capture waiting for the gateway's answer may take all that is authorized, leaving
    nothing for the cancel to release: the order is cancelled once the gateway has answered
    (a paid order then needs a refund), never while money is on its way in."""
    assert order.seq is not None
    if any(txn["kind"] == Kind.CAPTURE and txn["outcome"] == Outcome.PENDING
           for payment in uow.payments.for_order(order.seq) for txn in payment["transactions"]):
        raise InvalidTransition("the order's payment is being captured: cancel the order once "
                                "the gateway has answered", action="cancel")


def _cancel_fulfilments(order: Order, uow: UnitOfWork, actor: str) -> None:
    """The order's fulfilments still in the building are cancelled with it (one waiting at
    the counter goes back to stock)."""
    assert order.seq is not None
    for fulfilment_id in uow.fulfilments.open_for_order(order.seq):
        fulfilment = uow.fulfilments.get(fulfilment_id)
        if fulfilment is None:
            continue
        action = next((a for a in ("cancel", "return_to_stock") if a in fulfilment.allowed()),
                      None)
        if action is not None:
            fulfilment.apply(action, actor, reason="order cancelled")
            uow.fulfilments.save(fulfilment)


def _release_allocations(order: Order, uow: UnitOfWork, actor: str) -> None:
    assert order.seq is not None
    waiting = uow.backorders.waiting_for_order(order.seq)
    uow.backorders.resolve([w["id"] for w in waiting], "cancel")
    active = uow.allocations.active_for_order(order.seq)
    priorities = uow.catalogue.location_priorities()
    for res in sorted(active, key=lambda r: lock_rank(r["sku"], r["location_code"], priorities)):
        uow.stock.release(res["sku"], res["location_code"], res["quantity"])
        uow.stock.record_movement(res["sku"], res["location_code"],
                                  reserved_delta=-res["quantity"], reason="reservation_released",
                                  reference=order.number, actor=actor)
    uow.allocations.end([res["id"] for res in active], "release")
    give_back_shipments(uow, active, order)
