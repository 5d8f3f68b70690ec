"""Tax rounded per line: lines, the breakdown per rate and the totals always reconcile."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ordermesh.domain.errors import InvalidInput
from ordermesh.domain.tax import Taxable, TaxRate, TaxTable, apply_tax, table_of, tax_line

TABLE = TaxTable((
    TaxRate("standard", "NL", Decimal("0.21"), "BTW 21%"),
    TaxRate("reduced", "NL", Decimal("0.09"), "BTW 9%"),
    TaxRate("shipping", "NL", Decimal("0.21"), "BTW 21%"),
    TaxRate("standard", "US", Decimal("0"), "no sales tax"),
    TaxRate("standard", "US", Decimal("0.0725"), "CA sales tax 7.25%", region="US-CA"),
))


def test_exclusive_prices_get_the_tax_on_top() -> None:
    taxed = apply_tax([Taxable("L1", 1000, 2, "standard")], TABLE, "NL",
                      prices_include_tax=False)
    (line,) = taxed.lines
    assert (line.net, line.tax, line.gross) == (2000, 420, 2420)


def test_inclusive_prices_have_the_tax_taken_out() -> None:
    taxed = apply_tax([Taxable("L1", 1210, 1, "standard"), Taxable("L2", 1090, 1, "reduced"),
                       Taxable("shipping", 495, 1, "shipping")], TABLE, "NL")
    assert [(ln.net, ln.tax) for ln in taxed.lines] == [(1000, 210), (1000, 90), (409, 86)]
    assert (taxed.net, taxed.tax, taxed.gross) == (2409, 386, 2795)
    assert [(r.rate.name, r.net, r.tax) for r in taxed.by_rate()] == [
        ("BTW 9%", 1000, 90), ("BTW 21%", 1409, 296)]


@pytest.mark.parametrize(("amount", "rate", "inclusive", "expected"), [
    (5, "0.1", False, (5, 1, 6)),  # 0.5 rounds half up
    (4, "0.1", False, (4, 0, 4)),  # 0.4 rounds down
    (1, "0.21", True, (1, 0, 1)),  # a cent cannot carry 21 % of itself
    (121, "0.21", True, (100, 21, 121)),
    (0, "0.21", True, (0, 0, 0)),
])
def test_rounding_is_half_up_in_minor_units(amount: int, rate: str, inclusive: bool,
                                            expected: tuple[int, int, int]) -> None:
    assert tax_line(amount, Decimal(rate), inclusive) == expected


def test_a_regional_rate_wins_over_the_countrys() -> None:
    assert TABLE.rate_for("standard", "US", "US-CA").rate == Decimal("0.0725")
    assert TABLE.rate_for("standard", "US", "US-OR").rate == Decimal("0")


def test_missing_or_doubled_or_odd_rates_are_refused() -> None:
    with pytest.raises(InvalidInput):
        TABLE.rate_for("reduced", "DE")
    with pytest.raises(InvalidInput):
        TaxTable((TaxRate("standard", "NL", Decimal("0.21"), "a"),
                  TaxRate("standard", "NL", Decimal("0.09"), "b")))
    with pytest.raises(InvalidInput):
        TaxRate("standard", "NL", 0.21, "float")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        TaxRate("standard", "NL", Decimal("1.5"), "too much")
    with pytest.raises(InvalidInput):
        Taxable("L1", -1, 1, "standard")


def test_a_table_reads_from_stored_rows() -> None:
    table = table_of([{"tax_class": "standard", "country": "DE", "region": None,
                       "rate": "0.19", "name": "MwSt 19%"}])
    assert table.rate_for("standard", "DE").rate == Decimal("0.19")


rates = st.decimals(min_value=0, max_value=Decimal("0.5"), places=4)
items = st.lists(st.tuples(st.integers(0, 10**9), st.integers(1, 1000),
                           st.sampled_from(["a", "b", "c"])), min_size=1, max_size=30)


@settings(max_examples=300, deadline=None)
@given(items, st.lists(rates, min_size=3, max_size=3), st.booleans())
def test_lines_breakdown_and_totals_always_reconcile(
        lines: list[tuple[int, int, str]], three: list[Decimal], inclusive: bool) -> None:
    table = TaxTable(tuple(TaxRate(cls, "XX", rate, f"{cls} {rate}")
                           for cls, rate in zip("abc", three, strict=True)))
    taxed = apply_tax([Taxable(f"L{n}", p, q, c) for n, (p, q, c) in enumerate(lines)],
                      table, "XX", prices_include_tax=inclusive)
    for (price, quantity, _), line in zip(lines, taxed.lines, strict=True):
        assert line.net + line.tax == line.gross
        assert 0 <= line.tax <= line.gross
        assert (line.gross if inclusive else line.net) == price * quantity
    assert taxed.net + taxed.tax == taxed.gross
    breakdown = taxed.by_rate()
    assert sum(r.net for r in breakdown) == taxed.net
    assert sum(r.tax for r in breakdown) == taxed.tax
