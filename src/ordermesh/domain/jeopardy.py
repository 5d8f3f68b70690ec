"""Jeopardy: orders about to miss, or past, the time a stage of their journey may take.

An order waits in up to five stages, each with a clock that starts when the order entered it:
`payment` (its authorization is not answered, or was refused), `allocation` (units wait for
stock), `dispatch` (allocated, paid for if it must be, and not sent yet), `delivery` (sent, not
arrived) and `collection` (at the store's counter, not collected). One order can be in several
at once: a split order has one parcel on the road while another line waits for stock.

Each stage may take its SLA in minutes: the channel's own, else the one set for every channel
('*'), else DEFAULT_SLA_MINUTES. An order is at risk once WARNING_SHARE of the SLA has passed,
so someone hears of it before the promise is broken, and overdue at the SLA itself. Why it is
stuck is read from the order's facts (a refused card, stock awaited, a short pick, a carrier's
exception, a parcel left at the counter, a hold), else it is just `slow`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from fractions import Fraction
from typing import Any

from ordermesh.domain.errors import InvalidInput
from ordermesh.domain.events import Event
from ordermesh.domain.fulfilments import SENT, FulfilmentStatus


class Stage(StrEnum):
    PAYMENT = "payment"
    ALLOCATION = "allocation"
    DISPATCH = "dispatch"
    DELIVERY = "delivery"
    COLLECTION = "collection"


class Reason(StrEnum):
    PAYMENT_FAILED = "payment_failed"  # the gateway refused the authorization
    AWAITING_STOCK = "awaiting_stock"  # units wait for supply (backordered, pre-ordered)
    SHORT_PICK = "short_pick"  # the picker found fewer units than reserved
    CARRIER_EXCEPTION = "carrier_exception"  # the carrier reported a problem with a parcel
    PICKUP_NOT_COLLECTED = "pickup_not_collected"  # waiting at the counter
    ON_HOLD = "on_hold"  # an operator stopped the order (fraud check, address question)
    SLOW = "slow"  # nothing in the facts explains it: the work is just behind


# Minutes a stage may take when neither the channel nor '*' sets its own. A retailer's usual
# promises: a card is answered in seconds and an asynchronous one within minutes (a refused
# one cancels the order after the channel's payment_failure_release_minutes, 60 by default);
# stock awaited for a day past its promised date (or since it began to wait) needs someone to
# chase the supplier or offer a substitute; next-day dispatch; three days on the road for a
# domestic parcel; three days at the counter, well before the pickup_hold_days (7) after which
# the units go back on the shelf.
DEFAULT_SLA_MINUTES: dict[Stage, int] = {
    Stage.PAYMENT: 30,
    Stage.ALLOCATION: 24 * 60,
    Stage.DISPATCH: 24 * 60,
    Stage.DELIVERY: 3 * 24 * 60,
    Stage.COLLECTION: 3 * 24 * 60,
}
ANY_CHANNEL = "*"  # the SLA of every channel without its own
WARNING_SHARE = Fraction(4, 5)  # at risk once 80 % of the SLA has passed
MAX_SLA_MINUTES = 366 * 24 * 60  # a year: anything longer is a typo, not a promise

# Wire name of the event recorded when an order is flagged.
IN_JEOPARDY = "order.in_jeopardy"


def stage_of(value: str) -> Stage:
    try:
        return Stage(value)
    except ValueError:
        raise InvalidInput(f"unknown stage {value!r}", field="stage",
                           allowed=[str(s) for s in Stage]) from None


def check_sla(stage: str, minutes: int) -> Stage:
    """The stage named, if `minutes` is an SLA it may have."""
    found = stage_of(stage)
    if type(minutes) is not int or not 1 <= minutes <= MAX_SLA_MINUTES:
        raise InvalidInput(f"an SLA is 1 to {MAX_SLA_MINUTES} minutes, not {minutes!r}",
                           field="minutes")
    return found


def sla_minutes(slas: Mapping[tuple[str, str], int], channel: str, stage: Stage) -> int:
    """The channel's own SLA for the stage, else the one for every channel, else the default."""
    own = slas.get((channel, str(stage)))
    if own is not None:
        return own
    return slas.get((ANY_CHANNEL, str(stage)), DEFAULT_SLA_MINUTES[stage])


