"""Availability (ATP): what can be promised of a SKU, where, and from when."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from ordermesh.domain.sourcing import Supply, Terms


class StockStatus(StrEnum):
    IN_STOCK = "in_stock"
    LOW_STOCK = "low_stock"  # some left, at or below the product's threshold
    OUT_OF_STOCK = "out_of_stock"
    PREORDER = "preorder"  # can be ordered now, ships from a date
    BACKORDER = "backorder"  # none now, can be ordered, ships when supply arrives


@dataclass(frozen=True, slots=True)
class Promise:
    status: StockStatus
    available_on: date | None  # when it can leave a location; None: no date can be given


def promise(available: int, low_threshold: int, terms: Terms, incoming: Iterable[Supply],
            today: date) -> Promise:
    """The status a shopper sees for a SKU with `available` units free to promise.

    A pre-order before its release date is a pre-order whatever the stock: it cannot ship yet.
    Without stock, a pre-order or backorder is dated by the first incoming supply that still
    has units to promise, else by the supplier's lead time, else by the release date.
    """
    release = terms.release_on if terms.preorder else None
    if release is not None and release > today:
        if available > 0:  # reserved from stock now, it leaves on the release date
            return Promise(StockStatus.PREORDER, release)
        return Promise(StockStatus.PREORDER, _first(incoming, today, terms) or release)
    if available > 0:
        low = available <= low_threshold
        return Promise(StockStatus.LOW_STOCK if low else StockStatus.IN_STOCK, today)
    if terms.preorder:
        return Promise(StockStatus.PREORDER, _first(incoming, today, terms) or release)
    if terms.backorderable:
        return Promise(StockStatus.BACKORDER, _first(incoming, today, terms))
    return Promise(StockStatus.OUT_OF_STOCK, None)


def _first(incoming: Iterable[Supply], today: date, terms: Terms) -> date | None:
    dates = [s.arrives_on for s in incoming if s.quantity > 0]
    if dates:
        day = max(min(dates), today)
    elif terms.lead_time_days is not None:
        day = today + timedelta(days=terms.lead_time_days)
    else:
        return None
    return max(day, terms.release_on) if terms.release_on else day
