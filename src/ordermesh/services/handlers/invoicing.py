"""Invoices, credit notes, dispatch and refunds: the documents, and the money that goes with
them, written in the same transaction as the change they document."""

from __future__ import annotations

import hashlib
import json
import uuid
from decimal import Decimal
from typing import Any

from ordermesh.domain.errors import IdempotencyKeyReused, InvalidInput, InvalidTransition, NotFound
from ordermesh.domain.events import utcnow
from ordermesh.domain.inventory import lock_rank
from ordermesh.domain.invoicing import (
    SERIES,
    Amounts,
    DocumentKind,
    DocumentLine,
    Party,
    adjustment,
    credit_of,
    document_number,
    shipment,
    whole_order,
)
from ordermesh.domain.money import Money
from ordermesh.domain.orders import Order, OrderStatus
from ordermesh.domain.payments import Kind, Outcome, capturable, check
from ordermesh.services import commands as c
from ordermesh.services.handlers.payments import (
    MoneyMove,
    MoneySetup,
    Pending,
    begin_capture,
    begin_refund,
    begin_void,
    finish,
    perform,
    transactions_of,
)
from ordermesh.services.ports import UnitOfWork

SHIPMENT_SCOPE = "shipment"  # idempotency scope of dispatches, keyed by order and reference


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
    with uow:
        order = uow.orders.get(cmd.order_id)
        if order is None or (cmd.channel is not None and order.channel != cmd.channel):
            raise NotFound(f"order {cmd.order_id!r} not found")
        fulfilment = None
        if cmd.fulfilment_id is not None:
            fulfilment = uow.fulfilments.get(cmd.fulfilment_id)
            if fulfilment is None or fulfilment.order_id != order.id:
                raise NotFound(f"fulfilment {cmd.fulfilment_id!r} not found")
            numbers = {line.id: line.line_no for line in order.lines}
            quantities = {numbers[ln.order_line_id]: ln.quantity for ln in fulfilment.lines}
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
            if order.status not in (OrderStatus.ALLOCATED, OrderStatus.PAID,
                                    OrderStatus.FULFILLING):
                raise InvalidTransition(f"an order that is {order.status} is not dispatched",
                                        current_status=str(order.status), action="dispatch")
            uow.idempotency.claim(SHIPMENT_SCOPE, scope_key, request_hash)
            amounts = shipment(order, quantities, _names(uow, order))
            if fulfilment is not None:
                fulfilment.apply("dispatch", cmd.actor, reference=cmd.reference)
                uow.fulfilments.save(fulfilment)
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
                       lines=[{"line_no": n, "units": u} for n, u in sorted(quantities.items())])
            if final:
                order.apply("ship", cmd.actor)
            uow.orders.save(order)
            uow.commit()
    if pending is None:
        return order.id, None
    if isinstance(pending, str):  # dispatched before: its capture, answered or asked again
        return order.id, perform(uow, setup, pending, cmd.actor)
    return order.id, finish(uow, setup, pending, cmd.actor)


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
    if not payments or Kind.CAPTURE not in _actions(payments[-1]):
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
    return begin_capture(uow, order, amount, f"shipment:{reference}", final, actor)


