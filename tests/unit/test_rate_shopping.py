"""Rate shopping: the cheapest or fastest quote that keeps the promised date."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ordermesh.domain.errors import InvalidInput
from ordermesh.domain.rate_shopping import Preference, Quote, choose

MON = date(2026, 11, 30)


def quote(carrier: str, service: str, amount: int, days: int) -> Quote:
    return Quote(carrier, service, amount, "EUR", MON + timedelta(days=days))


QUOTES = [quote("postnl", "standard", 495, 2), quote("dhl", "express", 1250, 1),
          quote("dpd", "economy", 395, 4)]


def test_the_cheapest_that_keeps_the_promise() -> None:
    choice = choose(QUOTES, promised_on=MON + timedelta(days=2))
    assert (choice.quote.carrier, choice.keeps_promise) == ("postnl", True)
    assert "cheapest of 2 quote(s)" in choice.explanation


def test_the_fastest_when_asked() -> None:
    choice = choose(QUOTES, MON + timedelta(days=5), Preference.FASTEST)
    assert choice.quote.carrier == "dhl"


def test_without_a_promise_the_cheapest_of_all() -> None:
    assert choose(QUOTES, None).quote.carrier == "dpd"


def test_when_no_quote_keeps_the_promise_the_earliest_and_it_says_so() -> None:
    choice = choose(QUOTES, promised_on=MON)
    assert (choice.quote.carrier, choice.keeps_promise) == ("dhl", False)
    assert choice.explanation.startswith(f"no quote arrives by {MON}")


def test_no_quotes_or_mixed_currencies_are_refused() -> None:
    with pytest.raises(InvalidInput):
        choose([], MON)
    with pytest.raises(InvalidInput):
        choose([*QUOTES, Quote("ups", "saver", 900, "GBP", MON)], MON)
    with pytest.raises(InvalidInput):
        Quote("ups", "saver", -1, "EUR", MON)


quotes = st.lists(st.builds(quote, st.sampled_from(["a", "b", "c"]), st.sampled_from(["x", "y"]),
                            st.integers(0, 5000), st.integers(0, 10)), min_size=1, max_size=8)


@given(quotes, st.integers(0, 10), st.sampled_from(list(Preference)))
def test_a_quote_that_keeps_the_promise_is_chosen_whenever_there_is_one(
        offered: list[Quote], days: int, preference: Preference) -> None:
    promised = MON + timedelta(days=days)
    choice = choose(offered, promised, preference)
    in_time = [q for q in offered if q.delivers_on <= promised]
    assert choice.keeps_promise == bool(in_time)
    if in_time and preference is Preference.CHEAPEST:
        assert choice.quote.amount == min(q.amount for q in in_time)
    if in_time and preference is Preference.FASTEST:
        assert choice.quote.delivers_on == min(q.delivers_on for q in in_time)
    assert choose(list(reversed(offered)), promised, preference) == choice  # repeatable
