"""Invoices and credit notes from real orders: however an order is split into shipments, its
invoices add up to exactly what the order said, and every document reconciles with itself."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ordermesh.domain.errors import InvalidInput
from ordermesh.domain.invoicing import (
    Amounts,
    DocumentKind,
    adjustment,
    credit_of,
    document_number,
    shipment,
    whole_order,
)
from ordermesh.domain.money import Money
from ordermesh.domain.orders import Customer, Fulfilment, LineStatus, Order, OrderLine
from ordermesh.domain.tax import TaxRate, TaxTable, apply_tax

RATES = tuple(Decimal(rate) for rate in ("0", "0.05", "0.07", "0.1", "0.2", "0.21", "0.25"))
COUNTRY = "NL"
SHIPPING_CLASS = "shipping"


def rate_name(rate: Decimal) -> str:
    return f"VAT {(rate * 100).normalize():f}%"


def class_of(rate: Decimal) -> str:
    return f"class-{rate}"


TABLE = TaxTable((
    *(TaxRate(class_of(rate), COUNTRY, rate, rate_name(rate)) for rate in RATES),
    TaxRate(SHIPPING_CLASS, COUNTRY, Decimal("0.21"), rate_name(Decimal("0.21"))),
))


@dataclass(frozen=True)
class LineSpec:
    unit_price: int
    quantity: int
    rate: Decimal


@dataclass(frozen=True)
class OrderSpec:
    lines: tuple[LineSpec, ...]
    shipping: int
    inclusive: bool


def build(spec: OrderSpec) -> Order:
    """A real order, taxed as placement taxes it, with every line reserved (ready to ship)."""
    lines = [OrderLine(f"line-{n}", n, f"SKU-{n}", line.quantity, Money(line.unit_price, "EUR"),
                       status=LineStatus.RESERVED)
             for n, line in enumerate(spec.lines, start=1)]
    order = Order(
        id="order-1", channel="web", external_reference=None,
        customer=Customer("ann@example.test", "Ann"),
        billing_address={"line1": "1 Main St", "city": "Amsterdam", "country": COUNTRY},
        shipping_address={"line1": "1 Main St", "city": "Amsterdam", "country": COUNTRY},
        delivery_instructions=None, payment_token=None, fulfilment=Fulfilment("ship"),
        currency="EUR", lines=lines, shipping_total=Money(spec.shipping, "EUR"), seq=1,
    )
    classes = {f"SKU-{n}": class_of(line.rate) for n, line in enumerate(spec.lines, start=1)}
    taxed = apply_tax(order.taxables(SHIPPING_CLASS, classes), TABLE, COUNTRY, None, spec.inclusive)
    order.set_taxes(taxed, spec.inclusive)
    return order


NAMES = {f"SKU-{n}": f"Product {n}" for n in range(1, 7)}

line_specs = st.builds(LineSpec, unit_price=st.integers(0, 10**7), quantity=st.integers(1, 20),
                       rate=st.sampled_from(RATES))
order_specs = st.builds(OrderSpec, lines=st.lists(line_specs, min_size=1, max_size=6).map(tuple),
                        shipping=st.one_of(st.just(0), st.integers(1, 10**5)),
                        inclusive=st.booleans())


def order_net(order: Order) -> int:
    return order.grand_total.amount - order.tax_total.amount


def assert_reconciles(amounts: Amounts) -> None:
    """A document's lines, its breakdown per rate and its totals add up to the same unit."""
    assert amounts.net + amounts.tax == amounts.gross
    assert sum(line.gross for line in amounts.lines) == amounts.gross
    assert all(line.net + line.tax == line.gross for line in amounts.lines)
    rows = amounts.by_rate()
    assert sum(row.net for row in rows) == amounts.net
    assert sum(row.tax for row in rows) == amounts.tax
    keys = [(row.rate, row.name) for row in rows]
    assert keys == sorted(set(keys))  # one row per rate, lowest first


