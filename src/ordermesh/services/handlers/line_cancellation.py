"""Cancelling part of an order: some units of a line, or all that is left of it, before they
leave (the customer changed their mind, and told the call centre or an operator).

Only units nobody has in hand can go, taken in this order: units waiting for supply (their
wait shrinks), units reserved and not yet released to a location, then units in a fulfilment
not started yet (taken out of it; one left empty is cancelled). Units being picked, packed, at
the counter or sent are refused, and so are the units of a fulfilment a warehouse system has
leased, while its lease runs: it may be picking them without having said so.

The money follows the units. Their worth is what the invoicing rules bill for them: the units
at the end of the line, (n - c - k, n - c] of n with c cancelled before, cost amount(n - c) -
amount(n - c - k), so what is cancelled and what is shipped add up to the line to the minor
unit; an invoice of placement credits them at what it billed (`credit_of`). The shipping goes
with the last unit: only when the whole order ends cancelled. What was captured ahead of the
goods (captured, less what earlier cancellations gave back, over what the order is still worth)
is refunded up to their worth, in the same transaction as the cancellation (its credit note
too, when the order was invoiced at placement); what was only authorized is never taken, since
a capture on dispatch takes what is dispatched and the last one releases the rest. The gateway
is asked after the commit, like every refund (handlers/payments.py).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from ordermesh.domain.errors import InvalidTransition, NotFound
from ordermesh.domain.events import utcnow
from ordermesh.domain.fulfilments import Fulfilment, FulfilmentLine, FulfilmentStatus
from ordermesh.domain.invoicing import Amounts, DocumentKind, _units, credit_of, shipping_line
from ordermesh.domain.orders import LineStatus, Order, OrderLine, OrderStatus
from ordermesh.domain.payments import Kind, Outcome, refundable
from ordermesh.domain.sourcing import Candidate, Decision, Wait, WaitKind
from ordermesh.services import commands as c
from ordermesh.services.handlers.credits import SHIPPING_KEY, _document_line, _ledger
from ordermesh.services.handlers.fulfilment import follow_fulfilments
from ordermesh.services.handlers.invoicing import issue
from ordermesh.services.handlers.payments import (
    MoneySetup,
    Pending,
    begin_refund,
    begin_void,
    finish,
    transactions_of,
)
from ordermesh.services.handlers.sourcing import give_back_shipments
from ordermesh.services.handlers.waiting import lock_orders, serve_queue
from ordermesh.services.ports import UnitOfWork

REFERENCE = "line-cancel:"  # refunds and credit notes of cancelled units: line-cancel:<line>:<n>


def cancel_order_line(cmd: c.CancelOrderLine, uow: UnitOfWork, setup: MoneySetup) -> str:
    """Cancel units of a line in one transaction: the stock, the waits, the fulfilments, the
    order's total, its refund and credit note, and the order cancelled (or shipped) when
    nothing is left of it; then the gateway. Answers the order's id."""
    with uow:
        order, queue, fulfilments = _lock(uow, cmd)
        held = _held(uow, order, order.line(cmd.line_no), fulfilments)
        line, units = order.cancel_units(cmd.line_no, cmd.quantity, held.free)
        _not_in_flight(uow, order)
        taken = _give_back(uow, order, line, units, held, fulfilments, cmd.actor)
        due = _due(uow, order, line, units)
        order.record_line_cancelled(line, units, cmd.reason, cmd.actor, refunded=due.refund,
                                    credited=due.amounts.gross if due.invoice else 0,
                                    fulfilments=taken)
        pending = _settle(uow, setup, order, line, due, cmd)
        if held.waits and order.status is not OrderStatus.CANCELLED:
            waiting = {w["line_id"] for w in uow.backorders.waiting_for_order(order.seq or 0)}
            order.stop_waiting(waiting, cmd.actor, reason="waiting units cancelled")
        uow.orders.save(order)
        follow_fulfilments(uow, order, cmd.actor)
        serve_queue(uow, queue, [line.sku], cmd.actor, utcnow().date())
        uow.commit()
    for move in pending:
        finish(uow, setup, move, cmd.actor)
    return order.id


def _lock(uow: UnitOfWork, cmd: c.CancelOrderLine
          ) -> tuple[Order, list[Order], dict[str, Fulfilment]]:
    """Lock in the one lock order: the orders waiting for the order's SKUs (stock given back
    serves them) with the order itself, in placement order; its fulfilments still in the
    building; then the stock rows."""
    seen = uow.orders.peek(cmd.order_id)
    if seen is None:
        raise NotFound(f"order {cmd.order_id!r} not found")
    seq, skus = seen
    waiting = uow.backorders.waiting_orders(skus)
    orders = lock_orders(uow, [*waiting, seq])
    order = orders.get(seq)
    if order is None or (cmd.channel is not None and order.channel != cmd.channel):
        raise NotFound(f"order {cmd.order_id!r} not found")
    found = (uow.fulfilments.get(i) for i in uow.fulfilments.open_for_order(seq))
    fulfilments = {f.id: f for f in found if f is not None}
    uow.stock.lock_levels(skus)
    return order, [orders[s] for s in waiting if s in orders], fulfilments


