"""Backorders are looked up by the purchase-order line they are promised against, to know how
much of each open line is still free to promise.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 15:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("backorders", schema=None) as batch_op:
        batch_op.create_index("ix_backorders_supply", ["supply_line_id", "status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("backorders", schema=None) as batch_op:
        batch_op.drop_index("ix_backorders_supply")