def ship(order: Order, quantities: dict[int, int]) -> Amounts:
    """Invoice a shipment, then mark its units dispatched as fulfilment would."""
    amounts = shipment(order, quantities, NAMES)
    by_no = {line.line_no: line for line in order.lines}
    for line_no, count in quantities.items():
        by_no[line_no].dispatched += count
    return amounts


def draw_shipments(order: Order, data: st.DataObject) -> list[Amounts]:
    """Ship the whole order in a random sequence of shipments of random parts of lines."""
    documents = []
    while remaining := [line for line in order.lines if line.to_dispatch]:
        chosen = data.draw(st.lists(st.sampled_from(remaining), min_size=1, unique_by=id,
                                    max_size=len(remaining)), label="lines")
        quantities = {line.line_no: data.draw(st.integers(1, line.to_dispatch),
                                              label=f"units of line {line.line_no}")
                      for line in chosen}
        documents.append(ship(order, quantities))
    return documents


# ---------------------------------------------------------------------------------------------
# Shipments add up to the order
# ---------------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(spec=order_specs, data=st.data())
def test_shipments_add_up_to_exactly_what_the_order_said(spec: OrderSpec,
                                                          data: st.DataObject) -> None:
    # given a taxed order, when it is shipped in any sequence of partial shipments
    order = build(spec)
    documents = draw_shipments(order, data)
    # then every unit was invoiced once, and the invoices sum to the order to the minor unit
    assert all(line.dispatched == line.quantity for line in order.lines)
    assert sum(doc.gross for doc in documents) == order.grand_total.amount
    assert sum(doc.net for doc in documents) == order_net(order)
    assert sum(doc.tax for doc in documents) == order.tax_total.amount
    # and every invoice reconciles with itself
    for doc in documents:
        assert_reconciles(doc)
    # and each order line was invoiced for exactly its stored amounts, quantity and price
    lines = [line for doc in documents for line in doc.lines]
    for order_line in order.lines:
        parts = [line for line in lines if line.order_line_id == order_line.id]
        assert sum(part.quantity for part in parts) == order_line.quantity
        assert sum(part.tax for part in parts) == order_line.tax
        stored_gross = order_line.total.amount + (0 if spec.inclusive else order_line.tax)
        assert sum(part.gross for part in parts) == stored_gross
        assert {(part.sku, part.description, part.unit_price, part.tax_rate, part.tax_name)
                for part in parts} == {(order_line.sku, NAMES[order_line.sku],
                                        order_line.unit_price.amount, order_line.tax_rate,
                                        order_line.tax_name)}
    # and the shipping is billed once, on the first shipment
    shipping = [(n, line) for n, doc in enumerate(documents) for line in doc.lines
                if line.order_line_id is None]
    if spec.shipping:
        assert [n for n, _ in shipping] == [0]
        (_, line), = shipping
        assert (line.description, line.tax) == ("Shipping", order.shipping_tax)
        assert line.gross == spec.shipping + (0 if spec.inclusive else order.shipping_tax)
    else:
        assert shipping == []


@settings(max_examples=200, deadline=None)
@given(spec=order_specs)
def test_an_order_invoiced_whole_matches_its_totals(spec: OrderSpec) -> None:
    order = build(spec)
    amounts = whole_order(order, NAMES)
    assert amounts.gross == order.grand_total.amount
    assert amounts.tax == order.tax_total.amount
    assert amounts.net == order_net(order)
    assert_reconciles(amounts)
    # and it is what shipping everything at once bills
    assert amounts == shipment(order, {line.line_no: line.quantity for line in order.lines}, NAMES)


@settings(max_examples=100, deadline=None)
@given(spec=order_specs, data=st.data())
def test_a_cancelled_line_is_neither_invoiced_nor_shipped(spec: OrderSpec,
                                                         data: st.DataObject) -> None:
    order = build(spec)
    cancelled = data.draw(st.sampled_from(order.lines), label="cancelled line")
    cancelled.apply("cancel")
    assert cancelled.id not in {line.order_line_id for line in whole_order(order, NAMES).lines}
    assert_reconciles(whole_order(order, NAMES))
    documents = draw_shipments(order, data)
    assert cancelled.dispatched == 0
    assert all(line.order_line_id != cancelled.id for doc in documents for line in doc.lines)
    kept = [line for line in order.lines if line is not cancelled]
    tax = sum(line.tax for line in kept) + (order.shipping_tax if documents else 0)
    assert sum(doc.tax for doc in documents) == tax


