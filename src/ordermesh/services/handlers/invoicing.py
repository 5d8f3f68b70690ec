"""Invoices, credit notes, dispatch and refunds: the documents, and the money that goes with
them, written in the same transaction as the change they document."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from ordermesh.domain.errors import IdempotencyKeyReused, InvalidInput, InvalidTransition, NotFound
from ordermesh.domain.events import utcnow
from ordermesh.domain.fulfilments import Fulfilment, FulfilmentStatus, ParcelState
from ordermesh.domain.inventory import lock_rank
from ordermesh.domain.invoicing import (
    SERIES,
    Amounts,
    DocumentKind,
    Party,
    document_number,
    shipment,
    whole_order,
)
from ordermesh.domain.orders import Order, OrderStatus
from ordermesh.domain.payments import Kind, Outcome, allowed, capturable
from ordermesh.services import commands as c
from ordermesh.services.handlers.fulfilment import WORKABLE, follow_fulfilments
from ordermesh.services.handlers.payments import (
    MoneyMove,
    MoneySetup,
    Pending,
    begin_capture,
    finish,
    perform,
    transactions_of,
)
from ordermesh.services.ports import UnitOfWork

SHIPMENT_SCOPE = "shipment"  # idempotency scope of dispatches, keyed by order and reference
FULFILMENT_REFERENCE = "fulfilment:"  # the references of fulfilments' dispatches


def party_json(party: Party) -> dict[str, Any]:
    return {"name": party.name, "address": dict(party.address), "email": party.email,
            "tax_id": party.tax_id}


def issue(uow: UnitOfWork, setup: MoneySetup, order: Order, kind: DocumentKind,
          amounts: Amounts, reference: str, actor: str, *, transaction_id: int | None = None,
          corrects: dict[str, Any] | None = None, reason: str | None = None) -> dict[str, Any]:
    """Issue an invoice or credit note with the next gapless number of its series and year.
    Issued once per (order, kind, reference): asking again gives the document issued."""
    assert order.seq is not None
    known = uow.invoices.find(order.seq, kind, reference)
    if known is not None:
        return known
    now = utcnow()
    seq = uow.numbering.next(SERIES[kind], now.year)
    number = document_number(kind, now.year, seq)
    buyer = Party(order.customer.name, order.billing_address, order.customer.email)
    values = {
        "id": str(uuid.uuid4()), "number": number, "kind": str(kind),
        "series": SERIES[kind], "year": now.year, "seq": seq, "order_seq": order.seq,
        "corrects_id": corrects["id"] if corrects else None, "reference": reference,
        "reason": reason, "currency": order.currency, "net": amounts.net, "tax": amounts.tax,
        "gross": amounts.gross, "prices_include_tax": order.prices_include_tax,
        "seller": party_json(setup.seller), "buyer": party_json(buyer),
        "tax_breakdown": [{"rate": str(r.rate), "name": r.name, "net": r.net, "tax": r.tax}
                          for r in amounts.by_rate()],
        "payment_terms": "Paid by card" if transaction_id is not None else setup.payment_terms,
        "payment_transaction_id": transaction_id, "issued_on": now.date(), "issued_at": now,
    }
    uow.invoices.add(values, [
        {"order_line_id": line.order_line_id, "sku": line.sku, "description": line.description,
         "quantity": line.quantity, "unit_price": line.unit_price, "net": line.net,
         "tax": line.tax, "gross": line.gross, "tax_rate": str(line.tax_rate),
         "tax_name": line.tax_name} for line in amounts.lines])
    order.note("invoice.issued" if kind is DocumentKind.INVOICE else "credit_note.issued", actor,
               invoice_id=values["id"], number=number, gross=amounts.gross, tax=amounts.tax,
               currency=order.currency, reference=reference,
               **({"corrects": corrects["number"]} if corrects else {}))
    return values


def _names(uow: UnitOfWork, order: Order) -> dict[str, str]:
    products = uow.catalogue.products({line.sku for line in order.lines})
    return {sku: str(p["name"]) for sku, p in products.items()}


def invoice_whole_order(uow: UnitOfWork, setup: MoneySetup, order: Order, actor: str) -> None:
    """The invoice of a channel that invoices when the order is placed."""
    issue(uow, setup, order, DocumentKind.INVOICE, whole_order(order, _names(uow, order)),
          "order", actor)


def _lines(pairs: tuple[tuple[int, int], ...]) -> dict[int, int]:
    quantities: dict[int, int] = {}
    for line_no, units in pairs:
        if line_no in quantities:
            raise InvalidInput(f"line {line_no} is named twice", line_no=line_no)
        quantities[line_no] = units
    return quantities


def _request_hash(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def dispatch_shipment(cmd: c.DispatchShipment, uow: UnitOfWork,
                      setup: MoneySetup) -> tuple[str, MoneyMove | None]:
    """Dispatch units of an order's reserved lines: the stock leaves its locations, and the
    shipment is invoiced and its amount captured when the channel says so. Returns the order id
    and the capture, if one was made."""
    quantities = _lines(cmd.lines)
    if cmd.fulfilment_id is None and cmd.reference.startswith(FULFILMENT_REFERENCE):
        raise InvalidInput(f"references starting {FULFILMENT_REFERENCE!r} are the fulfilments' "
                           "own", field="reference")
    with uow:
        order = uow.orders.get(cmd.order_id)
        if order is None or (cmd.channel is not None and order.channel != cmd.channel):
            raise NotFound(f"order {cmd.order_id!r} not found")
        fulfilment = None
        if cmd.fulfilment_id is not None:
            fulfilment = uow.fulfilments.get(cmd.fulfilment_id)
            if fulfilment is None or fulfilment.order_id != order.id or (
                    cmd.location is not None and fulfilment.location != cmd.location):
                raise NotFound(f"fulfilment {cmd.fulfilment_id!r} not found")
            numbers = {line.id: line.line_no for line in order.lines}
            quantities = {numbers[ln.order_line_id]: ln.quantity for ln in fulfilment.lines}
            _handed_over_how(fulfilment, cmd)
        scope_key = f"{order.id}:{cmd.reference}"
        request_hash = _request_hash(sorted(quantities.items()))
        seen = uow.idempotency.find(SHIPMENT_SCOPE, scope_key)
        if seen is not None:
            if seen[0] != request_hash:
                raise IdempotencyKeyReused(f"shipment {cmd.reference!r} was dispatched with "
                                           "other lines")
            pending: Pending | str | None = _key_of(uow, order,
                                                    f"capture:shipment:{cmd.reference}")
        else:
            if order.status not in WORKABLE:
                raise InvalidTransition(f"an order that is {order.status} is not dispatched",
                                        current_status=str(order.status), action="dispatch")
            uow.idempotency.claim(SHIPMENT_SCOPE, scope_key, request_hash)
            amounts = shipment(order, quantities, _names(uow, order))
            tracking = _hand_over(uow, fulfilment, cmd) if fulfilment is not None else {}
            _take_stock(uow, order, quantities, cmd.actor,
                        fulfilment.id if fulfilment is not None else None)
            final = all(line.to_dispatch == 0 for line in order.lines)
            channel = uow.access.channel(order.channel) or {}
            pending = _capture_for(uow, order, amounts.gross, cmd.reference, final, channel,
                                   cmd.actor)
            invoiced_whole = uow.invoices.find(order.seq or 0, DocumentKind.INVOICE, "order")
            if channel.get("invoice_on", "dispatch") == "dispatch" and invoiced_whole is None:
                issue(uow, setup, order, DocumentKind.INVOICE, amounts,
                      f"shipment:{cmd.reference}", cmd.actor,
                      transaction_id=pending.transaction_id if pending else None)
            if order.status is not OrderStatus.FULFILLING:
                order.apply("start_fulfilment", cmd.actor)
            order.note("order.dispatched", cmd.actor, reference=cmd.reference,
                       lines=[{"line_no": n, "units": u} for n, u in sorted(quantities.items())],
                       final=final, **tracking)
            if final:
                order.apply("ship", cmd.actor)
            uow.orders.save(order)
            follow_fulfilments(uow, order, cmd.actor)  # collected at the counter: delivered
            uow.commit()
    if pending is None:
        return order.id, None
    if isinstance(pending, str):  # dispatched before: its capture, answered or asked again
        return order.id, perform(uow, setup, pending, cmd.actor)
    return order.id, finish(uow, setup, pending, cmd.actor)


def _handed_over_how(fulfilment: Fulfilment, cmd: c.DispatchShipment) -> None:
    """A pickup is collected with its code (asked again, with the same code); a shipment is
    dispatched, never collected."""
    if fulfilment.method == "pickup":
        if cmd.pickup_code is None:
            raise InvalidTransition("a pickup is handed over at the counter with its code",
                                    action="dispatch", method="pickup")
        if fulfilment.status is FulfilmentStatus.COLLECTED:
            fulfilment.check_code(cmd.pickup_code)
    elif cmd.pickup_code is not None:
        raise InvalidTransition("a shipment is dispatched with its label, not collected",
                                action="collect", method="ship")


def _hand_over(uow: UnitOfWork, fulfilment: Fulfilment,
               cmd: c.DispatchShipment) -> dict[str, Any]:
    """A packed shipment leaves with the carrier its label was booked with; a pickup is
    collected at the counter with its code. Answers what the order's event says of it."""
    if fulfilment.method == "pickup":
        fulfilment.collect(cmd.pickup_code or "", cmd.actor)
        uow.fulfilments.save(fulfilment)
        return {"fulfilment_id": fulfilment.id, "collected_at": fulfilment.location}
    booked = uow.shipping.shipment(fulfilment.id)
    if booked is None and fulfilment.status is FulfilmentStatus.PACKED:
        raise InvalidTransition("book the shipment (buy its label) before it leaves",
                                current_status=str(fulfilment.status), action="dispatch")
    packages = uow.shipping.packages(fulfilment.id)
    numbers = [p["tracking_number"] for p in packages]
    fulfilment.apply("dispatch", cmd.actor, reference=cmd.reference,
                     tracking_numbers=numbers)
    # scans that came before the dispatch was recorded (the courier was quick) count now
    fulfilment.follow([ParcelState(p["tracking_status"], p["tracked_at"]) for p in packages],
                      cmd.actor)
    uow.fulfilments.save(fulfilment)
    assert booked is not None
    return {"fulfilment_id": fulfilment.id, "carrier": booked["carrier_name"],
            "service": booked["service"], "tracking_numbers": numbers,
            "tracking_url": booked["tracking_url"]}


