"""Process analytics: the stages an order goes through, how long each took, and the rates an
operator watches. The SQL gathers timestamps and counts; this module turns them into figures.

Figures stay exact until they are shown: durations are `timedelta`s, rates are integer
(numerator, denominator) pairs (`Rate`), and rounding happens once, explicitly, at the edge
(`minutes_shown`, `Rate.percent`), half up.

Percentiles use the **nearest-rank** method: sort the n values and take the one at the 1-based
rank ceil(p / 100 * n). The answer is always one of the observed values (no interpolation), so
a p90 of "47 minutes" is an order that really took 47 minutes. With 10 values p50 is the 5th
and p90 the 9th; with 1 value both are that value.

Days are UTC days; a reporting period is a range of whole UTC days, both ends included.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any, Protocol, TypeVar

from ordermesh.domain.errors import InvalidInput

# -- stages ---------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Stage:
    name: str
    start: str  # a milestone
    end: str


STAGES: tuple[Stage, ...] = (
    Stage("placed_to_allocated", "placed", "allocated"),
    Stage("allocated_to_dispatched", "allocated", "dispatched"),
    Stage("dispatched_to_delivered", "dispatched", "delivered"),
    Stage("placed_to_delivered", "placed", "delivered"),
)
STAGE_NAMES = tuple(stage.name for stage in STAGES)


@dataclass(frozen=True, slots=True)
class Milestones:
    """When one order (or one fulfilment of it) reached each milestone, in the order they
    happen; None: not (yet). "dispatched" is the moment the last unit left the building (a
    pickup: ready at the counter); "delivered" the moment every part arrived (a pickup:
    collected)."""

    placed: datetime
    allocated: datetime | None = None
    dispatched: datetime | None = None
    delivered: datetime | None = None

    def at(self, milestone: str) -> datetime | None:
        value: datetime | None = getattr(self, milestone)
        return value


def order_milestones(method: str, placed: datetime, allocated: datetime | None,
                     shipped: datetime | None, last_ready: datetime | None,
                     delivered: datetime | None) -> Milestones:
    """An order's milestones from its events: allocated is its first `order.allocated` (every
    unit allocated); dispatched is its `order.shipped` (the last unit left) or, for a pickup,
    its last `order.ready_for_pickup` (a pickup's `order.shipped` is its collection);
    delivered is its `order.delivered` (every part delivered or collected)."""
    dispatched = last_ready if method == "pickup" else shipped
    return Milestones(placed, allocated, dispatched, delivered)


def durations(milestones: Milestones) -> dict[str, timedelta]:
    """The stages completed, each end minus start. A stage is left out while either end is
    unknown, and when its end comes before its start (data written out of order is not turned
    into a negative duration)."""
    found: dict[str, timedelta] = {}
    for stage in STAGES:
        start, end = milestones.at(stage.start), milestones.at(stage.end)
        if start is not None and end is not None and end >= start:
            found[stage.name] = end - start
    return found


# -- percentiles ----------------------------------------------------------------------------

class Ordered(Protocol):
    def __lt__(self, other: Any, /) -> bool: ...


T = TypeVar("T", bound=Ordered)
K = TypeVar("K", str, date)  # what stage figures are grouped by: a channel, location or day


def percentile(values: Sequence[T], percent: int | Fraction) -> T | None:
    """The nearest-rank percentile (0 < percent <= 100): the value at 1-based rank
    ceil(percent / 100 * n) of the sorted values; None for no values. The rank is computed
    exactly (a Fraction): p7 of 100 values is the 7th, where a float's 0.07 * 100 =
    7.000000000000001 would take the 8th."""
    if not 0 < percent <= 100:
        raise ValueError(f"a percentile is above 0 and at most 100, not {percent}")
    if not values:
        return None
    ordered = sorted(values)
    rank = math.ceil(Fraction(percent) * len(ordered) / 100)
    return ordered[rank - 1]


@dataclass(frozen=True, slots=True)
class StageFigures:
    count: int
    p50: timedelta | None
    p90: timedelta | None


def figures(values: Sequence[timedelta]) -> StageFigures:
    return StageFigures(len(values), percentile(values, 50), percentile(values, 90))


def stage_table(rows: Iterable[tuple[K, Milestones]], keys: Iterable[K] = ()
                ) -> dict[tuple[K, str], StageFigures]:
    """Count, p50 and p90 per (key, stage) over the rows' completed stages. Every key seen (and
    every key of `keys`, e.g. each day of a period) gets every stage, with count 0 where none
    completed; keys come out sorted, stages in STAGES order."""
    by_key: dict[K, dict[str, list[timedelta]]] = {key: {} for key in keys}
    for key, milestones in rows:
        stages = by_key.setdefault(key, {})
        for name, duration in durations(milestones).items():
            stages.setdefault(name, []).append(duration)
    return {(key, name): figures(by_key[key].get(name, []))
            for key in sorted(by_key) for name in STAGE_NAMES}


# -- presenting -----------------------------------------------------------------------------

MICROSECONDS_PER_MINUTE = 60_000_000


def minutes(duration: timedelta) -> Fraction:
    """A duration in minutes, exactly."""
    return Fraction(duration // timedelta(microseconds=1), MICROSECONDS_PER_MINUTE)


def rounded(value: Fraction, places: int) -> Decimal:
    """`value` rounded half up (away from zero) to `places` decimals, computed exactly: no
    float on the way, so 0.125 rounds to 0.13 and 2/3 to 0.67."""
    scaled = abs(value) * 10**places
    whole = math.floor(scaled + Fraction(1, 2))
    return Decimal(-whole if value < 0 else whole).scaleb(-places)


def minutes_shown(duration: timedelta | None) -> Decimal | None:
    """A duration as shown: minutes with one decimal, half up."""
    return None if duration is None else rounded(minutes(duration), 1)


# -- rates ----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Rate:
    """numerator / denominator, kept as the two counts; `excluded` counts the cases left out of
    the denominator on purpose (each rate says which)."""

    numerator: int
    denominator: int
    excluded: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.numerator <= self.denominator or self.excluded < 0:
            raise ValueError(f"not a rate: {self.numerator}/{self.denominator}")

    @property
    def fraction(self) -> Fraction | None:
        """None when there was nothing to count (0/0 is not 0 %)."""
        return Fraction(self.numerator, self.denominator) if self.denominator else None

    def percent(self, places: int = 2) -> Decimal | None:
        fraction = self.fraction
        return None if fraction is None else rounded(fraction * 100, places)


def share(flags: Iterable[bool]) -> Rate:
    """How many of the cases are true, of all cases."""
    values = list(flags)
    return Rate(sum(values), len(values))


def units_at_placement(decision: Mapping[str, Any] | None) -> int:
    """Units a placement allocated from stock on hand, from the data of its `order.allocated` /
    `order.backordered` event: every allocation (at the shipping location, or moved to the
    pickup store); what waits for supply is not counted."""
    return sum(int(a["quantity"]) for a in (decision or {}).get("allocations", []))


def fill_rate(placements: Iterable[tuple[int, Mapping[str, Any] | None]]) -> Rate:
    """Units allocated from stock at placement / units ordered, over (units ordered, placement
    decision) per order. An order without a placement decision is excluded (counted apart)."""
    allocated = ordered = excluded = 0
    for units, decision in placements:
        if decision is None:
            excluded += 1
            continue
        allocated += min(units_at_placement(decision), units)
        ordered += units
    return Rate(allocated, ordered, excluded)


def split_rate(parts_sent: Iterable[int]) -> Rate:
    """Orders sent in more than one fulfilment / orders with at least one fulfilment sent, over
    the count of fulfilments sent per order."""
    sent = [n for n in parts_sent if n >= 1]
    return Rate(sum(1 for n in sent if n > 1), len(sent))


def on_time_rate(arrivals: Iterable[tuple[date, date | None]]) -> Rate:
    """Orders arrived on or before their promised date / orders arrived with a promise, over
    (arrival day, promised day) per order. An order with no promise is excluded (counted apart):
    there is no date it could be late against."""
    on_time = promised = unpromised = 0
    for arrived, promise in arrivals:
        if promise is None:
            unpromised += 1
            continue
        promised += 1
        on_time += arrived <= promise
    return Rate(on_time, promised, unpromised)


def arrival_day(method: str, milestones: Milestones) -> date | None:
    """The day an order reached the customer, for keeping its promise: the day its last part
    arrived (a shipped order), or was ready at the counter (a pickup: when the customer comes
    for it is theirs to choose). None until the order is delivered (or collected)."""
    if milestones.delivered is None:
        return None
    reached = milestones.dispatched if method == "pickup" and milestones.dispatched else (
        milestones.delivered)
    return reached.astimezone(UTC).date()


# -- orders waiting now ---------------------------------------------------------------------

# The stage an order waits in, by its status now. An order with a part ready at the counter
# waits for collection instead, whatever its status.
WAITING = ("placed_not_allocated", "allocated_not_dispatched", "dispatched_not_delivered",
           "ready_for_pickup_not_collected", "on_hold")
WAITING_BY_STATUS: dict[str, str] = {
    "placed": "placed_not_allocated", "backordered": "placed_not_allocated",
    "allocated": "allocated_not_dispatched", "paid": "allocated_not_dispatched",
    "fulfilling": "allocated_not_dispatched", "shipped": "dispatched_not_delivered",
    "on_hold": "on_hold",
}
READY_FOR_PICKUP = "ready_for_pickup_not_collected"


def waiting(counts: Iterable[tuple[str, bool, int]]) -> dict[str, int]:
    """Orders waiting per stage, from (status, has a part ready for pickup, orders)."""
    found = dict.fromkeys(WAITING, 0)
    for status, ready, count in counts:
        stage = READY_FOR_PICKUP if ready and status != "on_hold" else WAITING_BY_STATUS.get(status)
        if stage is not None:
            found[stage] += count
    return found


# -- reporting periods ----------------------------------------------------------------------

DEFAULT_DAYS = 30
MAX_DAYS = 366


@dataclass(frozen=True, slots=True)
class Period:
    """Whole UTC days, `first` to `last` both included."""

    first: date
    last: date

    @property
    def start(self) -> datetime:
        return day_start(self.first)

    @property
    def end(self) -> datetime:
        """The first instant after the period (exclusive)."""
        return day_start(self.last + timedelta(days=1))

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def reporting_period(since: date | None, until: date | None, today: date) -> Period:
    """The period asked for: `until` (included) defaults to today, `since` to the 30 days
    ending on `until`. Refused: `since` after `until`, more than 366 days."""
    last = until or today
    if last == date.max or last - date.min < timedelta(days=DEFAULT_DAYS):
        # the day after the period, or the default start, would be no date at all
        raise InvalidInput(f"until ({last}) is out of the range of days reported on")
    first = since or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise InvalidInput(f"since ({first}) is after until ({last})")
    if (last - first).days + 1 > MAX_DAYS:
        raise InvalidInput(f"a period spans at most {MAX_DAYS} days, not "
                           f"{(last - first).days + 1}")
    return Period(first, last)
