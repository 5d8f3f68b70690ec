"""Box selection: worked examples, then properties over random box types and items.

The checks below are written independently of `ordermesh.domain.packing.fits`: orientation by
trying the six rotations, volume and weight by summing here.
"""

from __future__ import annotations

import random
from collections import Counter
from itertools import permutations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ordermesh.domain.errors import InvalidInput
from ordermesh.domain.packing import Item, Package, PackageType, pack

SMALL = PackageType("S", 200, 150, 100, max_weight_grams=5_000, tare_grams=100, cost_minor=40)
MEDIUM = PackageType("M", 300, 250, 200, max_weight_grams=10_000, tare_grams=200, cost_minor=70)
LARGE = PackageType("L", 600, 400, 400, max_weight_grams=20_000, tare_grams=400, cost_minor=120)
BOXES = (LARGE, SMALL, MEDIUM)  # deliberately not in size order


def unit(sku: str, dims: tuple[int, int, int] | None, grams: int, **kw: bool) -> Item:
    if dims is None:
        return Item(sku, None, None, None, grams, **kw)
    return Item(sku, *dims, grams, **kw)


def fits_by_rotation(item: Item, box: PackageType) -> bool:
    if item.length_mm is None or item.width_mm is None or item.height_mm is None:
        return True
    inner = (box.length_mm, box.width_mm, box.height_mm)
    return any(
        all(a <= b for a, b in zip(turned, inner, strict=True))
        for turned in permutations((item.length_mm, item.width_mm, item.height_mm))
    )


def volume(item: Item) -> int:
    if item.length_mm is None or item.width_mm is None or item.height_mm is None:
        return 0
    return item.length_mm * item.width_mm * item.height_mm


def box_volume(box: PackageType) -> int:
    return box.length_mm * box.width_mm * box.height_mm


def holds(box: PackageType, items: list[Item] | tuple[Item, ...]) -> bool:
    return (
        all(fits_by_rotation(i, box) for i in items)
        and sum(volume(i) for i in items) <= box_volume(box)
        and sum(i.weight_grams for i in items) + box.tare_grams <= box.max_weight_grams
    )


def codes(result: list[Package]) -> list[str]:
    return [p.type.code for p in result]


# -- examples ---------------------------------------------------------------------------------


def test_a_single_small_item_goes_into_the_smallest_box_that_fits_it() -> None:
    result = pack([unit("MUG", (100, 100, 90), 400)], BOXES)
    assert codes(result) == ["S"]
    (package,) = result
    assert (package.number, package.total) == (1, 1)
    assert package.weight_grams == 400 + SMALL.tare_grams
    assert package.items_weight_grams == 400
    assert package.volume_mm3 == 200 * 150 * 100
    assert package.items_volume_mm3 == 100 * 100 * 90


def test_an_item_is_turned_to_fit() -> None:
    # 90 x 190 x 140 only fits the small box (200 x 150 x 100) on its side.
    assert codes(pack([unit("BOOK", (190, 90, 140), 800)], BOXES)) == ["S"]


def test_an_item_that_fits_the_small_box_by_size_but_not_by_weight_takes_a_bigger_one() -> None:
    assert codes(pack([unit("IRON", (100, 100, 90), 6_000)], BOXES)) == ["M"]


def test_two_items_that_fit_one_medium_box_are_not_split_into_two_small_ones() -> None:
    # Each fits the small box alone (2.4 l of 3 l); together (4.8 l) they need the medium (15 l).
    items = [unit("KETTLE", (200, 120, 100), 1_500), unit("TOASTER", (120, 200, 100), 1_800)]
    result = pack(items, BOXES)
    assert codes(result) == ["M"]
    assert Counter(i.sku for i in result[0].items) == Counter(["KETTLE", "TOASTER"])
    assert result[0].weight_grams == 1_500 + 1_800 + MEDIUM.tare_grams


def test_items_too_heavy_for_one_box_are_split_and_numbered() -> None:
    # 4 x 6 kg: at most three go into a large box (19.6 kg payload).
    items = [unit(f"W{n}", (100, 100, 100), 6_000) for n in range(4)]
    result = pack(items, BOXES)
    assert len(result) == 2
    assert [(p.number, p.total) for p in result] == [(1, 2), (2, 2)]
    assert sorted(len(p.items) for p in result) == [1, 3]
    # The package with one 6 kg unit is downsized to the medium box (9.8 kg payload).
    assert sorted(codes(result)) == ["L", "M"]


