"""What a shopper is told: the status and date of a SKU from its figures and supply."""

from __future__ import annotations

from datetime import date

import pytest

from ordermesh.domain.availability import Promise, StockStatus, promise
from ordermesh.domain.sourcing import Supply, Terms

TODAY = date(2026, 11, 26)
SOON = Supply("A", 5, date(2026, 12, 3), "PO-000001/1")
LATER = Supply("A", 5, date(2026, 12, 20), "PO-000002/1")
S = StockStatus


@pytest.mark.parametrize(("available", "threshold", "expected"), [
    (10, 0, S.IN_STOCK), (10, 9, S.IN_STOCK), (10, 10, S.LOW_STOCK), (1, 3, S.LOW_STOCK),
    (0, 3, S.OUT_OF_STOCK), (-2, 0, S.OUT_OF_STOCK)])
def test_stock_on_hand_decides_between_in_low_and_out(available: int, threshold: int,
                                                      expected: StockStatus) -> None:
    got = promise(available, threshold, Terms(), [SOON], TODAY)
    assert got.status is expected
    assert got.available_on == (TODAY if available > 0 else None)


def test_a_backorder_is_dated_by_the_first_supply_that_arrives() -> None:
    got = promise(0, 0, Terms(backorderable=True, lead_time_days=30), [LATER, SOON], TODAY)
    assert got == Promise(S.BACKORDER, SOON.arrives_on)


def test_a_backorder_without_supply_uses_the_lead_time_else_no_date() -> None:
    assert promise(0, 0, Terms(backorderable=True, lead_time_days=10), [], TODAY) == Promise(
        S.BACKORDER, date(2026, 12, 6))
    assert promise(0, 0, Terms(backorderable=True), [], TODAY) == Promise(S.BACKORDER, None)


def test_supply_already_due_is_dated_today_and_supply_fully_promised_is_ignored() -> None:
    overdue = Supply("A", 2, date(2026, 11, 1), "PO-000003/1")
    spoken_for = Supply("A", 0, date(2026, 11, 27), "PO-000004/1")
    terms = Terms(backorderable=True)
    assert promise(0, 0, terms, [overdue], TODAY).available_on == TODAY
    assert promise(0, 0, terms, [spoken_for], TODAY).available_on is None


def test_a_preorder_before_its_release_is_a_preorder_even_with_stock() -> None:
    release = date(2027, 2, 1)
    terms = Terms(preorder=True, release_on=release)
    assert promise(50, 0, terms, [], TODAY) == Promise(S.PREORDER, release)
    slow_supplier = Terms(preorder=True, release_on=release, lead_time_days=90)
    assert promise(5, 0, slow_supplier, [], TODAY) == Promise(S.PREORDER, release)
    # supply arriving after the release date dates it; supply before it does not
    assert promise(0, 0, terms, [Supply("A", 1, date(2027, 3, 1), "x")], TODAY) == Promise(
        S.PREORDER, date(2027, 3, 1))
    assert promise(0, 0, terms, [SOON], TODAY) == Promise(S.PREORDER, release)


def test_a_released_preorder_product_sells_from_stock_then_waits_for_supply() -> None:
    terms = Terms(preorder=True, release_on=date(2026, 1, 1))
    assert promise(3, 0, terms, [], TODAY).status is S.IN_STOCK
    assert promise(0, 0, terms, [SOON], TODAY) == Promise(S.PREORDER, SOON.arrives_on)