def _capture_for(uow: UnitOfWork, order: Order, amount: int, reference: str, final: bool,
                 channel: dict[str, Any], actor: str) -> Pending | None:
    """The pending capture of a shipment, when the channel captures on dispatch and the order
    has an authorization to capture from."""
    if channel.get("capture_on", "dispatch") != "dispatch" or amount == 0:
        return None
    assert order.seq is not None
    payments = uow.payments.for_order(order.seq)
    transactions = transactions_of(payments[-1]) if payments else []
    if any(t.kind is Kind.AUTHORIZE and t.outcome is Outcome.PENDING for t in transactions):
        raise InvalidTransition("the order's payment is still being authorized: dispatch it "
                                "once the gateway has answered", action="dispatch")
    if not payments or Kind.CAPTURE not in allowed(transactions):
        order.note("payment.capture_skipped", actor, reference=reference, amount=amount,
                   reason="no authorization to capture from")
        return None
    # the last capture closes the authorization, unless another is still waiting for its
    # answer (the rest is then released once that one is answered)
    final = final and not any(t.kind is Kind.CAPTURE and t.outcome is Outcome.PENDING
                              for t in transactions)
    left = capturable(transactions)
    if left < amount:  # captured by hand before, or authorized for less: flagged for review
        order.note("payment.capture_short", actor, reference=reference, amount=amount,
                   capturable=left)
        if left == 0:
            return None
        amount = left
    return begin_capture(uow, order, amount, f"shipment:{reference}", final, actor,
                         payments[-1])


