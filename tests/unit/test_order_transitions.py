"""The order state machine, order construction rules, totals and order numbers."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ordermesh.domain.errors import InvalidInput, InvalidTransition
from ordermesh.domain.money import Money
from ordermesh.domain.orders import (
    ACTION_EVENTS,
    ACTIONS,
    LINE_TRANSITIONS,
    RESUME,
    TRANSITIONS,
    Customer,
    Fulfilment,
    LineStatus,
    Order,
    OrderLine,
    OrderStatus,
    format_order_number,
    parse_order_number,
    transition_diagram,
)

S = OrderStatus
TERMINAL = {S.CANCELLED, S.COMPLETED}
HOLDABLE = [state for state, row in TRANSITIONS.items() if "hold" in row]
ADDRESS = {"name": "Ann de Vries", "line1": "Keizersgracht 1", "city": "Amsterdam",
           "postal_code": "1015 CJ", "country": "NL"}
# The state an order in the cross-product test was held in before it went on hold.
HELD_FROM = S.PAID


def a_line(line_no: int = 1, sku: str = "SKU-1", quantity: int = 1, unit_price: int = 1999,
           currency: str = "EUR") -> OrderLine:
    return OrderLine(f"line-{line_no}", line_no, sku, quantity, Money(unit_price, currency))


def an_order(*lines: OrderLine, currency: str = "EUR", shipping: int = 495,
             **overrides: Any) -> Order:
    """A shipped web order in EUR; one line of 1 x 19.99 unless lines are given."""
    fields: dict[str, Any] = {
        "id": "order-1",
        "channel": "web",
        "external_reference": None,
        "customer": Customer("ann@example.com", "Ann de Vries"),
        "billing_address": ADDRESS,
        "shipping_address": ADDRESS,
        "delivery_instructions": None,
        "payment_token": "tok_visa",
        "fulfilment": Fulfilment("ship"),
        "currency": currency,
        "lines": list(lines) or [a_line(currency=currency)],
        "shipping_total": Money(shipping, currency),
    }
    fields.update(overrides)
    return Order(**fields)


def an_order_in(status: OrderStatus) -> Order:
    held_from = HELD_FROM if status is S.ON_HOLD else None
    return an_order(status=status, held_from=held_from)


# ---------------------------------------------------------------------------------------------
# The transition table itself
# ---------------------------------------------------------------------------------------------


def test_the_table_has_a_row_for_every_status() -> None:
    assert set(TRANSITIONS) == set(OrderStatus)


def test_every_target_is_a_status_or_resume() -> None:
    bad = {(state, action, target)
           for state, row in TRANSITIONS.items() for action, target in row.items()
           if not (target == RESUME or target in set(OrderStatus))}
    assert bad == set()


@pytest.mark.parametrize("state", sorted(TERMINAL))
def test_terminal_states_have_no_actions(state: OrderStatus) -> None:
    assert TRANSITIONS[state] == {}


def test_only_terminal_states_have_no_actions() -> None:
    assert {state for state, row in TRANSITIONS.items() if not row} == TERMINAL


def test_every_action_in_the_table_records_an_event() -> None:
    used = {action for row in TRANSITIONS.values() for action in row}
    assert used - set(ACTION_EVENTS) == set()
    assert set(ACTIONS) == set(ACTION_EVENTS)


def test_event_names_are_order_events_and_distinct() -> None:
    assert all(event.startswith("order.") for event in ACTION_EVENTS.values())
    assert len(set(ACTION_EVENTS.values())) == len(ACTION_EVENTS)


def _successors(state: OrderStatus) -> set[OrderStatus]:
    result: set[OrderStatus] = set()
    for target in TRANSITIONS[state].values():
        result |= set(HOLDABLE) if target == RESUME else {S(target)}
    return result


def _reachable(start: OrderStatus) -> set[OrderStatus]:
    seen, todo = {start}, [start]
    while todo:
        for nxt in _successors(todo.pop()) - seen:
            seen.add(nxt)
            todo.append(nxt)
    return seen


def test_every_status_is_reachable_from_placed() -> None:
    assert _reachable(S.PLACED) == set(OrderStatus)


@pytest.mark.parametrize("state", list(OrderStatus))
def test_every_status_can_reach_an_end(state: OrderStatus) -> None:
    assert _reachable(state) & TERMINAL


def test_the_diagram_draws_every_move_of_the_table() -> None:
    lines = transition_diagram().splitlines()
    assert lines[:2] == ["stateDiagram-v2", "    [*] --> placed"]
    edges = {tuple(line.split()) for line in lines[2:]}
    expected = {(str(state), "-->", str(to) + ":", action)
                for state, row in TRANSITIONS.items() for action, target in row.items()
                for to in (HOLDABLE if target == RESUME else [target])}
    expected |= {(str(state), "-->", "[*]") for state in TERMINAL}
    assert edges == expected
    assert ("on_hold", "-->", "paid:", "release") in edges


# ---------------------------------------------------------------------------------------------
# Every (state, action) pair
# ---------------------------------------------------------------------------------------------

PAIRS = [
    pytest.param(state, action,
                 id=f"{state}-{action}-{'allowed' if action in TRANSITIONS[state] else 'refused'}")
    for state in OrderStatus for action in ACTIONS
]


@pytest.mark.parametrize(("state", "action"), PAIRS)
def test_state_action_pair(state: OrderStatus, action: str) -> None:
    # given an order in `state` (an order on hold was held while paid)
    order = an_order_in(state)
    held_from_before = order.held_from
    allowed = TRANSITIONS[state]

    if action in allowed:
        expected = held_from_before if allowed[action] == RESUME else S(allowed[action])
        assert expected is not None
        # when the action is applied
        order.apply(action, "operator:ann")
        # then the order moved to the target and recorded exactly one event about it
        assert order.status is expected
        assert len(order.events) == 1
        event = order.events[0]
        assert event.type == ACTION_EVENTS[action]
        assert event.data == {"from": state.value, "to": expected.value}
        assert (event.stream, event.stream_id, event.actor) == ("order", "order-1",
                                                                "operator:ann")
        if action == "hold":
            assert order.held_from is state
        elif action == "release":
            assert order.held_from is None
    else:
        # when the action is applied, then it is refused and nothing changes
        with pytest.raises(InvalidTransition) as refused:
            order.apply(action, "operator:ann")
        assert refused.value.code == "order.invalid_transition"
        assert refused.value.extra == {"current_status": state.value, "action": action,
                                       "allowed": sorted(allowed)}
        assert order.status is state
        assert order.held_from == held_from_before
        assert order.events == []


def test_hold_is_allowed_from_the_states_before_fulfilment() -> None:
    assert set(HOLDABLE) == {S.PLACED, S.BACKORDERED, S.ALLOCATED, S.PAID}


@pytest.mark.parametrize("state", HOLDABLE)
def test_release_returns_to_the_state_the_order_was_held_in(state: OrderStatus) -> None:
    # given an order in a state that may be held
    order = an_order(status=state)
    # when it is held and then released
    order.apply("hold", "operator:ann", reason="fraud check")
    assert order.status is S.ON_HOLD
    assert order.held_from is state
    order.apply("release", "operator:ann")
    # then it is back where it was, and both steps are on the timeline
    assert order.status is state
    assert order.held_from is None
    assert [(e.type, e.data) for e in order.events] == [
        ("order.held", {"from": state.value, "to": "on_hold", "reason": "fraud check"}),
        ("order.released", {"from": "on_hold", "to": state.value}),
    ]


def test_a_released_order_can_be_held_again_from_its_new_state() -> None:
    # given an order held while placed, released, then allocated
    order = an_order()
    for action in ("hold", "release", "allocate", "hold"):
        order.apply(action, "system")
    # when released again, then it returns to allocated, not to placed
    order.apply("release", "system")
    assert order.status is S.ALLOCATED


def test_the_happy_path_from_placed_to_completed() -> None:
    order = an_order()
    for action in ("allocate", "pay", "start_fulfilment", "ship", "deliver", "complete"):
        order.apply(action, "system")
    assert order.status is S.COMPLETED
    assert [e.type for e in order.events] == [
        "order.allocated", "order.paid", "order.fulfilment_started", "order.shipped",
        "order.delivered", "order.completed"]


def test_extra_data_is_recorded_with_the_event() -> None:
    order = an_order()
    order.apply("cancel", "customer", reason="changed my mind")
    assert order.events[-1].data == {"from": "placed", "to": "cancelled",
                                     "reason": "changed my mind"}


# ---------------------------------------------------------------------------------------------
# Construction rules and totals
# ---------------------------------------------------------------------------------------------


def test_an_order_without_lines_is_refused() -> None:
    with pytest.raises(InvalidInput, match="at least one line"):
        an_order(lines=[])


@pytest.mark.parametrize("address", [None, {}])
def test_a_shipped_order_needs_a_shipping_address(address: dict[str, Any] | None) -> None:
    with pytest.raises(InvalidInput, match="shipping address"):
        an_order(shipping_address=address)


def test_a_pickup_order_needs_no_shipping_address() -> None:
    order = an_order(shipping_address=None, fulfilment=Fulfilment("pickup", "STORE-AMS"),
                     shipping=0)
    assert order.fulfilment.pickup_location == "STORE-AMS"


@pytest.mark.parametrize(("method", "location"), [
    ("pickup", None), ("ship", "STORE-AMS"), ("drone", None)])
def test_fulfilment_rules(method: str, location: str | None) -> None:
    with pytest.raises(InvalidInput):
        Fulfilment(method, location)


def test_lines_in_another_currency_are_refused() -> None:
    with pytest.raises(InvalidInput, match="order currency EUR"):
        an_order(a_line(1), a_line(2, currency="USD"))


def test_shipping_in_another_currency_is_refused() -> None:
    with pytest.raises(InvalidInput, match="order currency EUR"):
        an_order(shipping_total=Money(495, "GBP"))


def test_negative_shipping_is_refused() -> None:
    with pytest.raises(InvalidInput, match="shipping total cannot be negative"):
        an_order(shipping=-1)


def test_free_shipping_is_allowed() -> None:
    assert an_order(shipping=0).grand_total == Money(1999, "EUR")


@pytest.mark.parametrize(("quantity", "price"), [(0, 100), (-1, 100), (1, -1)])
def test_line_rules(quantity: int, price: int) -> None:
    with pytest.raises(InvalidInput):
        a_line(quantity=quantity, unit_price=price)


def test_totals() -> None:
    # given two lines: 2 x 19.99 and 3 x 5.00, and 4.95 shipping
    order = an_order(a_line(1, "SKU-1", 2, 1999), a_line(2, "SKU-2", 3, 500), shipping=495)
    # then
    assert order.lines[0].total == Money(3998, "EUR")
    assert order.lines_total == Money(5498, "EUR")
    assert order.grand_total == Money(5993, "EUR")


@given(lines=st.lists(st.tuples(st.integers(1, 1000), st.integers(0, 10**7)),
                      min_size=1, max_size=10),
       shipping=st.integers(0, 10**6))
def test_grand_total_is_lines_times_prices_plus_shipping(
        lines: list[tuple[int, int]], shipping: int) -> None:
    order = an_order(*(a_line(n, f"SKU-{n}", q, p, "JPY") for n, (q, p) in enumerate(lines, 1)),
                     currency="JPY", shipping=shipping)
    assert order.lines_total == Money(sum(q * p for q, p in lines), "JPY")
    assert order.grand_total == Money(sum(q * p for q, p in lines) + shipping, "JPY")


# ---------------------------------------------------------------------------------------------
# Order numbers
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("seq", "number"), [
    (1, "OM-000001"), (123, "OM-000123"), (999999, "OM-999999"), (1234567, "OM-1234567")])
def test_an_order_is_numbered_from_its_sequence(seq: int, number: str) -> None:
    assert an_order(seq=seq).number == number
    assert format_order_number(seq) == number


def test_an_unstored_order_has_no_number() -> None:
    with pytest.raises(ValueError, match="before it is stored"):
        _ = an_order().number


@given(st.integers(min_value=0, max_value=10**18 - 1))
def test_parse_order_number_round_trips(seq: int) -> None:
    assert parse_order_number(format_order_number(seq)) == seq


@pytest.mark.parametrize(("text", "seq"), [
    ("OM-000123", 123), ("om-000123", 123), ("OM-7", 7), ("OM-0000000042", 42)])
def test_parse_order_number_reads_numbers(text: str, seq: int) -> None:
    assert parse_order_number(text) == seq


@pytest.mark.parametrize("text", [
    "", "OM", "OM-", "000123", "XX-000123", "OM000123", "OM-12a", "OM-1-2", "OM- 12", "OM--12",
    "OM-+12", "OM-1.5", "5b0e0f1c-8f3a-4c3e-9d1a-2b7f1e6c9a10"])
def test_parse_order_number_returns_none_for_anything_else(text: str) -> None:
    assert parse_order_number(text) is None


@pytest.mark.parametrize("text", [
    "OM-\u00b2", "OM-1\u00b2", "OM-\u0661\u0662\u0663", "OM-\uff11\uff12", "OM-" + "9" * 5000,
], ids=["superscript-two", "digit-then-superscript", "arabic-indic-digits", "fullwidth-digits",
        "5000-digits"])
def test_parse_order_number_refuses_other_digits_without_raising(text: str) -> None:
    # regression: str.isdigit() let these through to int(), which raised (a 500 on GET)
    assert parse_order_number(text) is None


def test_parse_order_number_takes_at_most_18_digits() -> None:
    assert parse_order_number("OM-" + "9" * 18) == 10**18 - 1
    assert parse_order_number("OM-" + "9" * 19) is None


# ---------------------------------------------------------------------------------------------
# order.placed
# ---------------------------------------------------------------------------------------------


def test_record_placed() -> None:
    # given a stored order with two lines
    order = an_order(a_line(1, "SKU-1", 2, 1999), a_line(2, "SKU-2", 1, 500),
                     channel="pos", seq=123)
    # when it is recorded as placed
    order.record_placed("channel:pos")
    # then one order.placed event carries its number, channel, total and lines
    assert len(order.events) == 1
    event = order.events[0]
    assert (event.type, event.stream, event.stream_id, event.actor) == (
        "order.placed", "order", "order-1", "channel:pos")
    assert event.data == {
        "number": "OM-000123",
        "channel": "pos",
        "grand_total": {"amount": 2 * 1999 + 500 + 495, "currency": "EUR"},
        "lines": [{"sku": "SKU-1", "quantity": 2}, {"sku": "SKU-2", "quantity": 1}],
    }
    assert order.status is S.PLACED


def test_record_placed_needs_a_number() -> None:
    order = an_order()
    with pytest.raises(ValueError, match="before it is stored"):
        order.record_placed("channel:web")
    assert order.events == []


def test_cancelling_a_held_order_forgets_where_it_was_held() -> None:
    order = an_order()
    order.apply("hold", "ops")
    order.apply("cancel", "ops")
    assert order.status is OrderStatus.CANCELLED and order.held_from is None


@pytest.mark.parametrize("status", list(LineStatus))
@pytest.mark.parametrize("action", ["reserve", "backorder", "cancel"])
def test_every_line_status_and_action_behaves_as_the_line_table_says(
        status: LineStatus, action: str) -> None:
    line = an_order().lines[0]
    line.status = status
    if action in LINE_TRANSITIONS[status]:
        line.apply(action)
        assert line.status is LINE_TRANSITIONS[status][action]
    else:
        with pytest.raises(InvalidTransition):
            line.apply(action)
        assert line.status is status
