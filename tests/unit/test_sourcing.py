"""The sourcing engine: worked examples of each rule, then properties over random networks."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ordermesh.adapters.db.sourcing_repository import decision_json
from ordermesh.domain.errors import InvalidInput
from ordermesh.domain.geo import Point, distance_km
from ordermesh.domain.sourcing import (
    Demand,
    Network,
    Plan,
    Policy,
    Preference,
    Rate,
    Request,
    Site,
    Source,
    Supply,
    Terms,
    WaitKind,
    plan,
    preferences,
    unsupplied_promise,
)

TODAY = date(2026, 11, 26)
LEEDS = Point(53.8008, -1.5491)
MANCHESTER = Point(53.4808, -2.2426)
LONDON = Point(51.5074, -0.1278)
YORK = Point(53.9600, -1.0873)


def a_site(code: str, point: Point = LONDON, **kw: object) -> Site:
    values: dict[str, object] = {"can_ship": True, "can_pickup": False, "priority": 0}
    values.update(kw)
    return Site(code, point, **values)  # type: ignore[arg-type]


def lines(*pairs: tuple[str, int]) -> tuple[Demand, ...]:
    return tuple(Demand(f"L{n}", sku, qty) for n, (sku, qty) in enumerate(pairs, start=1))


def ship(lines_: tuple[Demand, ...], to: Point | None = YORK) -> Request:
    return Request(lines_, TODAY, "GBP", destination=to)


def where(result: Plan) -> dict[str, list[tuple[str, int]]]:
    out: dict[str, list[tuple[str, int]]] = {}
    for a in result.allocations:
        out.setdefault(a.line_id, []).append((a.location, a.quantity))
    return out


# -- shipping -------------------------------------------------------------------------------

def test_the_nearest_of_two_full_warehouses_ships_and_says_why() -> None:
    # given Leeds and London both hold the whole order, and the customer lives in York
    net = Network((a_site("LDN", LONDON), a_site("LEEDS", LEEDS)),
                  {("A", "LDN"): 5, ("A", "LEEDS"): 5})
    # when the order is sourced with the default rules
    result = plan(ship(lines(("A", 2))), net, Policy())
    # then it ships from Leeds, and the decision names the rule and the runner-up
    (alloc,) = result.allocations
    assert (alloc.location, alloc.quantity, alloc.source) == ("LEEDS", 2, Source.STOCK)
    assert alloc.decision.rule == "nearest"
    assert "LEEDS is nearest" in alloc.decision.explanation and "LDN" in alloc.decision.explanation
    assert [c.location for c in alloc.decision.considered] == ["LEEDS", "LDN"]
    assert alloc.ready_on == TODAY and alloc.promised_on == date(2026, 11, 28)


def test_one_location_that_fills_every_line_beats_a_nearer_partial_one() -> None:
    net = Network((a_site("LEEDS", LEEDS), a_site("LDN", LONDON)),
                  {("A", "LEEDS"): 5, ("A", "LDN"): 5, ("B", "LDN"): 5})
    result = plan(ship(lines(("A", 1), ("B", 1))), net, Policy())
    assert result.shipments == {"LDN"}
    assert result.allocations[0].decision.rule == "fewest_shipments"


def test_without_fewest_shipments_each_line_goes_to_its_nearest_location() -> None:
    net = Network((a_site("LEEDS", LEEDS), a_site("LDN", LONDON)),
                  {("A", "LEEDS"): 5, ("A", "LDN"): 5, ("B", "LDN"): 5})
    policy = Policy(preferences=(Preference.NEAREST,))
    result = plan(ship(lines(("A", 1), ("B", 1))), net, policy)
    assert where(result) == {"L1": [("LEEDS", 1)], "L2": [("LDN", 1)]}


def test_priority_decides_when_distance_ties() -> None:
    net = Network((a_site("A1", LEEDS, priority=1), a_site("B2", LEEDS, priority=9)),
                  {("A", "A1"): 5, ("A", "B2"): 5})
    (alloc,) = plan(ship(lines(("A", 1))), net, Policy()).allocations
    assert (alloc.location, alloc.decision.rule) == ("B2", "priority")


def test_the_location_code_breaks_a_full_tie() -> None:
    net = Network((a_site("B", LEEDS), a_site("A", LEEDS)), {("X", "A"): 1, ("X", "B"): 1})
    (alloc,) = plan(ship(lines(("X", 1))), net, Policy()).allocations
    assert (alloc.location, alloc.decision.rule) == ("A", "location_code")


def test_lowest_cost_uses_the_rate_band_for_the_distance() -> None:
    near_but_dear = a_site("LEEDS", LEEDS, rates=(Rate(None, 900, "GBP", 1),))
    far_but_cheap = a_site("LDN", LONDON, rates=(Rate(100, 200, "GBP", 1),
                                                  Rate(None, 450, "GBP", 3)))
    net = Network((near_but_dear, far_but_cheap), {("A", "LEEDS"): 1, ("A", "LDN"): 1})
    policy = Policy(preferences=(Preference.LOWEST_COST, Preference.NEAREST))
    (alloc,) = plan(ship(lines(("A", 1))), net, policy).allocations
    assert (alloc.location, alloc.decision.rule) == ("LDN", "lowest_cost")
    assert alloc.promised_on == date(2026, 11, 29)  # the 3-day band beyond 100 km
    assert alloc.decision.considered[0].cost == 450


def test_a_location_whose_rates_do_not_reach_the_destination_is_excluded() -> None:
    local = a_site("LDN", LONDON, rates=(Rate(50, 300, "GBP", 1),))
    net = Network((local,), {("A", "LDN"): 3}, {"A": Terms(backorderable=True)})
    result = plan(ship(lines(("A", 1)), to=LEEDS), net, Policy())
    assert result.allocations == ()
    (wait,) = result.waits
    assert wait.kind is WaitKind.BACKORDER


def test_excluded_locations_are_named_with_their_reason() -> None:
    net = Network((a_site("FULL", LEEDS, capacity_left=0), a_site("HIDDEN", LEEDS),
                   a_site("SHOP", LEEDS, can_ship=False), a_site("LDN", LONDON)),
                  {("A", "FULL"): 5, ("A", "HIDDEN"): 5, ("A", "SHOP"): 5, ("A", "LDN"): 5})
    policy = Policy(visible=frozenset({"FULL", "SHOP", "LDN"}))
    (alloc,) = plan(ship(lines(("A", 1))), net, policy).allocations
    assert alloc.location == "LDN" and alloc.decision.rule == "only_candidate"
    assert dict(alloc.decision.excluded) == {
        "FULL": "at its daily capacity", "HIDDEN": "not offered to this channel",
        "SHOP": "cannot ship"}


def test_a_line_is_split_only_when_no_single_location_can_fill_it() -> None:
    net = Network((a_site("LEEDS", LEEDS), a_site("LDN", LONDON), a_site("MAN", MANCHESTER)),
                  {("A", "LEEDS"): 6, ("A", "LDN"): 5, ("A", "MAN"): 2})
    result = plan(ship(lines(("A", 10))), net, Policy())
    assert where(result) == {"L1": [("LEEDS", 6), ("MAN", 2), ("LDN", 2)]}
    assert {a.decision.rule for a in result.allocations} == {"split"}


def test_a_split_takes_from_locations_already_sending_first() -> None:
    net = Network((a_site("LEEDS", LEEDS), a_site("LDN", LONDON)),
                  {("A", "LDN"): 1, ("B", "LEEDS"): 1, ("B", "LDN"): 1})
    result = plan(ship(lines(("A", 1), ("B", 2))), net, Policy())
    assert where(result) == {"L1": [("LDN", 1)], "L2": [("LDN", 1), ("LEEDS", 1)]}


def test_a_channel_that_forbids_splits_waits_for_the_rest() -> None:
    net = Network((a_site("LEEDS", LEEDS), a_site("LDN", LONDON)),
                  {("A", "LEEDS"): 6, ("A", "LDN"): 5}, {"A": Terms(backorderable=True)})
    result = plan(ship(lines(("A", 10))), net, Policy(allow_split=False))
    assert result.allocations == ()
    assert result.waiting("L1") == 10


def test_two_lines_of_one_sku_count_against_the_same_stock() -> None:
    net = Network((a_site("LEEDS", LEEDS), a_site("LDN", LONDON)),
                  {("A", "LEEDS"): 3, ("A", "LDN"): 4})
    result = plan(ship(lines(("A", 2), ("A", 2))), net, Policy())
    assert result.shipments == {"LDN"}  # only London holds 4


# -- click & collect ------------------------------------------------------------------------

def test_pickup_comes_from_the_store_first() -> None:
    store = a_site("YORK", YORK, can_ship=False, can_pickup=True)
    net = Network((store, a_site("LEEDS", LEEDS)), {("A", "YORK"): 1, ("A", "LEEDS"): 9})
    (alloc,) = plan(Request(lines(("A", 1)), TODAY, "GBP", pickup_at="YORK"), net,
                    Policy()).allocations
    assert (alloc.location, alloc.decision.rule, alloc.promised_on) == (
        "YORK", "pickup_store_first", TODAY)


def test_pickup_without_store_stock_is_transferred_and_ready_later() -> None:
    store = a_site("YORK", YORK, can_ship=False, can_pickup=True)
    net = Network((store, a_site("LEEDS", LEEDS, transfer_days=2), a_site("LDN", LONDON)),
                  {("A", "YORK"): 1, ("A", "LEEDS"): 9, ("A", "LDN"): 9})
    result = plan(Request(lines(("A", 3)), TODAY, "GBP", pickup_at="YORK"), net, Policy())
    store_part, transfer = result.allocations
    assert (store_part.location, store_part.quantity, store_part.source) == ("YORK", 1,
                                                                           Source.STOCK)
    assert (transfer.location, transfer.quantity, transfer.source) == ("LEEDS", 2,
                                                                       Source.TRANSFER)
    assert transfer.decision.rule == "nearest"  # nearest to the store
    assert transfer.ready_on == transfer.promised_on == date(2026, 11, 28)


def test_pickup_at_a_store_the_channel_cannot_use_is_refused() -> None:
    store = a_site("YORK", YORK, can_pickup=True)
    net = Network((store,), {("A", "YORK"): 1})
    result = plan(Request(lines(("A", 1)), TODAY, "GBP", pickup_at="YORK"), net,
                  Policy(visible=frozenset({"LEEDS"})))
    assert result.allocations == () and result.refusals[0].quantity == 1


# -- waiting for supply ---------------------------------------------------------------------

def test_a_backorder_is_promised_against_incoming_supply_first_come_first_served() -> None:
    net = Network((a_site("LEEDS", LEEDS),), {("A", "LEEDS"): 1},
                  {"A": Terms(backorderable=True, lead_time_days=20)},
                  (Supply("A", 2, date(2026, 12, 1), "PO-1/1"),
                   Supply("A", 5, date(2026, 12, 9), "PO-2/1")))
    result = plan(ship(lines(("A", 9))), net, Policy())
    assert result.allocated("L1") == 1
    assert [(w.quantity, w.supply, w.promised_on) for w in result.waits] == [
        (2, "PO-1/1", date(2026, 12, 3)), (5, "PO-2/1", date(2026, 12, 11)),
        (1, None, date(2026, 12, 18))]  # the rest: the supplier's lead time plus transit
    assert [w.decision.rule for w in result.waits] == [
        "incoming_supply", "incoming_supply", "supplier_lead_time"]


def test_a_backorder_without_supply_or_lead_time_has_no_date() -> None:
    net = Network((), {}, {"A": Terms(backorderable=True)})
    (wait,) = plan(ship(lines(("A", 1))), net, Policy()).waits
    assert (wait.promised_on, wait.decision.rule) == (None, "no_supply")


def test_a_wait_losing_its_supply_is_dated_as_a_new_wait_without_supply_would_be() -> None:
    lead = Terms(backorderable=True, lead_time_days=20)
    assert unsupplied_promise("A", lead, TODAY, pickup=False)[0] == date(2026, 12, 18)
    day, why = unsupplied_promise("A", lead, TODAY, pickup=True)
    assert (day, why.rule) == (date(2026, 12, 16), "supplier_lead_time")
    assert "lead time of 20 days" in why.explanation
    release = Terms(preorder=True, release_on=date(2027, 1, 15))
    assert unsupplied_promise("A", release, TODAY, pickup=False)[0] == date(2027, 1, 15)
    assert unsupplied_promise("A", Terms(backorderable=True), TODAY, pickup=False)[0] is None
    # the same date a plan gives the rest that no supply covers
    (wait,) = plan(ship(lines(("A", 1))), Network((), {}, {"A": lead}), Policy()).waits
    assert (wait.promised_on, wait.decision) == unsupplied_promise("A", lead, TODAY, False)


def test_a_preorder_is_reserved_now_and_ready_on_its_release_date() -> None:
    release = date(2027, 1, 15)
    net = Network((a_site("LEEDS", LEEDS),), {("A", "LEEDS"): 1},
                  {"A": Terms(preorder=True, release_on=release)})
    result = plan(ship(lines(("A", 2))), net, Policy())
    (alloc,) = result.allocations
    assert alloc.ready_on == release and alloc.promised_on == date(2027, 1, 17)
    (wait,) = result.waits
    assert (wait.kind, wait.promised_on, wait.decision.rule) == (
        WaitKind.PREORDER, release, "release_date")


def test_a_location_that_rejected_a_line_is_not_asked_again() -> None:
    net = Network((a_site("LEEDS", LEEDS), a_site("LDN", LONDON)),
                  {("A", "LEEDS"): 5, ("A", "LDN"): 5, ("B", "LEEDS"): 5})
    rejected = Demand("L1", "A", 1, (("LEEDS", "damaged"),))
    result = plan(ship((rejected, Demand("L2", "B", 1))), net, Policy())
    assert where(result) == {"L1": [("LDN", 1)], "L2": [("LEEDS", 1)]}
    (for_l1,) = [a for a in result.allocations if a.line_id == "L1"]
    assert ("LEEDS", "damaged") in for_l1.decision.excluded


def test_products_that_cannot_wait_are_refused() -> None:
    net = Network((a_site("LEEDS", LEEDS),), {("A", "LEEDS"): 1}, {"A": Terms()})
    result = plan(ship(lines(("A", 3))), net, Policy())
    (refusal,) = result.refusals
    assert (refusal.sku, refusal.quantity) == ("A", 2)
    assert "cannot be backordered" in refusal.reason


def test_a_channel_that_takes_no_backorders_refuses_the_rest() -> None:
    net = Network((), {}, {"A": Terms(backorderable=True)})
    result = plan(ship(lines(("A", 1))), net, Policy(allow_backorder=False))
    assert "takes no backorders" in result.refusals[0].reason


# -- input ----------------------------------------------------------------------------------

def test_rules_must_be_known_and_listed_once() -> None:
    assert preferences(["nearest", "priority"]) == (Preference.NEAREST, Preference.PRIORITY)
    with pytest.raises(InvalidInput):
        preferences(["fastest"])
    with pytest.raises(InvalidInput):
        preferences(["nearest", "nearest"])


def test_lines_must_be_distinct_and_positive() -> None:
    with pytest.raises(InvalidInput):
        plan(ship((Demand("L1", "A", 1), Demand("L1", "B", 1))), Network((), {}), Policy())
    with pytest.raises(InvalidInput):
        plan(ship((Demand("L1", "A", 0),)), Network((), {}), Policy())


def test_great_circle_distance_leeds_to_london() -> None:
    assert 271.5 < distance_km(LEEDS, LONDON) < 273.5  # 272.4 km by an independent tool
    assert 343 < distance_km(LONDON, Point(48.8566, 2.3522)) < 344  # Paris
    with pytest.raises(InvalidInput):
        Point(91, 0)


# -- properties -----------------------------------------------------------------------------

SKUS = ["A", "B", "C"]
CODES = ["W1", "W2", "S1", "S2", "S3"]
points = st.builds(Point, st.floats(49, 59), st.floats(-8, 2))


@st.composite
def networks(draw: st.DrawFn) -> tuple[Network, Policy, Request]:
    codes = draw(st.lists(st.sampled_from(CODES), min_size=1, max_size=5, unique=True))
    sites = tuple(Site(code, draw(points), draw(st.booleans()), draw(st.booleans()),
                       draw(st.integers(0, 3)), draw(st.one_of(st.none(), st.integers(0, 2))),
                       draw(st.integers(0, 3)),
                       draw(st.sampled_from([(), (Rate(None, 500, "GBP", 2),),
                                             (Rate(200, 300, "GBP", 1),)])))
                  for code in codes)
    available = {(sku, code): draw(st.integers(0, 6)) for sku in SKUS for code in codes}
    terms = {sku: Terms(backorderable=draw(st.booleans()), preorder=draw(st.booleans()))
             for sku in SKUS}
    prefs = draw(st.permutations(list(Preference)))
    policy = Policy(tuple(prefs[:draw(st.integers(0, 4))]),
                    draw(st.one_of(st.none(), st.frozensets(st.sampled_from(codes)))),
                    draw(st.booleans()), draw(st.booleans()))
    demand = tuple(Demand(f"L{n}", draw(st.sampled_from(SKUS)), draw(st.integers(1, 8)),
                          tuple((code, "rejected") for code in draw(
                              st.lists(st.sampled_from(codes), max_size=2, unique=True))))
                   for n in range(draw(st.integers(1, 4))))
    pickup = draw(st.one_of(st.none(), st.sampled_from(codes)))
    request = Request(demand, TODAY, "GBP", draw(points), pickup)
    return Network(sites, available, terms), policy, request


@settings(max_examples=400, deadline=None)
@given(networks())
def test_properties_of_every_plan(case: tuple[Network, Policy, Request]) -> None:
    network, policy, request = case
    result = plan(request, network, policy)
    sites = {s.code: s for s in network.sites}
    used: dict[tuple[str, str], int] = {}
    for a in result.allocations:
        used[(a.sku, a.location)] = used.get((a.sku, a.location), 0) + a.quantity
        site = sites[a.location]
        # never from a location that rejected the line
        line = next(ln for ln in request.lines if ln.line_id == a.line_id)
        assert not line.avoids(a.location)
        # never from a location the channel cannot see, or one that is full
        assert policy.visible is None or a.location in policy.visible
        assert site.capacity_left is None or site.capacity_left > 0
        if a.location == request.pickup_at:
            assert site.can_pickup
        else:  # everything else is shipped, to the customer or to the pickup store
            assert site.can_ship
    # never more than is available
    assert all(qty <= network.available.get(key, 0) for key, qty in used.items())
    # allocated + waiting + refused is exactly what was ordered, line by line
    for line in request.lines:
        refused = sum(r.quantity for r in result.refusals if r.line_id == line.line_id)
        assert result.allocated(line.line_id) + result.waiting(line.line_id) + refused \
            == line.quantity
    # the same input always gives the same plan
    assert plan(request, network, policy) == result


supplies = st.lists(st.builds(Supply, st.sampled_from(SKUS), st.integers(1, 6),
                              st.dates(TODAY, date(2027, 3, 1)),
                              st.sampled_from([f"PO-{n}/1" for n in range(1, 5)])),
                    max_size=4, unique_by=lambda s: s.reference)


@settings(max_examples=400, deadline=None)
@given(networks(), supplies)
def test_supply_changes_only_what_stock_cannot_fill(
        case: tuple[Network, Policy, Request], supply: list[Supply]) -> None:
    """Placement plans without reading supply, and reads it only when the plan leaves
    something for it (services/handlers/sourcing.py, supply_added): that holds only if a plan
    that took everything from stock is the same with supply known."""
    network, policy, request = case
    with_supply = Network(network.sites, network.available, network.terms, tuple(supply))
    without, known = plan(request, network, policy), plan(request, with_supply, policy)
    assert without.allocations == known.allocations
    if not without.waits and not without.refusals:
        assert without == known


@settings(max_examples=200, deadline=None)
@given(networks())
def test_a_decision_is_stored_with_every_field(case: tuple[Network, Policy, Request]) -> None:
    network, policy, request = case
    result = plan(request, network, policy)
    for decision in [a.decision for a in result.allocations] + [w.decision for w in result.waits]:
        assert json.dumps(decision_json(decision)) == json.dumps(asdict(decision))


@settings(max_examples=300, deadline=None)
@given(networks(), st.sampled_from(CODES))
def test_one_location_able_to_fill_the_whole_order_means_one_shipment(
        case: tuple[Network, Policy, Request], filler: str) -> None:
    network, policy, request = case
    # given a shipping order, a fewest-shipments channel, and one eligible location with it all
    request = Request(tuple(Demand(ln.line_id, ln.sku, ln.quantity) for ln in request.lines),
                      TODAY, "GBP", request.destination)
    policy = Policy((Preference.FEWEST_SHIPMENTS, *[p for p in policy.preferences
                                                    if p is not Preference.FEWEST_SHIPMENTS]),
                    None, policy.allow_split, policy.allow_backorder)
    sites = (*[s for s in network.sites if s.code != filler], Site(filler, LEEDS, True, False, 0))
    need: dict[str, int] = {}
    for line in request.lines:
        need[line.sku] = need.get(line.sku, 0) + line.quantity
    available = {**network.available, **{(sku, filler): qty for sku, qty in need.items()}}
    result = plan(request, Network(sites, available, network.terms), policy)
    assert len(result.shipments) == 1 and not result.waits and not result.refusals


def test_a_promise_past_the_end_of_the_calendar_is_its_last_day() -> None:
    from datetime import date as day

    from ordermesh.domain.sourcing.model import after

    assert after(day(9999, 12, 30), 5) == day.max
    assert after(TODAY, 3) == day(2026, 11, 29)


@pytest.mark.parametrize("table", ["allocation", "wait"])
def test_allocations_and_waits_end_once_through_their_tables(table: str) -> None:
    from ordermesh.domain.errors import InvalidTransition
    from ordermesh.domain.sourcing.model import (
        ALLOCATION_TRANSITIONS,
        WAIT_TRANSITIONS,
        ends_as,
    )

    transitions: Any = ALLOCATION_TRANSITIONS if table == "allocation" else WAIT_TRANSITIONS
    actions = {action for moves in transitions.values() for action in moves}
    for status, moves in transitions.items():
        for action in actions:
            if action in moves:
                assert ends_as(transitions, status, action) is moves[action]
            else:
                with pytest.raises(InvalidTransition):
                    ends_as(transitions, status, action)
