"""Supplier payables: supplier bills matched against purchase orders, their lines, and payments.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 18:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)
STATUSES = "'matched', 'held', 'approved', 'partially_paid', 'paid', 'rejected'"


def upgrade() -> None:
    op.create_table(
        "supplier_bills",
        sa.Column("seq", SEQ, autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("supplier_code", sa.String(length=64), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("po_seq", SEQ, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("bill_date", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("findings", JSON, nullable=False),
        sa.Column("review_reason", sa.String(length=500), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.CheckConstraint(f"status IN ({STATUSES})", name=op.f("ck_supplier_bills_status")),
        sa.CheckConstraint("due_on >= bill_date",
                           name=op.f("ck_supplier_bills_due_not_before_bill_date")),
        sa.ForeignKeyConstraint(["po_seq"], ["purchase_orders.seq"],
                                name=op.f("fk_supplier_bills_po_seq_purchase_orders")),
        sa.ForeignKeyConstraint(["supplier_code"], ["suppliers.code"],
                                name=op.f("fk_supplier_bills_supplier_code_suppliers")),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_supplier_bills")),
        sa.UniqueConstraint("id", name=op.f("uq_supplier_bills_id")),
        sa.UniqueConstraint("supplier_code", "number", name="uq_supplier_bills_supplier_number"),
    )
    op.create_index("ix_supplier_bills_status_seq", "supplier_bills", ["status", "seq"])
    op.create_index("ix_supplier_bills_po_seq", "supplier_bills", ["po_seq"])

    op.create_table(
        "supplier_bill_lines",
        sa.Column("id", SEQ, autoincrement=True, nullable=False),
        sa.Column("bill_seq", SEQ, nullable=False),
        sa.Column("po_line_id", SEQ, nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_cost", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_supplier_bill_lines_quantity_positive")),
        sa.CheckConstraint("unit_cost >= 0",
                           name=op.f("ck_supplier_bill_lines_unit_cost_not_negative")),
        sa.ForeignKeyConstraint(["bill_seq"], ["supplier_bills.seq"],
                                name=op.f("fk_supplier_bill_lines_bill_seq_supplier_bills")),
        sa.ForeignKeyConstraint(["po_line_id"], ["purchase_order_lines.id"],
                                name=op.f("fk_supplier_bill_lines_po_line_id_purchase_order_lines")),
        sa.ForeignKeyConstraint(["sku"], ["products.sku"],
                                name=op.f("fk_supplier_bill_lines_sku_products")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supplier_bill_lines")),
        sa.UniqueConstraint("bill_seq", "line_no", name="uq_supplier_bill_lines_bill_line_no"),
    )
    op.create_index("ix_supplier_bill_lines_po_line_id", "supplier_bill_lines", ["po_line_id"])

    op.create_table(
        "supplier_payments",
        sa.Column("id", SEQ, autoincrement=True, nullable=False),
        sa.Column("bill_seq", SEQ, nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_supplier_payments_amount_positive")),
        sa.ForeignKeyConstraint(["bill_seq"], ["supplier_bills.seq"],
                                name=op.f("fk_supplier_payments_bill_seq_supplier_bills")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supplier_payments")),
        sa.UniqueConstraint("bill_seq", "reference", name="uq_supplier_payments_bill_reference"),
    )


def downgrade() -> None:
    op.drop_table("supplier_payments")
    op.drop_index("ix_supplier_bill_lines_po_line_id", table_name="supplier_bill_lines")
    op.drop_table("supplier_bill_lines")
    op.drop_index("ix_supplier_bills_po_seq", table_name="supplier_bills")
    op.drop_index("ix_supplier_bills_status_seq", table_name="supplier_bills")
    op.drop_table("supplier_bills")
