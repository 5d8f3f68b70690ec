"""Packing: which boxes the units of a fulfilment go into.

Package types (box sizes) are data. `pack` chooses a small set of boxes that holds the items by
dimensions and weight: fewer packages first, then the smaller total box volume. It is a
deterministic heuristic, not an optimum (bin packing is NP-hard), and it makes two deliberate
approximations, both on the side of "the packer will manage":

* **Volume bound, not 3-D placement.** An item fits a box when its dimensions fit the box's inner
  dimensions in some orientation (any of the six rotations: sorted item dimensions <= sorted box
  dimensions), and a set of items fits when each one fits that way *and* the sum of their volumes
  is at most the box's inner volume. Whether the items can actually be arranged side by side is
  not checked; awkward shapes may need the next box up at the bench.
* **Items without dimensions.** Catalogue products may lack dimensions. Such an item is taken to
  fit any box by size and to take no volume; its weight still counts against the box's limit.

Weight: the items' weights plus the box's own weight (tare) must not exceed the box's max weight.

Units are one per `Item`: the caller expands an order line of quantity 3 into three items.
The `fragile` and `gift_wrap` flags travel with the items to the packing slip and the label; they do
not change the choice of boxes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ordermesh.domain.errors import InvalidInput

Dims = tuple[int, int, int]


def _positive(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise InvalidInput(f"{name} must be a whole number above 0, got {value!r}")


def _not_negative(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidInput(f"{name} must be a whole number of 0 or more, got {value!r}")


@dataclass(frozen=True, slots=True)
class PackageType:
    """A box the warehouse stocks: inner dimensions in mm, weights in grams, cost in minor units."""

    code: str
    length_mm: int
    width_mm: int
    height_mm: int
    max_weight_grams: int
    tare_grams: int = 0
    cost_minor: int | None = None

    def __post_init__(self) -> None:
        if not self.code or not self.code.strip():
            raise InvalidInput("package type code must not be empty")
        for name in ("length_mm", "width_mm", "height_mm", "max_weight_grams"):
            _positive(f"package type {self.code}: {name}", getattr(self, name))
        _not_negative(f"package type {self.code}: tare_grams", self.tare_grams)
        if self.cost_minor is not None:
            _not_negative(f"package type {self.code}: cost_minor", self.cost_minor)
        if self.tare_grams >= self.max_weight_grams:
            raise InvalidInput(f"package type {self.code}: tare_grams must be below max_weight_grams")

    @property
    def dims(self) -> Dims:
        """Inner dimensions, smallest first (the orientation-free view)."""
        a, b, c = sorted((self.length_mm, self.width_mm, self.height_mm))
        return a, b, c

    @property
    def volume_mm3(self) -> int:
        return self.length_mm * self.width_mm * self.height_mm

    @property
    def payload_grams(self) -> int:
        """What the items in it may weigh: max weight less the box's own weight."""
        return self.max_weight_grams - self.tare_grams


@dataclass(frozen=True, slots=True)
class Item:
    """One unit to pack. Dimensions are all three given or all three None (unknown)."""

    sku: str
    length_mm: int | None
    width_mm: int | None
    height_mm: int | None
    weight_grams: int
    fragile: bool = False
    gift_wrap: bool = False

    def __post_init__(self) -> None:
        if not self.sku or not self.sku.strip():
            raise InvalidInput("item sku must not be empty")
        given = [d is not None for d in (self.length_mm, self.width_mm, self.height_mm)]
        if any(given) and not all(given):
            raise InvalidInput(f"item {self.sku}: give all three dimensions or none")
        if all(given):
            for name in ("length_mm", "width_mm", "height_mm"):
                _positive(f"item {self.sku}: {name}", getattr(self, name))
        _not_negative(f"item {self.sku}: weight_grams", self.weight_grams)

    @property
    def has_dimensions(self) -> bool:
        return self.length_mm is not None

    @property
    def dims(self) -> Dims:
        """Dimensions smallest first; (0, 0, 0) when unknown (fits any box by size)."""
        if self.length_mm is None or self.width_mm is None or self.height_mm is None:
            return 0, 0, 0
        a, b, c = sorted((self.length_mm, self.width_mm, self.height_mm))
        return a, b, c

    @property
    def volume_mm3(self) -> int:
        """The item's volume; 0 when its dimensions are unknown."""
        a, b, c = self.dims
        return a * b * c


