"""The operator console: users and their sessions, the audit log, the stage SLAs and the
orders flagged as in jeopardy of missing them.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26 22:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("location_code", sa.String(64), nullable=True),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("last_sign_in_at", TS, nullable=True),
        sa.CheckConstraint("role IN ('admin', 'operator', 'call_centre', 'store_staff')",
                           name=op.f("ck_users_role")),
        sa.CheckConstraint("(role = 'store_staff') = (location_code IS NOT NULL)",
                           name=op.f("ck_users_location_bound")),
        sa.ForeignKeyConstraint(["location_code"], ["locations.code"],
                                name=op.f("fk_users_location_code_locations")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_table(
        "user_sessions",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_user_sessions_user_id_users")),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_user_sessions")),
    )
    op.create_index("ix_user_sessions_user_id", "user_sessions", ["user_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", SEQ, primary_key=True, autoincrement=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(200), nullable=True),
        sa.Column("detail", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_actor", "audit_log", ["actor", "id"])
    op.create_table(
        "stage_slas",
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("stage", sa.String(32), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.CheckConstraint("minutes > 0", name=op.f("ck_stage_slas_minutes_positive")),
        sa.PrimaryKeyConstraint("channel", "stage", name=op.f("pk_stage_slas")),
    )
    op.create_table(
        "order_jeopardies",
        sa.Column("id", SEQ, primary_key=True, autoincrement=True),
        sa.Column("order_id", sa.String(36), nullable=False),
        sa.Column("stage", sa.String(32), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("due_at", TS, nullable=False),
        sa.Column("flagged_at", TS, nullable=False),
        sa.Column("cleared_at", TS, nullable=True),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"],
                                name=op.f("fk_order_jeopardies_order_id_orders")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_jeopardies")),
        sa.UniqueConstraint("order_id", "stage", name="uq_order_jeopardies_order_stage"),
    )
    op.create_index("ix_order_jeopardies_open", "order_jeopardies", ["cleared_at", "flagged_at"])


def downgrade() -> None:
    for table in ("order_jeopardies", "stage_slas", "audit_log", "user_sessions", "users"):
        op.drop_table(table)