def _actions(payment: dict[str, Any]) -> frozenset[Kind]:
    from ordermesh.domain.payments import ACTIONS, payment_status

    return ACTIONS[payment_status(transactions_of(payment))]


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
    fulfilment, when one is dispatched): on hand and reserved both go down (so what is
    available does not change), and the allocations end as dispatched."""
    assert order.seq is not None
    by_no = {line.line_no: line for line in order.lines}
    wanted = {by_no[n].id: units for n, units in quantities.items()}
    uow.stock.lock_levels({by_no[n].sku for n in quantities})
    priorities = uow.catalogue.location_priorities()
    active = sorted((a for a in uow.allocations.active_for_order(order.seq)
                     if a["line_id"] in wanted
                     and (fulfilment_id is None or a["fulfilment_id"] == fulfilment_id)),
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


def refund_payment(cmd: c.RefundPayment, uow: UnitOfWork, setup: MoneySetup) -> MoneyMove:
    """Refund with the credit note that documents it, in one transaction; then the gateway.
    The same reference asked again gives the same refund and credit note."""
    if cmd.amount is not None and (cmd.lines or cmd.include_shipping):
        raise InvalidInput("a refund is of returned lines or of an amount, not both")
    with uow:
        order = uow.orders.get(cmd.order_id)
        if order is None or (cmd.channel is not None and order.channel != cmd.channel):
            raise NotFound(f"order {cmd.order_id!r} not found")
        assert order.seq is not None
        known = uow.invoices.find(order.seq, DocumentKind.CREDIT_NOTE, cmd.reference)
        if known is not None:
            key = _key_of(uow, order, f"refund:{cmd.reference}")
            if key is None:
                raise InvalidInput(f"credit note {known['number']} has no refund")
            key = _attempt(uow, order, key, cmd.actor)
            uow.orders.save(order)
            uow.commit()
        else:
            pending = _refund(cmd, uow, setup, order)
            uow.orders.save(order)
            uow.commit()
    if known is not None:
        assert key is not None
        return perform(uow, setup, key, cmd.actor)
    return finish(uow, setup, pending, cmd.actor)


def _attempt(uow: UnitOfWork, order: Order, key: str, actor: str) -> str:
    """The refund of a credit note, asked again: its last attempt unless the gateway refused
    it; then a new attempt (`<key>:2`, `:3`...) for the same amount. The credit note stands."""
    txn = uow.payments.transaction(key)
    attempt = 1
    while txn is not None and txn["outcome"] == Outcome.FAILED:
        attempt += 1
        retry = f"{key.split(':attempt')[0]}:attempt{attempt}"
        found = uow.payments.transaction(retry)
        if found is None:
            payment = uow.payments.get(txn["payment_id"])
            assert payment is not None
            check(transactions_of(payment), Kind.REFUND, Money(txn["amount"], txn["currency"]))
            values = {k: txn[k] for k in ("payment_id", "kind", "amount", "currency",
                                          "reference")}
            uow.payments.add_transaction({**values, "idempotency_key": retry, "actor": actor})
            order.note("payment.refund_requested", actor, payment_id=txn["payment_id"],
                       amount=txn["amount"], reference=txn["reference"], attempt=attempt)
            return retry
        key, txn = retry, found
    return key


def _refund(cmd: c.RefundPayment, uow: UnitOfWork, setup: MoneySetup, order: Order) -> Pending:
    assert order.seq is not None
    lines = uow.invoices.lines_for_order(order.seq)
    if cmd.amount is not None:
        invoice = _invoice_to_correct(uow, order, cmd.invoice)
        rate, name = _main_rate(invoice)
        amounts = adjustment(cmd.amount, rate, name, order.prices_include_tax)
    else:
        invoice, amounts = _returned(uow, order, cmd, lines)
    open_on_invoice = invoice["gross"] - uow.invoices.credited(invoice["id"])
    if amounts.gross > open_on_invoice:
        raise InvalidInput(f"invoice {invoice['number']} has {open_on_invoice} not credited, "
                           f"not {amounts.gross}", limit=open_on_invoice)
    pending = begin_refund(uow, order, amounts.gross, cmd.reference, cmd.actor)
    issue(uow, setup, order, DocumentKind.CREDIT_NOTE, amounts, cmd.reference, cmd.actor,
          transaction_id=pending.transaction_id, corrects=invoice, reason=cmd.reason)
    return pending


SHIPPING_KEY = "shipping"


def _key(line: dict[str, Any]) -> str | None:
    """What an invoice line bills: an order line (its id), the shipping, or neither."""
    if line["order_line_id"] is not None:
        return str(line["order_line_id"])
    return SHIPPING_KEY if line["description"] == "Shipping" else None


def _returned(uow: UnitOfWork, order: Order, cmd: c.RefundPayment,
              lines: list[dict[str, Any]]) -> tuple[dict[str, Any], Amounts]:
    """The credit for returned units, against the invoice that billed them: the one named, or
    the latest that billed all of them and has them still to credit."""
    by_no = {line.line_no: line for line in order.lines}
    wanted: dict[str, int] = {}
    for line_no, units in _lines(cmd.lines).items():
        if line_no not in by_no:
            raise InvalidInput(f"the order has no line {line_no}", line_no=line_no)
        wanted[by_no[line_no].id] = units
    if cmd.include_shipping:
        wanted[SHIPPING_KEY] = 1
    billed: dict[str, dict[str, dict[str, Any]]] = {}
    credited: dict[str, dict[str, int]] = {}
    for line in lines:
        key = _key(line)
        if key is None:
            continue
        if line["kind"] == DocumentKind.INVOICE:
            billed.setdefault(line["invoice_id"], {})[key] = line
        else:
            taken = credited.setdefault(line["corrects_id"], {})
            taken[key] = taken.get(key, 0) + line["quantity"]
    invoices = [i for i in uow.invoices.for_order(order.seq or 0)
                if i["kind"] == DocumentKind.INVOICE]
    if cmd.invoice is not None:
        invoices = [i for i in invoices if cmd.invoice in (i["id"], i["number"])]

    def fits(invoice_id: str) -> bool:
        on_it, taken = billed.get(invoice_id, {}), credited.get(invoice_id, {})
        return all(key in on_it and on_it[key]["quantity"] - taken.get(key, 0) >= units
                   for key, units in wanted.items())

    invoice = next((i for i in reversed(invoices) if fits(i["id"])), None)
    if invoice is None:
        raise InvalidInput("no invoice billed all of these units and has them still to credit: "
                           "return them per invoice (name it with `invoice`)")
    on_it, taken = billed[invoice["id"]], credited.get(invoice["id"], {})
    credit = [credit_of(_document_line(on_it[key]), taken.get(key, 0), units)
              for key, units in wanted.items()]
    for line_id, units in wanted.items():
        if line_id != SHIPPING_KEY:
            next(ln for ln in order.lines if ln.id == line_id).returned += units
    return invoice, Amounts(tuple(credit))


def _document_line(row: dict[str, Any]) -> DocumentLine:
    return DocumentLine(row["order_line_id"], row["sku"], row["description"], row["quantity"],
                        row["unit_price"], row["net"], row["tax"], Decimal(row["tax_rate"]),
                        row["tax_name"])


def _invoice_to_correct(uow: UnitOfWork, order: Order, wanted: str | None) -> dict[str, Any]:
    assert order.seq is not None
    invoices = [i for i in uow.invoices.for_order(order.seq) if i["kind"] == DocumentKind.INVOICE]
    if wanted is not None:
        invoices = [i for i in invoices if wanted in (i["id"], i["number"])]
    if not invoices:
        raise InvalidInput(f"order {order.number} has no invoice to credit"
                           + (f" named {wanted!r}" if wanted else ""))
    return invoices[-1]


def _main_rate(invoice: dict[str, Any]) -> tuple[Decimal, str]:
    """The rate most of the invoice was taxed at: what a price adjustment to it is taxed at."""
    row = max(invoice["tax_breakdown"], key=lambda r: (r["net"] + r["tax"], Decimal(r["rate"])))
    return Decimal(row["rate"]), str(row["name"])


def void_payment(cmd: c.VoidPayment, uow: UnitOfWork, setup: MoneySetup) -> MoneyMove | None:
    """Release what was authorized and never captured; for a cancelled order invoiced when it
    was placed, credit what was not paid, in the same transaction. None if nothing was left to
    release."""
    with uow:
        order = uow.orders.get(cmd.order_id)
        if order is None or (cmd.channel is not None and order.channel != cmd.channel):
            raise NotFound(f"order {cmd.order_id!r} not found")
        pending = begin_void(uow, order, cmd.actor)
        if order.status is OrderStatus.CANCELLED:
            _credit_cancelled(uow, setup, order, cmd.actor)
        uow.orders.save(order)
        uow.commit()
    return finish(uow, setup, pending, cmd.actor) if pending is not None else None


def _credit_cancelled(uow: UnitOfWork, setup: MoneySetup, order: Order, actor: str) -> None:
    """A cancelled order's invoice of placement is credited in full when nothing of it was
    captured; money taken is given back by a refund, with its own credit note."""
    assert order.seq is not None
    invoice = uow.invoices.find(order.seq, DocumentKind.INVOICE, "order")
    if invoice is None or uow.invoices.find(order.seq, DocumentKind.CREDIT_NOTE, "cancel"):
        return
    if any(t.kind is Kind.CAPTURE and t.outcome is not Outcome.FAILED
           for p in uow.payments.for_order(order.seq) for t in transactions_of(p)):
        order.note("payment.refund_needed", actor, invoice=invoice["number"],
                   reason="the cancelled order was paid")
        return
    billed: dict[str, dict[str, Any]] = {}
    taken: dict[str, int] = {}
    for line in uow.invoices.lines_for_order(order.seq):
        key = _key(line)
        if key is None:
            continue
        if line["invoice_id"] == invoice["id"]:
            billed[key] = line
        elif line["corrects_id"] == invoice["id"]:
            taken[key] = taken.get(key, 0) + line["quantity"]
    credit = [credit_of(_document_line(line), taken.get(key, 0),
                        line["quantity"] - taken.get(key, 0))
              for key, line in billed.items() if line["quantity"] > taken.get(key, 0)]
    if credit:
        issue(uow, setup, order, DocumentKind.CREDIT_NOTE, Amounts(tuple(credit)), "cancel",
              actor, corrects=invoice, reason="order cancelled")
