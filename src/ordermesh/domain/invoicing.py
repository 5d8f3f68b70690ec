"""Invoices and credit notes: what a shipment (or a whole order) is billed for, and what a
refund gives back, line by line, with tax.

Amounts telescope: the units (d, d+q] of a line cost amount(d+q) - amount(d), where amount(n)
is the line's own stored amount for all of its units and a fresh half-up rounding below that.
However a line is split over shipments, its invoices add up to exactly what the order said, so
the captures never exceed the authorization by a rounding cent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from ordermesh.domain.errors import InvalidInput
from ordermesh.domain.orders import LineStatus, Order, OrderLine
from ordermesh.domain.tax import tax_line


class DocumentKind(StrEnum):
    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"


SERIES = {DocumentKind.INVOICE: "INV", DocumentKind.CREDIT_NOTE: "CN"}


def document_number(kind: DocumentKind, year: int, seq: int) -> str:
    """INV-2026-000001: gapless per series and year."""
    return f"{SERIES[kind]}-{year}-{seq:06d}"


@dataclass(frozen=True, slots=True)
class DocumentLine:
    order_line_id: str | None  # None for shipping and for a price adjustment
    sku: str | None
    description: str
    quantity: int
    unit_price: int
    net: int
    tax: int
    tax_rate: Decimal
    tax_name: str

    @property
    def gross(self) -> int:
        return self.net + self.tax


@dataclass(frozen=True, slots=True)
class RateLine:
    rate: Decimal
    name: str
    net: int
    tax: int


@dataclass(frozen=True)
class Amounts:
    lines: tuple[DocumentLine, ...]

    @property
    def net(self) -> int:
        return sum(line.net for line in self.lines)

    @property
    def tax(self) -> int:
        return sum(line.tax for line in self.lines)

    @property
    def gross(self) -> int:
        return self.net + self.tax

    def by_rate(self) -> list[RateLine]:
        """The tax breakdown, one row per rate, lowest first; it sums to the totals."""
        rows: dict[tuple[Decimal, str], list[DocumentLine]] = {}
        for line in self.lines:
            rows.setdefault((line.tax_rate, line.tax_name), []).append(line)
        return [RateLine(rate, name, sum(ln.net for ln in lines), sum(ln.tax for ln in lines))
                for (rate, name), lines in sorted(rows.items())]


UNTAXED = (Decimal(0), "No tax")


def _amount(order: Order, line: OrderLine, units: int) -> tuple[int, int]:
    """(net, tax) of the first `units` units of a line."""
    if units == 0:
        return 0, 0
    if units == line.quantity:  # all of it: exactly what the order stored
        gross_or_net = line.total.amount
        if order.prices_include_tax:
            return gross_or_net - line.tax, line.tax
        return gross_or_net, line.tax
    net, tax, _ = tax_line(line.unit_price.amount * units, line.tax_rate or Decimal(0),
                           order.prices_include_tax)
    return net, tax


def _units(order: Order, line: OrderLine, start: int, count: int, description: str) -> DocumentLine:
    net_after, tax_after = _amount(order, line, start + count)
    net_before, tax_before = _amount(order, line, start)
    rate, name = (line.tax_rate, line.tax_name) if line.tax_rate is not None else UNTAXED
    return DocumentLine(line.id, line.sku, description, count, line.unit_price.amount,
                        net_after - net_before, tax_after - tax_before, rate, name or UNTAXED[1])


def shipping_line(order: Order) -> DocumentLine:
    total = order.shipping_total.amount
    net = total - order.shipping_tax if order.prices_include_tax else total
    rate, name = ((order.shipping_tax_rate, order.shipping_tax_name)
                  if order.shipping_tax_rate is not None else UNTAXED)
    return DocumentLine(None, None, "Shipping", 1, total, net, order.shipping_tax, rate,
                        name or UNTAXED[1])


def shipment(order: Order, quantities: Mapping[int, int], names: Mapping[str, str]) -> Amounts:
    """What a shipment of `quantities` (line number -> units) bills, before the lines are marked
    dispatched. The order's first shipment carries its shipping."""
    by_no = {line.line_no: line for line in order.lines}
    if not quantities:
        raise InvalidInput("a shipment has at least one line")
    lines = []
    for line_no, count in sorted(quantities.items()):
        line = by_no.get(line_no)
        if line is None:
            raise InvalidInput(f"the order has no line {line_no}")
        if line.status not in (LineStatus.RESERVED, LineStatus.BACKORDERED):
            # (a line partly waiting ships the units it holds; the stock checks they are)
            raise InvalidInput(f"line {line_no} is {line.status}: only reserved units ship",
                               line_no=line_no, status=str(line.status))
        if not 1 <= count <= line.to_dispatch:
            raise InvalidInput(f"line {line_no} has {line.to_dispatch} units to dispatch, "
                               f"not {count}", line_no=line_no, to_dispatch=line.to_dispatch)
        lines.append(_units(order, line, line.dispatched, count, names.get(line.sku, line.sku)))
    first = all(line.dispatched == 0 for line in order.lines)
    if first and order.shipping_total.amount:
        lines.append(shipping_line(order))
    return Amounts(tuple(lines))


def whole_order(order: Order, names: Mapping[str, str]) -> Amounts:
    """Everything not cancelled, for an invoice issued when the order is placed."""
    lines = [_units(order, line, 0, line.quantity, names.get(line.sku, line.sku))
             for line in order.lines if line.status is not LineStatus.CANCELLED]
    if order.shipping_total.amount:
        lines.append(shipping_line(order))
    return Amounts(tuple(lines))


def credit_of(billed: DocumentLine, credited: int, units: int) -> DocumentLine:
    """The credit for `units` more units of an invoice line of which `credited` were credited
    before: units (c, c+k] get share(c+k) - share(c), share(x) being the line's net and tax for
    x of its units rounded half up, exact for all of them. However a line is returned, its
    credits add up to exactly what it was billed, never more."""
    left = billed.quantity - credited
    if not 1 <= units <= left:
        raise InvalidInput(f"{billed.description}: {left} billed units are not credited yet, "
                           f"not {units}", sku=billed.sku, left=left)

    def share(amount: int, x: int) -> int:
        return int((Decimal(amount) * x / billed.quantity).quantize(Decimal(1), ROUND_HALF_UP))

    net = share(billed.net, credited + units) - share(billed.net, credited)
    tax = share(billed.tax, credited + units) - share(billed.tax, credited)
    return DocumentLine(billed.order_line_id, billed.sku, billed.description, units,
                        billed.unit_price, net, tax, billed.tax_rate, billed.tax_name)


def adjustment(amount: int, rate: Decimal, name: str, prices_include_tax: bool,
               description: str = "Price adjustment") -> Amounts:
    """A credit of `amount` (what the customer gets back, tax included) at one rate."""
    if amount < 1:
        raise InvalidInput("a credit is at least one minor unit")
    net, tax, _ = tax_line(amount, rate, True)
    return Amounts((DocumentLine(None, None, description, 1, amount if prices_include_tax else net,
                                 net, tax, rate, name),))


@dataclass(frozen=True, slots=True)
class Party:
    name: str
    address: Mapping[str, str | None]
    email: str | None = None
    tax_id: str | None = None


@dataclass(frozen=True)
class Document:
    """An issued invoice or credit note, as printed."""

    kind: DocumentKind
    number: str
    issued_on: date
    order_number: str
    currency: str
    seller: Party
    buyer: Party
    amounts: Amounts
    prices_include_tax: bool
    payment_terms: str
    status: str
    corrects: str | None = None  # the number of the invoice a credit note corrects
    reason: str | None = None

