"""Money as integer minor units with an ISO 4217 currency code. No floats, ever."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ordermesh.domain.errors import InvalidInput

CURRENCY = re.compile(r"[A-Z]{3}")  # ISO 4217 alphabetic codes are ASCII capitals


@dataclass(frozen=True, slots=True)
class Money:
    amount: int
    currency: str

    def __post_init__(self) -> None:
        if type(self.amount) is not int:
            raise InvalidInput(f"an amount must be an integer of minor units, got {self.amount!r}")
        if not isinstance(self.currency, str) or not CURRENCY.fullmatch(self.currency):
            raise InvalidInput(f"currency must be an ISO 4217 code, got {self.currency!r}")

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount - other.amount, self.currency)

    def times(self, quantity: int) -> Money:
        if type(quantity) is not int:
            raise InvalidInput("a quantity must be a whole number")
        return Money(self.amount * quantity, self.currency)

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise InvalidInput(f"cannot combine {self.currency} with {other.currency}")


def total(amounts: list[Money], currency: str) -> Money:
    """Sum amounts of one currency; an empty list sums to zero."""
    result = Money.zero(currency)
    for amount in amounts:
        result = result + amount
    return result
