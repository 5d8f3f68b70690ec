"""Indexes for the reads at scale: an order list filtered by channel and status, and a
customer's orders, each read newest first from its index without sorting.

`ix_orders_customer_email_seq` replaces `ix_orders_customer_email`: the same lookups, with the
orders of one address already in sequence order (a customer with thousands of orders no longer
has them all read and sorted to show a page). `ix_orders_channel_status_seq` serves a list
filtered by both channel and status, which either single-column index answered by reading
every order of the channel (or of the status) that did not match the other.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-27 02:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_orders_customer_email_seq", "orders", ["customer_email", "seq"])
    op.drop_index("ix_orders_customer_email", table_name="orders")
    op.create_index("ix_orders_channel_status_seq", "orders", ["channel_code", "status", "seq"])


def downgrade() -> None:
    op.drop_index("ix_orders_channel_status_seq", table_name="orders")
    op.create_index("ix_orders_customer_email", "orders", ["customer_email"])
    op.drop_index("ix_orders_customer_email_seq", table_name="orders")
