"""What sourcing reads (sites, terms, supply, channel policy) and writes (allocations,
backorders, daily capacity)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import fields
from datetime import date
from typing import Any

from sqlalchemy import and_, bindparam, func, insert, select, update
from sqlalchemy.engine import Connection

from ordermesh.adapters.db import tables as t
from ordermesh.adapters.db.repositories import SqlCatalogue, SqlStock, insert_or_conflict
from ordermesh.domain.errors import ConcurrentUpdate, NotFound
from ordermesh.domain.events import utcnow
from ordermesh.domain.geo import Point
from ordermesh.domain.purchasing import PurchaseOrderStatus, parse_po_number
from ordermesh.domain.sourcing import (
    Allocation,
    Decision,
    Policy,
    Rate,
    Site,
    Supply,
    Terms,
    Wait,
    channel_policy,
)
from ordermesh.domain.sourcing.model import (
    ALLOCATION_TRANSITIONS,
    WAIT_TRANSITIONS,
    AllocationStatus,
    Candidate,
    WaitStatus,
    ends_as,
)
from ordermesh.services.ports import ProductFacts

ADD_ALLOCATION = insert(t.allocations)
ADD_BACKORDER = insert(t.backorders)
OPEN_PO = (PurchaseOrderStatus.SENT, PurchaseOrderStatus.PARTIALLY_RECEIVED)


def supply_reference(po_seq: int, line_no: int) -> str:
    return f"PO-{po_seq:06d}/{line_no}"


# The reads of every sourcing and availability call are built once: SQLAlchemy then reuses their
# compiled form instead of rebuilding statements for each order and each cart.
_c, _loc, _load = t.channels.c, t.locations.c, t.location_loads.c
_p, _sup = t.products.c, t.suppliers.c
_po, _pol, _b = t.purchase_orders.c, t.purchase_order_lines.c, t.backorders.c
POLICY = select(_c.sourcing_rules, _c.visible_locations, _c.allow_split, _c.allow_backorder,
                _c.safety_buffer).where(_c.code == bindparam("b_channel"))
SITES = (select(_loc.code, _loc.latitude, _loc.longitude, _loc.can_ship, _loc.can_pickup,
                _loc.priority, _loc.daily_order_capacity, _loc.transfer_days,
                _loc.shipping_rates, _load.shipments)
         .outerjoin(t.location_loads, and_(_load.location_code == _loc.code,
                                           _load.day == bindparam("b_today")))
         .where(_loc.active.is_(True)))
PRODUCTS = (select(_p.sku, _p.active, _p.currency, _p.low_stock_threshold, _p.backorderable,
                   _p.preorder, _p.release_date, _p.tax_class, _sup.lead_time_days)
            .outerjoin(t.suppliers, _sup.code == _p.supplier_code)
            .where(_p.sku.in_(bindparam("b_skus", expanding=True))))
_PROMISED = (select(func.coalesce(func.sum(_b.quantity), 0))
             .where(_b.supply_line_id == _pol.id, _b.status == "waiting").scalar_subquery())
SUPPLY = (select(_pol.id, _pol.sku, _pol.line_no, _po.seq, _po.expected_on,
                 (_pol.quantity - _pol.received - _PROMISED).label("free"))
          .join(t.purchase_orders, _po.seq == _pol.po_seq)
          .where(_pol.sku.in_(bindparam("b_skus", expanding=True)),
                 _po.status.in_([str(s) for s in OPEN_PO])))


_CANDIDATE = tuple(f.name for f in fields(Candidate))


def decision_json(decision: Decision) -> dict[str, Any]:
    """The decision as its JSON column holds it (dataclasses.asdict makes the same, at several
    times the cost: it deep-copies every value)."""
    return {"rule": decision.rule, "explanation": decision.explanation,
            "considered": [{name: getattr(c, name) for name in _CANDIDATE}
                           for c in decision.considered],
            "excluded": [list(pair) for pair in decision.excluded]}


class SqlSourcing:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def policy(self, channel: str) -> tuple[Policy, int]:
        """The channel's sourcing policy, and the units it holds back at every location."""
        row = self.conn.execute(POLICY, {"b_channel": channel}).first()
        if row is None:
            raise NotFound(f"channel {channel!r} does not exist")
        return channel_policy(dict(row._mapping))

    def sites(self, today: date) -> list[Site]:
        """Active locations, with what is left of today's capacity."""
        return [_site(row) for row in self.conn.execute(SITES, {"b_today": today}).all()]

    def terms(self, skus: Iterable[str]) -> dict[str, Terms]:
        return {sku: facts.terms for sku, facts in self.products(skus).items()}

    def products(self, skus: Iterable[str]) -> dict[str, ProductFacts]:
        """What sourcing and availability need of each product, in one query."""
        rows = self.conn.execute(PRODUCTS, {"b_skus": list(skus)}).all()
        return {r.sku: ProductFacts(r.active, r.currency, r.low_stock_threshold, Terms(
            r.backorderable, r.preorder, r.release_date if r.preorder else None,
            r.lead_time_days), r.tax_class) for r in rows}

    def supply(self, skus: Iterable[str], today: date) -> tuple[list[Supply], dict[str, int]]:
        """Open purchase-order lines not yet promised to waiting lines, and their row ids."""
        supplies, ids = [], {}
        for r in self.conn.execute(SUPPLY, {"b_skus": list(skus)}).all():
            if r.free > 0:
                ref = supply_reference(r.seq, r.line_no)
                arrives = r.expected_on if r.expected_on and r.expected_on > today else today
                supplies.append(Supply(r.sku, r.free, arrives, ref))
                ids[ref] = r.id
        return supplies, ids

    def give_back_capacity(self, location: str, day: date) -> None:
        """A shipment counted on `day` will not happen (its order was cancelled or moved)."""
        load = t.location_loads.c
        self.conn.execute(update(t.location_loads).where(
            load.location_code == location, load.day == day, load.shipments > 0)
            .values(shipments=load.shipments - 1))

    def take_capacity(self, location: str, day: date) -> bool:
        """Count one more shipment today, only while the location is under its capacity."""
        capacity = self.conn.execute(select(t.locations.c.daily_order_capacity).where(
            t.locations.c.code == location)).scalar()
        if capacity is None:
            return True
        load = t.location_loads.c
        result = self.conn.execute(
            update(t.location_loads)
            .where(load.location_code == location, load.day == day, load.shipments < capacity)
            .values(shipments=load.shipments + 1))
        if result.rowcount == 1:
            return True
        exists = self.conn.execute(select(load.shipments).where(
            load.location_code == location, load.day == day)).first()
        if exists is not None or capacity < 1:
            return False
        insert_or_conflict(self.conn, t.location_loads,
                           {"location_code": location, "day": day, "shipments": 1})
        return True


