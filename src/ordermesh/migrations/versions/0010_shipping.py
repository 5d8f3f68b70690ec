"""Shipping: package types, the packages of a fulfilment, its booked shipment, carrier tracking
events, store and WMS fields of fulfilments, packaging instructions and shipping policy.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26 20:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def columns() -> dict[str, list[sa.Column[object]]]:
    """The columns added to existing tables, made afresh for each use."""
    return {
        "channels": [
            sa.Column("shipping_preference", sa.String(16), nullable=False,
                      server_default="cheapest"),
            sa.Column("pickup_hold_days", sa.Integer(), nullable=False, server_default="7"),
        ],
        "orders": [sa.Column("packaging", JSON, nullable=True)],
        "order_lines": [sa.Column("cancelled", sa.Integer(), nullable=False,
                                  server_default="0")],
        "products": [sa.Column("fragile", sa.Boolean(), nullable=False,
                               server_default=sa.false())],
        "fulfilments": [
            sa.Column("wave_id", sa.String(36), nullable=True),
            sa.Column("pickup_code", sa.String(12), nullable=True),
            sa.Column("ready_at", TS, nullable=True),
            sa.Column("accepted_at", TS, nullable=True),
            sa.Column("lease_owner", sa.String(100), nullable=True),
            sa.Column("lease_until", TS, nullable=True),
        ],
    }


def upgrade() -> None:
    for table, added in columns().items():
        for column in added:
            op.add_column(table, column)
    op.create_table(
        "package_types",
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("length_mm", sa.Integer(), nullable=False),
        sa.Column("width_mm", sa.Integer(), nullable=False),
        sa.Column("height_mm", sa.Integer(), nullable=False),
        sa.Column("max_weight_grams", sa.Integer(), nullable=False),
        sa.Column("tare_grams", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_package_types")),
    )
    op.create_table(
        "packages",
        sa.Column("id", SEQ, primary_key=True, autoincrement=True),
        sa.Column("fulfilment_id", sa.String(36), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("package_type", sa.String(64), nullable=True),
        sa.Column("weight_grams", sa.Integer(), nullable=False),
        sa.Column("length_mm", sa.Integer(), nullable=True),
        sa.Column("width_mm", sa.Integer(), nullable=True),
        sa.Column("height_mm", sa.Integer(), nullable=True),
        sa.Column("items", JSON, nullable=False),
        sa.Column("tracking_number", sa.String(64), nullable=True),
        sa.Column("label", sa.LargeBinary(), nullable=True),
        sa.Column("tracking_status", sa.String(24), nullable=True),
        sa.Column("tracked_at", TS, nullable=True),
        sa.ForeignKeyConstraint(["fulfilment_id"], ["fulfilments.id"],
                                name=op.f("fk_packages_fulfilment_id_fulfilments")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_packages")),
        sa.UniqueConstraint("fulfilment_id", "number", name="uq_packages_fulfilment_number"),
    )
    op.create_index("ix_packages_tracking_number", "packages", ["tracking_number"])
    op.create_table(
        "shipments",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("fulfilment_id", sa.String(36), nullable=False),
        sa.Column("carrier", sa.String(32), nullable=False),
        sa.Column("carrier_name", sa.String(100), nullable=False),
        sa.Column("service", sa.String(64), nullable=False),
        sa.Column("carrier_shipment_id", sa.String(100), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("delivers_on", sa.Date(), nullable=True),
        sa.Column("tracking_url", sa.String(500), nullable=True),
        sa.Column("choice", JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["fulfilment_id"], ["fulfilments.id"],
                                name=op.f("fk_shipments_fulfilment_id_fulfilments")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shipments")),
        sa.UniqueConstraint("fulfilment_id", name="uq_shipments_fulfilment_id"),
    )
    op.create_table(
        "tracking_events",
        sa.Column("id", SEQ, primary_key=True, autoincrement=True),
        sa.Column("carrier", sa.String(32), nullable=False),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("tracking_number", sa.String(64), nullable=False),
        sa.Column("fulfilment_id", sa.String(36), nullable=True),
        sa.Column("event", sa.String(24), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("applied", sa.Boolean(), nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracking_events")),
        sa.UniqueConstraint("carrier", "event_id", name="uq_tracking_events_carrier_event"),
    )
    op.create_index("ix_tracking_events_fulfilment_id", "tracking_events", ["fulfilment_id"])


def downgrade() -> None:
    op.drop_index("ix_tracking_events_fulfilment_id", table_name="tracking_events")
    op.drop_table("tracking_events")
    op.drop_table("shipments")
    op.drop_index("ix_packages_tracking_number", table_name="packages")
    op.drop_table("packages")
    op.drop_table("package_types")
    for table, added in columns().items():
        with op.batch_alter_table(table) as batch:
            for column in added:
                batch.drop_column(column.name)