# -- the facts of an order, as read from the database ------------------------------------------


@dataclass(frozen=True, slots=True)
class PaymentTry:
    """One payment of the order (oldest first) and how its authorization was answered."""

    created_at: datetime
    outcome: str  # pending | succeeded | failed
    answered_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Waiting:
    """Units of a line waiting for supply since `since`, promised for `promised_on` if known."""

    since: datetime
    promised_on: date | None = None


@dataclass(frozen=True, slots=True)
class Unsent:
    """An allocation whose units have not left yet: in no fulfilment, or in `fulfilment_id`.
    `ready_on`: the day they can leave (or be collected), when that is later than now."""

    since: datetime
    ready_on: date | None = None
    fulfilment_id: str | None = None


@dataclass(frozen=True, slots=True)
class Parcel:
    """A fulfilment of the order, with the times the clocks need."""

    id: str
    method: str  # ship | pickup
    status: str  # a FulfilmentStatus
    created_at: datetime
    ready_at: datetime | None = None  # at the counter since
    dispatched_at: datetime | None = None  # left the building at
    short_picked: bool = False


@dataclass(frozen=True, slots=True)
class OrderFacts:
    order_id: str
    number: str
    channel: str
    status: str  # an OrderStatus
    placed_at: datetime
    hold_reason: str | None = None
    payments: tuple[PaymentTry, ...] = ()
    waiting: tuple[Waiting, ...] = ()
    unsent: tuple[Unsent, ...] = ()
    parcels: tuple[Parcel, ...] = ()

    @property
    def held(self) -> bool:
        """Held by an operator (a hold for a refused payment is the payment's own story)."""
        return self.status == "on_hold" and self.hold_reason != "payment_failed"


@dataclass(frozen=True, slots=True)
class StageClock:
    """An order in a stage since `started_at`, and why it is there."""

    stage: Stage
    started_at: datetime
    reason: Reason


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _awaiting_payment(facts: OrderFacts) -> bool:
    return bool(facts.payments) and facts.payments[-1].outcome != "succeeded"


def _payment(facts: OrderFacts) -> StageClock | None:
    """The current payment is not authorized. The clock runs from placement, or, for a new
    authorization after one that succeeded (a lapsing one renewed), from that new one."""
    if not _awaiting_payment(facts):
        return None
    current = facts.payments[-1]
    renewed = any(p.outcome == "succeeded" for p in facts.payments[:-1])
    started = current.created_at if renewed else facts.placed_at
    reason = (Reason.PAYMENT_FAILED if current.outcome == "failed"
              else Reason.ON_HOLD if facts.held else Reason.SLOW)
    return StageClock(Stage.PAYMENT, started, reason)


def _allocation(facts: OrderFacts) -> StageClock | None:
    """Units wait for stock: the clock runs from when they began to wait, or from the day
    promised when that is later (a pre-order is not late before its release date). An order
    still `placed` was never sourced at all."""
    if facts.waiting:
        started = min(max(w.since, _day_start(w.promised_on)) if w.promised_on else w.since
                      for w in facts.waiting)
        return StageClock(Stage.ALLOCATION, started, Reason.AWAITING_STOCK)
    if facts.status == "placed":
        return StageClock(Stage.ALLOCATION, facts.placed_at, Reason.SLOW)
    return None


def _dispatch(facts: OrderFacts) -> StageClock | None:
    """Allocated units not sent yet. Nothing is released before the money is authorized, so
    the clock waits for that too; units waiting at the counter are `collection`'s."""
    if _awaiting_payment(facts):
        return None
    at_counter = {p.id for p in facts.parcels if p.status == FulfilmentStatus.READY_FOR_PICKUP}
    starts = [max(u.since, _day_start(u.ready_on)) if u.ready_on else u.since
              for u in facts.unsent if u.fulfilment_id not in at_counter]
    if not starts:
        return None
    started = min(starts)
    authorized = facts.payments[-1].answered_at if facts.payments else None
    if authorized is not None:
        started = max(started, authorized)
    reason = (Reason.ON_HOLD if facts.held
              else Reason.SHORT_PICK if any(p.short_picked for p in facts.parcels)
              else Reason.SLOW)
    return StageClock(Stage.DISPATCH, started, reason)