def _site(row: Any) -> Site:
    capacity = row.daily_order_capacity
    left = None if capacity is None else capacity - (row.shipments or 0)
    rates = tuple(Rate(r.get("max_km"), r["amount"], r["currency"], r["days"])
                  for r in row.shipping_rates)
    return Site(row.code, Point(row.latitude, row.longitude), row.can_ship, row.can_pickup,
                row.priority, left, row.transfer_days, rates)


class SqlReads:
    """Sourcing's reads on a read-only connection: availability checks never take the write
    lock."""

    def __init__(self, conn: Connection) -> None:
        self.catalogue = SqlCatalogue(conn)
        self.stock = SqlStock(conn)
        self.sourcing = SqlSourcing(conn)


class SqlAllocations:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.written: dict[int, list[dict[str, Any]]] = {}  # by order, as add_all wrote them

    def add(self, order_seq: int, allocation: Allocation) -> None:
        self.add_all(order_seq, [allocation])

    def add_all(self, order_seq: int, allocations: Sequence[Allocation]) -> None:
        """Write the allocations of one order, in one statement."""
        if not allocations:
            return
        now = utcnow()
        rows = [{
            "order_seq": order_seq, "line_id": a.line_id, "sku": a.sku,
            "location_code": a.location, "quantity": a.quantity, "source": str(a.source),
            "status": "active", "ready_on": a.ready_on, "promised_on": a.promised_on,
            "decision": decision_json(a.decision), "created_at": now, "fulfilment_id": None}
            for a in allocations]
        self.conn.execute(ADD_ALLOCATION, rows)
        self.written.setdefault(order_seq, []).extend(rows)

    def active_for_order(self, order_seq: int) -> list[dict[str, Any]]:
        r = t.allocations.c
        rows = self.conn.execute(select(t.allocations).where(
            r.order_seq == order_seq, r.status == "active").order_by(r.id))
        return [dict(row._mapping) for row in rows]

    def active_at(self, sku: str, location: str) -> list[dict[str, Any]]:
        """Active allocations of one stock row, newest first: the first to move on a shortfall."""
        r = t.allocations.c
        rows = self.conn.execute(select(t.allocations).where(
            r.sku == sku, r.location_code == location, r.status == "active").order_by(r.id.desc()))
        return [dict(row._mapping) for row in rows]

    def rejected_for_order(self, order_seq: int) -> list[tuple[str, str]]:
        """(line id, location) of every allocation a location rejected."""
        r = t.allocations.c
        rows = self.conn.execute(select(r.line_id, r.location_code).where(
            r.order_seq == order_seq, r.status == "rejected").distinct())
        return [(line_id, location) for line_id, location in rows]

    def owners_at(self, rows: Iterable[tuple[str, str]]) -> list[int]:
        """The orders with active allocations on these stock rows."""
        r = t.allocations.c
        found: set[int] = set()
        for sku, location in rows:
            found.update(self.conn.execute(select(r.order_seq).where(
                r.sku == sku, r.location_code == location, r.status == "active")).scalars())
        return sorted(found)

    def shrink(self, allocation_id: int, keep: int, action: str = "release") -> None:
        """End an allocation (release, move, reject); what is kept continues as a new row with
        the same decision."""
        row = self.conn.execute(select(t.allocations).where(
            t.allocations.c.id == allocation_id)).one()
        self.end([allocation_id], action)
        if keep > 0:
            values = {k: v for k, v in row._mapping.items() if k not in ("id", "released_at")}
            self.conn.execute(ADD_ALLOCATION, {**values, "quantity": keep,
                                               "status": AllocationStatus.ACTIVE,
                                               "created_at": utcnow()})

    def end(self, allocation_ids: list[int], action: str = "release") -> None:
        """End active allocations by an action of ALLOCATION_TRANSITIONS; one already ended
        by someone else is a conflict, never a silent second release."""
        status = ends_as(ALLOCATION_TRANSITIONS, AllocationStatus.ACTIVE, action)
        _end(self.conn, t.allocations, allocation_ids, AllocationStatus.ACTIVE,
             {"status": status, "released_at": utcnow()})


