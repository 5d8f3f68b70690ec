"""Cart holds: stock a channel reserves for a cart until the order is placed or the hold ends.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 14:59:50.941675
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SeqId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "cart_holds",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("channel_code", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("order_id", sa.String(length=36), nullable=True),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("request_hash", sa.String(length=64), nullable=True),
        sa.CheckConstraint("(status = 'converted') = (order_id IS NOT NULL)",
                           name=op.f("ck_cart_holds_order_when_converted")),
        sa.CheckConstraint("status IN ('active', 'converted', 'released', 'expired')",
                           name=op.f("ck_cart_holds_status")),
        sa.ForeignKeyConstraint(["channel_code"], ["channels.code"],
                                name=op.f("fk_cart_holds_channel_code_channels")),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name=op.f("fk_cart_holds_order_id_orders")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cart_holds")),
        sa.UniqueConstraint("channel_code", "idempotency_key", name="uq_cart_holds_channel_key"),
    )
    with op.batch_alter_table("cart_holds", schema=None) as batch_op:
        # the worker's scan: active holds by expiry
        batch_op.create_index("ix_cart_holds_status_expires_at", ["status", "expires_at"], unique=False)

    op.create_table(
        "cart_hold_lines",
        sa.Column("id", SeqId, autoincrement=True, nullable=False),
        sa.Column("hold_id", sa.String(length=36), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("location_code", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_cart_hold_lines_quantity_positive")),
        sa.ForeignKeyConstraint(["hold_id"], ["cart_holds.id"],
                                name=op.f("fk_cart_hold_lines_hold_id_cart_holds")),
        sa.ForeignKeyConstraint(["location_code"], ["locations.code"],
                                name=op.f("fk_cart_hold_lines_location_code_locations")),
        sa.ForeignKeyConstraint(["sku"], ["products.sku"], name=op.f("fk_cart_hold_lines_sku_products")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cart_hold_lines")),
    )
    with op.batch_alter_table("cart_hold_lines", schema=None) as batch_op:
        batch_op.create_index("ix_cart_hold_lines_hold_id", ["hold_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("cart_hold_lines", schema=None) as batch_op:
        batch_op.drop_index("ix_cart_hold_lines_hold_id")
    op.drop_table("cart_hold_lines")
    with op.batch_alter_table("cart_holds", schema=None) as batch_op:
        batch_op.drop_index("ix_cart_holds_status_expires_at")
    op.drop_table("cart_holds")
