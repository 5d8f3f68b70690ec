"""Process analytics, the pure part: stages, nearest-rank percentiles, exact rates and rounding,
reporting periods; and the CSV the figures are exported as. Expected figures are worked out by
hand in the comments."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ordermesh.domain import analytics as a
from ordermesh.domain.errors import InvalidInput
from ordermesh.entrypoints.csv_export import to_csv

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


# -- percentiles ----------------------------------------------------------------------------

def test_nearest_rank_of_ten_values_is_the_fifth_and_the_ninth() -> None:
    # Given 10 values, shuffled
    values = [7, 3, 10, 1, 9, 2, 8, 4, 6, 5]
    # Then p50 is rank ceil(0.5 * 10) = 5 -> 5, p90 rank ceil(0.9 * 10) = 9 -> 9
    assert a.percentile(values, 50) == 5
    assert a.percentile(values, 90) == 9
    assert a.percentile(values, 100) == 10


def test_nearest_rank_rounds_the_rank_up() -> None:
    # 3 values: p50 rank ceil(1.5) = 2, p90 rank ceil(2.7) = 3; 1 value: always that value
    assert a.percentile([30, 10, 20], 50) == 20
    assert a.percentile([30, 10, 20], 90) == 30
    assert a.percentile([42], 50) == a.percentile([42], 90) == 42
    # 20 values: p90 rank ceil(18) = 18; 100 values: p7 rank 7 exactly (in floats 0.07 * 100 is
    # 7.000000000000001, whose ceiling would take the 8th)
    assert a.percentile(list(range(1, 21)), 90) == 18
    assert a.percentile(list(range(1, 101)), 7) == 7
    assert a.percentile(list(range(1, 21)), Fraction(1, 10)) == 1


def test_percentile_of_nothing_is_none_and_a_bad_percent_is_refused() -> None:
    assert a.percentile([], 50) is None
    for bad in (0, -1, 101):
        with pytest.raises(ValueError):
            a.percentile([1, 2], bad)


@given(st.lists(st.integers(-10**9, 10**9), min_size=1),
       st.integers(1, 100), st.integers(1, 100))
def test_percentiles_are_observed_values_within_range_and_monotone(
        values: list[int], p: int, q: int) -> None:
    low, high = sorted((p, q))
    p_low, p_high = a.percentile(values, low), a.percentile(values, high)
    assert p_low is not None and p_high is not None
    assert p_low in values and min(values) <= p_low <= p_high <= max(values)


@given(st.lists(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=60)), min_size=1))
def test_stage_figures_p50_is_at_most_p90(values: list[timedelta]) -> None:
    figures = a.figures(values)
    assert figures.count == len(values)
    assert figures.p50 is not None and figures.p90 is not None
    assert min(values) <= figures.p50 <= figures.p90 <= max(values)


# -- stages ---------------------------------------------------------------------------------

def test_durations_of_the_stages_an_order_completed() -> None:
    # Given an order placed at 0, allocated at +5, dispatched at +125, not delivered yet
    ms = a.Milestones(at(0), at(5), at(125), None)
    # Then two stages are done; dispatched->delivered and placed->delivered are not
    assert a.durations(ms) == {"placed_to_allocated": timedelta(minutes=5),
                               "allocated_to_dispatched": timedelta(minutes=120)}


def test_a_stage_is_measured_without_the_one_before_it_and_never_negative() -> None:
    # Given an order never allocated as a whole, delivered at +600; and one whose allocation
    # was written before its placement
    skipped = a.Milestones(at(0), None, at(300), at(600))
    backwards = a.Milestones(at(10), at(5))
    # Then the stages with both ends count, and an end before its start does not
    assert a.durations(skipped) == {"dispatched_to_delivered": timedelta(minutes=300),
                                    "placed_to_delivered": timedelta(minutes=600)}
    assert a.durations(backwards) == {}


def test_a_pickup_is_dispatched_when_its_last_part_is_ready_at_the_counter() -> None:
    ship = a.order_milestones("ship", at(0), at(1), at(50), None, at(90))
    pickup = a.order_milestones("pickup", at(0), at(1), at(80), at(40), at(80))
    assert ship.dispatched == at(50)
    assert pickup.dispatched == at(40) and pickup.delivered == at(80)


def test_stage_table_lists_every_stage_of_every_key_sorted() -> None:
    # Given web orders taking 5 and 15 minutes to allocate, a pos order 1 minute, and the day
    # keys asked for including one without orders
    rows = [("web", a.Milestones(at(0), at(15))), ("pos", a.Milestones(at(0), at(1))),
            ("web", a.Milestones(at(0), at(5)))]
    table = a.stage_table(rows, ["app"])
    # Then keys come sorted, each with the four stages; web p50 = rank 1 of [5, 15] = 5,
    # p90 = rank ceil(1.8) = 2 -> 15
    assert list(table)[:4] == [("app", name) for name in a.STAGE_NAMES]
    assert [key for key, _ in table][::4] == ["app", "pos", "web"]
    assert table[("web", "placed_to_allocated")] == a.StageFigures(
        2, timedelta(minutes=5), timedelta(minutes=15))
    assert table[("app", "placed_to_allocated")] == a.StageFigures(0, None, None)
    assert table[("pos", "placed_to_delivered")] == a.StageFigures(0, None, None)


# -- exact numbers and rounding at the edge -------------------------------------------------

def test_minutes_are_exact_and_shown_with_one_decimal_half_up() -> None:
    assert a.minutes(timedelta(seconds=90)) == Fraction(3, 2)
    assert a.minutes(timedelta(microseconds=1)) == Fraction(1, 60_000_000)
    assert a.minutes_shown(timedelta(seconds=20)) == Decimal("0.3")  # 0.333.. -> 0.3
    assert a.minutes_shown(timedelta(seconds=3)) == Decimal("0.1")  # 0.05 -> 0.1 (half up)
    assert a.minutes_shown(timedelta(hours=2)) == Decimal("120.0")
    assert a.minutes_shown(None) is None


def test_rounding_is_half_up_on_the_exact_value() -> None:
    # A float would say round(0.125, 2) == 0.12 and round(2.675, 2) == 2.67
    assert a.rounded(Fraction(1, 8), 2) == Decimal("0.13")
    assert a.rounded(Fraction(2675, 1000), 2) == Decimal("2.68")
    assert a.rounded(Fraction(2, 3), 2) == Decimal("0.67")
    assert a.rounded(Fraction(-1, 8), 2) == Decimal("-0.13")
    assert a.rounded(Fraction(7), 0) == Decimal("7")


@given(st.fractions(min_value=-10**6, max_value=10**6), st.integers(0, 6))
def test_rounding_moves_a_value_by_at_most_half_a_unit(value: Fraction, places: int) -> None:
    shown = a.rounded(value, places)
    assert shown.as_tuple().exponent == -places
    assert abs(Fraction(shown) - value) <= Fraction(1, 2 * 10**places)


def test_a_rate_keeps_its_counts_and_shows_a_percentage() -> None:
    assert a.Rate(1, 3).fraction == Fraction(1, 3)
    assert a.Rate(1, 3).percent() == Decimal("33.33")
    assert a.Rate(2, 3).percent() == Decimal("66.67")
    assert a.Rate(1, 8).percent(1) == Decimal("12.5")
    assert a.Rate(3, 3).percent() == Decimal("100.00")
    assert a.Rate(0, 0).fraction is None and a.Rate(0, 0).percent() is None
    with pytest.raises(ValueError):
        a.Rate(4, 3)


def test_fill_rate_counts_units_allocated_at_placement() -> None:
    # Given an order of 3 units all allocated (2 from stock, 1 moved to the pickup store), an
    # order of 4 with 1 allocated and 3 waiting, and an order without a placement decision
    placements = [
        (3, {"allocations": [{"quantity": 2, "source": "stock"},
                             {"quantity": 1, "source": "transfer"}], "waits": []}),
        (4, {"allocations": [{"quantity": 1, "source": "stock"}],
             "waits": [{"quantity": 3, "kind": "backorder"}]}),
        (5, None),
    ]
    # Then (3 + 1) / (3 + 4), the third excluded
    assert a.fill_rate(placements) == a.Rate(4, 7, excluded=1)


def test_split_backorder_and_on_time_rates_by_hand() -> None:
    # Fulfilments sent per order: 0 (not sent yet), 1, 2, 1 -> 1 split of 3 sent
    assert a.split_rate([0, 1, 2, 1]) == a.Rate(1, 3)
    assert a.share([True, False, False, True]) == a.Rate(2, 4)
    # Arrived on the promised day, a day late, a day early, and without a promise
    arrivals = [(date(2026, 3, 5), date(2026, 3, 5)), (date(2026, 3, 6), date(2026, 3, 5)),
                (date(2026, 3, 4), date(2026, 3, 5)), (date(2026, 3, 4), None)]
    assert a.on_time_rate(arrivals) == a.Rate(2, 3, excluded=1)


def test_arrival_day_is_delivery_or_ready_at_the_counter_in_utc() -> None:
    late_evening = datetime(2026, 3, 5, 23, 30, tzinfo=UTC)
    ship = a.Milestones(at(0), dispatched=at(60), delivered=late_evening)
    pickup = a.Milestones(at(0), dispatched=at(60), delivered=late_evening + timedelta(days=3))
    assert a.arrival_day("ship", ship) == date(2026, 3, 5)
    assert a.arrival_day("pickup", pickup) == T0.date()
    assert a.arrival_day("ship", a.Milestones(at(0), dispatched=at(60))) is None


def test_orders_waiting_per_stage() -> None:
    counts = [("placed", False, 1), ("backordered", False, 2), ("allocated", False, 3),
              ("paid", True, 1), ("fulfilling", False, 4), ("shipped", False, 5),
              ("on_hold", True, 6), ("delivered", False, 9)]
    assert a.waiting(counts) == {
        "placed_not_allocated": 3, "allocated_not_dispatched": 7,
        "dispatched_not_delivered": 5, "ready_for_pickup_not_collected": 1, "on_hold": 6}


# -- reporting periods ----------------------------------------------------------------------

def test_the_default_period_is_the_thirty_days_ending_today() -> None:
    period = a.reporting_period(None, None, date(2026, 3, 31))
    assert (period.first, period.last) == (date(2026, 3, 2), date(2026, 3, 31))
    assert len(period.days) == 30
    assert period.start == datetime(2026, 3, 2, tzinfo=UTC)
    assert period.end == datetime(2026, 4, 1, tzinfo=UTC)  # until is included: the day after


def test_a_period_is_refused_backwards_or_longer_than_366_days() -> None:
    assert len(a.reporting_period(date(2024, 1, 1), date(2024, 12, 31), date(2026, 1, 1)).days) \
        == 366
    assert a.reporting_period(date(2026, 3, 3), date(2026, 3, 3), date(2026, 1, 1)).days == [
        date(2026, 3, 3)]
    with pytest.raises(InvalidInput):
        a.reporting_period(date(2026, 3, 4), date(2026, 3, 3), date(2026, 3, 31))
    with pytest.raises(InvalidInput):
        a.reporting_period(date(2024, 1, 1), date(2025, 1, 1), date(2026, 1, 1))


# -- CSV ------------------------------------------------------------------------------------

def test_csv_has_a_header_row_and_the_named_columns_in_order() -> None:
    rows = [{"group": "web", "orders": 2, "percent": 12.5, "extra": "left out"},
            {"group": "a, \"quoted\" name", "orders": 0, "percent": None}]
    assert to_csv(rows, ["group", "orders", "percent"]) == (
        'group,orders,percent\r\nweb,2,12.5\r\n"a, ""quoted"" name",0,\r\n')


def test_csv_never_hands_a_spreadsheet_a_formula() -> None:
    rows = [{"sku": "=HYPERLINK(\"http://x\")"}, {"sku": "+1"}, {"sku": "-2"}, {"sku": "@A"},
            {"sku": -3}]
    assert to_csv(rows, ["sku"]).splitlines() == [
        "sku", '"\'=HYPERLINK(""http://x"")"', "'+1", "'-2", "'@A", "-3"]
