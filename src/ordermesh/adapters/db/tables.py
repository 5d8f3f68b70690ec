"""Tables. One schema for SQLite and PostgreSQL; the Alembic history must match it (a test checks)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.dialects import postgresql

from ordermesh.adapters.db.types import UtcDateTime

metadata = MetaData(naming_convention={
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
SeqId = BigInteger().with_variant(Integer(), "sqlite")
Json = JSON().with_variant(postgresql.JSONB(), "postgresql")
Timestamp = UtcDateTime()

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

suppliers = Table(
    "suppliers", metadata,
    Column("code", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("email", String(320), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("lead_time_days", Integer, nullable=False),
    Column("payment_terms_days", Integer, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
)

purchase_orders = Table(
    "purchase_orders", metadata,
    Column("seq", SeqId, primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False, unique=True),
    Column("supplier_code", String(64), ForeignKey("suppliers.code"), nullable=False),
    Column("deliver_to", String(64), ForeignKey("locations.code"), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(24), nullable=False),
    Column("expected_on", Date, nullable=True),
    Column("sent_at", Timestamp, nullable=True),
    Column("version", Integer, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Index("ix_purchase_orders_status_seq", "status", "seq"),
)

purchase_order_lines = Table(
    "purchase_order_lines", metadata,
    Column("id", SeqId, primary_key=True, autoincrement=True),
    Column("po_seq", SeqId, ForeignKey("purchase_orders.seq"), nullable=False),
    Column("line_no", Integer, nullable=False),
    Column("sku", String(64), ForeignKey("products.sku"), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_cost", BigInteger, nullable=False),
    Column("received", Integer, nullable=False),
    UniqueConstraint("po_seq", "line_no", name="uq_purchase_order_lines_po_line_no"),
    CheckConstraint("quantity > 0", name="quantity_positive"),
    CheckConstraint("received >= 0", name="received_not_negative"),
    Index("ix_purchase_order_lines_sku", "sku"),
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

# The last number issued per series and year (invoices, credit notes). Taken with an upsert that
# locks the row until the transaction ends, so numbers are unique and, because a rollback
# undoes the increment too, gapless.
document_counters = Table(
    "document_counters", metadata,
    Column("series", String(16), primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("last", BigInteger, nullable=False),
    CheckConstraint("last >= 1", name="last_positive"),
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

# One authorization of an order's amount at a gateway. Only the gateway's token and what may be
# shown of the card are kept: brand, last four digits, expiry. Never the card number.
payments = Table(
    "payments", metadata,
    Column("id", String(36), primary_key=True),
    Column("order_seq", SeqId, ForeignKey("orders.seq"), nullable=False),
    Column("gateway", String(32), nullable=False),
    Column("token", String(200), nullable=False),
    Column("authorization_reference", String(200), nullable=True),
    Column("currency", String(3), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("card_brand", String(32), nullable=True),
    Column("card_last4", String(4), nullable=True),
    Column("card_exp_month", Integer, nullable=True),
    Column("card_exp_year", Integer, nullable=True),
    Column("authorized_until", Timestamp, nullable=True),
    Column("expiry_flagged_at", Timestamp, nullable=True),
    Column("created_at", Timestamp, nullable=False),
    CheckConstraint("amount > 0", name="amount_positive"),
    Index("ix_payments_order_seq", "order_seq"),
)

# Every call to a gateway: written as pending before the call, completed with its answer after.
# The idempotency key is sent with the call, so a retry after a crash never moves money twice.
payment_transactions = Table(
    "payment_transactions", metadata,
    Column("id", SeqId, primary_key=True, autoincrement=True),
    Column("payment_id", String(36), ForeignKey("payments.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("idempotency_key", String(200), nullable=False, unique=True),
    Column("reference", String(200), nullable=True),
    Column("final", Boolean, nullable=False, server_default=false()),  # a capture that closes
    Column("gateway_reference", String(200), nullable=True),
    Column("failure_code", String(64), nullable=True),
    Column("fee", BigInteger, nullable=True),
    Column("actor", String(200), nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("completed_at", Timestamp, nullable=True),
    CheckConstraint("amount > 0", name="amount_positive"),
    Index("ix_payment_transactions_payment_id", "payment_id"),
    Index("ix_payment_transactions_gateway_reference", "gateway_reference"),
    Index("ix_payment_transactions_outcome_created_at", "outcome", "created_at"),
)

# Invoices and credit notes. Written once and never updated: a correction is a credit note that
# refers to the invoice. (order, kind, reference) is unique, so one shipment is invoiced once.
invoices = Table(
    "invoices", metadata,
    Column("id", String(36), primary_key=True),
    Column("number", String(32), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("series", String(16), nullable=False),
    Column("year", Integer, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("order_seq", SeqId, ForeignKey("orders.seq"), nullable=False),
    Column("corrects_id", String(36), ForeignKey("invoices.id"), nullable=True),
    Column("reference", String(200), nullable=False),
    Column("reason", String(200), nullable=True),
    Column("currency", String(3), nullable=False),
    Column("net", BigInteger, nullable=False),
    Column("tax", BigInteger, nullable=False),
    Column("gross", BigInteger, nullable=False),
    Column("prices_include_tax", Boolean, nullable=False),
    Column("seller", Json, nullable=False),
    Column("buyer", Json, nullable=False),
    Column("tax_breakdown", Json, nullable=False),
    Column("payment_terms", String(200), nullable=False),
    Column("payment_transaction_id", SeqId, ForeignKey("payment_transactions.id"), nullable=True),
    Column("issued_on", Date, nullable=False),
    Column("issued_at", Timestamp, nullable=False),
    UniqueConstraint("series", "year", "seq", name="uq_invoices_series_year_seq"),
    UniqueConstraint("order_seq", "kind", "reference", name="uq_invoices_order_kind_reference"),
    CheckConstraint("gross = net + tax", name="gross_is_net_plus_tax"),
    Index("ix_invoices_corrects_id", "corrects_id"),
)

invoice_lines = Table(
    "invoice_lines", metadata,
    Column("id", SeqId, primary_key=True, autoincrement=True),
    Column("invoice_id", String(36), ForeignKey("invoices.id"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("order_line_id", String(36), ForeignKey("order_lines.id"), nullable=True),
    Column("sku", String(64), nullable=True),
    Column("description", String(300), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_price", BigInteger, nullable=False),
    Column("net", BigInteger, nullable=False),
    Column("tax", BigInteger, nullable=False),
    Column("gross", BigInteger, nullable=False),
    Column("tax_rate", String(16), nullable=False),
    Column("tax_name", String(64), nullable=False),
    UniqueConstraint("invoice_id", "position", name="uq_invoice_lines_invoice_position"),
    CheckConstraint("gross = net + tax", name="gross_is_net_plus_tax"),
    Index("ix_invoice_lines_order_line_id", "order_line_id"),
)

# Payouts the gateways made to the retailer's settlement account, as imported, and what each
# consisted of. Reconciliation matches the items to our own transactions.
payouts = Table(
    "payouts", metadata,
    Column("id", String(36), primary_key=True),
    Column("gateway", String(32), nullable=False),
    Column("gateway_payout_id", String(200), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("arrival_date", Date, nullable=False),
    Column("imported_at", Timestamp, nullable=False),
    UniqueConstraint("gateway", "gateway_payout_id", name="uq_payouts_gateway_payout"),
)

payout_items = Table(
    "payout_items", metadata,
    Column("id", SeqId, primary_key=True, autoincrement=True),
    Column("payout_id", String(36), ForeignKey("payouts.id"), nullable=False),
    Column("type", String(16), nullable=False),
    Column("gateway_reference", String(200), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("fee", BigInteger, nullable=False),
    Column("net", BigInteger, nullable=False),
    CheckConstraint("net = amount - fee", name="net_is_amount_less_fee"),
    Index("ix_payout_items_payout_id", "payout_id"),
    Index("ix_payout_items_gateway_reference", "gateway_reference"),
)

# Supplier payables: the supplier's bill for a purchase order, its lines (each a PO line), the
# three-way match's findings as they were when the bill arrived, and the payments made.
supplier_bills = Table(
    "supplier_bills", metadata,
    Column("seq", SeqId, primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False, unique=True),
    Column("supplier_code", String(64), ForeignKey("suppliers.code"), nullable=False),
    Column("number", String(64), nullable=False),  # the supplier's own bill number
    Column("po_seq", SeqId, ForeignKey("purchase_orders.seq"), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("bill_date", Date, nullable=False),
    Column("due_on", Date, nullable=False),
    Column("status", String(24), nullable=False),
    Column("findings", Json, nullable=False),
    Column("review_reason", String(500), nullable=True),
    Column("version", Integer, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    UniqueConstraint("supplier_code", "number", name="uq_supplier_bills_supplier_number"),
    CheckConstraint("status IN ('matched', 'held', 'approved', 'partially_paid', 'paid', 'rejected')",
                    name="status"),
    CheckConstraint("due_on >= bill_date", name="due_not_before_bill_date"),
    Index("ix_supplier_bills_status_seq", "status", "seq"),
    Index("ix_supplier_bills_po_seq", "po_seq"),
)

supplier_bill_lines = Table(
    "supplier_bill_lines", metadata,
    Column("id", SeqId, primary_key=True, autoincrement=True),
    Column("bill_seq", SeqId, ForeignKey("supplier_bills.seq"), nullable=False),
    Column("po_line_id", SeqId, ForeignKey("purchase_order_lines.id"), nullable=False),
    Column("line_no", Integer, nullable=False),  # the purchase order line's number
    Column("sku", String(64), ForeignKey("products.sku"), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_cost", BigInteger, nullable=False),
    UniqueConstraint("bill_seq", "line_no", name="uq_supplier_bill_lines_bill_line_no"),
    CheckConstraint("quantity > 0", name="quantity_positive"),
    CheckConstraint("unit_cost >= 0", name="unit_cost_not_negative"),
    Index("ix_supplier_bill_lines_po_line_id", "po_line_id"),
)

supplier_payments = Table(
    "supplier_payments", metadata,
    Column("id", SeqId, primary_key=True, autoincrement=True),
    Column("bill_seq", SeqId, ForeignKey("supplier_bills.seq"), nullable=False),
    Column("amount", BigInteger, nullable=False),  # minor units of the bill's currency
    Column("paid_on", Date, nullable=False),
    Column("reference", String(200), nullable=False),
    Column("created_at", Timestamp, nullable=False),
    UniqueConstraint("bill_seq", "reference", name="uq_supplier_payments_bill_reference"),
    CheckConstraint("amount > 0", name="amount_positive"),
)

# What one location sends (or hands over at its counter) for an order; see domain/fulfilments.
fulfilments = Table(
    "fulfilments", metadata,
    Column("id", String(36), primary_key=True),
    Column("order_seq", SeqId, ForeignKey("orders.seq"), nullable=False),
    Column("location_code", String(64), ForeignKey("locations.code"), nullable=False),
    Column("method", String(8), nullable=False),
    Column("status", String(24), nullable=False),
    Column("tracked_at", Timestamp, nullable=True),
    Column("version", Integer, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Column("wave_id", String(36), nullable=True),  # the wave that released it
    Column("pickup_code", String(12), nullable=True),  # asked at the counter
    Column("ready_at", Timestamp, nullable=True),  # at the counter since
    Column("accepted_at", Timestamp, nullable=True),  # a store took it on
    Column("lease_owner", String(100), nullable=True),  # the WMS worker working on it
    Column("lease_until", Timestamp, nullable=True),
    Index("ix_fulfilments_location_status", "location_code", "status"),
    Index("ix_fulfilments_order_seq", "order_seq"),
)

fulfilment_lines = Table(
    "fulfilment_lines", metadata,
    Column("id", SeqId, primary_key=True, autoincrement=True),
    Column("fulfilment_id", String(36), ForeignKey("fulfilments.id"), nullable=False),
    Column("order_line_id", String(36), ForeignKey("order_lines.id"), nullable=False),
    Column("sku", String(64), nullable=False),
    Column("quantity", Integer, nullable=False),
    CheckConstraint("quantity > 0", name="quantity_positive"),
    Index("ix_fulfilment_lines_fulfilment_id", "fulfilment_id"),
)

# The boxes a location packs into (domain/packing.PackageType).
package_types = Table(
    "package_types", metadata,
    Column("code", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("length_mm", Integer, nullable=False),
    Column("width_mm", Integer, nullable=False),
    Column("height_mm", Integer, nullable=False),
    Column("max_weight_grams", Integer, nullable=False),
    Column("tare_grams", Integer, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
)

# The packages of a packed fulfilment, each with its tracking number once booked.
packages = Table(
    "packages", metadata,
    Column("id", SeqId, primary_key=True, autoincrement=True),
    Column("fulfilment_id", String(36), ForeignKey("fulfilments.id"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("package_type", String(64), nullable=True),
    Column("weight_grams", Integer, nullable=False),
    Column("length_mm", Integer, nullable=True),
    Column("width_mm", Integer, nullable=True),
    Column("height_mm", Integer, nullable=True),
    Column("items", Json, nullable=False),  # [{"sku", "quantity"}]
    Column("tracking_number", String(64), nullable=True),
    Column("label", LargeBinary, nullable=True),  # the carrier's own label, when it makes one
    Column("tracking_status", String(24), nullable=True),  # the parcel's last event applied
    Column("tracked_at", Timestamp, nullable=True),  # the carrier's time of that event
    UniqueConstraint("fulfilment_id", "number", name="uq_packages_fulfilment_number"),
    Index("ix_packages_tracking_number", "tracking_number"),
)

# A fulfilment's booking with a carrier, with the quote chosen and why.
shipments = Table(
    "shipments", metadata,
    Column("id", String(36), primary_key=True),
    Column("fulfilment_id", String(36), ForeignKey("fulfilments.id"), nullable=False),
    Column("carrier", String(32), nullable=False),  # the adapter (courier, easypost, manual)
    Column("carrier_name", String(100), nullable=False),  # who carries it, as printed
    Column("service", String(64), nullable=False),
    Column("carrier_shipment_id", String(100), nullable=True),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("delivers_on", Date, nullable=True),
    Column("tracking_url", String(500), nullable=True),
    Column("choice", Json, nullable=False),  # the quotes, the one chosen, the reason
    Column("status", String(16), nullable=False),  # booked | cancelled
    Column("created_at", Timestamp, nullable=False),
    UniqueConstraint("fulfilment_id", name="uq_shipments_fulfilment_id"),
)

# Every carrier tracking event received, once per carrier event id, applied or not.
tracking_events = Table(
    "tracking_events", metadata,
    Column("id", SeqId, primary_key=True, autoincrement=True),
    Column("carrier", String(32), nullable=False),
    Column("event_id", String(200), nullable=False),
    Column("tracking_number", String(64), nullable=False),
    Column("fulfilment_id", String(36), nullable=True),
    Column("event", String(24), nullable=False),
    Column("at", Timestamp, nullable=False),
    Column("detail", Text, nullable=False),
    Column("applied", Boolean, nullable=False),
    Column("received_at", Timestamp, nullable=False),
    UniqueConstraint("carrier", "event_id", name="uq_tracking_events_carrier_event"),
    Index("ix_tracking_events_fulfilment_id", "fulfilment_id"),
)

# Webhook subscriptions (admin API), one delivery per subscription and event, every attempt.
webhook_subscriptions = Table(
    "webhook_subscriptions", metadata,
    Column("id", String(36), primary_key=True),
    Column("url", String(2000), nullable=False),
    Column("secret", String(100), nullable=False),  # whsec_..., shown once
    Column("event_types", Json, nullable=False),  # ["order.placed", "fulfilment.*"] or ["*"]
    Column("description", String(200), nullable=True),
    Column("active", Boolean, nullable=False),
    Column("failures", Integer, nullable=False),  # deliveries given up on in a row
    Column("disabled_reason", String(200), nullable=True),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
)

webhook_deliveries = Table(
    "webhook_deliveries", metadata,
    Column("id", SeqId, primary_key=True, autoincrement=True),
    Column("subscription_id", String(36), ForeignKey("webhook_subscriptions.id"),
           nullable=False),
    Column("event_id", String(36), nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("status", String(16), nullable=False),  # pending | delivered | failed
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", Timestamp, nullable=True),  # due, or the lease of a sender
    Column("last_status_code", Integer, nullable=True),
    Column("last_error", String(500), nullable=True),
    Column("created_at", Timestamp, nullable=False),
    Column("delivered_at", Timestamp, nullable=True),
    UniqueConstraint("subscription_id", "event_id",
                     name="uq_webhook_deliveries_subscription_event"),
    Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
)

webhook_attempts = Table(
    "webhook_attempts", metadata,
    Column("id", SeqId, primary_key=True, autoincrement=True),
    Column("delivery_id", SeqId, ForeignKey("webhook_deliveries.id"), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("at", Timestamp, nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("latency_ms", Integer, nullable=False),
    Column("error", String(500), nullable=True),
    Index("ix_webhook_attempts_delivery_id", "delivery_id"),
)

# What the customer was told, once per event and kind: the notification log of an order.
notifications = Table(
    "notifications", metadata,
    Column("id", SeqId, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False),
    Column("order_seq", SeqId, ForeignKey("orders.seq"), nullable=False),
    Column("kind", String(32), nullable=False),  # domain.notifications kinds
    Column("medium", String(8), nullable=False),  # email
    Column("recipient", String(320), nullable=False),
    Column("status", String(16), nullable=False),  # pending | sent | failed
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", Timestamp, nullable=True),  # due, or a sender's lease
    Column("message_id", String(300), nullable=True),
    Column("last_error", String(500), nullable=True),
    Column("created_at", Timestamp, nullable=False),
    Column("sent_at", Timestamp, nullable=True),
    UniqueConstraint("event_id", "kind", "medium", name="uq_notifications_event_kind"),
    Index("ix_notifications_due", "status", "next_attempt_at"),
    Index("ix_notifications_order_seq", "order_seq"),
)

# The operator console: who may sign in, with which role (store staff bound to a location).
users = Table(
    "users", metadata,
    Column("id", String(36), primary_key=True),
    Column("email", String(320), nullable=False, unique=True),  # stored lower-case
    Column("name", String(200), nullable=False),
    Column("password_hash", String(200), nullable=False),  # argon2id
    Column("role", String(16), nullable=False),
    Column("location_code", String(64), ForeignKey("locations.code"), nullable=True),
    Column("active", Boolean, nullable=False, server_default=true()),
    Column("created_at", Timestamp, nullable=False),
    Column("last_sign_in_at", Timestamp, nullable=True),
    CheckConstraint("role IN ('admin', 'operator', 'call_centre', 'store_staff')", name="role"),
    CheckConstraint("(role = 'store_staff') = (location_code IS NOT NULL)", name="location_bound"),
)

# A signed-in browser: the cookie holds a random token, the table only its SHA-256.
user_sessions = Table(
    "user_sessions", metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id"), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("expires_at", Timestamp, nullable=False),
    Index("ix_user_sessions_user_id", "user_id"),
)

# Who did what in the console: every command a user issued, signing in and out.
audit_log = Table(
    "audit_log", metadata,
    Column("id", SeqId, primary_key=True, autoincrement=True),
    Column("at", Timestamp, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(200), nullable=True),
    Column("detail", Json, nullable=False),
    Index("ix_audit_log_at", "at"),
    Index("ix_audit_log_actor", "actor", "id"),
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
