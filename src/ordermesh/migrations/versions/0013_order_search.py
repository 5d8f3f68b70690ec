"""Orders found by SKU through an index; a hold's reason as long as the API takes (500).

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-26 23:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_order_lines_sku", "order_lines", ["sku", "order_seq"])
    with op.batch_alter_table("orders") as batch:
        batch.alter_column("hold_reason", existing_type=sa.String(32), type_=sa.String(500),
                           existing_nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.alter_column("hold_reason", existing_type=sa.String(500), type_=sa.String(32),
                           existing_nullable=True)
    op.drop_index("ix_order_lines_sku", table_name="order_lines")
