"""Fulfilments, packing, shipments and carrier tracking."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from ordermesh.adapters.db.tables.base import Json, SeqId, Timestamp, metadata

# What one location sends (or hands over at its counter) for an order; see domain/fulfilments.
fulfilments = Table(
    "fulfilments", metadata,
    Column("id", String(36), primary_key=True),
    Column("order_seq", SeqId, ForeignKey("orders.seq"), nullable=False),
    Column("location_code", String(64), ForeignKey("locations.code"), nullable=False),
    Column("method", String(8), nullable=False),
    Column("status", String(24), nullable=False),
    Column("tracked_at", Timestamp, nullable=True),
    Column("version", Integer, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Column("wave_id", String(36), nullable=True),  # the wave that released it
    Column("pickup_code", String(12), nullable=True),  # asked at the counter
    Column("ready_at", Timestamp, nullable=True),  # at the counter since
    Column("accepted_at", Timestamp, nullable=True),  # a store took it on
    Column("lease_owner", String(100), nullable=True),  # the WMS worker working on it
    Column("lease_until", Timestamp, nullable=True),
    Index("ix_fulfilments_location_status", "location_code", "status"),
    Index("ix_fulfilments_order_seq", "order_seq"),
)


fulfilment_lines = Table(
    "fulfilment_lines", metadata,
    Column("id", SeqId, primary_key=True, autoincrement=True),
    Column("fulfilment_id", String(36), ForeignKey("fulfilments.id"), nullable=False),
    Column("order_line_id", String(36), ForeignKey("order_lines.id"), nullable=False),
    Column("sku", String(64), nullable=False),
    Column("quantity", Integer, nullable=False),
    CheckConstraint("quantity > 0", name="quantity_positive"),
    Index("ix_fulfilment_lines_fulfilment_id", "fulfilment_id"),
)


# The boxes a location packs into (domain/packing.PackageType).
package_types = Table(
    "package_types", metadata,
    Column("code", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("length_mm", Integer, nullable=False),
    Column("width_mm", Integer, nullable=False),
    Column("height_mm", Integer, nullable=False),
    Column("max_weight_grams", Integer, nullable=False),
    Column("tare_grams", Integer, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
)


# The packages of a packed fulfilment, each with its tracking number once booked.
packages = Table(
    "packages", metadata,
    Column("id", SeqId, primary_key=True, autoincrement=True),
    Column("fulfilment_id", String(36), ForeignKey("fulfilments.id"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("package_type", String(64), nullable=True),
    Column("weight_grams", Integer, nullable=False),
    Column("length_mm", Integer, nullable=True),
    Column("width_mm", Integer, nullable=True),
    Column("height_mm", Integer, nullable=True),
    Column("items", Json, nullable=False),  # [{"sku", "quantity"}]
    Column("tracking_number", String(64), nullable=True),
    Column("label", LargeBinary, nullable=True),  # the carrier's own label, when it makes one
    Column("tracking_status", String(24), nullable=True),  # the parcel's last event applied
    Column("tracked_at", Timestamp, nullable=True),  # the carrier's time of that event
    UniqueConstraint("fulfilment_id", "number", name="uq_packages_fulfilment_number"),
    Index("ix_packages_tracking_number", "tracking_number"),
)


# A fulfilment's booking with a carrier, with the quote chosen and why.
shipments = Table(
    "shipments", metadata,
    Column("id", String(36), primary_key=True),
    Column("fulfilment_id", String(36), ForeignKey("fulfilments.id"), nullable=False),
    Column("carrier", String(32), nullable=False),  # the adapter (courier, easypost, manual)
    Column("carrier_name", String(100), nullable=False),  # who carries it, as printed
    Column("service", String(64), nullable=False),
    Column("carrier_shipment_id", String(100), nullable=True),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("delivers_on", Date, nullable=True),
    Column("tracking_url", String(500), nullable=True),
    Column("choice", Json, nullable=False),  # the quotes, the one chosen, the reason
    Column("status", String(16), nullable=False),  # booked | cancelled
    Column("created_at", Timestamp, nullable=False),
    UniqueConstraint("fulfilment_id", name="uq_shipments_fulfilment_id"),
)


# Every carrier tracking event received, once per carrier event id, applied or not.
tracking_events = Table(
    "tracking_events", metadata,
    Column("id", SeqId, primary_key=True, autoincrement=True),
    Column("carrier", String(32), nullable=False),
    Column("event_id", String(200), nullable=False),
    Column("tracking_number", String(64), nullable=False),
    Column("fulfilment_id", String(36), nullable=True),
    Column("event", String(24), nullable=False),
    Column("at", Timestamp, nullable=False),
    Column("detail", Text, nullable=False),
    Column("applied", Boolean, nullable=False),
    Column("received_at", Timestamp, nullable=False),
    UniqueConstraint("carrier", "event_id", name="uq_tracking_events_carrier_event"),
    Index("ix_tracking_events_fulfilment_id", "fulfilment_id"),
)