def test_one_unit_at_a_time_never_drifts_by_a_rounding_cent() -> None:
    # given 3 units of 0.05 at 10 % on top: 0.15 + 0.015 tax, stored rounded to 0.02
    order = build(OrderSpec((LineSpec(5, 3, Decimal("0.1")),), 0, inclusive=False))
    assert order.grand_total.amount == 17
    # when the units ship one by one, then they bill 0.06, 0.05 and 0.06: 0.17 in all
    documents = [ship(order, {1: 1}) for _ in range(3)]
    assert [(doc.net, doc.tax, doc.gross) for doc in documents] == [(5, 1, 6), (5, 0, 5), (5, 1, 6)]


# ---------------------------------------------------------------------------------------------
# What a shipment refuses
# ---------------------------------------------------------------------------------------------


def small_order() -> Order:
    return build(OrderSpec((LineSpec(1210, 2, Decimal("0.21")), LineSpec(1090, 3, Decimal("0.05"))),
                           495, inclusive=True))


@pytest.mark.parametrize("status", [LineStatus.CANCELLED, LineStatus.PENDING])
def test_only_reserved_units_ship(status: LineStatus) -> None:
    order = small_order()
    order.lines[1].status = status
    with pytest.raises(InvalidInput, match="only reserved units ship") as refused:
        shipment(order, {1: 1, 2: 1}, NAMES)
    assert refused.value.extra == {"line_no": 2, "status": str(status)}
    assert shipment(order, {1: 1}, NAMES).lines[0].quantity == 1  # the other line still ships


def test_a_line_partly_waiting_ships_the_units_it_holds() -> None:
    order = small_order()
    order.lines[1].status = LineStatus.BACKORDERED
    assert [(ln.sku, ln.quantity) for ln in shipment(order, {2: 1}, NAMES).lines
            if ln.sku] == [(order.lines[1].sku, 1)]


