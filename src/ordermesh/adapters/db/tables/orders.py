"""Orders, their lines, idempotency keys, the event outbox and orders in jeopardy."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    true,
)

from ordermesh.adapters.db.tables.base import Json, SeqId, Timestamp, metadata

orders = Table(
    "orders", metadata,
    Column("seq", SeqId, primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False, unique=True),
    Column("channel_code", String(64), ForeignKey("channels.code"), nullable=False),
    Column("external_reference", String(200), nullable=True),
    Column("status", String(16), nullable=False),
    Column("held_from", String(16), nullable=True),
    Column("customer_email", String(320), nullable=False),
    Column("customer_name", String(200), nullable=False),
    Column("customer_phone", String(32), nullable=True),
    Column("billing_address", Json, nullable=False),
    Column("shipping_address", Json, nullable=True),
    Column("delivery_instructions", Text, nullable=True),
    Column("packaging", Json, nullable=True),  # gift wrap, gift message, name on the package
    # the customer's public tracking page: /track/{token}, unguessable, not the order number
    Column("tracking_token", String(40), nullable=True),
    Column("payment_token", String(200), nullable=True),
    Column("fulfilment_method", String(16), nullable=False),
    Column("pickup_location_code", String(64), ForeignKey("locations.code"), nullable=True),
    Column("currency", String(3), nullable=False),
    Column("lines_total", BigInteger, nullable=False),
    Column("shipping_total", BigInteger, nullable=False),
    Column("grand_total", BigInteger, nullable=False),
    Column("tax_total", BigInteger, nullable=False, server_default="0"),
    Column("prices_include_tax", Boolean, nullable=False, server_default=true()),
    Column("shipping_tax", BigInteger, nullable=False, server_default="0"),
    Column("shipping_tax_rate", String(16), nullable=True),
    Column("shipping_tax_name", String(64), nullable=True),
    Column("hold_reason", String(500), nullable=True),
    Column("version", Integer, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    UniqueConstraint("channel_code", "external_reference", name="uq_orders_channel_external_ref"),
    Index("ix_orders_tracking_token", "tracking_token", unique=True),
    Index("ix_orders_status_seq", "status", "seq"),
    Index("ix_orders_channel_seq", "channel_code", "seq"),
    Index("ix_orders_channel_status_seq", "channel_code", "status", "seq"),
    Index("ix_orders_customer_email_seq", "customer_email", "seq"),  # a customer's, newest first
    Index("ix_orders_created_at", "created_at"),
)


order_lines = Table(
    "order_lines", metadata,
    Column("id", String(36), primary_key=True),
    Column("order_seq", SeqId, ForeignKey("orders.seq"), nullable=False),
    Column("line_no", Integer, nullable=False),
    Column("sku", String(64), ForeignKey("products.sku"), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_price", BigInteger, nullable=False),
    Column("line_total", BigInteger, nullable=False),
    Column("tax_amount", BigInteger, nullable=False, server_default="0"),
    Column("tax_rate", String(16), nullable=True),
    Column("tax_name", String(64), nullable=True),
    Column("dispatched", Integer, nullable=False, server_default="0"),
    Column("returned", Integer, nullable=False, server_default="0"),
    Column("cancelled", Integer, nullable=False, server_default="0"),  # units that will not go
    Column("status", String(16), nullable=False),
    UniqueConstraint("order_seq", "line_no", name="uq_order_lines_order_line_no"),
    CheckConstraint("quantity > 0", name="quantity_positive"),
    Index("ix_order_lines_sku", "sku", "order_seq"),  # orders of a SKU (the console's search)
)


events = Table(
    "events", metadata,
    Column("seq", SeqId, primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False, unique=True),
    Column("stream", String(32), nullable=False),
    Column("stream_id", String(64), nullable=False),
    Column("type", String(64), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("data", Json, nullable=False),
    Column("occurred_at", Timestamp, nullable=False),
    Column("published_at", Timestamp, nullable=True),  # relayed to webhooks
    Column("streamed_at", Timestamp, nullable=True),  # published to the event stream
    Index("ix_events_stream", "stream", "stream_id", "seq"),
    Index("ix_events_unpublished", "published_at", "seq"),
    Index("ix_events_unstreamed", "streamed_at", "seq"),
)


idempotency_keys = Table(
    "idempotency_keys", metadata,
    Column("scope", String(64), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("order_id", String(36), nullable=True),
    Column("created_at", Timestamp, nullable=False),
)


# An order about to miss (or past) a stage's SLA, flagged once by the worker; cleared when the
# order leaves the stage.
order_jeopardies = Table(
    "order_jeopardies", metadata,
    Column("id", SeqId, primary_key=True, autoincrement=True),
    Column("order_id", String(36), ForeignKey("orders.id"), nullable=False),
    Column("stage", String(32), nullable=False),
    Column("reason", String(64), nullable=False),
    Column("due_at", Timestamp, nullable=False),
    Column("flagged_at", Timestamp, nullable=False),
    Column("cleared_at", Timestamp, nullable=True),
    UniqueConstraint("order_id", "stage", name="uq_order_jeopardies_order_stage"),
    Index("ix_order_jeopardies_open", "cleared_at", "flagged_at"),
)
