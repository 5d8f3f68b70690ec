"""Money: tax rates, channel payment and invoice policy, order tax, payments and their
transactions, invoices and credit notes, gateway payouts.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 17:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def channel_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("prices_include_tax", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("shipping_tax_class", sa.String(32), nullable=False, server_default="standard"),
        sa.Column("payment_gateway", sa.String(32), nullable=True),
        sa.Column("capture_on", sa.String(16), nullable=False, server_default="dispatch"),
        sa.Column("invoice_on", sa.String(16), nullable=False, server_default="dispatch"),
        sa.Column("payment_failure_release_minutes", sa.Integer(), nullable=False, server_default="60"),
    ]


def order_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("tax_total", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("prices_include_tax", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("shipping_tax", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("shipping_tax_rate", sa.String(16), nullable=True),
        sa.Column("shipping_tax_name", sa.String(64), nullable=True),
        sa.Column("hold_reason", sa.String(32), nullable=True),
    ]


def line_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("tax_amount", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("tax_rate", sa.String(16), nullable=True),
        sa.Column("tax_name", sa.String(64), nullable=True),
        sa.Column("dispatched", sa.Integer(), nullable=False, server_default="0"),
            sa.Column("returned", sa.Integer(), nullable=False, server_default="0"),
    ]


def upgrade() -> None:
    for table, columns in (("channels", channel_columns()), ("orders", order_columns()),
                           ("order_lines", line_columns())):
        for column in columns:
            op.add_column(table, column)
    op.create_table(
        "tax_rates",
        sa.Column("id", SEQ, primary_key=True, autoincrement=True),
        sa.Column("tax_class", sa.String(32), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("region", sa.String(8), nullable=False, server_default=""),
        sa.Column("rate", sa.String(16), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tax_rates")),
        sa.UniqueConstraint("tax_class", "country", "region", name="uq_tax_rates_class_place"),
    )
    op.create_table(
        "payments",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("order_seq", SEQ, nullable=False),
        sa.Column("gateway", sa.String(32), nullable=False),
        sa.Column("token", sa.String(200), nullable=False),
        sa.Column("authorization_reference", sa.String(200), nullable=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("card_brand", sa.String(32), nullable=True),
        sa.Column("card_last4", sa.String(4), nullable=True),
        sa.Column("card_exp_month", sa.Integer(), nullable=True),
        sa.Column("card_exp_year", sa.Integer(), nullable=True),
        sa.Column("authorized_until", TS, nullable=True),
        sa.Column("expiry_flagged_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_payments_amount_positive")),
        sa.ForeignKeyConstraint(["order_seq"], ["orders.seq"],
                                name=op.f("fk_payments_order_seq_orders")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
    )
    op.create_index("ix_payments_order_seq", "payments", ["order_seq"])
    op.create_table(
        "payment_transactions",
        sa.Column("id", SEQ, primary_key=True, autoincrement=True),
        sa.Column("payment_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=False),
        sa.Column("reference", sa.String(200), nullable=True),
        sa.Column("final", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("gateway_reference", sa.String(200), nullable=True),
        sa.Column("failure_code", sa.String(64), nullable=True),
        sa.Column("fee", sa.BigInteger(), nullable=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("completed_at", TS, nullable=True),
        sa.CheckConstraint("amount > 0", name=op.f("ck_payment_transactions_amount_positive")),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"],
                                name=op.f("fk_payment_transactions_payment_id_payments")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_transactions")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_payment_transactions_idempotency_key")),
    )
    op.create_index("ix_payment_transactions_payment_id", "payment_transactions", ["payment_id"])
    op.create_index("ix_payment_transactions_gateway_reference", "payment_transactions",
                    ["gateway_reference"])
    op.create_index("ix_payment_transactions_outcome_created_at", "payment_transactions",
                    ["outcome", "created_at"])
    op.create_table(
        "invoices",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("series", sa.String(16), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("order_seq", SEQ, nullable=False),
        sa.Column("corrects_id", sa.String(36), nullable=True),
        sa.Column("reference", sa.String(200), nullable=False),
        sa.Column("reason", sa.String(200), nullable=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("net", sa.BigInteger(), nullable=False),
        sa.Column("tax", sa.BigInteger(), nullable=False),
        sa.Column("gross", sa.BigInteger(), nullable=False),
        sa.Column("prices_include_tax", sa.Boolean(), nullable=False),
        sa.Column("seller", JSON, nullable=False),
        sa.Column("buyer", JSON, nullable=False),
        sa.Column("tax_breakdown", JSON, nullable=False),
        sa.Column("payment_terms", sa.String(200), nullable=False),
        sa.Column("payment_transaction_id", SEQ, nullable=True),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("issued_at", TS, nullable=False),
        sa.CheckConstraint("gross = net + tax", name=op.f("ck_invoices_gross_is_net_plus_tax")),
        sa.ForeignKeyConstraint(["order_seq"], ["orders.seq"],
                                name=op.f("fk_invoices_order_seq_orders")),
        sa.ForeignKeyConstraint(["corrects_id"], ["invoices.id"],
                                name=op.f("fk_invoices_corrects_id_invoices")),
        sa.ForeignKeyConstraint(
            ["payment_transaction_id"], ["payment_transactions.id"],
            name=op.f("fk_invoices_payment_transaction_id_payment_transactions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
        sa.UniqueConstraint("number", name=op.f("uq_invoices_number")),
        sa.UniqueConstraint("series", "year", "seq", name="uq_invoices_series_year_seq"),
        sa.UniqueConstraint("order_seq", "kind", "reference", name="uq_invoices_order_kind_reference"),
    )
    op.create_index("ix_invoices_corrects_id", "invoices", ["corrects_id"])
    op.create_table(
        "invoice_lines",
        sa.Column("id", SEQ, primary_key=True, autoincrement=True),
        sa.Column("invoice_id", sa.String(36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("order_line_id", sa.String(36), nullable=True),
        sa.Column("sku", sa.String(64), nullable=True),
        sa.Column("description", sa.String(300), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price", sa.BigInteger(), nullable=False),
        sa.Column("net", sa.BigInteger(), nullable=False),
        sa.Column("tax", sa.BigInteger(), nullable=False),
        sa.Column("gross", sa.BigInteger(), nullable=False),
        sa.Column("tax_rate", sa.String(16), nullable=False),
        sa.Column("tax_name", sa.String(64), nullable=False),
        sa.CheckConstraint("gross = net + tax", name=op.f("ck_invoice_lines_gross_is_net_plus_tax")),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoices.id"],
                                name=op.f("fk_invoice_lines_invoice_id_invoices")),
        sa.ForeignKeyConstraint(["order_line_id"], ["order_lines.id"],
                                name=op.f("fk_invoice_lines_order_line_id_order_lines")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice_lines")),
        sa.UniqueConstraint("invoice_id", "position", name="uq_invoice_lines_invoice_position"),
    )
    op.create_index("ix_invoice_lines_order_line_id", "invoice_lines", ["order_line_id"])
    op.create_table(
        "payouts",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("gateway", sa.String(32), nullable=False),
        sa.Column("gateway_payout_id", sa.String(200), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("arrival_date", sa.Date(), nullable=False),
        sa.Column("imported_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payouts")),
        sa.UniqueConstraint("gateway", "gateway_payout_id", name="uq_payouts_gateway_payout"),
    )
    op.create_table(
        "payout_items",
        sa.Column("id", SEQ, primary_key=True, autoincrement=True),
        sa.Column("payout_id", sa.String(36), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("gateway_reference", sa.String(200), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("fee", sa.BigInteger(), nullable=False),
        sa.Column("net", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("net = amount - fee", name=op.f("ck_payout_items_net_is_amount_less_fee")),
        sa.ForeignKeyConstraint(["payout_id"], ["payouts.id"],
                                name=op.f("fk_payout_items_payout_id_payouts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payout_items")),
    )
    op.create_index("ix_payout_items_payout_id", "payout_items", ["payout_id"])
    op.create_index("ix_payout_items_gateway_reference", "payout_items", ["gateway_reference"])


def downgrade() -> None:
    for table in ("payout_items", "payouts", "invoice_lines", "invoices", "payment_transactions",
                  "payments", "tax_rates"):
        op.drop_table(table)
    with op.batch_alter_table("order_lines") as batch:
        for column in line_columns():
            batch.drop_column(column.name)
    with op.batch_alter_table("orders") as batch:
        for column in order_columns():
            batch.drop_column(column.name)
    with op.batch_alter_table("channels") as batch:
        for column in channel_columns():
            batch.drop_column(column.name)
