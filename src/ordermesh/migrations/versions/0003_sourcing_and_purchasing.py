"""Sourcing and purchasing: allocations with their decisions (replacing reservations), backorders,
location loads for daily capacity, channel sourcing settings, suppliers and purchase orders.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 14:41:52.666627
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "suppliers",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("lead_time_days", sa.Integer(), nullable=False),
        sa.Column("payment_terms_days", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_suppliers")),
    )
    op.create_table(
        "location_loads",
        sa.Column("location_code", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("shipments", sa.Integer(), nullable=False),
        sa.CheckConstraint("shipments >= 0", name=op.f("ck_location_loads_shipments_not_negative")),
        sa.ForeignKeyConstraint(
            ["location_code"], ["locations.code"], name=op.f("fk_location_loads_location_code_locations")
        ),
        sa.PrimaryKeyConstraint("location_code", "day", name=op.f("pk_location_loads")),
    )
    op.create_table(
        "purchase_orders",
        sa.Column(
            "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("supplier_code", sa.String(length=64), nullable=False),
        sa.Column("deliver_to", sa.String(length=64), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("expected_on", sa.Date(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["deliver_to"], ["locations.code"], name=op.f("fk_purchase_orders_deliver_to_locations")
        ),
        sa.ForeignKeyConstraint(
            ["supplier_code"], ["suppliers.code"], name=op.f("fk_purchase_orders_supplier_code_suppliers")
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_purchase_orders")),
        sa.UniqueConstraint("id", name=op.f("uq_purchase_orders_id")),
    )
    with op.batch_alter_table("purchase_orders", schema=None) as batch_op:
        batch_op.create_index("ix_purchase_orders_status_seq", ["status", "seq"], unique=False)

    op.create_table(
        "purchase_order_lines",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("po_seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_cost", sa.BigInteger(), nullable=False),
        sa.Column("received", sa.Integer(), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_purchase_order_lines_quantity_positive")),
        sa.CheckConstraint("received >= 0", name=op.f("ck_purchase_order_lines_received_not_negative")),
        sa.ForeignKeyConstraint(
            ["po_seq"], ["purchase_orders.seq"], name=op.f("fk_purchase_order_lines_po_seq_purchase_orders")
        ),
        sa.ForeignKeyConstraint(["sku"], ["products.sku"], name=op.f("fk_purchase_order_lines_sku_products")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purchase_order_lines")),
        sa.UniqueConstraint("po_seq", "line_no", name="uq_purchase_order_lines_po_line_no"),
    )
    with op.batch_alter_table("purchase_order_lines", schema=None) as batch_op:
        batch_op.create_index("ix_purchase_order_lines_sku", ["sku"], unique=False)

    op.create_table(
        "allocations",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("order_seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("line_id", sa.String(length=36), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("location_code", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("ready_on", sa.Date(), nullable=True),
        sa.Column("promised_on", sa.Date(), nullable=True),
        sa.Column(
            "decision",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("source IN ('stock', 'transfer')", name=op.f("ck_allocations_source")),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_allocations_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["line_id"], ["order_lines.id"], name=op.f("fk_allocations_line_id_order_lines")
        ),
        sa.ForeignKeyConstraint(["order_seq"], ["orders.seq"], name=op.f("fk_allocations_order_seq_orders")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_allocations")),
    )
    with op.batch_alter_table("allocations", schema=None) as batch_op:
        batch_op.create_index("ix_allocations_order_seq", ["order_seq"], unique=False)
        batch_op.create_index("ix_allocations_stock", ["sku", "location_code", "status"], unique=False)

    op.create_table(
        "backorders",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("order_seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("line_id", sa.String(length=36), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("promised_on", sa.Date(), nullable=True),
        sa.Column("supply_line_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "decision",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind IN ('backorder', 'preorder')", name=op.f("ck_backorders_kind")),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_backorders_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["line_id"], ["order_lines.id"], name=op.f("fk_backorders_line_id_order_lines")
        ),
        sa.ForeignKeyConstraint(["order_seq"], ["orders.seq"], name=op.f("fk_backorders_order_seq_orders")),
        sa.ForeignKeyConstraint(
            ["supply_line_id"],
            ["purchase_order_lines.id"],
            name=op.f("fk_backorders_supply_line_id_purchase_order_lines"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backorders")),
    )
    with op.batch_alter_table("backorders", schema=None) as batch_op:
        batch_op.create_index("ix_backorders_order_seq", ["order_seq"], unique=False)
        batch_op.create_index("ix_backorders_waiting", ["sku", "status", "order_seq"], unique=False)

    # Reservations become allocations from stock; their decision was not recorded then.
    op.execute(
        "INSERT INTO allocations (id, order_seq, line_id, sku, location_code, quantity, source,"
        " status, created_at, released_at) SELECT id, order_seq, line_id, sku, location_code,"
        " quantity, 'stock', status, created_at, released_at FROM reservations"
    )
    _continue_ids_after_copy("allocations")
    with op.batch_alter_table("reservations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reservations_order_seq"))
        batch_op.drop_index(batch_op.f("ix_reservations_stock"))

    op.drop_table("reservations")
    with op.batch_alter_table("channels", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "sourcing_rules",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=False,
                server_default='["fewest_shipments", "nearest", "priority"]',
            )
        )
        batch_op.add_column(
            sa.Column(
                "visible_locations",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("safety_buffer", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("allow_split", sa.Boolean(), nullable=False, server_default=sa.true()))
        batch_op.add_column(
            sa.Column("allow_backorder", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch_op.add_column(sa.Column("cart_hold_minutes", sa.Integer(), nullable=True))

    with op.batch_alter_table("locations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("transfer_days", sa.Integer(), nullable=False, server_default="1"))
        batch_op.add_column(
            sa.Column(
                "shipping_rates",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=False,
                server_default="[]",
            )
        )

    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("low_stock_threshold", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("supplier_code", sa.String(length=64), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_products_supplier_code_suppliers"), "suppliers", ["supplier_code"], ["code"]
        )

    with op.batch_alter_table("stock_levels", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reorder_point", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("reorder_quantity", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("stock_levels", schema=None) as batch_op:
        batch_op.drop_column("reorder_quantity")
        batch_op.drop_column("reorder_point")

    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_products_supplier_code_suppliers"), type_="foreignkey")
        batch_op.drop_column("supplier_code")
        batch_op.drop_column("low_stock_threshold")

    with op.batch_alter_table("locations", schema=None) as batch_op:
        batch_op.drop_column("shipping_rates")
        batch_op.drop_column("transfer_days")

    with op.batch_alter_table("channels", schema=None) as batch_op:
        batch_op.drop_column("cart_hold_minutes")
        batch_op.drop_column("allow_backorder")
        batch_op.drop_column("allow_split")
        batch_op.drop_column("safety_buffer")
        batch_op.drop_column("visible_locations")
        batch_op.drop_column("sourcing_rules")

    op.create_table(
        "reservations",
        sa.Column("id", sa.INTEGER(), nullable=False),
        sa.Column("order_seq", sa.INTEGER(), nullable=False),
        sa.Column("line_id", sa.VARCHAR(length=36), nullable=False),
        sa.Column("sku", sa.VARCHAR(length=64), nullable=False),
        sa.Column("location_code", sa.VARCHAR(length=64), nullable=False),
        sa.Column("quantity", sa.INTEGER(), nullable=False),
        sa.Column("status", sa.VARCHAR(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_reservations_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["line_id"], ["order_lines.id"], name=op.f("fk_reservations_line_id_order_lines")
        ),
        sa.ForeignKeyConstraint(["order_seq"], ["orders.seq"], name=op.f("fk_reservations_order_seq_orders")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reservations")),
    )
    with op.batch_alter_table("reservations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_reservations_stock"), ["sku", "location_code", "status"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_reservations_order_seq"), ["order_seq"], unique=False)

    op.execute(
        "INSERT INTO reservations (id, order_seq, line_id, sku, location_code, quantity, status,"
        " created_at, released_at) SELECT id, order_seq, line_id, sku, location_code, quantity,"
        " status, created_at, released_at FROM allocations"
    )
    _continue_ids_after_copy("reservations")
    with op.batch_alter_table("backorders", schema=None) as batch_op:
        batch_op.drop_index("ix_backorders_waiting")
        batch_op.drop_index("ix_backorders_order_seq")

    op.drop_table("backorders")
    with op.batch_alter_table("allocations", schema=None) as batch_op:
        batch_op.drop_index("ix_allocations_stock")
        batch_op.drop_index("ix_allocations_order_seq")

    op.drop_table("allocations")
    with op.batch_alter_table("purchase_order_lines", schema=None) as batch_op:
        batch_op.drop_index("ix_purchase_order_lines_sku")

    op.drop_table("purchase_order_lines")
    with op.batch_alter_table("purchase_orders", schema=None) as batch_op:
        batch_op.drop_index("ix_purchase_orders_status_seq")

    op.drop_table("purchase_orders")
    op.drop_table("location_loads")
    op.drop_table("suppliers")


def _continue_ids_after_copy(table: str) -> None:
    """Rows copied with their ids leave PostgreSQL's identity sequence behind: move it past
    them, or the next insert would reuse id 1. SQLite takes max(id) + 1 by itself."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                   f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)")