def test_an_item_too_big_for_every_box_is_refused_naming_its_sku() -> None:
    items = [unit("MUG", (100, 100, 90), 400), unit("SOFA", (2000, 900, 800), 15_000)]
    with pytest.raises(InvalidInput, match="SOFA") as refused:
        pack(items, BOXES)
    assert "fits no package type" in refused.value.detail
    assert refused.value.extra["sku"] == "SOFA"


def test_an_item_too_heavy_for_every_box_is_refused_naming_its_sku() -> None:
    items = [unit("ANVIL", (300, 200, 200), 25_000), unit("MUG", (100, 100, 90), 400)]
    with pytest.raises(InvalidInput, match="ANVIL") as refused:
        pack(items, BOXES)
    assert "heavier" in refused.value.detail
    assert refused.value.extra["sku"] == "ANVIL"


def test_items_without_dimensions_fit_any_box_by_size_but_their_weight_counts() -> None:
    assert codes(pack([unit("GIFT CARD", None, 20)], BOXES)) == ["S"]
    # 7 kg of dimensionless units: too heavy for the small box, fine in the medium.
    assert codes(pack([unit("BAG", None, 3_500), unit("BAG", None, 3_500)], BOXES)) == ["M"]
    # 27 kg: more than the large box takes (19.6 kg), so two boxes.
    result = pack([unit("SAND", None, 9_000) for _ in range(3)], BOXES)
    assert codes(result) == ["L", "M"]
    assert all(p.weight_grams <= p.type.max_weight_grams for p in result)
    # They take no room next to an item with dimensions that fills the small box.
    assert codes(pack([unit("BRICK", (200, 150, 100), 1_000), unit("CARD", None, 10)], BOXES)) == ["S"]


def test_a_dimensionless_item_heavier_than_any_box_allows_is_refused() -> None:
    with pytest.raises(InvalidInput, match="LEAD"):
        pack([unit("LEAD", None, 19_601)], BOXES)
    assert codes(pack([unit("LEAD", None, 19_600)], BOXES)) == ["L"]  # exactly the payload


def test_fragile_and_gift_wrap_are_carried_and_do_not_change_the_boxes() -> None:
    plain = [unit("VASE", (150, 140, 90), 900), unit("CUP", (80, 80, 90), 200)]
    flagged = [
        unit("VASE", (150, 140, 90), 900, fragile=True),
        unit("CUP", (80, 80, 90), 200, gift_wrap=True),
    ]
    result = pack(flagged, BOXES)
    assert codes(result) == codes(pack(plain, BOXES))
    assert {i.sku: (i.fragile, i.gift_wrap) for p in result for i in p.items} == {
        "VASE": (True, False),
        "CUP": (False, True),
    }


def test_nothing_to_pack_gives_no_packages_and_items_need_box_types() -> None:
    assert pack([], BOXES) == []
    assert pack([], []) == []
    with pytest.raises(InvalidInput, match="no package types"):
        pack([unit("MUG", (100, 100, 90), 400)], [])
    with pytest.raises(InvalidInput, match="unique"):
        pack([unit("MUG", (100, 100, 90), 400)], [SMALL, SMALL])


@pytest.mark.parametrize(
    "build",
    [
        lambda: PackageType("", 1, 1, 1, 10),
        lambda: PackageType("X", 0, 1, 1, 10),
        lambda: PackageType("X", 1, -5, 1, 10),
        lambda: PackageType("X", 1, 1, 1, 0),
        lambda: PackageType("X", 1, 1, 1, 10, tare_grams=-1),
        lambda: PackageType("X", 1, 1, 1, 10, tare_grams=10),
        lambda: PackageType("X", 1, 1, 1, 10, cost_minor=-1),
        lambda: PackageType("X", 1, 1, 1.5, 10),  # type: ignore[arg-type]
        lambda: Item("", 1, 1, 1, 1),
        lambda: Item("A", 1, None, 1, 1),
        lambda: Item("A", 0, 1, 1, 1),
        lambda: Item("A", 1, 1, 1, -1),
        lambda: Item("A", None, None, None, True),
    ],
)
def test_invalid_box_types_and_items_are_refused(build: object) -> None:
    with pytest.raises(InvalidInput):
        build()  # type: ignore[operator]


