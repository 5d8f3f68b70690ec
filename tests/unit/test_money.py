"""Money: integer minor units and an ISO 4217 code. No floats, no mixing currencies."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ordermesh.domain.errors import InvalidInput
from ordermesh.domain.money import Money, total

amounts = st.integers(min_value=-(10**15), max_value=10**15)
currencies = st.sampled_from(["EUR", "USD", "GBP", "JPY", "SEK"])


def eur(amount: int) -> Money:
    return Money(amount, "EUR")


# ---------------------------------------------------------------------------------------------
# Construction
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("amount", [0, 1, -1, 1999, 10**18])
def test_integer_amounts_are_accepted(amount: int) -> None:
    money = Money(amount, "EUR")
    assert (money.amount, money.currency) == (amount, "EUR")


@pytest.mark.parametrize("amount", [19.99, 1.0, 0.0, True, False, Decimal("1999"), Fraction(1, 2),
                                    "1999", None])
def test_amounts_that_are_not_integers_are_refused(amount: object) -> None:
    with pytest.raises(InvalidInput, match="integer of minor units") as refused:
        Money(amount, "EUR")  # type: ignore[arg-type]
    assert refused.value.code == "request.invalid"


@pytest.mark.parametrize("currency", ["EUR", "USD", "JPY", "XAU"])
def test_three_uppercase_letters_are_a_currency(currency: str) -> None:
    assert Money(1, currency).currency == currency


@pytest.mark.parametrize("currency", ["", "E", "EU", "EURO", "eur", "Eur", "EUr", "E1R", "123",
                                      "EU ", " EU", "EU-", "$$$"])
def test_other_currency_codes_are_refused(currency: str) -> None:
    with pytest.raises(InvalidInput, match="ISO 4217"):
        Money(1, currency)


@pytest.mark.parametrize("currency", ["\u00c4\u00d6\u00dc", "\u0395\u03a5\u03a1", "EU\uff32",
                                      "EUR\n", None, b"EUR"],
                         ids=["latin-umlauts", "greek-capitals", "fullwidth-r", "trailing-newline",
                              "none", "bytes"])
def test_only_ascii_capitals_are_a_currency(currency: object) -> None:
    # regression: str.isalpha()/isupper() accepted any Unicode capitals as a currency
    with pytest.raises(InvalidInput, match="ISO 4217"):
        Money(1, currency)  # type: ignore[arg-type]


def test_zero() -> None:
    assert Money.zero("SEK") == Money(0, "SEK")


def test_money_is_immutable() -> None:
    money = eur(100)
    with pytest.raises(AttributeError):
        money.amount = 200  # type: ignore[misc]


# ---------------------------------------------------------------------------------------------
# Arithmetic
# ---------------------------------------------------------------------------------------------


def test_add_and_subtract_in_one_currency() -> None:
    assert eur(1999) + eur(495) == eur(2494)
    assert eur(1999) - eur(495) == eur(1504)
    assert eur(495) - eur(1999) == eur(-1504)


@pytest.mark.parametrize("operation", ["add", "sub"])
def test_mixing_currencies_is_refused(operation: str) -> None:
    a, b = eur(100), Money(100, "USD")
    with pytest.raises(InvalidInput, match="cannot combine EUR with USD"):
        _ = a + b if operation == "add" else a - b


@pytest.mark.parametrize(("quantity", "expected"), [(0, 0), (1, 1999), (3, 5997), (-2, -3998)])
def test_times(quantity: int, expected: int) -> None:
    assert eur(1999).times(quantity) == eur(expected)


@pytest.mark.parametrize("quantity", [1.5, 2.0, True, Decimal(2), "2"])
def test_times_needs_a_whole_number(quantity: object) -> None:
    with pytest.raises(InvalidInput, match="whole number"):
        eur(1999).times(quantity)  # type: ignore[arg-type]


def test_total_of_nothing_is_zero_in_the_given_currency() -> None:
    assert total([], "GBP") == Money(0, "GBP")


def test_total() -> None:
    assert total([eur(1999), eur(495), eur(-100)], "EUR") == eur(2394)


def test_total_refuses_amounts_in_another_currency() -> None:
    with pytest.raises(InvalidInput):
        total([eur(1), Money(1, "USD")], "EUR")
    with pytest.raises(InvalidInput):
        total([eur(1)], "USD")


# ---------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------


@given(a=amounts, b=amounts, currency=currencies)
def test_addition_is_commutative(a: int, b: int, currency: str) -> None:
    assert Money(a, currency) + Money(b, currency) == Money(b, currency) + Money(a, currency)


@given(a=amounts, b=amounts, c=amounts, currency=currencies)
def test_addition_is_associative(a: int, b: int, c: int, currency: str) -> None:
    x, y, z = Money(a, currency), Money(b, currency), Money(c, currency)
    assert (x + y) + z == x + (y + z)


@given(a=amounts, b=amounts, currency=currencies)
def test_subtraction_undoes_addition(a: int, b: int, currency: str) -> None:
    x, y = Money(a, currency), Money(b, currency)
    assert (x + y) - y == x
    assert (x + y).amount == a + b


@given(a=amounts, n=st.integers(min_value=0, max_value=50), currency=currencies)
def test_times_n_equals_n_additions(a: int, n: int, currency: str) -> None:
    money = Money(a, currency)
    repeated = Money.zero(currency)
    for _ in range(n):
        repeated = repeated + money
    assert money.times(n) == repeated


@given(values=st.lists(amounts, max_size=30), currency=currencies)
def test_total_is_the_sum_of_the_amounts(values: list[int], currency: str) -> None:
    result = total([Money(v, currency) for v in values], currency)
    assert result == Money(sum(values), currency)
    assert type(result.amount) is int
