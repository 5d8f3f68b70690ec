"""Suppliers, purchase orders and what is owed to suppliers."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
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
