"""Suppliers, the purchase order state machine, receipts and purchase order rules."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from ordermesh.domain.errors import InvalidInput, InvalidTransition
from ordermesh.domain.money import Money
from ordermesh.domain.purchasing import (
    MAX_TOTAL,
    PO_ACTIONS,
    PO_CREATED,
    PO_EVENTS,
    PO_TRANSITIONS,
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseOrderStatus,
    Receipt,
    Supplier,
    format_po_number,
    parse_po_number,
    transition_diagram,
)

P = PurchaseOrderStatus
TERMINAL = {P.CLOSED, P.CANCELLED}
RECEIVABLE = [state for state, row in PO_TRANSITIONS.items() if "receive" in row]
TODAY = date(2025, 3, 10)


def a_line(line_no: int = 1, sku: str = "SKU-1", quantity: int = 10, unit_cost: int = 450,
           currency: str = "GBP", received: int = 0) -> PurchaseOrderLine:
    return PurchaseOrderLine(line_no, sku, quantity, Money(unit_cost, currency), received)


def a_purchase_order(*lines: PurchaseOrderLine, **overrides: Any) -> PurchaseOrder:
    """A draft GBP purchase order for the main warehouse; two lines of 10 and 5 unless given."""
    fields: dict[str, Any] = {
        "id": "po-1",
        "number": "PO-000001",
        "supplier_code": "ACME",
        "currency": "GBP",
        "deliver_to": "WH-LON",
        "lines": list(lines) or [a_line(1, "SKU-1", 10), a_line(2, "SKU-2", 5, 1200)],
    }
    fields.update(overrides)
    return PurchaseOrder(**fields)


def a_supplier(**overrides: Any) -> Supplier:
    fields: dict[str, Any] = {"code": "ACME", "name": "Acme Ltd", "email": "orders@acme.test",
                              "currency": "GBP", "lead_time_days": 7, "payment_terms_days": 30}
    fields.update(overrides)
    return Supplier(**fields)


def a_sent_purchase_order() -> PurchaseOrder:
    po = a_purchase_order()
    po.send("buyer:bo", TODAY, 7)
    po.events.clear()
    return po


# ---------------------------------------------------------------------------------------------
# The transition table itself
# ---------------------------------------------------------------------------------------------


def test_the_table_has_a_row_for_every_status() -> None:
    assert set(PO_TRANSITIONS) == set(PurchaseOrderStatus)


def test_only_closed_and_cancelled_are_terminal() -> None:
    assert {state for state, row in PO_TRANSITIONS.items() if not row} == TERMINAL


def test_every_action_in_the_table_records_a_purchase_order_event() -> None:
    used = {action for row in PO_TRANSITIONS.values() for action in row}
    assert used == set(PO_EVENTS) == set(PO_ACTIONS)
    assert all(event.startswith("purchase_order.") for event in PO_EVENTS.values())
    assert set(PO_EVENTS.values()) | {PO_CREATED} == {
        "purchase_order.created", "purchase_order.sent", "purchase_order.received",
        "purchase_order.closed", "purchase_order.cancelled"}


def test_a_receipt_leads_to_partially_received_or_received() -> None:
    for state in RECEIVABLE:
        assert PO_TRANSITIONS[state]["receive"] is P.PARTIALLY_RECEIVED
        assert PO_TRANSITIONS[state]["receive_in_full"] is P.RECEIVED
    assert RECEIVABLE == [P.SENT, P.PARTIALLY_RECEIVED]


def test_the_diagram_draws_every_move_of_the_table() -> None:
    lines = transition_diagram().splitlines()
    assert lines[:2] == ["stateDiagram-v2", "    [*] --> draft"]
    edges = {tuple(line.split()) for line in lines[2:]}
    expected: set[tuple[str, ...]] = {(str(state), "-->", f"{target}:", action)
                for state, row in PO_TRANSITIONS.items() for action, target in row.items()}
    expected |= {(str(state), "-->", "[*]") for state in TERMINAL}
    assert edges == expected


# ---------------------------------------------------------------------------------------------
# Every (state, action) pair
# ---------------------------------------------------------------------------------------------

PAIRS = [
    pytest.param(state, action,
                 id=f"{state}-{action}-{'allowed' if action in PO_TRANSITIONS[state] else 'refused'}")
    for state in PurchaseOrderStatus for action in PO_ACTIONS
]


@pytest.mark.parametrize(("state", "action"), PAIRS)
def test_state_action_pair(state: PurchaseOrderStatus, action: str) -> None:
    # given a purchase order in `state`
    po = a_purchase_order(status=state)
    allowed = PO_TRANSITIONS[state]
    if action in allowed:
        # when the action is applied, then it moves to the target and records one event
        po.apply(action, "buyer:bo")
        assert po.status is allowed[action]
        assert [(e.type, e.stream, e.stream_id, e.actor, e.data) for e in po.events] == [
            (PO_EVENTS[action], "purchase_order", "po-1", "buyer:bo",
             {"from": state.value, "to": allowed[action].value})]
    else:
        # when the action is applied, then it is refused and nothing changes
        with pytest.raises(InvalidTransition) as refused:
            po.apply(action, "buyer:bo")
        assert refused.value.code == "purchase_order.invalid_transition"
        assert refused.value.extra == {"current_status": state.value, "action": action,
                                       "allowed": sorted(allowed)}
        assert po.status is state
        assert po.events == []


@pytest.mark.parametrize("state", [s for s in PurchaseOrderStatus if s not in RECEIVABLE])
def test_goods_cannot_be_received_unless_the_table_allows_it(state: PurchaseOrderStatus) -> None:
    po = a_purchase_order(status=state)
    with pytest.raises(InvalidTransition, match=f"cannot receive a purchase order that is {state}"):
        po.receive({1: 1}, "warehouse:lon")
    assert [line.received for line in po.lines] == [0, 0]
    assert po.events == []


# ---------------------------------------------------------------------------------------------
# Sending
# ---------------------------------------------------------------------------------------------


def test_sending_expects_the_goods_after_the_lead_time() -> None:
    po = a_purchase_order()
    po.send("buyer:bo", TODAY, 7)
    assert po.status is P.SENT
    assert po.expected_on == date(2025, 3, 17)
    assert po.sent_at is not None
    assert [(e.type, e.data) for e in po.events] == [
        ("purchase_order.sent", {"from": "draft", "to": "sent", "expected_on": "2025-03-17"})]


def test_an_agreed_expected_date_wins_over_the_lead_time() -> None:
    po = a_purchase_order(expected_on=date(2025, 4, 1))
    po.send("buyer:bo", TODAY, 7)
    assert po.expected_on == date(2025, 4, 1)


@pytest.mark.parametrize("lead_time", [-1, True, "7"])
def test_sending_needs_a_whole_lead_time(lead_time: Any) -> None:
    po = a_purchase_order()
    with pytest.raises(InvalidInput, match="lead_time_days"):
        po.send("buyer:bo", TODAY, lead_time)
    assert po.status is P.DRAFT and po.events == []


def test_a_sent_order_cannot_be_sent_again() -> None:
    po = a_sent_purchase_order()
    with pytest.raises(InvalidTransition):
        po.send("buyer:bo", TODAY, 7)
    assert po.expected_on == date(2025, 3, 17)


# ---------------------------------------------------------------------------------------------
# Receiving
# ---------------------------------------------------------------------------------------------


def test_a_partial_then_a_full_receipt() -> None:
    # given a sent order for 10 x SKU-1 and 5 x SKU-2
    po = a_sent_purchase_order()
    # when part of it arrives
    receipts = po.receive({1: 4, 2: 5}, "warehouse:lon")
    # then it is partially received, with 6 of SKU-1 still outstanding
    assert receipts == [Receipt(1, "SKU-1", 4), Receipt(2, "SKU-2", 5)]
    assert (po.status, po.is_fully_received) == (P.PARTIALLY_RECEIVED, False)
    assert [line.outstanding for line in po.lines] == [6, 0]
    # when the rest arrives
    po.receive({1: 6}, "warehouse:lon")
    # then it is received in full, and both receipts are on the timeline
    assert po.status is P.RECEIVED and po.is_fully_received
    assert [(e.type, e.data["to"]) for e in po.events] == [
        ("purchase_order.received", "partially_received"),
        ("purchase_order.received", "received")]
    assert po.events[1].data["receipts"] == [
        {"line_no": 1, "sku": "SKU-1", "quantity": 6, "over_received": 0}]


def test_everything_at_once_goes_straight_to_received() -> None:
    po = a_sent_purchase_order()
    po.receive({1: 10, 2: 5}, "warehouse:lon")
    assert po.status is P.RECEIVED


def test_an_over_receipt_is_refused_and_nothing_is_booked() -> None:
    po = a_sent_purchase_order()
    with pytest.raises(InvalidInput, match="receiving 11 but only 10 outstanding") as refused:
        po.receive({2: 1, 1: 11}, "warehouse:lon")
    assert refused.value.extra == {"line_no": 1, "quantity": 11, "outstanding": 10}
    assert [line.received for line in po.lines] == [0, 0]
    assert po.status is P.SENT and po.events == []


def test_an_over_receipt_is_booked_when_allowed() -> None:
    po = a_sent_purchase_order()
    receipts = po.receive({1: 12, 2: 5}, "warehouse:lon", allow_over_receipt=True)
    assert receipts[0] == Receipt(1, "SKU-1", 12)
    assert po.lines[0].received == 12 and po.lines[0].outstanding == 0
    assert po.status is P.RECEIVED
    assert [r["over_received"] for r in po.events[0].data["receipts"]] == [2, 0]


@pytest.mark.parametrize(("quantities", "message"), [
    ({}, "at least one line"),
    ({3: 1}, "no line 3"),
    ({1: 0}, "at least 1"),
    ({1: -2}, "at least 1"),
    ({1: True}, "at least 1"),
])
def test_bad_receipts_are_refused(quantities: dict[int, int], message: str) -> None:
    po = a_sent_purchase_order()
    with pytest.raises(InvalidInput, match=message):
        po.receive(quantities, "warehouse:lon")
    assert [line.received for line in po.lines] == [0, 0] and po.events == []


# ---------------------------------------------------------------------------------------------
# Cancelling and closing
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sent", [False, True])
def test_an_order_with_nothing_received_can_be_cancelled(sent: bool) -> None:
    po = a_sent_purchase_order() if sent else a_purchase_order()
    po.cancel("buyer:bo", reason="supplier out of stock")
    assert po.status is P.CANCELLED
    assert po.events[-1].type == "purchase_order.cancelled"
    assert po.events[-1].data["reason"] == "supplier out of stock"


def test_cancel_is_refused_after_a_receipt() -> None:
    po = a_sent_purchase_order()
    po.receive({1: 1}, "warehouse:lon")
    with pytest.raises(InvalidTransition, match="goods received; close it instead") as refused:
        po.cancel("buyer:bo")
    assert refused.value.extra["action"] == "cancel"
    assert po.status is P.PARTIALLY_RECEIVED and len(po.events) == 1


def test_a_partially_received_order_can_be_short_closed() -> None:
    po = a_sent_purchase_order()
    po.receive({1: 4}, "warehouse:lon")
    po.close("buyer:bo", reason="rest discontinued")
    assert po.status is P.CLOSED
    assert (po.events[-1].type, po.events[-1].data) == (
        "purchase_order.closed",
        {"from": "partially_received", "to": "closed", "reason": "rest discontinued"})
    with pytest.raises(InvalidTransition):
        po.receive({1: 1}, "warehouse:lon")


def test_the_whole_life_of_a_purchase_order() -> None:
    po = a_purchase_order()
    po.record_created("buyer:bo")
    po.send("buyer:bo", TODAY, 3)
    po.receive({1: 10}, "warehouse:lon")
    po.receive({2: 5}, "warehouse:lon")
    po.close("buyer:bo")
    assert [e.type for e in po.events] == [
        "purchase_order.created", "purchase_order.sent", "purchase_order.received",
        "purchase_order.received", "purchase_order.closed"]
    assert {e.stream for e in po.events} == {"purchase_order"}


def test_record_created() -> None:
    po = a_purchase_order()
    po.record_created("buyer:bo")
    assert [(e.type, e.data) for e in po.events] == [("purchase_order.created", {
        "number": "PO-000001", "supplier_code": "ACME", "deliver_to": "WH-LON",
        "total": {"amount": 10 * 450 + 5 * 1200, "currency": "GBP"},
        "lines": [{"line_no": 1, "sku": "SKU-1", "quantity": 10},
                  {"line_no": 2, "sku": "SKU-2", "quantity": 5}]})]
    assert po.status is P.DRAFT


# ---------------------------------------------------------------------------------------------
# Construction rules and totals
# ---------------------------------------------------------------------------------------------


def test_totals() -> None:
    po = a_purchase_order()
    assert po.lines[0].total == Money(4500, "GBP")
    assert po.total == Money(10500, "GBP")


def test_a_purchase_order_without_lines_is_refused() -> None:
    with pytest.raises(InvalidInput, match="at least one line"):
        a_purchase_order(lines=[])


def test_costs_in_another_currency_are_refused() -> None:
    with pytest.raises(InvalidInput, match="purchase order currency GBP"):
        a_purchase_order(a_line(1), a_line(2, "SKU-2", currency="EUR"))


def test_a_bad_currency_is_refused() -> None:
    with pytest.raises(InvalidInput, match="ISO 4217"):
        a_purchase_order(a_line(currency="GBP"), currency="gbp")


def test_a_duplicate_sku_is_refused() -> None:
    with pytest.raises(InvalidInput, match=r"duplicate sku on purchase order: \['SKU-1'\]"):
        a_purchase_order(a_line(1, "SKU-1"), a_line(2, "SKU-1"))


def test_a_duplicate_line_number_is_refused() -> None:
    with pytest.raises(InvalidInput, match="duplicate line_no"):
        a_purchase_order(a_line(1, "SKU-1"), a_line(1, "SKU-2"))


@pytest.mark.parametrize(("quantity", "cost", "received"), [
    (0, 100, 0), (-1, 100, 0), (1, -1, 0), (1, 100, -1), (True, 100, 0)])
def test_line_rules(quantity: int, cost: int, received: int) -> None:
    with pytest.raises(InvalidInput):
        a_line(quantity=quantity, unit_cost=cost, received=received)


def test_a_free_line_is_allowed() -> None:
    assert a_line(unit_cost=0).total == Money(0, "GBP")


def test_a_total_beyond_a_signed_64_bit_integer_is_refused() -> None:
    # SQLite sums the lines in a 64-bit integer: a larger total would break every list of them
    assert MAX_TOTAL == 2**63 - 1
    at_most = a_purchase_order(a_line(1, "SKU-1", 1, MAX_TOTAL - 2), a_line(2, "SKU-2", 2, 1))
    assert at_most.total == Money(MAX_TOTAL, "GBP")
    with pytest.raises(InvalidInput, match="at most 9223372036854775807"):
        a_purchase_order(a_line(1, "SKU-1", 1, MAX_TOTAL - 2), a_line(2, "SKU-2", 3, 1))
    with pytest.raises(InvalidInput):  # the reviewer's: 100 lines of 10^6 units at 10^11
        a_purchase_order(*(a_line(n, f"SKU-{n}", 10**6, 10**11) for n in range(1, 101)))


# ---------------------------------------------------------------------------------------------
# Suppliers
# ---------------------------------------------------------------------------------------------


def test_a_valid_supplier() -> None:
    supplier = a_supplier()
    assert (supplier.lead_time_days, supplier.payment_terms_days) == (7, 30)


@pytest.mark.parametrize("overrides", [
    {"code": " "}, {"name": ""}, {"email": "acme"}, {"email": "@acme.test"},
    {"currency": "gbp"}, {"currency": "POUND"}, {"lead_time_days": -1},
    {"payment_terms_days": -1}, {"lead_time_days": True}, {"payment_terms_days": "30"},
], ids=repr)
def test_invalid_suppliers_are_refused(overrides: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput):
        a_supplier(**overrides)


def test_purchase_order_numbers_follow_the_sequence() -> None:
    assert format_po_number(42) == "PO-000042"
    assert parse_po_number("po-000042") == 42 and parse_po_number("PO-1234567") == 1234567
    assert parse_po_number("OM-000042") is None and parse_po_number("PO-") is None


def test_a_receipt_may_name_its_delivery() -> None:
    po = a_sent_purchase_order()
    po.receive({1: 1}, "warehouse:lon", reference="DN-7")
    assert po.events[-1].data["reference"] == "DN-7"


def test_a_line_holds_at_most_what_its_column_stores() -> None:
    from ordermesh.domain.purchasing import MAX_LINE_UNITS

    with pytest.raises(InvalidInput):
        PurchaseOrderLine(1, "A", MAX_LINE_UNITS + 1, Money(1, "EUR"))
    assert PurchaseOrderLine(1, "A", MAX_LINE_UNITS, Money(1, "EUR")).outstanding == MAX_LINE_UNITS
