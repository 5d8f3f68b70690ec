"""Reads the console's order entry, inventory and purchasing pages need beyond the API's: a
customer's earlier orders (there is no customer table: what they gave before is in their
orders), the open purchase-order lines of a SKU per location, and the bills of a purchase order.
Plain rows, no aggregates loaded."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from ordermesh.adapters.db import tables as t
from ordermesh.adapters.db.payables_queries import BILL_TOTAL, _header, _paid
from ordermesh.adapters.db.sourcing_repository import OPEN_PO
from ordermesh.domain.orders import format_order_number
from ordermesh.domain.purchasing import format_po_number

_o, _po, _pol, _b = t.orders.c, t.purchase_orders.c, t.purchase_order_lines.c, t.supplier_bills.c
ADDRESS_KEYS = ("line1", "city", "postal_code", "country")


def customer_orders(conn: Connection, email: str, limit: int = 10) -> list[dict[str, Any]]:
    """A customer's orders in every channel, newest first: what they gave last time (name,
    phone, addresses) is at the top."""
    query = (select(_o.seq, _o.id, _o.channel_code, _o.status, _o.created_at, _o.currency,
                    _o.grand_total, _o.customer_name, _o.customer_phone, _o.billing_address,
                    _o.shipping_address, _o.fulfilment_method, _o.pickup_location_code)
             .where(_o.customer_email == email.strip().lower())
             .order_by(_o.seq.desc()).limit(limit))
    return [{**dict(row._mapping), "number": format_order_number(row.seq)}
            for row in conn.execute(query)]


def known_coordinates(conn: Connection, email: str,
                      address: dict[str, Any]) -> tuple[float, float] | None:
    """Where an address the customer was delivered to before lies, if that order knew it: the
    same street, city, postal code and country."""
    wanted = _address_key(address)
    for order in customer_orders(conn, email, limit=20):
        shipped = order["shipping_address"] or {}
        if _address_key(shipped) == wanted and shipped.get("latitude") is not None:
            return float(shipped["latitude"]), float(shipped["longitude"])
    return None


def _address_key(address: dict[str, Any]) -> tuple[str, ...]:
    return tuple(" ".join(str(address.get(k) or "").split()).casefold() for k in ADDRESS_KEYS)


def open_supply(conn: Connection, sku: str, location: str | None) -> list[dict[str, Any]]:
    """Open purchase-order lines of a SKU (sent, not all received) with what is still to come
    and when, per delivery location; soonest first."""
    query = (select(_po.id, _po.seq, _po.deliver_to, _po.expected_on, _po.status, _po.supplier_code,
                    _pol.line_no, (_pol.quantity - _pol.received).label("outstanding"))
             .join(t.purchase_order_lines, _pol.po_seq == _po.seq)
             .where(_pol.sku == sku, _po.status.in_([str(s) for s in OPEN_PO]),
                    _pol.quantity > _pol.received)
             .order_by(_po.expected_on, _po.seq, _pol.line_no))
    if location is not None:
        query = query.where(_po.deliver_to == location)
    return [{**dict(row._mapping), "number": format_po_number(row.seq)}
            for row in conn.execute(query)]


def bills_of_purchase_order(conn: Connection, po_seq: int) -> list[dict[str, Any]]:
    """The supplier's bills entered against one purchase order, oldest first."""
    query = (select(t.supplier_bills, BILL_TOTAL, _paid())
             .where(_b.po_seq == po_seq).order_by(_b.seq))
    return [_header(row) for row in conn.execute(query)]
