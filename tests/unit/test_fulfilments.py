"""Fulfilments: every (status, action, method), tracking events late, twice or out of order,
and the order's fulfilment status computed from its fulfilments."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ordermesh.domain.errors import InvalidInput, InvalidTransition
from ordermesh.domain.fulfilments import (
    ACTION_EVENTS,
    METHOD_ACTIONS,
    PICKUP_ONLY,
    SHIPPING_ONLY,
    TRANSITIONS,
    Fulfilment,
    FulfilmentLine,
    FulfilmentStatus,
    OrderFulfilment,
    order_fulfilment,
    transition_diagram,
)

F, OF = FulfilmentStatus, OrderFulfilment
ACTIONS = sorted(ACTION_EVENTS)
T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def a_fulfilment(method: str = "ship", status: FulfilmentStatus = F.PENDING) -> Fulfilment:
    return Fulfilment("f-1", "o-1", "WH-1", method, (FulfilmentLine("l-1", "TEE-1", 2),),
                      status=status)


@pytest.mark.parametrize(("status", "action", "method"),
                         list(itertools.product(F, ACTIONS, ["ship", "pickup"])))
def test_every_status_action_and_method(status: FulfilmentStatus, action: str,
                                        method: str) -> None:
    fulfilment = a_fulfilment(method, status)
    allowed = action in TRANSITIONS[status] and action in METHOD_ACTIONS[method]
    if allowed:
        fulfilment.apply(action, "tester")
        assert fulfilment.status is TRANSITIONS[status][action]
        (event,) = fulfilment.events
        assert (event.type, event.data["from"], event.data["to"]) == (
            ACTION_EVENTS[action], str(status), str(fulfilment.status))
    else:
        with pytest.raises(InvalidTransition) as refused:
            fulfilment.apply(action, "tester")
        assert fulfilment.status is status and fulfilment.events == []
        assert refused.value.extra["allowed"] == fulfilment.allowed()


def test_each_method_has_its_own_path_to_the_customer() -> None:
    shipped, collected = a_fulfilment("ship"), a_fulfilment("pickup")
    for action in ("start_picking", "pack", "dispatch", "in_transit", "out_for_delivery",
                   "deliver"):
        shipped.apply(action, "tester")
    for action in ("start_picking", "pack", "make_ready", "collect"):
        collected.apply(action, "tester")
    assert (shipped.status, collected.status) == (F.DELIVERED, F.COLLECTED)
    assert not SHIPPING_ONLY & METHOD_ACTIONS["pickup"]
    assert not PICKUP_ONLY & METHOD_ACTIONS["ship"]


def test_every_status_is_reachable_and_the_ends_are_ends() -> None:
    reached = {F.PENDING}
    frontier = [F.PENDING]
    while frontier:
        for target in TRANSITIONS[frontier.pop()].values():
            if target not in reached:
                reached.add(target)
                frontier.append(target)
    assert reached == set(F)
    assert {s for s, moves in TRANSITIONS.items() if not moves} == {
        F.DELIVERED, F.RETURNED_TO_SENDER, F.COLLECTED, F.RETURNED_TO_STOCK, F.CANCELLED}
    assert "pending --> picking: start_picking" in transition_diagram()


def dispatched() -> Fulfilment:
    return a_fulfilment("ship", F.DISPATCHED)


def test_tracking_moves_a_shipment_in_the_carriers_order() -> None:
    fulfilment = dispatched()
    assert fulfilment.track("in_transit", T0, "carrier")
    assert fulfilment.track("out_for_delivery", T0 + timedelta(hours=5), "carrier")
    assert fulfilment.track("delivered", T0 + timedelta(hours=7), "carrier")
    assert fulfilment.status is F.DELIVERED
    assert fulfilment.tracked_at == T0 + timedelta(hours=7)
    assert [e.type for e in fulfilment.events] == [
        "fulfilment.in_transit", "fulfilment.out_for_delivery", "fulfilment.delivered"]


def test_a_repeated_or_late_tracking_event_changes_nothing() -> None:
    fulfilment = dispatched()
    fulfilment.track("in_transit", T0, "carrier")
    fulfilment.track("delivered", T0 + timedelta(hours=7), "carrier")
    # the out-for-delivery scan arrives after the delivery, and the delivery again
    assert not fulfilment.track("out_for_delivery", T0 + timedelta(hours=5), "carrier")
    assert not fulfilment.track("delivered", T0 + timedelta(hours=7), "carrier")
    assert fulfilment.status is F.DELIVERED
    ignored = [e.data["reason"] for e in fulfilment.events
               if e.type == "fulfilment.tracking_ignored"]
    assert ignored == ["older than the last applied", "older than the last applied"]


def test_an_exception_can_recover_and_a_return_ends_it() -> None:
    fulfilment = dispatched()
    fulfilment.track("exception", T0, "carrier", detail="address not found")
    assert fulfilment.status is F.EXCEPTION
    fulfilment.track("in_transit", T0 + timedelta(hours=1), "carrier")
    fulfilment.track("returned_to_sender", T0 + timedelta(days=2), "carrier")
    assert fulfilment.status is F.RETURNED_TO_SENDER
    assert not fulfilment.track("delivered", T0 + timedelta(days=3), "carrier")


def test_tracking_is_refused_for_unknown_events_and_naive_times() -> None:
    with pytest.raises(InvalidInput):
        dispatched().track("teleported", T0, "carrier")
    with pytest.raises(InvalidInput):
        dispatched().track("delivered", datetime(2026, 11, 26, 9, 0), "carrier")  # noqa: DTZ001
    assert not a_fulfilment("pickup", F.READY_FOR_PICKUP).track("delivered", T0, "carrier")


def test_a_fulfilment_needs_a_method_and_lines() -> None:
    with pytest.raises(InvalidInput):
        Fulfilment("f", "o", "WH-1", "drone", (FulfilmentLine("l", "TEE-1", 1),))
    with pytest.raises(InvalidInput):
        Fulfilment("f", "o", "WH-1", "ship", ())
    with pytest.raises(InvalidInput):
        FulfilmentLine("l", "TEE-1", 0)


@pytest.mark.parametrize(("statuses", "waiting", "expected"), [
    ([], False, OF.CANCELLED),
    ([], True, OF.UNFULFILLED),
    ([F.PENDING, F.PENDING], False, OF.UNFULFILLED),
    ([F.PICKING, F.PENDING], False, OF.IN_PROGRESS),
    ([F.DISPATCHED, F.PACKED], False, OF.PARTIALLY_DISPATCHED),
    ([F.DISPATCHED, F.IN_TRANSIT], False, OF.DISPATCHED),
    ([F.DISPATCHED, F.IN_TRANSIT], True, OF.PARTIALLY_DISPATCHED),
    ([F.DELIVERED, F.IN_TRANSIT], False, OF.PARTIALLY_DELIVERED),
    ([F.DELIVERED, F.COLLECTED], False, OF.DELIVERED),
    ([F.DELIVERED, F.CANCELLED], False, OF.DELIVERED),
    ([F.DELIVERED], True, OF.PARTIALLY_DELIVERED),
    ([F.READY_FOR_PICKUP], False, OF.READY_FOR_PICKUP),
    ([F.READY_FOR_PICKUP, F.DISPATCHED], False, OF.DISPATCHED),
    ([F.EXCEPTION, F.DELIVERED], False, OF.EXCEPTION),
    ([F.RETURNED_TO_SENDER, F.RETURNED_TO_STOCK], False, OF.RETURNED),
    ([F.CANCELLED, F.CANCELLED], False, OF.CANCELLED),
])
def test_the_orders_fulfilment_status_is_computed(statuses: list[FulfilmentStatus],
                                                  waiting: bool,
                                                  expected: OrderFulfilment) -> None:
    assert order_fulfilment(statuses, waiting) is expected


@given(st.lists(st.sampled_from(list(F)), max_size=6), st.booleans())
def test_an_order_is_delivered_only_when_every_live_fulfilment_arrived(
        statuses: list[FulfilmentStatus], waiting: bool) -> None:
    result = order_fulfilment(statuses, waiting)
    live = [s for s in statuses if s is not F.CANCELLED]
    arrived = bool(live) and all(s in (F.DELIVERED, F.COLLECTED) for s in live)
    assert (result is OF.DELIVERED) == (arrived and not waiting)