@dataclass(frozen=True)
class Held:
    """Where a line's units that may be cancelled are, newest first in each list."""

    waits: list[dict[str, Any]]  # waiting for supply
    unreleased: list[dict[str, Any]]  # allocations no fulfilment holds
    queued: list[dict[str, Any]]  # allocations in fulfilments not started

    @property
    def free(self) -> int:
        return sum(row["quantity"] for row in (*self.waits, *self.unreleased, *self.queued))


def _held(uow: UnitOfWork, order: Order, line: OrderLine,
          fulfilments: dict[str, Fulfilment]) -> Held:
    assert order.seq is not None
    waits = [w for w in uow.backorders.waiting_for_order(order.seq) if w["line_id"] == line.id]
    active = [a for a in uow.allocations.active_for_order(order.seq) if a["line_id"] == line.id]
    not_started = {f.id for f in fulfilments.values() if _not_started(uow, f)}
    newest = sorted(active, key=lambda a: -a["id"])
    return Held(sorted(waits, key=lambda w: -w["id"]),
                [a for a in newest if a["fulfilment_id"] is None],
                [a for a in newest if a["fulfilment_id"] in not_started])


def _not_started(uow: UnitOfWork, fulfilment: Fulfilment) -> bool:
    if fulfilment.status is not FulfilmentStatus.PENDING:
        return False
    owner, until = uow.shipping.lease_of(fulfilment.id)
    return owner is None or until is None or until <= utcnow()


def _not_in_flight(uow: UnitOfWork, order: Order) -> None:
    """While an authorization or a capture waits for the gateway's answer, nobody knows yet
    what was taken for these units (a capture on placement takes all that is authorized)."""
    assert order.seq is not None
    for payment in uow.payments.for_order(order.seq):
        if any(t["kind"] in (Kind.AUTHORIZE, Kind.CAPTURE) and t["outcome"] == Outcome.PENDING
               for t in payment["transactions"]):
            raise InvalidTransition("the order's payment is waiting for the gateway's answer: "
                                    "cancel the units once it has answered",
                                    action="cancel_line")


def _give_back(uow: UnitOfWork, order: Order, line: OrderLine, units: int, held: Held,
               fulfilments: dict[str, Fulfilment], actor: str) -> list[dict[str, Any]]:
    """Waits shrink first, then allocations end (their stock available again, in the ledger
    as `line_cancelled`) and fulfilments lose the units. Answers the fulfilments touched."""
    left = _end_waits(uow, order, line, held.waits, units)
    released: list[tuple[dict[str, Any], int]] = []
    for allocation in (*held.unreleased, *held.queued):
        if left == 0:
            break
        take = min(left, allocation["quantity"])
        uow.allocations.shrink(allocation["id"], allocation["quantity"] - take, "release")
        uow.stock.release(line.sku, allocation["location_code"], take)
        uow.stock.record_movement(line.sku, allocation["location_code"], reserved_delta=-take,
                                  reason="line_cancelled", reference=order.number, actor=actor)
        released.append((allocation, take))
        left -= take
    assert left == 0, "the units cancelled were counted among those held"
    give_back_shipments(uow, [allocation for allocation, _ in released], order)
    out: dict[str, int] = defaultdict(int)
    for allocation, take in released:
        if allocation["fulfilment_id"] is not None:
            out[allocation["fulfilment_id"]] += take
    for fulfilment_id, take in sorted(out.items()):
        _take_out(uow, fulfilments[fulfilment_id], line, take, actor)
    return [{"fulfilment_id": f, "quantity": q} for f, q in sorted(out.items())]


def _end_waits(uow: UnitOfWork, order: Order, line: OrderLine, waits: list[dict[str, Any]],
               units: int) -> int:
    """Cancel waits, newest first; one cancelled in part goes on with the rest, promised as
    before (against the same purchase order line). Answers the units still to cancel."""
    assert order.seq is not None
    for wait in waits:
        if units == 0:
            break
        take = min(units, wait["quantity"])
        uow.backorders.resolve([wait["id"]], "cancel")
        if take < wait["quantity"]:
            rest = Wait(line.id, line.sku, wait["quantity"] - take, WaitKind(wait["kind"]),
                        wait["promised_on"], None, _decision(wait["decision"]))
            uow.backorders.add(order.seq, rest, wait["supply_line_id"])
        units -= take
    return units


def _decision(stored: dict[str, Any] | None) -> Decision:
    if not stored:
        return Decision("kept", "what is left of a wait cancelled in part")
    return Decision(stored["rule"], stored["explanation"],
                    tuple(Candidate(**row) for row in stored.get("considered", ())),
                    tuple((str(a), str(b)) for a, b in stored.get("excluded", ())))


