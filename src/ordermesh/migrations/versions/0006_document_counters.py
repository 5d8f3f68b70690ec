"""Counters for gapless document numbers per series and year (invoices, credit notes).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 16:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "document_counters",
        sa.Column("series", sa.String(length=16), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("last", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("last >= 1", name=op.f("ck_document_counters_last_positive")),
        sa.PrimaryKeyConstraint("series", "year", name=op.f("pk_document_counters")),
    )


def downgrade() -> None:
    op.drop_table("document_counters")
