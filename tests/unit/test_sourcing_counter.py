"""Sourcing a sale at a store's counter: the store's own shelves, whatever its daily capacity,
or a refusal; never a transfer, a split with another location, or a wait."""

from __future__ import annotations

from datetime import date

import pytest

from ordermesh.domain.errors import InvalidInput
from ordermesh.domain.geo import Point
from ordermesh.domain.sourcing import (
    COUNTER_SALE,
    Demand,
    Network,
    Policy,
    Request,
    Site,
    Source,
    Supply,
    Terms,
    plan,
)

TODAY = date(2026, 11, 26)
YORK, LEEDS = Point(53.96, -1.0873), Point(53.8008, -1.5491)


def a_network(at_store: int, capacity_left: int | None = 0) -> Network:
    """A store that has used up its day's picks (by default), and a warehouse with plenty."""
    store = Site("YORK", YORK, can_ship=True, can_pickup=True, priority=10,
                 capacity_left=capacity_left)
    warehouse = Site("LEEDS", LEEDS, can_ship=True, can_pickup=False, priority=100)
    return Network((store, warehouse), {("A", "YORK"): at_store, ("A", "LEEDS"): 50,
                                        ("B", "LEEDS"): 5},
                   {"A": Terms(backorderable=True, lead_time_days=3),
                    "B": Terms(backorderable=True)},
                   (Supply("A", 10, date(2026, 12, 1), "PO-1/1"),))


def at_the_counter(*pairs: tuple[str, int], counter: bool = True) -> Request:
    demand = tuple(Demand(f"L{n}", sku, qty) for n, (sku, qty) in enumerate(pairs, start=1))
    return Request(demand, TODAY, "GBP", pickup_at="YORK", at_counter=counter)


def test_a_counter_sale_takes_the_stores_shelves_whatever_its_capacity() -> None:
    # given a store at its daily capacity, with 3 on its shelves
    # when 2 and then 1 more of the same SKU are sold at its counter
    result = plan(at_the_counter(("A", 2), ("A", 1)), a_network(3), Policy())
    # then both come off its shelves today, and the sale counts as no shipment
    assert [(a.location, a.quantity, a.source, a.promised_on, a.decision.rule)
            for a in result.allocations] == [("YORK", 2, Source.STOCK, TODAY, COUNTER_SALE),
                                             ("YORK", 1, Source.STOCK, TODAY, COUNTER_SALE)]
    assert result.refusals == () and result.waits == ()
    assert result.shipments == frozenset()


def test_the_same_order_collected_later_goes_round_the_full_store() -> None:
    # the rule a counter sale is spared: click & collect at a full store is transferred
    result = plan(at_the_counter(("A", 2), counter=False), a_network(3), Policy())
    assert [(a.location, a.source) for a in result.allocations] == [("LEEDS", Source.TRANSFER)]
    assert result.shipments == frozenset({"LEEDS"})


@pytest.mark.parametrize("capacity_left", [0, 5, None])
def test_what_the_shelves_lack_is_refused_never_fetched_or_awaited(
        capacity_left: int | None) -> None:
    # given 3 on the store's shelves, plenty at the warehouse and incoming, splits and
    # backorders allowed; when 4 of A and 1 of B (none at the store) are sold at the counter
    result = plan(at_the_counter(("A", 4), ("B", 1)), a_network(3, capacity_left), Policy())
    # then both lines are refused whole: nothing is allocated or promised
    assert result.allocations == () and result.waits == ()
    assert [(r.sku, r.quantity) for r in result.refusals] == [("A", 4), ("B", 1)]
    assert all(r.reason == "YORK does not have it on its shelves" for r in result.refusals)


def test_a_counter_sale_at_a_store_the_channel_cannot_use_is_refused() -> None:
    result = plan(at_the_counter(("A", 1)), a_network(3),
                  Policy(visible=frozenset({"LEEDS"})))
    assert result.allocations == () and len(result.refusals) == 1


def test_a_counter_sale_names_its_store() -> None:
    with pytest.raises(InvalidInput):
        Request((Demand("L1", "A", 1),), TODAY, "GBP", at_counter=True)