def _take_out(uow: UnitOfWork, fulfilment: Fulfilment, line: OrderLine, units: int,
              actor: str) -> None:
    """A fulfilment not started loses the units; left with none, it is cancelled."""
    lines = tuple(
        FulfilmentLine(fl.order_line_id, fl.sku, fl.quantity - units)
        if fl.order_line_id == line.id else fl
        for fl in fulfilment.lines if fl.order_line_id != line.id or fl.quantity > units)
    if lines:
        fulfilment.lines = lines
        fulfilment.note("fulfilment.units_cancelled", actor, sku=line.sku, quantity=units)
    else:
        fulfilment.apply("cancel", actor, reason="its units were cancelled")
    uow.fulfilments.save(fulfilment)


@dataclass(frozen=True)
class Due:
    """What the cancelled units were worth (with the shipping, when the order ends), the
    invoice of placement that billed them if there is one, and what goes back to the card."""

    amounts: Amounts
    invoice: dict[str, Any] | None
    refund: int


def _due(uow: UnitOfWork, order: Order, line: OrderLine, units: int) -> Due:
    """Called after the units were cancelled on the order: its total is what is left."""
    assert order.seq is not None
    ends = all(ln.status is LineStatus.CANCELLED for ln in order.lines)
    invoice = uow.invoices.find(order.seq, DocumentKind.INVOICE, "order")
    if invoice is None:
        worth = [_units(order, line, line.quantity - line.cancelled, units, line.sku)]
        if ends and order.shipping_total.amount:
            worth.append(shipping_line(order))
        amounts = Amounts(tuple(worth))
        still_worth = order.grand_total.amount
    else:
        amounts = _credit(uow, order, invoice, line, units, ends)
        still_worth = invoice["gross"] - _credited_before(uow, order, invoice) - amounts.gross
    ahead, room = _captured(uow, order)
    return Due(amounts, invoice, max(0, min(amounts.gross, ahead - still_worth, room)))


def _credit(uow: UnitOfWork, order: Order, invoice: dict[str, Any], line: OrderLine,
            units: int, ends: bool) -> Amounts:
    """The credit of the units against the invoice of placement, at what it billed for them;
    the shipping too when the order ends."""
    billed, credited = _ledger(uow.invoices.lines_for_order(order.seq or 0))
    on_it, taken = billed.get(invoice["id"], {}), credited.get(invoice["id"], {})
    credit = [credit_of(_document_line(on_it[line.id]), taken.get(line.id, 0), units)]
    if ends and SHIPPING_KEY in on_it and not taken.get(SHIPPING_KEY):
        credit.append(credit_of(_document_line(on_it[SHIPPING_KEY]), 0, 1))
    return Amounts(tuple(credit))


def _credited_before(uow: UnitOfWork, order: Order, invoice: dict[str, Any]) -> int:
    """What earlier line cancellations credited on the invoice."""
    return sum(doc["gross"] for doc in uow.invoices.for_order(order.seq or 0)
               if doc["kind"] == DocumentKind.CREDIT_NOTE and doc["corrects_id"] == invoice["id"]
               and str(doc["reference"]).startswith(REFERENCE))


def _captured(uow: UnitOfWork, order: Order) -> tuple[int, int]:
    """What the order's captures took, less what line cancellations gave back (or are giving
    back): refunds of returns and price adjustments concern goods that left, not these. And
    what the payment a refund is made from can still refund."""
    assert order.seq is not None
    payments = uow.payments.for_order(order.seq)
    room = next((n for p in reversed(payments) if (n := refundable(transactions_of(p))) > 0), 0)
    rows = [t for p in payments for t in p["transactions"]]
    captured = sum(t["amount"] for t in rows
                   if t["kind"] == Kind.CAPTURE and t["outcome"] == Outcome.SUCCEEDED)
    given_back = sum(t["amount"] for t in rows
                     if t["kind"] == Kind.REFUND and t["outcome"] != Outcome.FAILED
                     and str(t["reference"] or "").startswith(REFERENCE))
    return captured - given_back, room


def _settle(uow: UnitOfWork, setup: MoneySetup, order: Order, line: OrderLine, due: Due,
            cmd: c.CancelOrderLine) -> list[Pending]:
    """Write the refund and its credit note (asked of the gateway after the commit), and
    release what is left of the authorization once nothing is left to send."""
    reference = f"{REFERENCE}{line.line_no}:{line.cancelled}"
    moves = []
    refund = begin_refund(uow, order, due.refund, reference, cmd.actor) if due.refund else None
    if refund is not None:
        moves.append(refund)
    if due.invoice is not None:
        issue(uow, setup, order, DocumentKind.CREDIT_NOTE, due.amounts, reference, cmd.actor,
              transaction_id=refund.transaction_id if refund else None, corrects=due.invoice,
              reason=cmd.reason)
    if all(ln.to_dispatch == 0 for ln in order.lines):
        void = begin_void(uow, order, cmd.actor)
        if void is not None:
            moves.append(void)
    return moves
