"""Channels, keys, products, locations, tax rates and stage SLAs: what the retailer sets up."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    Float,
    ForeignKey,
    Integer,
    String,
    Table,
    UniqueConstraint,
    false,
    true,
)

from ordermesh.adapters.db.tables.base import Json, SeqId, Timestamp, metadata

channels = Table(
    "channels", metadata,
    Column("code", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    # Sourcing settings: the rules in order, the locations it may use (None: all), units held
    # back from it on top of each location's safety stock, and what it allows when short.
    Column("sourcing_rules", Json, nullable=False,
           default=lambda: ["fewest_shipments", "nearest", "priority"]),
    Column("visible_locations", Json, nullable=True),
    Column("safety_buffer", Integer, nullable=False, default=0),
    Column("allow_split", Boolean, nullable=False, default=True),
    Column("allow_backorder", Boolean, nullable=False, default=True),
    Column("cart_hold_minutes", Integer, nullable=True),
    # Money: how the channel prices (tax in or on top), which gateway takes its payments, when
    # the money is captured and the invoice issued, and how long a failed payment keeps stock.
    Column("prices_include_tax", Boolean, nullable=False, server_default=true()),
    Column("shipping_tax_class", String(32), nullable=False, server_default="standard"),
    Column("payment_gateway", String(32), nullable=True),  # none: paid outside Ordermesh
    Column("capture_on", String(16), nullable=False, server_default="dispatch"),
    Column("invoice_on", String(16), nullable=False, server_default="dispatch"),
    Column("payment_failure_release_minutes", Integer, nullable=False, server_default="60"),
    # Shipping: which quote a shipment is booked with, and how long a pickup waits at the counter.
    Column("shipping_preference", String(16), nullable=False, server_default="cheapest"),
    Column("pickup_hold_days", Integer, nullable=False, server_default="7"),
    # Customer mail: the channel's name, colour, sender and language (none: the retailer's).
    Column("brand_name", String(200), nullable=True),
    Column("brand_colour", String(7), nullable=True),
    Column("mail_from", String(320), nullable=True),
    Column("locale", String(16), nullable=True),
)


api_keys = Table(
    "api_keys", metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("prefix", String(16), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("channel_code", String(64), ForeignKey("channels.code"), nullable=True),
    Column("created_at", Timestamp, nullable=False),
    Column("revoked_at", Timestamp, nullable=True),
    CheckConstraint("role IN ('channel', 'operator', 'admin')", name="role"),
    CheckConstraint("(role = 'channel') = (channel_code IS NOT NULL)", name="channel_bound"),
)


products = Table(
    "products", metadata,
    Column("sku", String(64), primary_key=True),
    Column("name", String(300), nullable=False),
    Column("category", String(100), nullable=True),
    Column("gtin", String(14), nullable=True, unique=True),
    Column("price_amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("tax_class", String(32), nullable=False),
    Column("weight_grams", Integer, nullable=True),
    Column("length_mm", Integer, nullable=True),
    Column("width_mm", Integer, nullable=True),
    Column("height_mm", Integer, nullable=True),
    Column("fragile", Boolean, nullable=False, server_default=false()),
    Column("preorder", Boolean, nullable=False),
    Column("release_date", Date, nullable=True),
    Column("backorderable", Boolean, nullable=False),
    Column("low_stock_threshold", Integer, nullable=False, default=0),
    Column("supplier_code", String(64), ForeignKey("suppliers.code"), nullable=True),
    Column("active", Boolean, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    CheckConstraint("price_amount >= 0", name="price_not_negative"),
)


locations = Table(
    "locations", metadata,
    Column("code", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("address", Json, nullable=False),
    Column("latitude", Float, nullable=False),
    Column("longitude", Float, nullable=False),
    Column("can_ship", Boolean, nullable=False),
    Column("can_pickup", Boolean, nullable=False),
    Column("priority", Integer, nullable=False),
    Column("daily_order_capacity", Integer, nullable=True),
    Column("transfer_days", Integer, nullable=False, default=1),
    Column("shipping_rates", Json, nullable=False, default=lambda: []),
    Column("active", Boolean, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    CheckConstraint("kind IN ('warehouse', 'store', 'supplier')", name="kind"),
)


# Tax rates by class and destination, as data. A national rate has region "" (an empty string,
# not NULL, so the unique constraint holds on PostgreSQL too); rate is decimal text ("0.21").
tax_rates = Table(
    "tax_rates", metadata,
    Column("id", SeqId, primary_key=True, autoincrement=True),
    Column("tax_class", String(32), nullable=False),
    Column("country", String(2), nullable=False),
    Column("region", String(8), nullable=False, server_default=""),
    Column("rate", String(16), nullable=False),
    Column("name", String(64), nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    UniqueConstraint("tax_class", "country", "region", name="uq_tax_rates_class_place"),
)


# How long an order may spend in a stage, per channel ('*': every channel without its own).
stage_slas = Table(
    "stage_slas", metadata,
    Column("channel", String(64), primary_key=True),
    Column("stage", String(32), primary_key=True),
    Column("minutes", Integer, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    CheckConstraint("minutes > 0", name="minutes_positive"),
)
