"""Reads of fulfilments: lists, one with its lines, and the pick list of a location."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from ordermesh.adapters.db import tables as t
from ordermesh.domain.orders import format_order_number

_f, _fl, _o, _ol = t.fulfilments.c, t.fulfilment_lines.c, t.orders.c, t.order_lines.c
_p, _s, _te = t.packages.c, t.shipments.c, t.tracking_events.c


def fulfilments(conn: Connection, location: str | None = None, status: str | None = None,
                order_seq: int | None = None, fulfilment_id: str | None = None,
                limit: int = 200) -> list[dict[str, Any]]:
    """Fulfilments with their lines (line number, SKU, units), oldest first."""
    query = (select(t.fulfilments, _o.id.label("order_id"), _o.seq.label("o_seq"))
             .join(t.orders, _o.seq == _f.order_seq).order_by(_f.created_at, _f.id).limit(limit))
    for column, value in ((_f.location_code, location), (_f.status, status),
                          (_f.order_seq, order_seq), (_f.id, fulfilment_id)):
        if value is not None:
            query = query.where(column == value)
    found = [dict(row._mapping) for row in conn.execute(query)]
    if not found:
        return []
    lines: dict[str, list[dict[str, Any]]] = {}
    for row in conn.execute(
            select(_fl.fulfilment_id, _fl.sku, _fl.quantity, _ol.line_no)
            .join(t.order_lines, _ol.id == _fl.order_line_id)
            .where(_fl.fulfilment_id.in_([f["id"] for f in found])).order_by(_ol.line_no)):
        lines.setdefault(row.fulfilment_id, []).append(
            {"line_no": row.line_no, "sku": row.sku, "quantity": row.quantity})
    ids = [f["id"] for f in found]
    packages: dict[str, list[dict[str, Any]]] = {}
    for package in conn.execute(
            select(*[c for c in t.packages.c if c.name != "label"],
                   _p.label.is_not(None).label("carrier_label"))
            .where(_p.fulfilment_id.in_(ids)).order_by(_p.fulfilment_id, _p.number)):
        packages.setdefault(package.fulfilment_id, []).append(dict(package._mapping))
    shipments = {row.fulfilment_id: dict(row._mapping) for row in conn.execute(
        select(t.shipments).where(_s.fulfilment_id.in_(ids), _s.status == "booked"))}
    return [{**f, "order_number": format_order_number(f["o_seq"]),
             "lines": lines.get(f["id"], []), "packages": packages.get(f["id"], []),
             "shipment": shipments.get(f["id"])} for f in found]


def carrier_label(conn: Connection, fulfilment_id: str, number: int) -> bytes | None:
    """The label the carrier made for package `number`, if it made one."""
    value = conn.execute(select(_p.label).where(_p.fulfilment_id == fulfilment_id,
                                                _p.number == number)).scalar()
    return bytes(value) if value is not None else None


def tracking_events(conn: Connection, fulfilment_id: str) -> list[dict[str, Any]]:
    """The carrier events received for a fulfilment's parcels, in the carrier's time."""
    return [dict(r._mapping) for r in conn.execute(
        select(t.tracking_events).where(_te.fulfilment_id == fulfilment_id)
        .order_by(_te.at, _te.id))]


def documents_data(conn: Connection, fulfilment_id: str) -> dict[str, Any] | None:
    """What the label and packing slip print: the order's addresses and instructions, the
    location's address, and the products' names, GTINs and fragility."""
    found = fulfilments(conn, fulfilment_id=fulfilment_id)
    if not found:
        return None
    fulfilment = found[0]
    order = conn.execute(select(t.orders).where(_o.seq == fulfilment["o_seq"])).one()
    location = conn.execute(select(t.locations).where(
        t.locations.c.code == fulfilment["location_code"])).one()
    skus = {ln["sku"] for ln in fulfilment["lines"]}
    products = {r.sku: dict(r._mapping) for r in conn.execute(
        select(t.products.c.sku, t.products.c.name, t.products.c.gtin, t.products.c.fragile)
        .where(t.products.c.sku.in_(skus)))}
    return {"fulfilment": fulfilment, "order": dict(order._mapping),
            "location": dict(location._mapping), "products": products}


def pick_list(conn: Connection, location: str, wave: str | None = None) -> list[dict[str, Any]]:
    """What to pick at a location (of one wave, or of every wave): the pending fulfilments'
    units by SKU, with the orders they go to."""
    query = (select(_fl.sku, _fl.quantity, _f.id, _f.order_seq)
             .join(t.fulfilments, _f.id == _fl.fulfilment_id)
             .where(_f.location_code == location, _f.status == "pending")
             .order_by(_fl.sku, _f.order_seq))
    if wave is not None:
        query = query.where(_f.wave_id == wave)
    rows = conn.execute(query)
    by_sku: dict[str, dict[str, Any]] = {}
    for row in rows:
        entry = by_sku.setdefault(row.sku, {"sku": row.sku, "quantity": 0, "orders": []})
        entry["quantity"] += row.quantity
        entry["orders"].append({"order_number": format_order_number(row.order_seq),
                                "fulfilment_id": row.id, "quantity": row.quantity})
    return list(by_sku.values())


def package_types(conn: Connection) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in conn.execute(
        select(t.package_types).order_by(t.package_types.c.code))]


def pick_list_products(conn: Connection, location: str,
                       skus: set[str]) -> tuple[str, dict[str, dict[str, Any]]] | None:
    """The location's name and the products' names and GTINs, for a printed pick list; None
    when there is no such location."""
    name = conn.execute(select(t.locations.c.name).where(t.locations.c.code == location)).scalar()
    if name is None:
        return None
    products = {r.sku: dict(r._mapping) for r in conn.execute(
        select(t.products.c.sku, t.products.c.name, t.products.c.gtin)
        .where(t.products.c.sku.in_(skus)))}
    return str(name), products


def till_sale(conn: Connection, channel: str, reference: str, store: str) -> dict[str, Any]:
    """A sale posted at a till: its order, and its fulfilment at the store (the newest not
    cancelled) with its status and pickup code."""
    order = conn.execute(select(_o.id, _o.seq).where(
        _o.channel_code == channel, _o.external_reference == reference)).first()
    if order is None:
        return {"order_id": None, "fulfilment_id": None, "status": None, "pickup_code": None}
    found = conn.execute(select(_f.id, _f.status, _f.pickup_code).where(
        _f.order_seq == order.seq, _f.location_code == store, _f.status != "cancelled")
        .order_by(_f.created_at.desc(), _f.id)).first()
    return {"order_id": order.id, "fulfilment_id": found.id if found else None,
            "status": found.status if found else None,
            "pickup_code": found.pickup_code if found else None}


def location_address(conn: Connection, code: str) -> dict[str, Any] | None:
    """A store's name and address (for a sale at its till), or None if it is no store."""
    row = conn.execute(select(t.locations.c.name, t.locations.c.address).where(
        t.locations.c.code == code, t.locations.c.kind == "store", t.locations.c.active)).first()
    return None if row is None else {**dict(row.address), "name": row.name}


def available_at(conn: Connection, location: str, skus: set[str]) -> dict[str, int]:
    """What a location may still promise of these SKUs: on hand less reserved and its safety
    stock."""
    lv = t.stock_levels.c
    return {r.sku: int(r.available) for r in conn.execute(
        select(lv.sku, (lv.on_hand - lv.reserved - lv.safety_stock).label("available"))
        .where(lv.location_code == location, lv.sku.in_(skus)))}
