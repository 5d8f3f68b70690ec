"""Money in: payments and their gateway calls, invoices and credit notes, payouts."""

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
    false,
)

from ordermesh.adapters.db.tables.base import Json, SeqId, Timestamp, metadata

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
