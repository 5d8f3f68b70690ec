"""Tables. One schema for SQLite and PostgreSQL; the Alembic history must match it (a test
checks). Defined by area in the modules of this package; every table is named here."""

from __future__ import annotations

from ordermesh.adapters.db.tables.base import Json, SeqId, Timestamp, metadata
from ordermesh.adapters.db.tables.catalogue import (
    api_keys,
    channels,
    locations,
    products,
    stage_slas,
    tax_rates,
)
from ordermesh.adapters.db.tables.fulfilment import (
    fulfilment_lines,
    fulfilments,
    package_types,
    packages,
    shipments,
    tracking_events,
)
from ordermesh.adapters.db.tables.money import (
    document_counters,
    invoice_lines,
    invoices,
    payment_transactions,
    payments,
    payout_items,
    payouts,
)
from ordermesh.adapters.db.tables.orders import (
    events,
    idempotency_keys,
    order_jeopardies,
    order_lines,
    orders,
)
from ordermesh.adapters.db.tables.outreach import (
    audit_log,
    notifications,
    user_sessions,
    users,
    webhook_attempts,
    webhook_deliveries,
    webhook_subscriptions,
)
from ordermesh.adapters.db.tables.purchasing import (
    purchase_order_lines,
    purchase_orders,
    supplier_bill_lines,
    supplier_bills,
    supplier_payments,
    suppliers,
)
from ordermesh.adapters.db.tables.stock import (
    allocations,
    backorders,
    cart_hold_lines,
    cart_holds,
    location_loads,
    stock_levels,
    stock_movements,
    stock_sync_refs,
)

__all__ = [
    "Json",
    "SeqId",
    "Timestamp",
    "allocations",
    "api_keys",
    "audit_log",
    "backorders",
    "cart_hold_lines",
    "cart_holds",
    "channels",
    "document_counters",
    "events",
    "fulfilment_lines",
    "fulfilments",
    "idempotency_keys",
    "invoice_lines",
    "invoices",
    "location_loads",
    "locations",
    "metadata",
    "notifications",
    "order_jeopardies",
    "order_lines",
    "orders",
    "package_types",
    "packages",
    "payment_transactions",
    "payments",
    "payout_items",
    "payouts",
    "products",
    "purchase_order_lines",
    "purchase_orders",
    "shipments",
    "stage_slas",
    "stock_levels",
    "stock_movements",
    "stock_sync_refs",
    "supplier_bill_lines",
    "supplier_bills",
    "supplier_payments",
    "suppliers",
    "tax_rates",
    "tracking_events",
    "user_sessions",
    "users",
    "webhook_attempts",
    "webhook_deliveries",
    "webhook_subscriptions",
]
