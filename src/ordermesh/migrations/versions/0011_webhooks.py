"""Keeping everyone informed: webhook subscriptions, one delivery per subscription and event,
and every attempt; the event stream's own mark on each event; the customer's tracking token.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26 21:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def channel_columns() -> list[sa.Column[object]]:
    """How a channel's customer mail looks: its name, colour, sender and language."""
    return [sa.Column("brand_name", sa.String(200), nullable=True),
            sa.Column("brand_colour", sa.String(7), nullable=True),
            sa.Column("mail_from", sa.String(320), nullable=True),
            sa.Column("locale", sa.String(16), nullable=True)]


def upgrade() -> None:
    op.add_column("orders", sa.Column("tracking_token", sa.String(40), nullable=True))
    op.create_index("ix_orders_tracking_token", "orders", ["tracking_token"], unique=True)
    op.add_column("events", sa.Column("streamed_at", TS, nullable=True))
    # The events from before the outbox was relayed count as told: nobody is mailed about
    # their history, nor is it published to a stream that did not exist.
    op.execute(sa.text("UPDATE events SET published_at = CURRENT_TIMESTAMP, "
                       "streamed_at = CURRENT_TIMESTAMP"))
    # ... and their orders get a tracking page too
    random_token = ("md5(random()::text || seq::text)" if op.get_bind().dialect.name ==
                    "postgresql" else "lower(hex(randomblob(16)))")
    op.execute(sa.text(f"UPDATE orders SET tracking_token = {random_token} "  # noqa: S608
                       "WHERE tracking_token IS NULL"))
    for column in channel_columns():
        op.add_column("channels", column)
    op.create_index("ix_events_unstreamed", "events", ["streamed_at", "seq"])
    op.create_table(
        "webhook_subscriptions",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("secret", sa.String(100), nullable=False),
        sa.Column("event_types", JSON, nullable=False),
        sa.Column("description", sa.String(200), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("disabled_reason", sa.String(200), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_subscriptions")),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", SEQ, primary_key=True, autoincrement=True),
        sa.Column("subscription_id", sa.String(36), nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TS, nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("delivered_at", TS, nullable=True),
        sa.ForeignKeyConstraint(["subscription_id"], ["webhook_subscriptions.id"],
                                name=op.f("fk_webhook_deliveries_subscription_id_webhook_subscriptions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
        sa.UniqueConstraint("subscription_id", "event_id", name="uq_webhook_deliveries_subscription_event"),
    )
    op.create_index("ix_webhook_deliveries_due", "webhook_deliveries", ["status", "next_attempt_at"])
    op.create_table(
        "webhook_attempts",
        sa.Column("id", SEQ, primary_key=True, autoincrement=True),
        sa.Column("delivery_id", SEQ, nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(500), nullable=True),
        sa.ForeignKeyConstraint(["delivery_id"], ["webhook_deliveries.id"],
                                name=op.f("fk_webhook_attempts_delivery_id_webhook_deliveries")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_attempts")),
    )
    op.create_index("ix_webhook_attempts_delivery_id", "webhook_attempts", ["delivery_id"])
    op.create_table(
        "notifications",
        sa.Column("id", SEQ, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("order_seq", SEQ, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("medium", sa.String(8), nullable=False),
        sa.Column("recipient", sa.String(320), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TS, nullable=True),
        sa.Column("message_id", sa.String(300), nullable=True),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("sent_at", TS, nullable=True),
        sa.ForeignKeyConstraint(["order_seq"], ["orders.seq"],
                                name=op.f("fk_notifications_order_seq_orders")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("event_id", "kind", "medium", name="uq_notifications_event_kind"),
    )
    op.create_index("ix_notifications_due", "notifications", ["status", "next_attempt_at"])
    op.create_index("ix_notifications_order_seq", "notifications", ["order_seq"])


def downgrade() -> None:
    op.drop_index("ix_notifications_order_seq", table_name="notifications")
    op.drop_index("ix_notifications_due", table_name="notifications")
    op.drop_table("notifications")
    op.drop_index("ix_webhook_attempts_delivery_id", table_name="webhook_attempts")
    op.drop_table("webhook_attempts")
    op.drop_index("ix_webhook_deliveries_due", table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_subscriptions")
    op.drop_index("ix_events_unstreamed", table_name="events")
    op.drop_index("ix_orders_tracking_token", table_name="orders")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("streamed_at")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("tracking_token")
    with op.batch_alter_table("channels") as batch:
        for column in channel_columns():
            batch.drop_column(column.name)