def _key_of(uow: UnitOfWork, order: Order, what: str) -> str | None:
    """The key of the order's transaction for `what` ("capture:shipment:S1", "refund:R1")."""
    assert order.seq is not None
    for payment in uow.payments.for_order(order.seq):
        key = f"{payment['id']}:{what}"
        if uow.payments.transaction(key) is not None:
            return key
    return None


def _take_stock(uow: UnitOfWork, order: Order, quantities: dict[int, int], actor: str,
                fulfilment_id: str | None = None) -> None:
    """The units leave the locations they were reserved at (only the allocations of the
    fulfilment, when one is dispatched; else only those no fulfilment holds): on hand and
    reserved both go down (so what is available does not change), and the allocations end as
    dispatched."""
    assert order.seq is not None
    by_no = {line.line_no: line for line in order.lines}
    wanted = {by_no[n].id: units for n, units in quantities.items()}
    uow.stock.lock_levels({by_no[n].sku for n in quantities})
    priorities = uow.catalogue.location_priorities()
    active = sorted((a for a in uow.allocations.active_for_order(order.seq)
                     if a["line_id"] in wanted and a["fulfilment_id"] == fulfilment_id),
                    key=lambda a: lock_rank(a["sku"], a["location_code"], priorities))
    now = utcnow()
    for allocation in active:
        take = min(allocation["quantity"], wanted[allocation["line_id"]])
        if take == 0:
            continue
        wanted[allocation["line_id"]] -= take
        sku, location = allocation["sku"], allocation["location_code"]
        uow.stock.change_on_hand(sku, location, -take, counted_at=None, moved_at=now)
        uow.stock.release(sku, location, take)
        uow.stock.record_movement(sku, location, on_hand_delta=-take, reserved_delta=-take,
                                  reason="dispatched", reference=order.number, actor=actor)
        uow.allocations.shrink(allocation["id"], allocation["quantity"] - take, "dispatch")
    short = {line_id: units for line_id, units in wanted.items() if units}
    if short:
        raise InvalidInput("the units to dispatch are not all reserved", lines=sorted(short))
    for line_no, units in quantities.items():
        by_no[line_no].dispatched += units
