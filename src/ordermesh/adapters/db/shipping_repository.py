"""Shipping in SQL: package types, a fulfilment's packages and its booked shipment, carrier
tracking events (each received once), and the lists the worker and a WMS work through."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from ordermesh.adapters.db import tables as t
from ordermesh.domain.events import utcnow
from ordermesh.domain.packing import PackageType

_pt, _p, _s, _te = t.package_types.c, t.packages.c, t.shipments.c, t.tracking_events.c
_f, _a, _o, _ch = t.fulfilments.c, t.allocations.c, t.orders.c, t.channels.c
IN_FLIGHT = ("dispatched", "in_transit", "out_for_delivery", "exception")


class SqlShipping:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # -- package types ---------------------------------------------------------------------

    def package_types(self) -> list[PackageType]:
        return [PackageType(r.code, r.length_mm, r.width_mm, r.height_mm, r.max_weight_grams,
                            r.tare_grams)
                for r in self.conn.execute(select(t.package_types).where(_pt.active)
                                           .order_by(_pt.code))]

    def put_package_type(self, values: dict[str, Any]) -> None:
        values = {**values, "updated_at": utcnow()}
        done = self.conn.execute(update(t.package_types).where(_pt.code == values["code"])
                                 .values(**values)).rowcount
        if not done:
            self.conn.execute(insert(t.package_types).values(**values))

    # -- packages and shipments ----------------------------------------------------------------

    def packages(self, fulfilment_id: str) -> list[dict[str, Any]]:
        """The packages in order, without their label files."""
        return [dict(r._mapping) for r in self.conn.execute(
            select(*[c for c in t.packages.c if c.name != "label"])
            .where(_p.fulfilment_id == fulfilment_id).order_by(_p.number))]

    def add_packages(self, fulfilment_id: str, rows: list[dict[str, Any]]) -> None:
        self.conn.execute(insert(t.packages), [{**row, "fulfilment_id": fulfilment_id}
                                               for row in rows])

    def shipment(self, fulfilment_id: str) -> dict[str, Any] | None:
        row = self.conn.execute(select(t.shipments).where(
            _s.fulfilment_id == fulfilment_id, _s.status == "booked")).first()
        return None if row is None else dict(row._mapping)

    def add_shipment(self, values: dict[str, Any], tracking_numbers: list[str],
                     labels: list[bytes]) -> None:
        """The booking, and each package's tracking number (and the carrier's label, when it
        made them), in package order."""
        self.conn.execute(insert(t.shipments).values(**values, created_at=utcnow()))
        for number, tracking in enumerate(tracking_numbers, start=1):
            self.conn.execute(update(t.packages).where(
                _p.fulfilment_id == values["fulfilment_id"], _p.number == number)
                .values(tracking_number=tracking,
                        label=labels[number - 1] if labels else None))

    def promised_on(self, fulfilment_id: str) -> date | None:
        """The latest date promised for the fulfilment's units."""
        value = self.conn.execute(select(func.max(_a.promised_on)).where(
            _a.fulfilment_id == fulfilment_id)).scalar()
        return value if isinstance(value, date) else None

    # -- tracking ------------------------------------------------------------------------------

    def parcel(self, carrier: str, tracking_number: str) -> dict[str, Any] | None:
        """The package booked with `carrier` under this tracking number, with its fulfilment."""
        row = self.conn.execute(
            select(t.packages, _s.carrier).join(t.shipments, and_(
                _s.fulfilment_id == _p.fulfilment_id, _s.status == "booked"))
            .where(_p.tracking_number == tracking_number, _s.carrier == carrier)).first()
        return None if row is None else dict(row._mapping)

    def record_event(self, values: dict[str, Any]) -> bool:
        """Keep a tracking event; False when the carrier sent it before (nothing written)."""
        dialect = postgresql if self.conn.dialect.name == "postgresql" else sqlite
        # RETURNING says whether a row was written: psycopg's rowcount of an insert with an
        # implicit RETURNING (the id) is -1 whether it wrote the row or did nothing.
        return self.conn.execute(
            dialect.insert(t.tracking_events).values(**values, received_at=utcnow())
            .on_conflict_do_nothing(index_elements=["carrier", "event_id"])
            .returning(t.tracking_events.c.id)).first() is not None

    def set_parcel(self, package_id: int, status: str, at: datetime) -> None:
        self.conn.execute(update(t.packages).where(_p.id == package_id)
                          .values(tracking_status=status, tracked_at=at))

    def in_flight(self, carriers: list[str], limit: int) -> list[tuple[str, str]]:
        """(carrier, tracking number) of parcels on their way with these carriers, the ones
        heard of least recently first."""
        rows = self.conn.execute(
            select(_s.carrier, _p.tracking_number)
            .join(t.packages, _p.fulfilment_id == _s.fulfilment_id)
            .join(t.fulfilments, _f.id == _s.fulfilment_id)
            .where(_s.carrier.in_(carriers), _s.status == "booked",
                   _f.status.in_(IN_FLIGHT), _p.tracking_number.is_not(None))
            .order_by(_p.tracked_at.is_not(None), _p.tracked_at, _p.id).limit(limit))
        return [(str(r.carrier), str(r.tracking_number)) for r in rows]

    # -- the counter and the WMS ---------------------------------------------------------------

    def uncollected(self, now: datetime, limit: int) -> list[tuple[str, str]]:
        """(order id, fulfilment id) of pickups at the counter longer than their channel
        keeps them, the longest waiting first (asked per hold time the channels use)."""
        found: list[Any] = []
        for days in sorted(set(self.conn.execute(select(_ch.pickup_hold_days)).scalars())):
            found += self.conn.execute(
                select(_o.id, _f.id.label("fulfilment_id"), _f.ready_at)
                .join(t.orders, _o.seq == _f.order_seq)
                .join(t.channels, _ch.code == _o.channel_code)
                .where(_f.status == "ready_for_pickup", _ch.pickup_hold_days == days,
                       _f.ready_at <= now - timedelta(days=days))
                .order_by(_f.ready_at).limit(limit)).all()
        found.sort(key=lambda r: r.ready_at)
        return [(str(r.id), str(r.fulfilment_id)) for r in found[:limit]]

    def labels_to_cancel(self, limit: int) -> list[dict[str, Any]]:
        """Labels bought for shipments that will not leave (their fulfilment was cancelled)."""
        return [dict(r._mapping) for r in self.conn.execute(
            select(_s.id, _s.carrier, _s.carrier_shipment_id, _s.fulfilment_id)
            .join(t.fulfilments, _f.id == _s.fulfilment_id)
            .where(_s.status == "booked", _s.carrier != "manual", _f.status == "cancelled")
            .order_by(_s.created_at).limit(limit))]

    def set_shipment_status(self, shipment_id: str, status: str) -> None:
        self.conn.execute(update(t.shipments).where(_s.id == shipment_id).values(status=status))

    def lease(self, location: str, owner: str, now: datetime, until: datetime,
              limit: int) -> list[str]:
        """Lease up to `limit` pending fulfilments of a location nobody holds a live lease
        on, oldest first. On PostgreSQL the rows another lease is taking are skipped
        (SKIP LOCKED), so concurrent workers never take the same one."""
        query = (select(_f.id).where(
            _f.location_code == location, _f.status.in_(("pending", "picking", "packed")),
            or_(_f.lease_until.is_(None), _f.lease_until <= now, _f.lease_owner == owner))
            .order_by(_f.created_at, _f.id).limit(limit))
        if self.conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        ids = [str(i) for i in self.conn.execute(query).scalars()]
        if ids:
            self.conn.execute(update(t.fulfilments).where(_f.id.in_(ids))
                              .values(lease_owner=owner, lease_until=until))
        return ids

    def lease_of(self, fulfilment_id: str) -> tuple[str | None, datetime | None]:
        row = self.conn.execute(select(_f.lease_owner, _f.lease_until)
                                .where(_f.id == fulfilment_id)).first()
        return (None, None) if row is None else (row.lease_owner, row.lease_until)
