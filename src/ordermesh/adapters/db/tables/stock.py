"""Stock: levels, the ledger, syncs, what orders and carts hold of it, and what waits."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
)

from ordermesh.adapters.db.tables.base import Json, SeqId, Timestamp, metadata

stock_levels = Table(
    "stock_levels", metadata,
    Column("sku", String(64), ForeignKey("products.sku"), primary_key=True),
    Column("location_code", String(64), ForeignKey("locations.code"), primary_key=True),
    Column("on_hand", BigInteger, nullable=False),
    Column("reserved", BigInteger, nullable=False),
    Column("safety_stock", BigInteger, nullable=False),
    Column("last_counted_at", Timestamp, nullable=True),
    Column("last_movement_at", Timestamp, nullable=True),
    Column("reorder_point", BigInteger, nullable=True),
    Column("reorder_quantity", BigInteger, nullable=True),
    Column("updated_at", Timestamp, nullable=False),
    CheckConstraint("on_hand >= 0", name="on_hand_not_negative"),
    CheckConstraint("reserved >= 0", name="reserved_not_negative"),
    CheckConstraint("safety_stock >= 0", name="safety_stock_not_negative"),
)


stock_movements = Table(
    "stock_movements", metadata,
    Column("id", SeqId, primary_key=True, autoincrement=True),
    Column("sku", String(64), nullable=False),
    Column("location_code", String(64), nullable=False),
    Column("on_hand_delta", BigInteger, nullable=False),
    Column("reserved_delta", BigInteger, nullable=False),
    Column("reason", String(32), nullable=False),
    Column("reference", String(200), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("occurred_at", Timestamp, nullable=False),
    Index("ix_stock_movements_sku_location", "sku", "location_code", "id"),
)


stock_sync_refs = Table(
    "stock_sync_refs", metadata,
    Column("source_reference", String(200), primary_key=True),
    Column("sku", String(64), nullable=False),
    Column("location_code", String(64), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("applied_at", Timestamp, nullable=False),
)


allocations = Table(
    "allocations", metadata,
    Column("id", SeqId, primary_key=True, autoincrement=True),
    Column("order_seq", SeqId, ForeignKey("orders.seq"), nullable=False),
    Column("line_id", String(36), ForeignKey("order_lines.id"), nullable=False),
    Column("sku", String(64), nullable=False),
    Column("location_code", String(64), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("source", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("ready_on", Date, nullable=True),
    Column("promised_on", Date, nullable=True),
    Column("decision", Json, nullable=True),
    Column("created_at", Timestamp, nullable=False),
    Column("released_at", Timestamp, nullable=True),
    # the fulfilment that takes the allocation, once released to its location
    Column("fulfilment_id", String(36), nullable=True),
    CheckConstraint("quantity > 0", name="quantity_positive"),
    CheckConstraint("source IN ('stock', 'transfer')", name="source"),
    Index("ix_allocations_order_seq", "order_seq"),
    Index("ix_allocations_stock", "sku", "location_code", "status"),
    Index("ix_allocations_fulfilment_id", "fulfilment_id"),
)


# What stock could not fill now: a line's quantity waiting for supply, first come first served.
backorders = Table(
    "backorders", metadata,
    Column("id", SeqId, primary_key=True, autoincrement=True),
    Column("order_seq", SeqId, ForeignKey("orders.seq"), nullable=False),
    Column("line_id", String(36), ForeignKey("order_lines.id"), nullable=False),
    Column("sku", String(64), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("promised_on", Date, nullable=True),
    Column("supply_line_id", SeqId, ForeignKey("purchase_order_lines.id"), nullable=True),
    Column("decision", Json, nullable=True),
    Column("created_at", Timestamp, nullable=False),
    Column("resolved_at", Timestamp, nullable=True),
    CheckConstraint("quantity > 0", name="quantity_positive"),
    CheckConstraint("kind IN ('backorder', 'preorder')", name="kind"),
    Index("ix_backorders_waiting", "sku", "status", "order_seq"),
    Index("ix_backorders_order_seq", "order_seq"),
    Index("ix_backorders_supply", "supply_line_id", "status"),
)


# Shipments a location has taken on a day, counted against its daily capacity.
location_loads = Table(
    "location_loads", metadata,
    Column("location_code", String(64), ForeignKey("locations.code"), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("shipments", Integer, nullable=False),
    CheckConstraint("shipments >= 0", name="shipments_not_negative"),
)


# Stock a channel reserves for a cart for a few minutes before the order is placed. The rows
# of an active hold count in stock_levels.reserved beside the active allocations.
cart_holds = Table(
    "cart_holds", metadata,
    Column("id", String(36), primary_key=True),
    Column("channel_code", String(64), ForeignKey("channels.code"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("expires_at", Timestamp, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("ended_at", Timestamp, nullable=True),
    Column("order_id", String(36), ForeignKey("orders.id"), nullable=True),
    Column("idempotency_key", String(200), nullable=True),
    Column("request_hash", String(64), nullable=True),
    UniqueConstraint("channel_code", "idempotency_key", name="uq_cart_holds_channel_key"),
    CheckConstraint("status IN ('active', 'converted', 'released', 'expired')", name="status"),
    CheckConstraint("(status = 'converted') = (order_id IS NOT NULL)", name="order_when_converted"),
    Index("ix_cart_holds_status_expires_at", "status", "expires_at"),
)


cart_hold_lines = Table(
    "cart_hold_lines", metadata,
    Column("id", SeqId, primary_key=True, autoincrement=True),
    Column("hold_id", String(36), ForeignKey("cart_holds.id"), nullable=False),
    Column("sku", String(64), ForeignKey("products.sku"), nullable=False),
    Column("location_code", String(64), ForeignKey("locations.code"), nullable=False),
    Column("quantity", Integer, nullable=False),
    CheckConstraint("quantity > 0", name="quantity_positive"),
    Index("ix_cart_hold_lines_hold_id", "hold_id"),
)