def test_500_units_into_20_box_types_are_all_packed() -> None:
    # (how fast: benchmarks/packing.py)
    r = random.Random(5)
    types = [
        PackageType(
            f"T{k}", r.randint(100, 800), r.randint(100, 600), r.randint(50, 500), r.randint(2_000, 30_000)
        )
        for k in range(20)
    ]
    items = [
        Item(f"S{n % 40}", r.randint(10, 100), r.randint(10, 100), r.randint(10, 100), r.randint(1, 2_000))
        for n in range(500)
    ]
    result = pack(items, types)
    assert sum(len(p.items) for p in result) == 500
    assert all(p.weight_grams <= p.type.max_weight_grams for p in result)


# -- properties -------------------------------------------------------------------------------

box_types = st.lists(
    st.tuples(
        st.integers(1, 60),
        st.integers(1, 60),
        st.integers(1, 60),
        st.integers(2, 5_000),
        st.integers(0, 400),
        st.one_of(st.none(), st.integers(0, 500)),
    ),
    min_size=1,
    max_size=6,
).map(
    lambda specs: [
        PackageType(f"B{n}", a, b, c, weight, tare_grams=min(tare, weight - 1), cost_minor=cost)
        for n, (a, b, c, weight, tare, cost) in enumerate(specs)
    ]
)


@st.composite
def a_case(draw: st.DrawFn, max_items: int = 25) -> tuple[list[PackageType], list[Item]]:
    """Random box types and items, each of which fits at least one box (turned at random)."""
    types = draw(box_types)
    count = draw(st.integers(0, max_items))
    items = []
    for n in range(count):
        box = draw(st.sampled_from(types))
        weight = draw(st.integers(0, box.max_weight_grams - box.tare_grams))
        sku = f"SKU{n}"
        if draw(st.integers(0, 9)) == 0:
            items.append(Item(sku, None, None, None, weight))
            continue
        inner = (box.length_mm, box.width_mm, box.height_mm)
        dims = [draw(st.integers(1, max(1, side // draw(st.sampled_from([1, 2, 3]))))) for side in inner]
        turned = draw(st.permutations(dims))
        items.append(Item(sku, turned[0], turned[1], turned[2], weight))
    return types, items


@settings(max_examples=200, deadline=None)
@given(case=a_case())
def test_every_item_is_packed_once_into_a_box_that_holds_it(
    case: tuple[list[PackageType], list[Item]],
) -> None:
    types, items = case
    result = pack(items, types)

    packed = [i for p in result for i in p.items]
    assert Counter(packed) == Counter(items)  # every item exactly once (SKUs are unique here)
    assert [(p.number, p.total) for p in result] == [(n, len(result)) for n in range(1, len(result) + 1)]
    for p in result:
        assert p.items, "no empty packages"
        assert p.type in types
        assert all(fits_by_rotation(i, p.type) for i in p.items)
        assert sum(volume(i) for i in p.items) <= box_volume(p.type)  # the volume bound
        assert p.weight_grams == sum(i.weight_grams for i in p.items) + p.type.tare_grams
        assert p.weight_grams <= p.type.max_weight_grams


@settings(max_examples=200, deadline=None)
@given(case=a_case())
def test_each_package_is_in_the_smallest_box_that_holds_its_items(
    case: tuple[list[PackageType], list[Item]],
) -> None:
    types, items = case
    for p in pack(items, types):
        smaller = [t for t in types if box_volume(t) < box_volume(p.type)]
        assert not any(holds(t, p.items) for t in smaller)


@settings(max_examples=200, deadline=None)
@given(case=a_case(max_items=8))
def test_items_that_fit_one_box_together_get_one_box_the_smallest(
    case: tuple[list[PackageType], list[Item]],
) -> None:
    types, items = case
    together = [t for t in types if holds(t, items)]
    if not items or not together:
        return
    result = pack(items, types)
    assert len(result) == 1
    assert box_volume(result[0].type) == min(box_volume(t) for t in together)


@settings(max_examples=200, deadline=None)
@given(case=a_case(max_items=15))
def test_no_two_packages_could_have_been_one(case: tuple[list[PackageType], list[Item]]) -> None:
    types, items = case
    result = pack(items, types)
    for n, first in enumerate(result):
        for second in result[n + 1 :]:
            both = first.items + second.items
            assert not any(holds(t, both) for t in types), (first.number, second.number)


@settings(max_examples=100, deadline=None)
@given(case=a_case())
def test_the_same_input_gives_the_same_output(case: tuple[list[PackageType], list[Item]]) -> None:
    types, items = case
    assert pack(items, types) == pack(list(items), list(types))
    # Nor does the order of the box types matter.
    assert pack(items, types) == pack(items, list(reversed(types)))
