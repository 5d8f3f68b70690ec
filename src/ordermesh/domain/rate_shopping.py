"""Rate shopping: of the carriers' quotes for a shipment, the cheapest (or the fastest) that
arrives by the date promised to the customer, and why. When no quote keeps the promise, the one
that arrives first, saying that the promise will be missed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from ordermesh.domain.errors import InvalidInput


class Preference(StrEnum):
    CHEAPEST = "cheapest"
    FASTEST = "fastest"


@dataclass(frozen=True, slots=True)
class Quote:
    carrier: str
    service: str
    amount: int  # minor units
    currency: str
    delivers_on: date  # the carrier's estimate

    def __post_init__(self) -> None:
        if type(self.amount) is not int or self.amount < 0:
            raise InvalidInput(f"{self.carrier} {self.service}: a rate is whole minor units >= 0")


@dataclass(frozen=True, slots=True)
class Choice:
    quote: Quote
    keeps_promise: bool
    explanation: str


def choose(quotes: Sequence[Quote], promised_on: date | None,
           preference: Preference = Preference.CHEAPEST) -> Choice:
    """The quote to buy. Among the quotes that deliver by `promised_on` (all, without a
    promise): the cheapest, earliest first on a tie, or the earliest, cheapest first on a tie.
    Ties beyond that go to the carrier and service names, so the choice is repeatable."""
    if not quotes:
        raise InvalidInput("no carrier quoted for this shipment")
    if len({q.currency for q in quotes}) > 1:
        raise InvalidInput("quotes in more than one currency cannot be compared")

    def cheapest(q: Quote) -> tuple[int, date, str, str]:
        return q.amount, q.delivers_on, q.carrier, q.service

    def fastest(q: Quote) -> tuple[date, int, str, str]:
        return q.delivers_on, q.amount, q.carrier, q.service

    in_time = [q for q in quotes if promised_on is None or q.delivers_on <= promised_on]
    if not in_time:
        late = min(quotes, key=fastest)
        return Choice(late, False, f"no quote arrives by {promised_on}: {late.carrier} "
                                   f"{late.service} arrives first, on {late.delivers_on}")
    best = min(in_time, key=cheapest if preference is Preference.CHEAPEST else fastest)
    by = "by the promised " + str(promised_on) if promised_on else "(no date promised)"
    return Choice(best, True, f"{preference} of {len(in_time)} quote(s) arriving {by}: "
                              f"{best.carrier} {best.service}, {best.amount} "
                              f"{best.currency}, on {best.delivers_on}")