def _delivery(facts: OrderFacts) -> StageClock | None:
    sent = [p for p in facts.parcels if p.method == "ship" and p.status in SENT]
    if not sent:
        return None
    started = min(p.dispatched_at or p.created_at for p in sent)
    reason = (Reason.CARRIER_EXCEPTION
              if any(p.status == FulfilmentStatus.EXCEPTION for p in sent) else Reason.SLOW)
    return StageClock(Stage.DELIVERY, started, reason)


def _collection(facts: OrderFacts) -> StageClock | None:
    ready = [p for p in facts.parcels if p.status == FulfilmentStatus.READY_FOR_PICKUP]
    if not ready:
        return None
    started = min(p.ready_at or p.created_at for p in ready)
    return StageClock(Stage.COLLECTION, started, Reason.PICKUP_NOT_COLLECTED)


def stages(facts: OrderFacts) -> list[StageClock]:
    """Every stage the order is in now, with its clock and reason."""
    found = (_payment(facts), _allocation(facts), _dispatch(facts), _delivery(facts),
             _collection(facts))
    return [clock for clock in found if clock is not None]


# -- judging the clocks ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Assessment:
    """A stage's clock measured against its SLA at `now`."""

    stage: Stage
    reason: Reason
    started_at: datetime
    sla_minutes: int
    warn_at: datetime  # at risk from here
    due_at: datetime  # overdue from here
    minutes: int  # whole minutes past due_at, rounded down; negative: minutes still to go
    at_risk: bool
    overdue: bool


def measure(clock: StageClock, minutes: int, now: datetime,
            share: Fraction = WARNING_SHARE) -> Assessment:
    """Exact to the microsecond: at risk when at least `share` of the SLA has passed, overdue
    when all of it has."""
    sla = timedelta(minutes=minutes)
    warn_at = clock.started_at + sla * share.numerator / share.denominator
    due_at = clock.started_at + sla
    return Assessment(clock.stage, clock.reason, clock.started_at, minutes, warn_at, due_at,
                      (now - due_at) // timedelta(minutes=1), now >= warn_at, now >= due_at)


def assess(facts: OrderFacts, slas: Mapping[tuple[str, str], int], now: datetime,
           share: Fraction = WARNING_SHARE) -> list[Assessment]:
    """Each stage the order is in, measured against its channel's SLA."""
    return [measure(clock, sla_minutes(slas, facts.channel, clock.stage), now, share)
            for clock in stages(facts)]


@dataclass(frozen=True, slots=True)
class Flag:
    """An order's stage flagged before: still open or cleared, and what it said."""

    open: bool
    reason: str
    due_at: datetime


def next_step(flag: Flag | None, found: Assessment) -> str | None:
    """What the jeopardy check does about a stage at risk, given its earlier flag: `flag` it
    (first time), `reopen` it (it had left the stage and is back, at risk again), `refresh`
    an open flag whose reason or due time changed (no new event: the alert was given), or
    nothing."""
    if flag is None:
        return "flag"
    if not flag.open:
        return "reopen"
    if (flag.reason, flag.due_at) != (str(found.reason), found.due_at):
        return "refresh"
    return None


def jeopardy_event(facts: OrderFacts, found: Assessment, actor: str) -> Event:
    """`order.in_jeopardy`: on the order's own stream, so it joins its timeline, webhooks
    and the event stream like any other event of the order."""
    data: dict[str, Any] = {
        "number": facts.number, "channel": facts.channel, "stage": str(found.stage),
        "reason": str(found.reason), "started_at": found.started_at.isoformat(),
        "due_at": found.due_at.isoformat(), "sla_minutes": found.sla_minutes,
        "minutes": found.minutes, "overdue": found.overdue}
    return Event(IN_JEOPARDY, "order", facts.order_id, actor, data)


def most_late_first(rows: Sequence[tuple[OrderFacts, Assessment]]
                    ) -> list[tuple[OrderFacts, Assessment]]:
    """The most overdue first; then by order number and stage, so the list is stable."""
    order = {stage: n for n, stage in enumerate(Stage)}
    return sorted(rows, key=lambda r: (-r[1].minutes, r[0].number, order[r[1].stage]))
