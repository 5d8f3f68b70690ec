"""Stock: where a line may be reserved, and how rows of a stock feed are applied."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ordermesh.domain.inventory import (
    StockLevel,
    StockUpdate,
    SyncDecision,
    SyncMode,
    SyncOutcome,
    decide_sync,
    sync_order,
)

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def a_level(location: str = "WH-1", on_hand: int = 10, reserved: int = 0, safety_stock: int = 0,
            sku: str = "SKU-1", last_counted_at: datetime | None = None) -> StockLevel:
    return StockLevel(sku, location, on_hand, reserved, safety_stock, last_counted_at)


def an_update(mode: SyncMode = SyncMode.ABSOLUTE, quantity: int = 10,
              counted_at: datetime = T0, sku: str = "SKU-1", location: str = "WH-1",
              ref: str = "feed-1") -> StockUpdate:
    return StockUpdate(sku, location, mode, quantity, ref, counted_at)



def test_available_is_on_hand_less_reserved_less_safety_stock() -> None:
    assert a_level(on_hand=10, reserved=3, safety_stock=2).available == 5


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
