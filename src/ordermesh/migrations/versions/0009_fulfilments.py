"""Fulfilments: what one location sends for an order, its lines, and the allocations it takes.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 19:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "fulfilments",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("order_seq", SEQ, nullable=False),
        sa.Column("location_code", sa.String(64), nullable=False),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("tracked_at", TS, nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["order_seq"], ["orders.seq"],
                                name=op.f("fk_fulfilments_order_seq_orders")),
        sa.ForeignKeyConstraint(["location_code"], ["locations.code"],
                                name=op.f("fk_fulfilments_location_code_locations")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fulfilments")),
    )
    op.create_index("ix_fulfilments_location_status", "fulfilments", ["location_code", "status"])
    op.create_index("ix_fulfilments_order_seq", "fulfilments", ["order_seq"])
    op.create_table(
        "fulfilment_lines",
        sa.Column("id", SEQ, primary_key=True, autoincrement=True),
        sa.Column("fulfilment_id", sa.String(36), nullable=False),
        sa.Column("order_line_id", sa.String(36), nullable=False),
        sa.Column("sku", sa.String(64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_fulfilment_lines_quantity_positive")),
        sa.ForeignKeyConstraint(["fulfilment_id"], ["fulfilments.id"],
                                name=op.f("fk_fulfilment_lines_fulfilment_id_fulfilments")),
        sa.ForeignKeyConstraint(["order_line_id"], ["order_lines.id"],
                                name=op.f("fk_fulfilment_lines_order_line_id_order_lines")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fulfilment_lines")),
    )
    op.create_index("ix_fulfilment_lines_fulfilment_id", "fulfilment_lines", ["fulfilment_id"])
    op.add_column("allocations", sa.Column("fulfilment_id", sa.String(36), nullable=True))
    op.create_index("ix_allocations_fulfilment_id", "allocations", ["fulfilment_id"])


def downgrade() -> None:
    op.drop_index("ix_allocations_fulfilment_id", table_name="allocations")
    with op.batch_alter_table("allocations") as batch:
        batch.drop_column("fulfilment_id")
    op.drop_table("fulfilment_lines")
    op.drop_table("fulfilments")
