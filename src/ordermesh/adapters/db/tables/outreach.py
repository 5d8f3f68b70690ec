"""Telling others: webhooks and customer notifications; the console's users and audit log."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
    true,
)

from ordermesh.adapters.db.tables.base import Json, SeqId, Timestamp, metadata

# Webhook subscriptions (admin API), one delivery per subscription and event, every attempt.
webhook_subscriptions = Table(
    "webhook_subscriptions", metadata,
    Column("id", String(36), primary_key=True),
    Column("url", String(2000), nullable=False),
    Column("secret", String(100), nullable=False),  # whsec_..., shown once
    Column("event_types", Json, nullable=False),  # ["order.placed", "fulfilment.*"] or ["*"]
    Column("description", String(200), nullable=True),
    Column("active", Boolean, nullable=False),
    Column("failures", Integer, nullable=False),  # deliveries given up on in a row
    Column("disabled_reason", String(200), nullable=True),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
)


webhook_deliveries = Table(
    "webhook_deliveries", metadata,
    Column("id", SeqId, primary_key=True, autoincrement=True),
    Column("subscription_id", String(36), ForeignKey("webhook_subscriptions.id"),
           nullable=False),
    Column("event_id", String(36), nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("status", String(16), nullable=False),  # pending | delivered | failed
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", Timestamp, nullable=True),  # due, or the lease of a sender
    Column("last_status_code", Integer, nullable=True),
    Column("last_error", String(500), nullable=True),
    Column("created_at", Timestamp, nullable=False),
    Column("delivered_at", Timestamp, nullable=True),
    UniqueConstraint("subscription_id", "event_id",
                     name="uq_webhook_deliveries_subscription_event"),
    Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
)


webhook_attempts = Table(
    "webhook_attempts", metadata,
    Column("id", SeqId, primary_key=True, autoincrement=True),
    Column("delivery_id", SeqId, ForeignKey("webhook_deliveries.id"), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("at", Timestamp, nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("latency_ms", Integer, nullable=False),
    Column("error", String(500), nullable=True),
    Index("ix_webhook_attempts_delivery_id", "delivery_id"),
)


# What the customer was told, once per event and kind: the notification log of an order.
notifications = Table(
    "notifications", metadata,
    Column("id", SeqId, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False),
    Column("order_seq", SeqId, ForeignKey("orders.seq"), nullable=False),
    Column("kind", String(32), nullable=False),  # domain.notifications kinds
    Column("medium", String(8), nullable=False),  # email
    Column("recipient", String(320), nullable=False),
    Column("status", String(16), nullable=False),  # pending | sent | failed
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", Timestamp, nullable=True),  # due, or a sender's lease
    Column("message_id", String(300), nullable=True),
    Column("last_error", String(500), nullable=True),
    Column("created_at", Timestamp, nullable=False),
    Column("sent_at", Timestamp, nullable=True),
    UniqueConstraint("event_id", "kind", "medium", name="uq_notifications_event_kind"),
    Index("ix_notifications_due", "status", "next_attempt_at"),
    Index("ix_notifications_order_seq", "order_seq"),
)


# The operator console: who may sign in, with which role (store staff bound to a location).
users = Table(
    "users", metadata,
    Column("id", String(36), primary_key=True),
    Column("email", String(320), nullable=False, unique=True),  # stored lower-case
    Column("name", String(200), nullable=False),
    Column("password_hash", String(200), nullable=False),  # argon2id
    Column("role", String(16), nullable=False),
    Column("location_code", String(64), ForeignKey("locations.code"), nullable=True),
    Column("active", Boolean, nullable=False, server_default=true()),
    Column("created_at", Timestamp, nullable=False),
    Column("last_sign_in_at", Timestamp, nullable=True),
    CheckConstraint("role IN ('admin', 'operator', 'call_centre', 'store_staff')", name="role"),
    CheckConstraint("(role = 'store_staff') = (location_code IS NOT NULL)", name="location_bound"),
)


# A signed-in browser: the cookie holds a random token, the table only its SHA-256.
user_sessions = Table(
    "user_sessions", metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id"), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("expires_at", Timestamp, nullable=False),
    Index("ix_user_sessions_user_id", "user_id"),
)


# Who did what in the console: every command a user issued, signing in and out.
audit_log = Table(
    "audit_log", metadata,
    Column("id", SeqId, primary_key=True, autoincrement=True),
    Column("at", Timestamp, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(200), nullable=True),
    Column("detail", Json, nullable=False),
    Index("ix_audit_log_at", "at"),
    Index("ix_audit_log_actor", "actor", "id"),
)
