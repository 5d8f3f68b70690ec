"""Replenishment: reorder points, lines waiting without supply, one purchase order per supplier
and location, and every unit of supply and demand counted once."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ordermesh.domain.errors import InvalidInput
from ordermesh.domain.replenishment import (
    Figures,
    Place,
    Position,
    Proposal,
    ProposedLine,
    ProposedOrder,
    Unassigned,
    Waiting,
    propose,
    receiving_location,
    reorder_quantity,
)

WH = Place("WH-1", "warehouse", True, 200)
WH2 = Place("WH-2", "warehouse", True, 100)
STORE = Place("ST-AMS", "store", True, 300)
PLACES = (WH, WH2, STORE)


def figures(*positions: Position, waiting: tuple[Waiting, ...] = (), **overrides: Any) -> Figures:
    fields: dict[str, Any] = {"places": PLACES, "suppliers": {"MUG": "ACME", "TEE": "ACME"},
                              "unit_costs": {"MUG": 450}}
    fields.update(overrides)
    return Figures(positions, waiting, **fields)


def lines(proposal: Proposal) -> list[tuple[str, str, str, int]]:
    """(supplier, location, sku, quantity) of every proposed line."""
    return [(o.supplier, o.location, ln.sku, ln.quantity) for o in proposal.orders for ln in o.lines]


def reorder(sku: str = "MUG", location: str = "WH-1", point: int = 5, lot: int = 10,
            **figures_: int) -> Position:
    return Position(sku, location, reorder_point=point, reorder_quantity=lot, **figures_)


# (a) reorder points


def test_a_level_at_or_below_its_reorder_point_is_reordered_with_its_reason() -> None:
    # given 2 available and nothing coming, with a reorder point of 5 and lots of 10
    proposal = propose(figures(reorder(on_hand=2)))
    # then one lot is proposed, costed at what the supplier was last paid, with the reason
    assert proposal == Proposal(
        (ProposedOrder("ACME", "WH-1", (ProposedLine(
            "MUG", 10, "below reorder point: available 2 + incoming 0 <= 5", 450),)),), ())


@pytest.mark.parametrize(("available", "point", "lot", "expected"), [
    (6, 5, 10, 0),  # above the reorder point: nothing
    (5, 5, 10, 10),  # at it: one lot
    (0, 5, 10, 10),  # one lot is enough to lift it above
    (3, 20, 6, 18),  # 18 short: three lots
    (2, 20, 6, 24),  # 19 short: rounded up to four lots
    (-4, 0, 1, 5),  # a count below what is reserved: make up the difference
    (0, 0, 3, 3),  # a reorder point of 0 orders when nothing is available
])
def test_the_quantity_is_whole_lots_enough_to_rise_above_the_reorder_point(
        available: int, point: int, lot: int, expected: int) -> None:
    assert reorder_quantity(available, 0, point, lot) == expected
    assert reorder_quantity(available - 7, 7, point, lot) == expected


def test_reserved_and_safety_stock_are_not_available() -> None:
    position = reorder(on_hand=9, reserved=3, safety_stock=1)  # available 5
    assert lines(propose(figures(position))) == [("ACME", "WH-1", "MUG", 10)]
    assert propose(figures(reorder(on_hand=9, reserved=3))).is_empty


def test_incoming_supply_suppresses_a_proposal() -> None:
    assert propose(figures(reorder(on_hand=2, incoming=4))).is_empty
    (line,) = propose(figures(reorder(on_hand=2, incoming=3))).orders[0].lines
    assert line.reason == "below reorder point: available 2 + incoming 3 <= 5"


def test_locations_no_longer_active_are_not_reordered() -> None:
    assert propose(figures(reorder(on_hand=0), places=(WH2,))).is_empty


# (b) lines waiting without supply


def test_lines_waiting_without_supply_are_bought_for_the_receiving_warehouse() -> None:
    proposal = propose(figures(Position("MUG", "WH-2"), waiting=(Waiting("MUG", backorder=3),)))
    # WH-1 ranks higher, but WH-2 is the warehouse that keeps mugs
    assert lines(proposal) == [("ACME", "WH-2", "MUG", 3)]
    assert proposal.orders[0].lines[0].reason == "3 waiting on backorder without supply"


def test_waiting_lines_are_added_to_the_reorder_line_of_the_same_location() -> None:
    proposal = propose(figures(reorder(on_hand=2), waiting=(Waiting("MUG", 3, 2),)))
    (line,) = proposal.orders[0].lines
    assert (line.quantity, line.reason) == (15, "below reorder point: available 2 + incoming 0 <= 5"
                                                "; 5 waiting on backorder or pre-order without supply")


def test_supply_on_its_way_covers_waiting_lines_before_anything_is_bought() -> None:
    waiting = (Waiting("MUG", backorder=5),)
    # given 2 coming to the receiving warehouse: 3 more are needed
    proposal = propose(figures(Position("MUG", "WH-1", incoming=2), waiting=waiting))
    assert lines(proposal) == [("ACME", "WH-1", "MUG", 3)]
    assert proposal.orders[0].lines[0].reason == (
        "5 waiting on backorder without supply, 2 covered by open purchase orders")
    # given 5 coming to another location: nothing is needed
    assert propose(figures(Position("MUG", "WH-1"), Position("MUG", "WH-2", incoming=5),
                           waiting=waiting)).is_empty


def test_supply_covering_waiting_lines_no_longer_counts_for_the_reorder_point() -> None:
    # 6 coming to WH-1, 4 of them go to waiting lines: 2 + 2 <= 5
    proposal = propose(figures(reorder(on_hand=2, incoming=6),
                               waiting=(Waiting("MUG", preorder=4),)))
    (line,) = proposal.orders[0].lines
    assert (line.quantity, line.reason) == (10, "below reorder point: available 2 + incoming 2 <= 5")


def test_waits_promised_against_a_purchase_order_line_are_counted_on_neither_side() -> None:
    # given a line of 5 coming, 3 of them promised to waiting orders: 2 are incoming, and
    # the promised waits are not among the lines waiting without supply
    proposal = propose(figures(reorder(on_hand=0, point=3, lot=4, incoming=2)))
    assert [(ln.quantity, ln.reason) for ln in proposal.orders[0].lines] == [
        (4, "below reorder point: available 0 + incoming 2 <= 3")]


def test_other_locations_lend_only_what_they_have_beyond_their_reorder_point() -> None:
    # WH-2 has 8 coming, and needs 6 of available + incoming to stay above its point of 5
    other = reorder(location="WH-2", on_hand=0, incoming=8)
    proposal = propose(figures(Position("MUG", "WH-1"), other,
                               waiting=(Waiting("MUG", backorder=5),)))
    assert lines(proposal) == [("ACME", "WH-1", "MUG", 3)]


@pytest.mark.parametrize(("places", "kept", "expected"), [
    (PLACES, {"WH-2"}, "WH-2"),
    (PLACES, {"WH-1", "WH-2"}, "WH-1"),
    (PLACES, {"ST-AMS"}, "WH-1"),  # no warehouse keeps it: the first warehouse that ships
    ((WH, Place("WH-0", "warehouse", False, 500)), {"WH-0"}, "WH-1"),
    ((STORE, Place("WH-0", "warehouse", False, 5)), {"WH-0"}, "ST-AMS"),  # none ships
    ((Place("B", "store", True, 1), Place("A", "store", True, 1)), set(), "A"),  # ties by code
    ((), set(), None),
])
def test_the_receiving_location(places: tuple[Place, ...], kept: set[str],
                                expected: str | None) -> None:
    assert receiving_location("MUG", places, kept) == expected


# grouping, unassigned SKUs, determinism


def test_one_order_per_supplier_and_location_and_skus_without_supplier_unassigned() -> None:
    proposal = propose(figures(
        reorder("TEE", "WH-2", on_hand=0), reorder("MUG", "WH-2", on_hand=0),
        reorder("MUG", "WH-1", on_hand=0), reorder("CAP", "WH-1", point=1, lot=2),
        waiting=(Waiting("HAT", backorder=1),), suppliers={"MUG": "ACME", "TEE": "ACME"}))
    assert [(o.supplier, o.location, [ln.sku for ln in o.lines]) for o in proposal.orders] == [
        ("ACME", "WH-1", ["MUG"]), ("ACME", "WH-2", ["MUG", "TEE"])]
    assert proposal.unassigned == (
        Unassigned("CAP", "WH-1", 2, "below reorder point: available 0 + incoming 0 <= 1"),
        Unassigned("HAT", "WH-1", 1, "1 waiting on backorder without supply"))


def test_the_same_figures_in_any_order_give_the_same_proposal() -> None:
    positions = [reorder(sku, loc, on_hand=n) for n, (sku, loc) in enumerate(
        [("MUG", "WH-1"), ("TEE", "WH-2"), ("CAP", "ST-AMS"), ("TEE", "WH-1")])]
    waiting = [Waiting("MUG", 2), Waiting("HAT", 0, 3)]
    first = propose(figures(*positions, waiting=tuple(waiting)))
    for seed in range(5):
        random.Random(seed).shuffle(positions)
        random.Random(seed).shuffle(waiting)
        places = tuple(random.Random(seed).sample(PLACES, len(PLACES)))
        assert propose(figures(*positions, waiting=tuple(waiting), places=places)) == first


@pytest.mark.parametrize("settings_", [
    {"reorder_point": 5}, {"reorder_quantity": 5}, {"reorder_point": -1, "reorder_quantity": 1},
    {"reorder_point": 1, "reorder_quantity": 0}, {"incoming": -1},
])
def test_bad_positions_are_refused(settings_: dict[str, int]) -> None:
    with pytest.raises(InvalidInput):
        Position("MUG", "WH-1", **settings_)


def test_a_stock_level_given_twice_is_refused() -> None:
    with pytest.raises(InvalidInput, match="twice"):
        propose(figures(reorder(), reorder()))


# The property: what was proposed, once on order, leaves nothing more to propose.

SKUS, CODES = ("A", "B"), ("W1", "W2", "S1")


@st.composite
def any_figures(draw: st.DrawFn) -> Figures:
    positions = []
    for sku in SKUS:
        for code in CODES:
            if draw(st.booleans()):
                continue
            point = draw(st.none() | st.integers(0, 20))
            on_hand = draw(st.integers(0, 30))
            positions.append(Position(
                sku, code, on_hand, draw(st.integers(0, on_hand + 3)), draw(st.integers(0, 5)),
                point, None if point is None else draw(st.integers(1, 12)),
                draw(st.integers(0, 20))))
    places = tuple(Place(code, "store" if code == "S1" else "warehouse", draw(st.booleans()),
                         draw(st.integers(0, 3))) for code in CODES if draw(st.booleans()))
    waiting = tuple(Waiting(sku, draw(st.integers(0, 15)), draw(st.integers(0, 5)))
                    for sku in SKUS)
    suppliers = {sku: "ACME" for sku in SKUS if draw(st.booleans())}
    return Figures(tuple(positions), waiting, places, suppliers)


def on_order(figures_: Figures, proposal: Proposal) -> Figures:
    """The same figures, with every proposed quantity incoming where it was proposed."""
    extra: dict[tuple[str, str], int] = {}
    for order in proposal.orders:
        for line in order.lines:
            extra[(line.sku, order.location)] = line.quantity
    for need in proposal.unassigned:
        extra[(need.sku, need.location)] = need.quantity
    positions = {(p.sku, p.location): p for p in figures_.positions}
    for key, quantity in extra.items():
        p = positions.get(key, Position(*key))
        positions[key] = Position(p.sku, p.location, p.on_hand, p.reserved, p.safety_stock,
                                  p.reorder_point, p.reorder_quantity, p.incoming + quantity)
    return Figures(tuple(positions.values()), figures_.waiting, figures_.places,
                   figures_.suppliers)


@settings(max_examples=400, deadline=None)
@given(any_figures())
def test_once_a_proposal_is_on_order_nothing_more_is_proposed(figures_: Figures) -> None:
    proposal = propose(figures_)
    assert propose(on_order(figures_, proposal)).is_empty
    # and every quantity is a positive whole number, each reorder line at least one lot
    assert all(ln.quantity > 0 for o in proposal.orders for ln in o.lines)
    assert all(u.quantity > 0 for u in proposal.unassigned)
