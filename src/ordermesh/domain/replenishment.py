"""Replenishment: what to buy, from whom, delivered where, and why.

Two needs are planned, and each unit of supply and of demand is counted once:

(a) Reorder points. A stock level with a reorder point is reordered when
    `available + incoming <= reorder_point`; the order is whole multiples of the reorder
    quantity, at least one, enough to lift the figure above the reorder point.
(b) Lines waiting without supply. Backorders and pre-orders promised against a purchase order
    line are covered by it; that line's quantity is therefore not `incoming` here. A wait
    promised to a line that will not bring it (its order cancelled, closed or received, or
    its outstanding quantity gone to earlier orders) waits without supply. The rest is
    delivered to the SKU's receiving location, added to any (a) line there.

Supply already on its way covers the waiting lines first (received goods go to waiting lines
before anything else): what other locations have coming beyond their own reorder point, then
what is coming to the receiving location. Taking only the surplus of other locations keeps a
proposal stable: once its quantities are on order, the same figures propose nothing more.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ordermesh.domain.errors import InvalidInput


def check_reorder_settings(reorder_point: int | None, reorder_quantity: int | None) -> None:
    """A reorder point needs the quantity to order with it, and the other way round."""
    if (reorder_point is None) != (reorder_quantity is None):
        raise InvalidInput("give reorder_point and reorder_quantity together")
    if reorder_point is not None and reorder_point < 0:
        raise InvalidInput("reorder_point must be a whole number >= 0")
    if reorder_quantity is not None and reorder_quantity < 1:
        raise InvalidInput("reorder_quantity must be a whole number >= 1")


@dataclass(frozen=True, slots=True)
class Position:
    """One SKU at one location. `incoming`: open purchase-order quantity still to arrive there
    and not promised to a waiting line."""

    sku: str
    location: str
    on_hand: int = 0
    reserved: int = 0
    safety_stock: int = 0
    reorder_point: int | None = None
    reorder_quantity: int | None = None
    incoming: int = 0

    def __post_init__(self) -> None:
        check_reorder_settings(self.reorder_point, self.reorder_quantity)
        if self.incoming < 0:
            raise InvalidInput(f"{self.sku} at {self.location}: incoming cannot be negative")

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved - self.safety_stock

    def surplus(self, reorders_here: bool) -> int:
        """Incoming this location can spare for waiting lines without falling to its reorder
        point (where it is not reordered, all of it)."""
        if not reorders_here or self.reorder_point is None:
            return self.incoming
        spare = self.available + self.incoming - (self.reorder_point + 1)
        return min(self.incoming, max(spare, 0))


@dataclass(frozen=True, slots=True)
class Waiting:
    """Quantity of one SKU on waiting lines with no purchase order line to bring them."""

    sku: str
    backorder: int = 0
    preorder: int = 0

    @property
    def total(self) -> int:
        return self.backorder + self.preorder

    @property
    def kind(self) -> str:
        if self.backorder and self.preorder:
            return "backorder or pre-order"
        return "backorder" if self.backorder else "pre-order"


@dataclass(frozen=True, slots=True)
class Place:
    """An active location that could receive goods."""

    code: str
    kind: str  # warehouse, store, supplier
    can_ship: bool
    priority: int


@dataclass(frozen=True)
class Figures:
    positions: tuple[Position, ...]
    waiting: tuple[Waiting, ...] = ()
    places: tuple[Place, ...] = ()
    suppliers: Mapping[str, str] = field(default_factory=dict)  # sku -> supplier; none: unassigned
    unit_costs: Mapping[str, int] = field(default_factory=dict)  # sku -> minor units


@dataclass(frozen=True, slots=True)
class ProposedLine:
    sku: str
    quantity: int
    reason: str
    unit_cost: int = 0


@dataclass(frozen=True, slots=True)
class ProposedOrder:
    """One purchase order to be: one supplier, delivered to one location."""

    supplier: str
    location: str
    lines: tuple[ProposedLine, ...]


@dataclass(frozen=True, slots=True)
class Unassigned:
    """A need for a SKU that has no (active) supplier to buy it from."""

    sku: str
    location: str
    quantity: int
    reason: str


@dataclass(frozen=True)
class Proposal:
    orders: tuple[ProposedOrder, ...]
    unassigned: tuple[Unassigned, ...]

    @property
    def is_empty(self) -> bool:
        return not self.orders and not self.unassigned


def receiving_location(sku: str, places: Iterable[Place], stocked_at: Iterable[str]) -> str | None:
    """Where goods for waiting lines go: the highest-priority warehouse that can ship and keeps
    the SKU, else the highest-priority warehouse that can ship, else the highest-priority
    active location (ties by code)."""
    ranked = sorted(places, key=lambda p: (-p.priority, p.code))
    kept = set(stocked_at)
    shipping = [p.code for p in ranked if p.kind == "warehouse" and p.can_ship]
    choices = [*(code for code in shipping if code in kept), *shipping, *(p.code for p in ranked)]
    return choices[0] if choices else None


def reorder_quantity(available: int, incoming: int, reorder_point: int, lot: int) -> int:
    """Whole lots enough to lift available + incoming above the reorder point; 0 if above."""
    short = reorder_point + 1 - (available + incoming)
    return 0 if short <= 0 else -(-short // lot) * lot


def propose(figures: Figures) -> Proposal:
    """The lines to buy, grouped by supplier and location; deterministic for the same figures."""
    by_sku: dict[str, dict[str, Position]] = {}
    for pos in figures.positions:
        if pos.location in by_sku.setdefault(pos.sku, {}):
            raise InvalidInput(f"{pos.sku} at {pos.location} is given twice")
        by_sku[pos.sku][pos.location] = pos
    waiting = {w.sku: w for w in figures.waiting if w.total > 0}
    active = {p.code for p in figures.places}
    needs: list[tuple[str, str, int, str]] = []
    for sku in sorted(by_sku.keys() | waiting.keys()):
        needs += _needs_of(sku, by_sku.get(sku, {}), waiting.get(sku), figures.places, active)
    return _grouped(needs, figures.suppliers, figures.unit_costs)


def _needs_of(sku: str, positions: Mapping[str, Position], waiting: Waiting | None,
              places: Iterable[Place], active: set[str]) -> list[tuple[str, str, int, str]]:
    """(sku, location, quantity, reason) for one SKU, by location code: a reorder line and the
    waiting lines at one location become one line."""
    wait = _waiting_need(sku, positions, waiting, places, active)
    taken = {wait[0]: wait[1]} if wait else {}
    parts: dict[str, list[tuple[int, str]]] = {}
    for code, pos in positions.items():
        part = _reorder_need(pos, taken.get(code, 0)) if code in active else None
        if part:
            parts.setdefault(code, []).append(part)
    if wait and wait[2]:
        parts.setdefault(wait[0], []).append((wait[2], wait[3]))
    return [(sku, code, sum(q for q, _ in found), "; ".join(r for _, r in found))
            for code, found in sorted(parts.items())]


def _reorder_need(pos: Position, taken: int) -> tuple[int, str] | None:
    """(a): `taken` of the incoming goes to waiting lines, so it does not count here."""
    if pos.reorder_point is None or pos.reorder_quantity is None:
        return None
    incoming = pos.incoming - taken
    lots = reorder_quantity(pos.available, incoming, pos.reorder_point, pos.reorder_quantity)
    reason = (f"below reorder point: available {pos.available} + incoming {incoming}"
              f" <= {pos.reorder_point}")
    return (lots, reason) if lots else None


def _waiting_need(sku: str, positions: Mapping[str, Position], waiting: Waiting | None,
                  places: Iterable[Place], active: set[str]) -> tuple[str, int, int, str] | None:
    """(b): the receiving location, how much of its incoming goes to the waiting lines, how
    much is still to buy, and why. Other locations' spare incoming covers them first."""
    where = None if waiting is None else receiving_location(sku, places, positions)
    if waiting is None or where is None:
        return None
    spare = sum(pos.surplus(code in active) for code, pos in positions.items() if code != where)
    left = waiting.total - min(waiting.total, spare)
    here = positions.get(where)
    taken = min(left, here.incoming if here else 0)
    short = left - taken
    return where, taken, short, _waiting_reason(waiting, waiting.total - short)


def _waiting_reason(waiting: Waiting, covered: int) -> str:
    reason = f"{waiting.total} waiting on {waiting.kind} without supply"
    return reason + (f", {covered} covered by open purchase orders" if covered else "")


def _grouped(needs: list[tuple[str, str, int, str]], suppliers: Mapping[str, str],
             unit_costs: Mapping[str, int]) -> Proposal:
    orders: dict[tuple[str, str], list[ProposedLine]] = {}
    unassigned = []
    for sku, location, quantity, reason in needs:
        supplier = suppliers.get(sku)
        if supplier is None:
            unassigned.append(Unassigned(sku, location, quantity, reason))
            continue
        line = ProposedLine(sku, quantity, reason, unit_costs.get(sku, 0))
        orders.setdefault((supplier, location), []).append(line)
    return Proposal(
        tuple(ProposedOrder(s, loc, tuple(sorted(lines, key=lambda ln: ln.sku)))
              for (s, loc), lines in sorted(orders.items())),
        tuple(sorted(unassigned, key=lambda u: (u.sku, u.location))),
    )
