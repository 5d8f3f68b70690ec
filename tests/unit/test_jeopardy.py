"""Stage clocks, SLAs and reasons of orders in jeopardy: pure rules over plain facts."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction

import pytest

from ordermesh.domain.errors import InvalidInput
from ordermesh.domain.jeopardy import (
    DEFAULT_SLA_MINUTES,
    MAX_SLA_MINUTES,
    Flag,
    OrderFacts,
    Parcel,
    PaymentTry,
    Reason,
    Stage,
    StageClock,
    Unsent,
    Waiting,
    assess,
    check_sla,
    jeopardy_event,
    measure,
    most_late_first,
    next_step,
    sla_minutes,
    stages,
)

PLACED = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return PLACED + timedelta(minutes=minutes)


def an_order(**facts: object) -> OrderFacts:
    """An order of the web channel placed at PLACED, allocated and authorized a minute later."""
    defaults: dict[str, object] = {
        "order_id": "o-1", "number": "OM-000001", "channel": "web", "status": "allocated",
        "placed_at": PLACED, "payments": (PaymentTry(PLACED, "succeeded", at(1)),),
        "unsent": (Unsent(PLACED),)}
    return OrderFacts(**{**defaults, **facts})  # type: ignore[arg-type]


def clocks(facts: OrderFacts) -> dict[Stage, tuple[datetime, Reason]]:
    return {c.stage: (c.started_at, c.reason) for c in stages(facts)}


# -- SLAs ----------------------------------------------------------------------------------------


def test_a_channels_own_sla_wins_then_every_channels_then_the_default() -> None:
    slas = {("web", "dispatch"): 120, ("*", "dispatch"): 600, ("*", "delivery"): 2000}
    assert sla_minutes(slas, "web", Stage.DISPATCH) == 120
    assert sla_minutes(slas, "pos", Stage.DISPATCH) == 600
    assert sla_minutes(slas, "web", Stage.DELIVERY) == 2000
    assert sla_minutes(slas, "web", Stage.PAYMENT) == DEFAULT_SLA_MINUTES[Stage.PAYMENT]


def test_every_stage_has_a_default() -> None:
    assert set(DEFAULT_SLA_MINUTES) == set(Stage)
    assert all(0 < m <= MAX_SLA_MINUTES for m in DEFAULT_SLA_MINUTES.values())


@pytest.mark.parametrize("stage, minutes", [
    ("packing", 60), ("", 60), ("dispatch", 0), ("dispatch", -5),
    ("dispatch", MAX_SLA_MINUTES + 1), ("dispatch", True), ("dispatch", 1.5)])
def test_an_unknown_stage_or_an_sla_out_of_range_is_refused(stage: str, minutes: int) -> None:
    with pytest.raises(InvalidInput):
        check_sla(stage, minutes)


def test_an_sla_from_one_minute_to_a_year_is_taken() -> None:
    assert check_sla("dispatch", 1) is Stage.DISPATCH
    assert check_sla("collection", MAX_SLA_MINUTES) is Stage.COLLECTION


# -- the thresholds ------------------------------------------------------------------------------


def test_at_risk_from_exactly_four_fifths_of_the_sla_and_overdue_from_all_of_it() -> None:
    # given a dispatch clock started at PLACED with 100 minutes to go
    clock = StageClock(Stage.DISPATCH, PLACED, Reason.SLOW)
    tick = timedelta(microseconds=1)
    # then it is quiet until 80 minutes, at risk from 80, overdue from 100
    assert not measure(clock, 100, at(80) - tick).at_risk
    assert measure(clock, 100, at(80)).at_risk and not measure(clock, 100, at(80)).overdue
    assert not measure(clock, 100, at(100) - tick).overdue
    assert measure(clock, 100, at(100)).overdue


def test_the_minutes_count_whole_minutes_past_due_and_negative_before() -> None:
    clock = StageClock(Stage.DISPATCH, PLACED, Reason.SLOW)
    assert measure(clock, 100, at(80)).minutes == -20
    assert measure(clock, 100, at(100)).minutes == 0
    assert measure(clock, 100, at(100.5)).minutes == 0
    assert measure(clock, 100, at(99.5)).minutes == -1  # still within the last minute
    assert measure(clock, 100, at(161)).minutes == 61


def test_the_warning_share_can_be_given() -> None:
    clock = StageClock(Stage.DISPATCH, PLACED, Reason.SLOW)
    half = measure(clock, 60, at(30), share=Fraction(1, 2))
    assert half.at_risk and half.warn_at == at(30) and half.due_at == at(60)


def test_an_odd_sla_is_cut_exactly_to_the_microsecond() -> None:
    found = measure(StageClock(Stage.PAYMENT, PLACED, Reason.SLOW), 7, PLACED)
    assert found.warn_at == PLACED + timedelta(seconds=336)  # 7 minutes x 4/5


def test_assess_measures_each_stage_by_its_channels_sla() -> None:
    facts = an_order(channel="pos")
    [found] = assess(facts, {("pos", "dispatch"): 10}, at(9))
    assert (found.stage, found.sla_minutes, found.at_risk) == (Stage.DISPATCH, 10, True)
    assert found.started_at == at(1)  # the clock waited for the authorization


# -- payment -------------------------------------------------------------------------------------


def test_an_unanswered_payment_is_slow_from_placement() -> None:
    facts = an_order(payments=(PaymentTry(at(0.1), "pending"),))
    assert clocks(facts) == {Stage.PAYMENT: (PLACED, Reason.SLOW)}  # and not dispatch yet


def test_a_refused_payment_is_payment_failed() -> None:
    facts = an_order(status="on_hold", hold_reason="payment_failed",
                     payments=(PaymentTry(at(0.1), "failed", at(0.2)),))
    assert clocks(facts) == {Stage.PAYMENT: (PLACED, Reason.PAYMENT_FAILED)}


def test_a_payment_waited_for_on_an_operators_hold_is_on_hold() -> None:
    facts = an_order(status="on_hold", hold_reason="fraud check",
                     payments=(PaymentTry(at(0.1), "pending"),))
    assert clocks(facts)[Stage.PAYMENT] == (PLACED, Reason.ON_HOLD)


def test_a_new_card_after_a_refusal_keeps_the_clock_of_the_placement() -> None:
    facts = an_order(payments=(PaymentTry(at(0.1), "failed", at(0.2)),
                               PaymentTry(at(20), "pending")))
    assert clocks(facts)[Stage.PAYMENT] == (PLACED, Reason.SLOW)


def test_a_renewed_authorization_has_a_clock_of_its_own() -> None:
    facts = an_order(payments=(PaymentTry(at(0.1), "succeeded", at(0.2)),
                               PaymentTry(at(5000), "pending")))
    assert clocks(facts)[Stage.PAYMENT] == (at(5000), Reason.SLOW)


def test_an_order_paid_outside_ordermesh_has_no_payment_stage() -> None:
    assert clocks(an_order(payments=())) == {Stage.DISPATCH: (PLACED, Reason.SLOW)}


# -- allocation ----------------------------------------------------------------------------------


def test_units_waiting_for_stock_are_awaiting_stock_since_they_began_to_wait() -> None:
    facts = an_order(status="backordered", unsent=(),
                     waiting=(Waiting(at(3)), Waiting(at(2))))
    assert clocks(facts) == {Stage.ALLOCATION: (at(2), Reason.AWAITING_STOCK)}


def test_a_promised_date_starts_the_clock_on_that_day() -> None:
    facts = an_order(status="backordered", unsent=(),
                     waiting=(Waiting(at(2), date(2026, 12, 1)),))
    assert clocks(facts)[Stage.ALLOCATION] == (datetime(2026, 12, 1, tzinfo=UTC),
                                               Reason.AWAITING_STOCK)


def test_a_promised_date_already_past_does_not_move_the_clock_back() -> None:
    facts = an_order(status="backordered", unsent=(),
                     waiting=(Waiting(at(2), date(2026, 10, 1)),))
    assert clocks(facts)[Stage.ALLOCATION] == (at(2), Reason.AWAITING_STOCK)


def test_an_order_never_sourced_is_slow_in_allocation() -> None:
    facts = an_order(status="placed", unsent=(), payments=())
    assert clocks(facts) == {Stage.ALLOCATION: (PLACED, Reason.SLOW)}


# -- dispatch ------------------------------------------------------------------------------------


def test_allocated_units_wait_for_dispatch_from_the_authorization() -> None:
    assert clocks(an_order()) == {Stage.DISPATCH: (at(1), Reason.SLOW)}


def test_the_oldest_unsent_allocation_sets_the_clock() -> None:
    facts = an_order(payments=(), unsent=(Unsent(at(30)), Unsent(at(10), None, "f-1")))
    assert clocks(facts)[Stage.DISPATCH] == (at(10), Reason.SLOW)


def test_units_that_cannot_leave_before_a_day_start_their_clock_then() -> None:
    facts = an_order(payments=(), unsent=(Unsent(at(0), date(2026, 11, 4)),))
    assert clocks(facts)[Stage.DISPATCH] == (datetime(2026, 11, 4, tzinfo=UTC), Reason.SLOW)


def test_a_short_pick_explains_a_late_dispatch() -> None:
    parcel = Parcel("f-1", "ship", "picking", at(5), short_picked=True)
    facts = an_order(unsent=(Unsent(at(0), None, "f-1"),), parcels=(parcel,))
    assert clocks(facts)[Stage.DISPATCH] == (at(1), Reason.SHORT_PICK)


def test_a_hold_explains_a_late_dispatch_before_anything_else() -> None:
    parcel = Parcel("f-1", "ship", "cancelled", at(5), short_picked=True)
    facts = an_order(status="on_hold", hold_reason="address question", parcels=(parcel,))
    assert clocks(facts)[Stage.DISPATCH] == (at(1), Reason.ON_HOLD)


def test_units_at_the_counter_are_not_waiting_for_dispatch() -> None:
    parcel = Parcel("f-1", "pickup", "ready_for_pickup", at(5), ready_at=at(60))
    facts = an_order(unsent=(Unsent(at(0), None, "f-1"),), parcels=(parcel,))
    assert clocks(facts) == {Stage.COLLECTION: (at(60), Reason.PICKUP_NOT_COLLECTED)}


# -- delivery and collection ---------------------------------------------------------------------


def test_a_parcel_on_the_road_is_in_delivery_since_it_left() -> None:
    parcel = Parcel("f-1", "ship", "in_transit", at(5), dispatched_at=at(300))
    facts = an_order(status="shipped", unsent=(), parcels=(parcel,))
    assert clocks(facts) == {Stage.DELIVERY: (at(300), Reason.SLOW)}


def test_a_carrier_exception_explains_a_late_delivery() -> None:
    parcels = (Parcel("f-1", "ship", "exception", at(5), dispatched_at=at(300)),
               Parcel("f-2", "ship", "delivered", at(5), dispatched_at=at(200)))
    facts = an_order(status="shipped", unsent=(), parcels=parcels)
    assert clocks(facts) == {Stage.DELIVERY: (at(300), Reason.CARRIER_EXCEPTION)}


def test_a_parcel_without_a_dispatch_event_counts_from_its_creation() -> None:
    parcel = Parcel("f-1", "ship", "dispatched", at(5))
    assert clocks(an_order(unsent=(), parcels=(parcel,)))[Stage.DELIVERY][0] == at(5)


@pytest.mark.parametrize("status", ["delivered", "returned_to_sender", "cancelled", "packed"])
def test_parcels_not_on_the_road_are_not_in_delivery(status: str) -> None:
    parcel = Parcel("f-1", "ship", status, at(5), dispatched_at=at(300))
    assert Stage.DELIVERY not in clocks(an_order(unsent=(), parcels=(parcel,)))


def test_a_parcel_at_the_counter_waits_to_be_collected_since_it_was_ready() -> None:
    parcels = (Parcel("f-1", "pickup", "ready_for_pickup", at(5), ready_at=at(90)),
               Parcel("f-2", "pickup", "collected", at(5), ready_at=at(10)))
    facts = an_order(unsent=(), parcels=parcels)
    assert clocks(facts) == {Stage.COLLECTION: (at(90), Reason.PICKUP_NOT_COLLECTED)}


def test_a_split_order_is_in_several_stages_at_once() -> None:
    parcel = Parcel("f-1", "ship", "in_transit", at(5), dispatched_at=at(300))
    facts = an_order(status="fulfilling", parcels=(parcel,), waiting=(Waiting(at(0)),),
                     unsent=(Unsent(at(400)),))
    assert clocks(facts) == {Stage.ALLOCATION: (at(0), Reason.AWAITING_STOCK),
                             Stage.DISPATCH: (at(400), Reason.SLOW),
                             Stage.DELIVERY: (at(300), Reason.SLOW)}


def test_an_order_with_nothing_left_to_do_is_in_no_stage() -> None:
    assert stages(an_order(status="shipped", unsent=())) == []


# -- flags and the event -------------------------------------------------------------------------


def test_what_the_check_does_about_a_stage_at_risk_given_its_earlier_flag() -> None:
    [found] = assess(an_order(), {}, at(2000))
    same = Flag(True, str(found.reason), found.due_at)
    assert next_step(None, found) == "flag"
    assert next_step(replace(same, open=False), found) == "reopen"
    assert next_step(same, found) is None
    assert next_step(replace(same, reason="short_pick"), found) == "refresh"
    assert next_step(replace(same, due_at=at(5)), found) == "refresh"


def test_the_event_says_which_stage_why_and_by_when() -> None:
    facts = an_order()
    [found] = assess(facts, {}, at(1500))
    event = jeopardy_event(facts, found, "worker")
    assert (event.type, event.stream, event.stream_id, event.actor) == (
        "order.in_jeopardy", "order", "o-1", "worker")
    assert event.data == {
        "number": "OM-000001", "channel": "web", "stage": "dispatch", "reason": "slow",
        "started_at": at(1).isoformat(), "due_at": at(1441).isoformat(), "sla_minutes": 1440,
        "minutes": 59, "overdue": True}


def test_the_most_late_come_first() -> None:
    late = assess(an_order(), {}, at(2000))[0]
    early = replace(late, minutes=-5)
    rows = [(an_order(number="OM-000002"), early), (an_order(number="OM-000003"), late),
            (an_order(number="OM-000001"), early)]
    assert [(f.number, a.minutes) for f, a in most_late_first(rows)] == [
        ("OM-000003", late.minutes), ("OM-000001", -5), ("OM-000002", -5)]
