"""Credits: refunds with the credit notes that document them (returned units credited against
the invoice that billed them, the shipping once, price adjustments), and what a cancelled order
gives back: its uncaptured authorization, and its unpaid invoice of placement."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ordermesh.domain.errors import InvalidInput, NotFound
from ordermesh.domain.invoicing import (
    Amounts,
    DocumentKind,
    DocumentLine,
    adjustment,
    credit_of,
)
from ordermesh.domain.money import Money
from ordermesh.domain.orders import Order, OrderStatus
from ordermesh.domain.payments import Kind, Outcome, check
from ordermesh.services import commands as c
from ordermesh.services.handlers.invoicing import _key_of, _lines, issue
from ordermesh.services.handlers.payments import (
    MoneyMove,
    MoneySetup,
    Pending,
    begin_refund,
    begin_void,
    finish,
    perform,
    transactions_of,
)
from ordermesh.services.ports import UnitOfWork


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
    billed, credited = _ledger(lines)
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


def _ledger(lines: list[dict[str, Any]]) -> tuple[dict[str, dict[str, dict[str, Any]]],
                                                  dict[str, dict[str, int]]]:
    """Per invoice: the line that billed each order line (or the shipping), and the units
    credited against it so far."""
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
    return billed, credited


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
    captured; money taken (invoiced or not: a capture by hand) is given back by a refund, with
    its own credit note, and the timeline says one is needed."""
    assert order.seq is not None
    invoice = uow.invoices.find(order.seq, DocumentKind.INVOICE, "order")
    if invoice is not None and uow.invoices.find(order.seq, DocumentKind.CREDIT_NOTE, "cancel"):
        return
    if any(t.kind is Kind.CAPTURE and t.outcome is not Outcome.FAILED
           for p in uow.payments.for_order(order.seq) for t in transactions_of(p)):
        order.note("payment.refund_needed", actor, reason="the cancelled order was paid",
                   **({"invoice": invoice["number"]} if invoice else {}))
        return
    if invoice is None:
        return
    all_billed, all_credited = _ledger(uow.invoices.lines_for_order(order.seq))
    billed, taken = all_billed.get(invoice["id"], {}), all_credited.get(invoice["id"], {})
    credit = [credit_of(_document_line(line), taken.get(key, 0),
                        line["quantity"] - taken.get(key, 0))
              for key, line in billed.items() if line["quantity"] > taken.get(key, 0)]
    if credit:
        issue(uow, setup, order, DocumentKind.CREDIT_NOTE, Amounts(tuple(credit)), "cancel",
              actor, corrects=invoice, reason="order cancelled")