@pytest.mark.parametrize(("quantities", "message"), [
    ({}, "at least one line"),
    ({1: 0}, "has 2 units to dispatch, not 0"),
    ({1: -1}, "has 2 units to dispatch, not -1"),
    ({1: 3}, "has 2 units to dispatch, not 3"),
    ({3: 1}, "the order has no line 3"),
    ({0: 1}, "the order has no line 0"),
    ({1: 1, 9: 1}, "the order has no line 9"),
])
def test_a_shipment_of_nothing_too_much_or_an_unknown_line_is_refused(quantities: dict[int, int],
                                                                      message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        shipment(small_order(), quantities, NAMES)


@settings(max_examples=100, deadline=None)
@given(spec=order_specs, data=st.data())
def test_a_shipment_never_bills_more_units_than_are_left(spec: OrderSpec, data: st.DataObject) -> None:
    order = build(spec)
    line = data.draw(st.sampled_from(order.lines), label="line")
    shipped = data.draw(st.integers(0, line.quantity), label="already shipped")
    if shipped:
        ship(order, {line.line_no: shipped})
    too_many = data.draw(st.integers(line.to_dispatch + 1, line.quantity + 5), label="units")
    with pytest.raises(InvalidInput) as refused:
        shipment(order, {line.line_no: too_many}, NAMES)
    assert refused.value.extra == {"line_no": line.line_no, "to_dispatch": line.quantity - shipped}
    with pytest.raises(InvalidInput):
        shipment(order, {line.line_no: 0}, NAMES)


def test_a_fully_shipped_line_ships_no_more() -> None:
    order = small_order()
    ship(order, {1: 2})
    with pytest.raises(InvalidInput, match="has 0 units to dispatch, not 1"):
        shipment(order, {1: 1}, NAMES)
    # and the next shipment carries no second shipping charge
    assert all(line.order_line_id for line in ship(order, {2: 3}).lines)


# ---------------------------------------------------------------------------------------------
# Returns
# ---------------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(spec=order_specs, data=st.data())
def test_returns_credit_an_invoice_line_in_any_parts_to_exactly_what_it_billed(
        spec: OrderSpec, data: st.DataObject) -> None:
    # given an order shipped in full, each invoice line returned in random parts
    order = build(spec)
    invoice = ship(order, {line.line_no: line.quantity for line in order.lines})
    for billed in invoice.lines:
        credited, credits = 0, []
        while credited < billed.quantity:
            units = data.draw(st.integers(1, billed.quantity - credited), label="units returned")
            credit = credit_of(billed, credited, units)
            assert credit.quantity == units and credit.net + credit.tax == credit.gross
            assert (credit.tax_rate, credit.tax_name, credit.order_line_id) == (
                billed.tax_rate, billed.tax_name, billed.order_line_id)
            credits.append(credit)
            credited += units
        # then the parts add up to the line exactly: never a rounding unit more
        assert sum(c.net for c in credits) == billed.net
        assert sum(c.tax for c in credits) == billed.tax
        # and nothing more can be credited
        with pytest.raises(InvalidInput) as refused:
            credit_of(billed, credited, 1)
        assert refused.value.extra["left"] == 0


def test_a_return_of_no_units_or_of_more_than_billed_is_refused() -> None:
    order = small_order()
    (tee, *_) = ship(order, {1: 2, 2: 3}).lines
    with pytest.raises(InvalidInput, match="2 billed units are not credited yet, not 3"):
        credit_of(tee, 0, 3)
    with pytest.raises(InvalidInput):
        credit_of(tee, 0, 0)
    with pytest.raises(InvalidInput, match="1 billed units are not credited yet, not 2"):
        credit_of(tee, 1, 2)


def test_returning_a_line_in_parts_never_credits_more_than_it_was_invoiced() -> None:
    order = build(OrderSpec((LineSpec(5, 3, Decimal("0.1")),), 0, inclusive=False))
    (billed,) = ship(order, {1: 3}).lines
    credits = [credit_of(billed, n, 1) for n in range(3)]  # one unit at a time
    assert billed.gross == 17
    assert [c.gross for c in credits] == [6, 5, 6]
    assert sum(c.gross for c in credits) == billed.gross


# ---------------------------------------------------------------------------------------------
# Price adjustments and numbering
# ---------------------------------------------------------------------------------------------


@settings(max_examples=300)
@given(amount=st.integers(1, 10**12), rate=st.sampled_from(RATES), inclusive=st.booleans())
def test_an_adjustment_credits_exactly_the_amount(amount: int, rate: Decimal, inclusive: bool) -> None:
    credit = adjustment(amount, rate, rate_name(rate), inclusive)
    assert credit.gross == amount
    assert_reconciles(credit)
    (line,) = credit.lines
    assert (line.description, line.quantity, line.tax_rate, line.tax_name, line.order_line_id) == (
        "Price adjustment", 1, rate, rate_name(rate), None)
    assert line.unit_price == (amount if inclusive else line.net)
    assert 0 <= line.tax <= amount


@pytest.mark.parametrize("amount", [0, -1, -500])
def test_an_adjustment_of_nothing_or_less_is_refused(amount: int) -> None:
    with pytest.raises(InvalidInput):
        adjustment(amount, Decimal("0.21"), "VAT 21%", True)


@pytest.mark.parametrize(("kind", "year", "seq", "number"), [
    (DocumentKind.INVOICE, 2026, 1, "INV-2026-000001"),
    (DocumentKind.INVOICE, 2026, 999999, "INV-2026-999999"),
    (DocumentKind.CREDIT_NOTE, 2027, 42, "CN-2027-000042"),
])
def test_document_numbers(kind: DocumentKind, year: int, seq: int, number: str) -> None:
    assert document_number(kind, year, seq) == number