@dataclass(frozen=True, slots=True)
class Package:
    """One box of the result: package `number` of `total` (printed on the label)."""

    number: int
    total: int
    type: PackageType
    items: tuple[Item, ...]
    weight_grams: int  # items + tare

    @property
    def volume_mm3(self) -> int:
        """The box's inner volume."""
        return self.type.volume_mm3

    @property
    def items_volume_mm3(self) -> int:
        return sum(i.volume_mm3 for i in self.items)

    @property
    def items_weight_grams(self) -> int:
        return self.weight_grams - self.type.tare_grams


def fits(items: Sequence[Item], package_type: PackageType) -> bool:
    """Whether the items go into one box of this type, by the rules in the module docstring."""
    t = package_type.dims
    if any(a > b for i in items for a, b in zip(i.dims, t, strict=True)):
        return False
    if sum(i.volume_mm3 for i in items) > package_type.volume_mm3:
        return False
    return sum(i.weight_grams for i in items) <= package_type.payload_grams


# -- the heuristic -----------------------------------------------------------------------------
#
# Internally a box type is the tuple (d0, d1, d2, volume, payload) and an open package keeps the
# aggregate of its items: the per-axis maximum of their sorted dimensions (the "envelope": a set
# of items fits a type's dimensions exactly when its envelope does), their total volume and weight.


@dataclass(slots=True)
class _Open:
    kind: int  # index into the sorted types
    env: list[int]
    volume: int
    weight: int
    items: list[Item]


Cap = tuple[int, int, int, int, int]


def _holds(cap: Cap, e0: int, e1: int, e2: int, volume: int, weight: int) -> bool:
    return e0 <= cap[0] and e1 <= cap[1] and e2 <= cap[2] and volume <= cap[3] and weight <= cap[4]


def _smallest(
    caps: Sequence[Cap], e0: int, e1: int, e2: int, volume: int, weight: int, start: int = 0
) -> int | None:
    for k in range(start, len(caps)):
        if _holds(caps[k], e0, e1, e2, volume, weight):
            return k
    return None


def _sort_key(t: PackageType) -> tuple[int, int, int, int, str]:
    cost = 0 if t.cost_minor is None else t.cost_minor
    return t.volume_mm3, cost, t.tare_grams, -t.max_weight_grams, t.code


