"""What replenishment reads: reorder settings, supply on its way, lines waiting without supply,
where goods can be received, and what suppliers were paid."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.engine import Connection

from ordermesh.adapters.db import tables as t
from ordermesh.adapters.db.sourcing_repository import OPEN_PO
from ordermesh.domain.purchasing import PurchaseOrderStatus
from ordermesh.domain.replenishment import Place, Position, Waiting

_s, _p, _b = t.stock_levels.c, t.products.c, t.backorders.c
_po, _pol = t.purchase_orders.c, t.purchase_order_lines.c
# Orders the supplier was actually paid (or will be) at their unit cost.
NOT_PAID = (PurchaseOrderStatus.DRAFT, PurchaseOrderStatus.CANCELLED)


class SqlReplenishment:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def waiting(self) -> list[Waiting]:
        """Per SKU, the quantity on waiting lines without supply: those no purchase order line
        is promised to, and those promised to a line that will not bring them (see
        `_uncovered`)."""
        query = (select(_b.sku, _b.kind, func.sum(_b.quantity))
                 .where(_b.status == "waiting", _b.supply_line_id.is_(None))
                 .group_by(_b.sku, _b.kind))
        found: dict[str, dict[str, int]] = {}
        for sku, kind, quantity in self.conn.execute(query):
            found.setdefault(sku, {})[kind] = int(quantity)
        for sku, kind, quantity in self._uncovered():
            kinds = found.setdefault(sku, {})
            kinds[kind] = kinds.get(kind, 0) + quantity
        return [Waiting(sku, kinds.get("backorder", 0), kinds.get("preorder", 0))
                for sku, kinds in found.items()]

    def _uncovered(self) -> list[tuple[str, str, int]]:
        """(SKU, kind, quantity) of waiting lines promised to a purchase order line that will
        not bring them: the order is no longer open (cancelled, closed, received), or what is
        still outstanding on the line went to earlier orders. The line's outstanding quantity
        covers the waits promised to it in order of placement, as received goods are given."""
        promised_before = func.sum(_b.quantity).over(
            partition_by=_b.supply_line_id, order_by=(_b.order_seq, _b.id))
        query = (select(_b.sku, _b.kind, _b.quantity, promised_before.label("upto"),
                        _po.status, (_pol.quantity - _pol.received).label("outstanding"))
                 .join(t.purchase_order_lines, _pol.id == _b.supply_line_id)
                 .join(t.purchase_orders, _po.seq == _pol.po_seq)
                 .where(_b.status == "waiting", _b.supply_line_id.is_not(None)))
        open_statuses = {str(s) for s in OPEN_PO}
        uncovered = []
        for row in self.conn.execute(query):
            quantity = int(row.quantity)
            if row.status in open_statuses:  # the part beyond what is still to arrive
                quantity = min(quantity, max(int(row.upto) - max(int(row.outstanding), 0), 0))
            if quantity > 0:
                uncovered.append((row.sku, row.kind, quantity))
        return uncovered

    def positions(self, skus: Iterable[str]) -> list[Position]:
        """Every stock level with a reorder point, every level of the given SKUs, and every
        location purchase orders are bringing something to. A product that is no longer
        active is not reordered, so its reorder points are left out."""
        incoming = self._incoming()
        query = (select(t.stock_levels, _p.active.label("product_active"))
                 .join(t.products, _p.sku == _s.sku)
                 .where(or_(_s.reorder_point.is_not(None), _s.sku.in_(sorted(set(skus))))))
        found = {(r.sku, r.location_code): _position(r, incoming.get((r.sku, r.location_code), 0))
                 for r in self.conn.execute(query)}
        for (sku, location), quantity in incoming.items():
            found.setdefault((sku, location), Position(sku, location, incoming=quantity))
        return list(found.values())

    def _incoming(self) -> dict[tuple[str, str], int]:
        """Outstanding quantity of open purchase order lines, less what is promised to waiting
        lines, per (SKU, delivery location)."""
        promised = (select(_b.supply_line_id, func.sum(_b.quantity).label("qty"))
                    .where(_b.status == "waiting", _b.supply_line_id.is_not(None))
                    .group_by(_b.supply_line_id).subquery())
        query = (select(_pol.sku, _po.deliver_to,
                        _pol.quantity - _pol.received - func.coalesce(promised.c.qty, 0))
                 .join(t.purchase_orders, _po.seq == _pol.po_seq)
                 .outerjoin(promised, promised.c.supply_line_id == _pol.id)
                 .where(_po.status.in_([str(s) for s in OPEN_PO])))
        totals: dict[tuple[str, str], int] = {}
        for sku, location, free in self.conn.execute(query):
            if free > 0:  # an over-received or over-promised line brings nothing more
                totals[(sku, location)] = totals.get((sku, location), 0) + int(free)
        return totals

    def places(self) -> list[Place]:
        loc = t.locations.c
        rows = self.conn.execute(select(loc.code, loc.kind, loc.can_ship, loc.priority)
                                 .where(loc.active.is_(True)))
        return [Place(code, kind, can_ship, priority) for code, kind, can_ship, priority in rows]

    def suppliers(self, skus: Iterable[str]) -> dict[str, tuple[str, str]]:
        """SKU -> (supplier, currency) for the SKUs bought from an active supplier."""
        sup = t.suppliers.c
        query = (select(_p.sku, sup.code, sup.currency)
                 .join(t.suppliers, sup.code == _p.supplier_code)
                 .where(_p.sku.in_(sorted(set(skus))), sup.active.is_(True)))
        return {sku: (code, currency) for sku, code, currency in self.conn.execute(query)}

    def last_unit_costs(self, suppliers: Mapping[str, tuple[str, str]]) -> dict[str, int]:
        """SKU -> the unit cost on the newest line of a sent purchase order from its supplier,
        in the supplier's currency (drafts and cancelled orders were never paid)."""
        newest = func.row_number().over(
            partition_by=(_pol.sku, _po.supplier_code, _po.currency),
            order_by=(_po.seq.desc(), _pol.line_no.desc())).label("newest")
        ranked = (select(_pol.sku, _po.supplier_code, _po.currency, _pol.unit_cost, newest)
                  .join(t.purchase_orders, _po.seq == _pol.po_seq)
                  .where(_pol.sku.in_(sorted(suppliers)),
                         _po.status.not_in([str(s) for s in NOT_PAID])).subquery())
        rows = self.conn.execute(select(ranked).where(ranked.c.newest == 1))
        return {r.sku: int(r.unit_cost) for r in rows
                if suppliers.get(r.sku) == (r.supplier_code, r.currency)}


def _position(row: Any, incoming: int) -> Position:
    reorders = (bool(row.product_active) and row.reorder_point is not None
                and row.reorder_quantity is not None)
    return Position(row.sku, row.location_code, row.on_hand, row.reserved, row.safety_stock,
                    row.reorder_point if reorders else None,
                    row.reorder_quantity if reorders else None, incoming)