def _end(conn: Connection, table: Any, ids: list[int], current: str,
         values: dict[str, Any]) -> None:
    if ids:
        result = conn.execute(update(table).where(table.c.id.in_(ids), table.c.status == current)
                              .values(values))
        if result.rowcount != len(set(ids)):
            raise ConcurrentUpdate(f"{table.name} changed concurrently")


class SqlBackorders:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.written: dict[int, list[dict[str, Any]]] = {}  # by order, as add wrote them

    def add(self, order_seq: int, wait: Wait, supply_line_id: int | None) -> None:
        row = {
            "order_seq": order_seq, "line_id": wait.line_id, "sku": wait.sku,
            "quantity": wait.quantity, "kind": str(wait.kind), "status": "waiting",
            "promised_on": wait.promised_on, "supply_line_id": supply_line_id,
            "decision": decision_json(wait.decision), "created_at": utcnow()}
        self.conn.execute(ADD_BACKORDER, row)
        self.written.setdefault(order_seq, []).append(row)

    def waiting_for_order(self, order_seq: int) -> list[dict[str, Any]]:
        b = t.backorders.c
        rows = self.conn.execute(select(t.backorders).where(
            b.order_seq == order_seq, b.status == "waiting").order_by(b.id))
        return [dict(row._mapping) for row in rows]

    def waiting_orders(self, skus: Iterable[str]) -> list[int]:
        """Orders with lines waiting for these SKUs, first placed first."""
        b = t.backorders.c
        query = (select(b.order_seq).where(b.sku.in_(list(skus)), b.status == "waiting")
                 .group_by(b.order_seq).order_by(b.order_seq))
        return list(self.conn.execute(query).scalars())

    def resolve(self, backorder_ids: list[int], action: str) -> None:
        """End waiting lines by an action of WAIT_TRANSITIONS (replace, cancel)."""
        status = ends_as(WAIT_TRANSITIONS, WaitStatus.WAITING, action)
        _end(self.conn, t.backorders, backorder_ids, WaitStatus.WAITING,
             {"status": status, "resolved_at": utcnow()})

    def promised_from(self, po_ref: str) -> list[dict[str, Any]]:
        """Waiting rows promised to lines of a purchase order (by id or number), first placed
        first, each with `supply`: the line's reference (PO-000012/1)."""
        seq = parse_po_number(po_ref)
        query = (select(t.backorders, _po.seq.label("po_seq"), _pol.line_no.label("po_line_no"))
                 .join(t.purchase_order_lines, _pol.id == _b.supply_line_id)
                 .join(t.purchase_orders, _po.seq == _pol.po_seq)
                 .where(_po.seq == seq if seq is not None else _po.id == po_ref,
                        _b.status == "waiting")
                 .order_by(_b.order_seq, _b.id))
        return [{**dict(row._mapping), "supply": supply_reference(row.po_seq, row.po_line_no)}
                for row in self.conn.execute(query)]

    def repromise(self, backorder_id: int, promised_on: date | None, decision: Decision) -> None:
        """The wait no longer counts on its purchase order line: a new date and reason."""
        self.conn.execute(update(t.backorders).where(t.backorders.c.id == backorder_id).values(
            supply_line_id=None, promised_on=promised_on, decision=decision_json(decision)))