def pack(items: Sequence[Item], types: Sequence[PackageType]) -> list[Package]:
    """Put the items into boxes of the given types: fewer packages first, then less box volume.

    First-fit decreasing: items go in order of volume, then weight (largest first; ties by SKU
    and input position); each goes into the first open package whose box already holds it, else
    into the open package that can be swapped for a larger box holding it with the least growth
    in volume, else into a new package of the smallest type that holds it. Types are tried from
    the smallest (volume, then cost, tare, larger max weight, code), so every package ends in the
    smallest type that holds its items (the last loop checks it). Packages are numbered 1..n in
    the order they were opened. Same input, same output.

    Raises InvalidInput (naming the SKU) for an item no type can hold by size or by weight.
    """
    if not items:
        return []
    if not types:
        raise InvalidInput("no package types to pack into")
    codes = [t.code for t in types]
    if len(set(codes)) != len(codes):
        raise InvalidInput("package type codes must be unique")
    kinds = sorted(types, key=_sort_key)
    caps: list[Cap] = [(*t.dims, t.volume_mm3, t.payload_grams) for t in kinds]
    # Bounds over all types: a combination outside them fits no type (a fast "no").
    top = tuple(max(c[j] for c in caps) for j in range(5))

    prepared: list[tuple[Item, Dims, int]] = []
    for item in items:
        d, v = item.dims, item.volume_mm3
        if _smallest(caps, d[0], d[1], d[2], v, item.weight_grams) is None:
            by_size = [t for t, c in zip(kinds, caps, strict=True) if _holds(c, *d, v, 0)]
            if not by_size:
                raise InvalidInput(
                    f"item {item.sku} ({item.length_mm}x{item.width_mm}x{item.height_mm} mm) "
                    "fits no package type",
                    sku=item.sku,
                )
            raise InvalidInput(
                f"item {item.sku} ({item.weight_grams} g) is heavier than any package type that "
                f"fits it can carry (at most {max(t.payload_grams for t in by_size)} g)",
                sku=item.sku,
            )
        prepared.append((item, d, v))

    order = sorted(
        range(len(prepared)),
        key=lambda n: (-prepared[n][2], -prepared[n][0].weight_grams, prepared[n][0].sku, n),
    )

    # The least any item still to come can add (per sorted axis, volume, weight): a package that
    # cannot take even that is full for good and leaves the list of those worth a look.
    rest: list[tuple[int, int, int, int, int]] = [(0, 0, 0, 0, 0)] * len(order)
    least = (1 << 62,) * 5
    for pos in range(len(order) - 1, -1, -1):
        rest[pos] = least
        item, d, v = prepared[order[pos]]
        least = (
            min(least[0], d[0]),
            min(least[1], d[1]),
            min(least[2], d[2]),
            min(least[3], v),
            min(least[4], item.weight_grams),
        )

    opened: list[_Open] = []
    live: list[_Open] = []
    for pos, n in enumerate(order):
        item, d, v = prepared[n]
        w = item.weight_grams
        target = _first_that_holds(live, caps, d, v, w)
        if target is None:
            target = _best_upgrade(live, caps, top, d, v, w)
        if target is None:
            kind = _smallest(caps, d[0], d[1], d[2], v, w)
            assert kind is not None  # checked above
            target = (_Open(kind, [0, 0, 0], 0, 0, []), kind)
            opened.append(target[0])
            live.append(target[0])
        p, kind = target
        p.kind = kind
        p.env = [max(p.env[0], d[0]), max(p.env[1], d[1]), max(p.env[2], d[2])]
        p.volume += v
        p.weight += w
        p.items.append(item)
        if pos + 1 < len(order) and _full(p, caps, rest[pos]):
            live.remove(p)

    result: list[Package] = []
    for number, p in enumerate(opened, start=1):
        kind = _smallest(caps, p.env[0], p.env[1], p.env[2], p.volume, p.weight)
        assert kind is not None and kind <= p.kind  # its current type holds it (kind == p.kind)
        t = kinds[kind]
        result.append(Package(number, len(opened), t, tuple(p.items), p.weight + t.tare_grams))
    return result


def _full(p: _Open, caps: Sequence[Cap], least: tuple[int, int, int, int, int]) -> bool:
    """No type, the current one or larger, could take the package's items plus the least item."""
    e0, e1, e2 = max(p.env[0], least[0]), max(p.env[1], least[1]), max(p.env[2], least[2])
    return _smallest(caps, e0, e1, e2, p.volume + least[3], p.weight + least[4], start=p.kind) is None


def _first_that_holds(
    live: list[_Open], caps: Sequence[Cap], d: Dims, v: int, w: int
) -> tuple[_Open, int] | None:
    for p in live:
        c = caps[p.kind]
        if p.volume + v <= c[3] and p.weight + w <= c[4] and d[0] <= c[0] and d[1] <= c[1] and d[2] <= c[2]:
            return p, p.kind
    return None


def _best_upgrade(
    live: list[_Open], caps: Sequence[Cap], top: tuple[int, ...], d: Dims, v: int, w: int
) -> tuple[_Open, int] | None:
    best: tuple[_Open, int] | None = None
    growth = 0
    for p in live:
        e0, e1, e2 = max(p.env[0], d[0]), max(p.env[1], d[1]), max(p.env[2], d[2])
        vol, wt = p.volume + v, p.weight + w
        if vol > top[3] or wt > top[4] or e0 > top[0] or e1 > top[1] or e2 > top[2]:
            continue
        # A package's type is always the first (in sort order) that holds its items, and a type
        # that holds more items holds fewer: so only the types after the current one can do.
        kind = _smallest(caps, e0, e1, e2, vol, wt, start=p.kind + 1)
        if kind is None:
            continue
        g = caps[kind][3] - caps[p.kind][3]
        if best is None or g < growth:
            best, growth = (p, kind), g
    return best
