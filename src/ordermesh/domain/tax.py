"""Tax: rates by tax class and destination, kept as data, and amounts rounded per line so that
lines, rates and totals always add up to the same minor unit.

Prices are either tax-inclusive (the shelf price is what the customer pays: the tax is taken out
of it) or tax-exclusive (the tax is added on top), per channel. Each line's tax is rounded once,
half up, in minor units; a total is the sum of its lines, never a second rounding of a sum, so an
invoice's lines, its breakdown per rate and its totals reconcile exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from ordermesh.domain.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class TaxRate:
    """One rate of one tax class in one place: a country, or a region of it."""

    tax_class: str
    country: str  # ISO 3166-1 alpha-2
    rate: Decimal  # 0.21 for 21 %
    name: str  # as printed on an invoice: "VAT 21%"
    region: str | None = None  # ISO 3166-2 subdivision, when the rate is regional

    def __post_init__(self) -> None:
        if not isinstance(self.rate, Decimal) or not Decimal(0) <= self.rate < Decimal(1):
            raise InvalidInput(f"a tax rate is a Decimal from 0 up to 1, got {self.rate!r}")


@dataclass(frozen=True)
class TaxTable:
    rates: tuple[TaxRate, ...]

    def __post_init__(self) -> None:
        keys = [(r.tax_class, r.country, r.region) for r in self.rates]
        if len(set(keys)) != len(keys):
            raise InvalidInput("each tax class has one rate per country or region")

    def rate_for(self, tax_class: str, country: str, region: str | None = None) -> TaxRate:
        """The regional rate where there is one, else the country's."""
        found = {(r.tax_class, r.country, r.region): r for r in self.rates}
        rate = found.get((tax_class, country, region)) or found.get((tax_class, country, None))
        if rate is None:
            raise InvalidInput(f"no {tax_class!r} tax rate for {country}"
                               + (f"-{region}" if region else ""),
                               tax_class=tax_class, country=country)
        return rate


@dataclass(frozen=True, slots=True)
class Taxable:
    """Something sold: a line (unit price times quantity), or shipping (quantity 1)."""

    reference: str
    unit_price: int  # minor units, as the channel prices it (inclusive or exclusive)
    quantity: int
    tax_class: str

    def __post_init__(self) -> None:
        if type(self.unit_price) is not int or self.unit_price < 0:
            raise InvalidInput(f"{self.reference}: a price is whole minor units, not below 0")
        if type(self.quantity) is not int or self.quantity < 1:
            raise InvalidInput(f"{self.reference}: a quantity is a whole number of at least 1")


@dataclass(frozen=True, slots=True)
class TaxedLine:
    reference: str
    net: int
    tax: int
    gross: int
    rate: TaxRate


@dataclass(frozen=True, slots=True)
class RateTotal:
    """One line of an invoice's tax breakdown."""

    rate: TaxRate
    net: int
    tax: int


@dataclass(frozen=True)
class TaxedAmounts:
    lines: tuple[TaxedLine, ...]

    @property
    def net(self) -> int:
        return sum(line.net for line in self.lines)

    @property
    def tax(self) -> int:
        return sum(line.tax for line in self.lines)

    @property
    def gross(self) -> int:
        return sum(line.gross for line in self.lines)

    def by_rate(self) -> list[RateTotal]:
        """The breakdown per rate (classes taxed alike share a row), lowest rate first; it sums
        to the totals exactly."""
        totals: dict[tuple[Decimal, str], list[TaxedLine]] = {}
        for line in self.lines:
            totals.setdefault((line.rate.rate, line.rate.name), []).append(line)
        return [RateTotal(lines[0].rate, sum(ln.net for ln in lines), sum(ln.tax for ln in lines))
                for _, lines in sorted(totals.items())]


def tax_line(amount: int, rate: Decimal, prices_include_tax: bool) -> tuple[int, int, int]:
    """(net, tax, gross) of one line amount, the tax rounded half up to a minor unit."""
    if prices_include_tax:
        net = int((Decimal(amount) / (1 + rate)).quantize(Decimal(1), ROUND_HALF_UP))
        return net, amount - net, amount
    tax = int((Decimal(amount) * rate).quantize(Decimal(1), ROUND_HALF_UP))
    return amount, tax, amount + tax


def apply_tax(items: Sequence[Taxable], table: TaxTable, country: str,
              region: str | None = None, prices_include_tax: bool = True) -> TaxedAmounts:
    """Tax every line for a destination; shipping is one more Taxable with its own class."""
    return TaxedAmounts(tuple(_taxed(item, table, country, region, prices_include_tax)
                              for item in items))


def _taxed(item: Taxable, table: TaxTable, country: str, region: str | None,
           inclusive: bool) -> TaxedLine:
    rate = table.rate_for(item.tax_class, country, region)
    net, tax, gross = tax_line(item.unit_price * item.quantity, rate.rate, inclusive)
    return TaxedLine(item.reference, net, tax, gross, rate)


def table_of(rows: Iterable[dict[str, str | None]]) -> TaxTable:
    """A table from stored rows (tax_class, country, region, rate as text, name)."""
    return TaxTable(tuple(
        TaxRate(str(r["tax_class"]), str(r["country"]), Decimal(str(r["rate"])), str(r["name"]),
                r.get("region")) for r in rows))
