"""Stock: where a line may be reserved, and how rows of a stock feed are applied."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ordermesh.domain.inventory import (
    StockingLocation,
    StockLevel,
    StockUpdate,
    SyncDecision,
    SyncMode,
    SyncOutcome,
    decide_sync,
    reservation_candidates,
    sync_order,
)

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def a_level(location: str = "WH-1", on_hand: int = 10, reserved: int = 0, safety_stock: int = 0,
            sku: str = "SKU-1", last_counted_at: datetime | None = None) -> StockLevel:
    return StockLevel(sku, location, on_hand, reserved, safety_stock, last_counted_at)


def a_location(code: str = "WH-1", priority: int = 100, can_ship: bool = True,
               can_pickup: bool = False, active: bool = True) -> StockingLocation:
    return StockingLocation(code, priority, can_ship, can_pickup, active)


def a_store(code: str, priority: int = 50, can_ship: bool = False) -> StockingLocation:
    return a_location(code, priority, can_ship=can_ship, can_pickup=True)


def an_update(mode: SyncMode = SyncMode.ABSOLUTE, quantity: int = 10,
              counted_at: datetime = T0, sku: str = "SKU-1", location: str = "WH-1",
              ref: str = "feed-1") -> StockUpdate:
    return StockUpdate(sku, location, mode, quantity, ref, counted_at)


# ---------------------------------------------------------------------------------------------
# reservation_candidates
# ---------------------------------------------------------------------------------------------


def test_available_is_on_hand_less_reserved_less_safety_stock() -> None:
    assert a_level(on_hand=10, reserved=3, safety_stock=2).available == 5


def test_highest_priority_first_then_code() -> None:
    # given four warehouses with stock, handed over in no particular order
    locations = [a_location("WH-A", 100), a_location("WH-D", 300), a_location("WH-C", 200),
                 a_location("WH-B", 200)]
    levels = [a_level(code) for code in ("WH-A", "WH-C", "WH-B", "WH-D")]
    # when, then: priority 300, then the two 200s by code, then 100
    assert reservation_candidates("SKU-1", 1, levels, locations) == [
        "WH-D", "WH-B", "WH-C", "WH-A"]


@pytest.mark.parametrize(("on_hand", "reserved", "safety_stock", "fits"), [
    (5, 0, 0, True),  # exactly enough
    (4, 0, 0, False),
    (8, 3, 0, True),
    (8, 4, 0, False),  # reserved units are not available
    (7, 0, 2, True),
    (7, 0, 3, False),  # safety stock is not available
    (10, 3, 2, True),
    (10, 3, 3, False),
    (0, 0, 0, False),
])
def test_only_locations_with_enough_available_stock(
        on_hand: int, reserved: int, safety_stock: int, fits: bool) -> None:
    levels = [a_level("WH-1", on_hand, reserved, safety_stock)]
    result = reservation_candidates("SKU-1", 5, levels, [a_location("WH-1")])
    assert result == (["WH-1"] if fits else [])


def test_a_line_is_not_split_across_locations() -> None:
    # given 3 + 3 units in two warehouses, when 5 are wanted, then neither can take the line
    levels = [a_level("WH-1", 3), a_level("WH-2", 3)]
    locations = [a_location("WH-1"), a_location("WH-2")]
    assert reservation_candidates("SKU-1", 5, levels, locations) == []


def test_shipping_needs_a_location_that_ships() -> None:
    locations = [a_location("WH-1", 100), a_location("ST-AMS", 900, can_ship=False,
                                                     can_pickup=True)]
    levels = [a_level("WH-1"), a_level("ST-AMS")]
    assert reservation_candidates("SKU-1", 1, levels, locations) == ["WH-1"]


def test_pickup_only_at_the_named_store() -> None:
    # given a warehouse and two pickup stores, all with stock
    locations = [a_location("WH-1", 900), a_store("ST-AMS", can_ship=True), a_store("ST-UTR")]
    levels = [a_level("WH-1"), a_level("ST-AMS"), a_level("ST-UTR")]
    # when the customer picks up in Utrecht, then only Utrecht qualifies (it need not ship)
    assert reservation_candidates("SKU-1", 1, levels, locations, pickup_at="ST-UTR") == [
        "ST-UTR"]
    assert reservation_candidates("SKU-1", 1, levels, locations, pickup_at="ST-AMS") == [
        "ST-AMS"]


def test_pickup_needs_a_location_that_offers_pickup() -> None:
    locations = [a_location("WH-1", can_pickup=False)]
    assert reservation_candidates("SKU-1", 1, [a_level("WH-1")], locations,
                                  pickup_at="WH-1") == []


def test_pickup_needs_stock_at_the_named_store() -> None:
    locations = [a_store("ST-AMS"), a_location("WH-1")]
    levels = [a_level("ST-AMS", on_hand=0), a_level("WH-1", on_hand=50)]
    assert reservation_candidates("SKU-1", 1, levels, locations, pickup_at="ST-AMS") == []


def test_pickup_at_an_unknown_store_finds_nothing() -> None:
    locations = [a_store("ST-AMS")]
    assert reservation_candidates("SKU-1", 1, [a_level("ST-AMS")], locations,
                                  pickup_at="ST-XXX") == []


def test_inactive_locations_are_excluded() -> None:
    locations = [a_location("WH-1", 100), a_location("WH-2", 900, active=False),
                 a_location("ST-AMS", 50, can_pickup=True, active=False)]
    levels = [a_level("WH-1"), a_level("WH-2"), a_level("ST-AMS")]
    assert reservation_candidates("SKU-1", 1, levels, locations) == ["WH-1"]
    assert reservation_candidates("SKU-1", 1, levels, locations, pickup_at="ST-AMS") == []


def test_levels_of_other_skus_are_ignored() -> None:
    # given plenty of SKU-2 at WH-1 and only 1 of SKU-1
    levels = [a_level("WH-1", 100, sku="SKU-2"), a_level("WH-1", 1, sku="SKU-1")]
    locations = [a_location("WH-1")]
    # when 5 of SKU-1 are wanted, then WH-1 does not qualify
    assert reservation_candidates("SKU-1", 5, levels, locations) == []
    assert reservation_candidates("SKU-2", 5, levels, locations) == ["WH-1"]


def test_levels_at_unknown_locations_are_ignored() -> None:
    levels = [a_level("WH-GONE", 100)]
    assert reservation_candidates("SKU-1", 1, levels, [a_location("WH-1")]) == []


def test_levels_and_locations_may_be_one_shot_iterables() -> None:
    levels = iter([a_level("WH-1")])
    locations = iter([a_location("WH-1")])
    assert reservation_candidates("SKU-1", 1, levels, locations) == ["WH-1"]


CODES = ["ST-AMS", "ST-UTR", "WH-1", "WH-2", "WH-3", "WH-4"]


def mostly(draw: st.DrawFn) -> bool:
    """True three times in four."""
    return draw(st.integers(0, 3)) > 0


@st.composite
def stock_pictures(draw: st.DrawFn) -> tuple[list[StockLevel], list[StockingLocation]]:
    """Most of six locations, with stock of SKU-1 and SKU-2 at most of them, in any order."""
    locations = [
        StockingLocation(code, draw(st.integers(0, 2)), can_ship=mostly(draw),
                         can_pickup=draw(st.booleans()), active=mostly(draw))
        for code in CODES if mostly(draw)
    ]
    levels = [
        StockLevel(sku, code, draw(st.integers(0, 20)), draw(st.integers(0, 5)),
                   draw(st.integers(0, 3)))
        for code in CODES for sku in ("SKU-1", "SKU-2") if mostly(draw)
    ]
    return list(draw(st.permutations(levels))), list(draw(st.permutations(locations)))


@settings(max_examples=300)
@given(picture=stock_pictures(), quantity=st.integers(1, 8),
       pickup_at=st.none() | st.sampled_from(CODES))
def test_candidates_fit_and_are_sorted(
        picture: tuple[list[StockLevel], list[StockingLocation]], quantity: int,
        pickup_at: str | None) -> None:
    levels, locations = picture
    result = reservation_candidates("SKU-1", quantity, levels, locations, pickup_at)
    level_at = {lv.location: lv for lv in levels if lv.sku == "SKU-1"}
    location = {loc.code: loc for loc in locations}
    # every returned location takes the whole line, is active and can serve the fulfilment
    for code in result:
        assert level_at[code].available >= quantity
        assert location[code].active
        if pickup_at is None:
            assert location[code].can_ship
        else:
            assert code == pickup_at
            assert location[code].can_pickup
    # best first
    keys = [(-location[code].priority, code) for code in result]
    assert keys == sorted(keys)
    # and none that fits is left out
    eligible = {code for code, loc in location.items()
                if loc.active and code in level_at and level_at[code].available >= quantity
                and (loc.can_ship if pickup_at is None else code == pickup_at and loc.can_pickup)}
    assert set(result) == eligible
    assert len(result) == len(eligible)


# ---------------------------------------------------------------------------------------------
# decide_sync
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", list(SyncMode))
def test_a_row_seen_before_is_a_duplicate(mode: SyncMode) -> None:
    # given a row whose source reference was applied before (even if it is also stale/invalid)
    level = a_level(on_hand=5, last_counted_at=T0)
    update = an_update(mode, -100, counted_at=T0 - timedelta(days=1))
    # then it does nothing
    assert decide_sync(update, level, seen_before=True) == SyncDecision(SyncOutcome.DUPLICATE)


@pytest.mark.parametrize("mode", list(SyncMode))
def test_a_row_older_than_the_last_count_is_stale(mode: SyncMode) -> None:
    level = a_level(on_hand=5, last_counted_at=T0)
    update = an_update(mode, 3, counted_at=T0 - timedelta(microseconds=1))
    decision = decide_sync(update, level, seen_before=False)
    assert decision.outcome is SyncOutcome.STALE
    assert decision.on_hand_delta == 0
    assert decision.reason


@pytest.mark.parametrize(("mode", "delta"), [(SyncMode.ABSOLUTE, -2), (SyncMode.DELTA, 3)])
@pytest.mark.parametrize("counted_at", [T0, T0 + timedelta(seconds=1)], ids=["same-time", "later"])
def test_a_row_as_new_as_the_last_count_is_applied(
        mode: SyncMode, delta: int, counted_at: datetime) -> None:
    level = a_level(on_hand=5, last_counted_at=T0)
    decision = decide_sync(an_update(mode, 3, counted_at=counted_at), level, seen_before=False)
    assert decision == SyncDecision(SyncOutcome.APPLIED, delta)


@pytest.mark.parametrize("mode", list(SyncMode))
def test_a_level_never_counted_accepts_any_time(mode: SyncMode) -> None:
    level = a_level(on_hand=5, last_counted_at=None)
    update = an_update(mode, 1, counted_at=datetime(2000, 1, 1, tzinfo=UTC))
    assert decide_sync(update, level, seen_before=False).outcome is SyncOutcome.APPLIED


@pytest.mark.parametrize(("on_hand", "count", "delta"), [(7, 10, 3), (7, 2, -5), (7, 0, -7),
                                                         (7, 7, 0), (0, 4, 4)])
def test_a_count_sets_on_hand(on_hand: int, count: int, delta: int) -> None:
    decision = decide_sync(an_update(SyncMode.ABSOLUTE, count), a_level(on_hand=on_hand), False)
    assert decision == SyncDecision(SyncOutcome.APPLIED, delta)


def test_a_negative_count_is_rejected() -> None:
    decision = decide_sync(an_update(SyncMode.ABSOLUTE, -1), a_level(on_hand=7), False)
    assert decision.outcome is SyncOutcome.REJECTED
    assert decision.on_hand_delta == 0
    assert decision.reason == "a count cannot be negative"


@pytest.mark.parametrize(("on_hand", "movement"), [(5, 3), (5, -3), (5, -5), (0, 0)])
def test_a_movement_changes_on_hand_by_its_quantity(on_hand: int, movement: int) -> None:
    decision = decide_sync(an_update(SyncMode.DELTA, movement), a_level(on_hand=on_hand), False)
    assert decision == SyncDecision(SyncOutcome.APPLIED, movement)


@pytest.mark.parametrize(("on_hand", "movement"), [(5, -6), (0, -1)])
def test_a_movement_below_zero_is_rejected(on_hand: int, movement: int) -> None:
    decision = decide_sync(an_update(SyncMode.DELTA, movement), a_level(on_hand=on_hand), False)
    assert decision.outcome is SyncOutcome.REJECTED
    assert decision.on_hand_delta == 0
    assert decision.reason == "on hand would fall below zero"


@given(on_hand=st.integers(0, 10**6), count=st.integers(0, 10**6))
def test_an_applied_count_leaves_exactly_the_count(on_hand: int, count: int) -> None:
    decision = decide_sync(an_update(SyncMode.ABSOLUTE, count), a_level(on_hand=on_hand), False)
    assert decision.outcome is SyncOutcome.APPLIED
    assert on_hand + decision.on_hand_delta == count


@given(on_hand=st.integers(0, 10**6), movement=st.integers(-(10**6), 10**6))
def test_a_movement_never_leaves_on_hand_negative(on_hand: int, movement: int) -> None:
    decision = decide_sync(an_update(SyncMode.DELTA, movement), a_level(on_hand=on_hand), False)
    if decision.outcome is SyncOutcome.APPLIED:
        assert on_hand + decision.on_hand_delta >= 0
    else:
        assert on_hand + movement < 0


# ---------------------------------------------------------------------------------------------
# sync_order
# ---------------------------------------------------------------------------------------------


def test_rows_are_applied_per_stock_row_then_in_time_order() -> None:
    later, earlier = T0 + timedelta(hours=1), T0
    rows = [
        an_update(sku="SKU-2", location="WH-1", counted_at=earlier, ref="a"),
        an_update(sku="SKU-1", location="WH-2", counted_at=later, ref="b"),
        an_update(sku="SKU-1", location="WH-1", counted_at=later, ref="c"),
        an_update(sku="SKU-1", location="WH-2", counted_at=earlier, ref="d"),
        an_update(sku="SKU-1", location="WH-1", counted_at=earlier, ref="e"),
    ]
    same_priority = {"WH-1": 100, "WH-2": 100}
    assert [r.source_reference for r in sync_order(rows, same_priority)] == ["e", "c", "d", "b", "a"]
    # a higher priority location comes first within a SKU: the order reservations lock in
    wh2_first = {"WH-1": 100, "WH-2": 200}
    assert [r.source_reference for r in sync_order(rows, wh2_first)] == ["d", "b", "e", "c", "a"]


def test_sync_order_does_not_change_its_input() -> None:
    rows = [an_update(sku="SKU-2"), an_update(sku="SKU-1")]
    copy = list(rows)
    sync_order(rows, {})
    assert rows == copy


updates_strategy = st.lists(st.builds(
    StockUpdate,
    sku=st.sampled_from(["SKU-1", "SKU-2", "SKU-10"]),
    location=st.sampled_from(["WH-1", "WH-2", "ST-AMS"]),
    mode=st.sampled_from(list(SyncMode)),
    quantity=st.integers(-5, 20),
    source_reference=st.text(max_size=5),
    # hypothesis takes naive bounds and attaches the time zone itself
    counted_at=st.datetimes(min_value=datetime(2024, 1, 1),  # noqa: DTZ001
                            max_value=datetime(2026, 1, 1),  # noqa: DTZ001
                            timezones=st.just(UTC)),
), max_size=30)


@given(updates_strategy, st.dictionaries(st.sampled_from(["WH-1", "WH-2", "ST-AMS"]),
                                          st.integers(0, 300)))
def test_sync_order_is_a_sorted_permutation(updates: list[StockUpdate],
                                            priorities: dict[str, int]) -> None:
    result = sync_order(updates, priorities)
    assert Counter(result) == Counter(updates)
    keys = [(u.sku, -priorities.get(u.location, 0), u.location, u.counted_at) for u in result]
    assert keys == sorted(keys)


def test_a_count_older_than_the_last_applied_movement_is_stale() -> None:
    # given a sale applied at T0 + 5 min
    level = StockLevel("SKU-1", "WH-1", 18, 0, 0, last_counted_at=T0,
                       last_movement_at=T0 + timedelta(minutes=5))
    # when a count taken at T0 + 3 min arrives late, then it would undo the sale: stale
    late_count = an_update(SyncMode.ABSOLUTE, 20, counted_at=T0 + timedelta(minutes=3))
    assert decide_sync(late_count, level, seen_before=False).outcome is SyncOutcome.STALE
    # but a movement from before the last movement and after the last count still applies
    late_sale = an_update(SyncMode.DELTA, -1, counted_at=T0 + timedelta(minutes=3))
    assert decide_sync(late_sale, level, seen_before=False).outcome is SyncOutcome.APPLIED


def test_rows_dated_in_the_future_are_rejected() -> None:
    future = an_update(SyncMode.ABSOLUTE, 5, counted_at=T0 + timedelta(minutes=6))
    decision = decide_sync(future, a_level(), seen_before=False, now=T0)
    assert decision.outcome is SyncOutcome.REJECTED
    near = an_update(SyncMode.ABSOLUTE, 5, counted_at=T0 + timedelta(minutes=4))
    assert decide_sync(near, a_level(), seen_before=False, now=T0).outcome is SyncOutcome.APPLIED
