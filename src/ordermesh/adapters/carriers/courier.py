"""The built-in `courier` simulator: a carrier of its own, so the whole dispatch flow can be seen
without an account anywhere. Like the test payment gateway it keeps its own books in its own
database, outside Ordermesh's transactions, and books once per idempotency key.

- Rates by zone (domestic, within the EU, the world) and weight band, as data.
- Tracking numbers `OC` + 10 digits + a Luhn check digit, one per parcel.
- Tracking events that happen as time passes, from the booking: picked up (in transit) on the
  evening of the hand-over day, out for delivery at 08:00 on the delivery day, delivered at
  13:00. One parcel in twenty (by its number) meets an exception at 13:00 ("nobody home") and is
  delivered the next day. A cancelled shipment has no events after its cancellation.
- Webhooks of those events, signed per Standard Webhooks, sent once each when their time has
  come; `track()` answers the same events for carriers polled instead.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    MetaData,
    String,
    Table,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Engine
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from stdnum import luhn

from ordermesh.adapters.db.engine import make_engine
from ordermesh.adapters.simulated import kept_secret, settings_table
from ordermesh.domain.carriers import Booking, ShipmentRequest, TrackingEvent
from ordermesh.domain.errors import InvalidInput
from ordermesh.domain.rate_shopping import Quote

EU = frozenset({"AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU",
                "IE", "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES",
                "SE"})

metadata = MetaData()
shipments = Table(
    "courier_shipments", metadata,
    Column("id", String(40), primary_key=True),
    Column("idempotency_key", String(200), nullable=False, unique=True),
    Column("reference", String(200), nullable=False),
    Column("service", String(32), nullable=False),
    Column("tracking_numbers", JSON, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("ready_on", Date, nullable=False),
    Column("delivers_on", Date, nullable=False),
    Column("cancelled_at", DateTime(timezone=True), nullable=True),
)
parcels = Table(
    "courier_parcels", metadata,
    Column("tracking_number", String(20), primary_key=True),
    Column("shipment_id", String(40), nullable=False),
)
sent = Table(
    "courier_sent_events", metadata,
    Column("id", String(80), primary_key=True),
    Column("delivered", Boolean, nullable=False),
)
own = settings_table(metadata, "courier_settings")


@dataclass(frozen=True)
class Service:
    name: str
    transit_days: Mapping[str, int]  # by zone
    # (up to grams, minor units) bands by zone; a heavier shipment is refused
    bands: Mapping[str, Sequence[tuple[int, int]]]


STANDARD = Service("standard", {"domestic": 2, "eu": 4, "world": 7}, {
    "domestic": [(2_000, 495), (10_000, 695), (31_500, 1295)],
    "eu": [(2_000, 995), (10_000, 1695), (31_500, 2995)],
    "world": [(2_000, 2495), (10_000, 3995), (31_500, 6995)],
})
EXPRESS = Service("express", {"domestic": 1, "eu": 2, "world": 4}, {
    "domestic": [(2_000, 995), (10_000, 1395), (31_500, 2195)],
    "eu": [(2_000, 2495), (10_000, 3495), (31_500, 5495)],
    "world": [(2_000, 4995), (10_000, 7995), (31_500, 12995)],
})


@dataclass(frozen=True)
class CourierSettings:
    database_url: str = "sqlite:///ordermesh-courier.db"
    currency: str = "EUR"
    services: tuple[Service, ...] = field(default=(STANDARD, EXPRESS))
    tracking_url: str = "https://courier.example/track/"
    webhook_secret: str = ""  # empty: its own, made at its first start and kept
    webhooks: bool = True  # False: it sends none, and is polled (track) instead


def zone(sender: Mapping[str, Any], recipient: Mapping[str, Any]) -> str:
    origin, destination = str(sender["country"]).upper(), str(recipient["country"]).upper()
    if origin == destination:
        return "domestic"
    return "eu" if origin in EU and destination in EU else "world"


def tracking_number(seed: int) -> str:
    digits = f"{seed % 10**10:010d}"
    return f"OC{digits}{luhn.calc_check_digit(digits)}"


def is_tracking_number(value: str) -> bool:
    return len(value) == 13 and value.startswith("OC") and value[2:].isdigit() \
        and luhn.is_valid(value[2:])


def _now() -> datetime:
    return datetime.now(UTC)


class Courier:
    """The `courier` carrier. `clock` is its own time, so tests can let days pass."""

    def __init__(self, settings: CourierSettings | None = None,
                 clock: Callable[[], datetime] = _now, name: str = "courier") -> None:
        self.settings = settings or CourierSettings()
        self.clock = clock
        self.name = name
        self.webhooks = self.settings.webhooks
        self.engine: Engine = make_engine(self.settings.database_url, pool_size=5)
        metadata.create_all(self.engine)
        self.webhook = Webhook(self.settings.webhook_secret or kept_secret(self.engine, own))

    # -- the port ----------------------------------------------------------------------------

    def rates(self, request: ShipmentRequest) -> list[Quote]:
        where = zone(request.sender, request.recipient)
        quotes = []
        for service in self.settings.services:
            amount = self._price(service, where, request)
            if amount is not None:  # handed over in the evening, delivered days later
                delivers = request.ready_on + timedelta(days=service.transit_days[where])
                quotes.append(Quote(self.name, service.name, amount, self.settings.currency,
                                    delivers))
        if not quotes:
            raise InvalidInput("the courier takes parcels up to 31.5 kg each")
        return quotes

    def create_shipment(self, request: ShipmentRequest, quote: Quote,
                        idempotency_key: str) -> Booking:
        service = next((s for s in self.settings.services if s.name == quote.service), None)
        if service is None or quote.carrier != self.name:
            raise InvalidInput(f"the courier has no service {quote.service!r}")
        quoted = {q.service: q for q in self.rates(request)}[service.name]
        with self.engine.begin() as conn:
            known = conn.execute(select(shipments).where(
                shipments.c.idempotency_key == idempotency_key)).first()
            if known is None:
                shipment_id = f"shp_{uuid.uuid4().hex[:20]}"
                numbers = [tracking_number(uuid.uuid4().int) for _ in request.parcels]
                conn.execute(insert(shipments).values(
                    id=shipment_id, idempotency_key=idempotency_key, reference=request.reference,
                    service=service.name, tracking_numbers=numbers, amount=quoted.amount,
                    currency=quoted.currency, ready_on=request.ready_on,
                    delivers_on=quoted.delivers_on))
                conn.execute(insert(parcels), [{"tracking_number": n, "shipment_id": shipment_id}
                                               for n in numbers])
                known = conn.execute(select(shipments).where(
                    shipments.c.id == shipment_id)).one()
        return self._booking(known)

    def cancel(self, shipment_id: str) -> bool:
        """Cancel before the parcels are picked up; False if it cannot be (or is unknown)."""
        with self.engine.begin() as conn:
            row = conn.execute(select(shipments).where(shipments.c.id == shipment_id)
                               .with_for_update()).first()
            if row is None or row.cancelled_at is not None:
                return False
            if self.clock() >= _at(row.ready_on, 18):
                return False  # picked up already
            conn.execute(update(shipments).where(shipments.c.id == shipment_id)
                         .values(cancelled_at=self.clock()))
            return True

    def track(self, tracking_number_: str) -> list[TrackingEvent]:
        with self.engine.connect() as conn:
            row = conn.execute(select(shipments).join(
                parcels, parcels.c.shipment_id == shipments.c.id).where(
                parcels.c.tracking_number == tracking_number_)).first()
        if row is None:
            raise InvalidInput(f"unknown tracking number {tracking_number_!r}")
        return [e for e in self._schedule(row, tracking_number_) if e.at <= self.clock()]

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> list[TrackingEvent]:
        try:
            payload = self.webhook.verify(body, {k.lower(): v for k, v in headers.items()})
            return [TrackingEvent(str(e["id"]), str(e["tracking_number"]), str(e["event"]),
                                  datetime.fromisoformat(str(e["at"])), str(e.get("detail", "")))
                    for e in payload["events"]]
        except WebhookVerificationError as exc:
            raise InvalidInput(f"webhook signature refused: {exc}") from exc
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidInput(f"the webhook's body is not a courier event list: {exc!r}") from exc

    # -- the courier's own day -----------------------------------------------------------------

    def deliver_webhooks(self, send: Callable[[bytes, dict[str, str]], None]) -> int:
        """Send every event whose time has come and that was not sent yet, one signed webhook
        per event; an event whose sending fails is sent again next time."""
        recent = self.clock().date() - timedelta(days=3)  # every event of older ones is sent
        with self.engine.connect() as conn:
            rows = conn.execute(select(shipments).where(shipments.c.delivers_on >= recent)).all()
            done = set(conn.execute(select(sent.c.id).where(sent.c.delivered)).scalars())
        due = [e for row in rows for number in row.tracking_numbers
               for e in self._schedule(row, number) if e.at <= self.clock() and e.id not in done]
        for event in sorted(due, key=lambda e: (e.at, e.id)):
            body = json.dumps({"events": [{
                "id": event.id, "tracking_number": event.tracking_number, "event": event.event,
                "at": event.at.isoformat(), "detail": event.detail}]})
            # signed at the time it is sent (the receiver checks that), whatever the clock
            stamp = datetime.fromtimestamp(int(_now().timestamp()), UTC)
            send(body.encode(), {"webhook-id": event.id,
                                 "webhook-timestamp": str(int(stamp.timestamp())),
                                 "webhook-signature": self.webhook.sign(event.id, stamp, body),
                                 "content-type": "application/json"})
            with self.engine.begin() as conn:
                conn.execute(insert(sent).values(id=event.id, delivered=True))
        return len(due)

    # -- inside ----------------------------------------------------------------------------------

    def _price(self, service: Service, where: str, request: ShipmentRequest) -> int | None:
        total = 0
        for parcel in request.parcels:
            band = next((amount for limit, amount in service.bands[where]
                         if parcel.weight_grams <= limit), None)
            if band is None:
                return None
            total += band
        return total

    def _booking(self, row: Any) -> Booking:
        numbers = tuple(row.tracking_numbers)
        return Booking(self.name, row.service, row.id, numbers, row.amount, row.currency,
                       row.delivers_on, self.settings.tracking_url + numbers[0])

    def _schedule(self, row: Any, number: str) -> list[TrackingEvent]:
        """The events of one parcel, as they happen (or would have, before a cancel)."""
        unlucky = sum(int(d) for d in number[2:]) % 20 == 0
        plan = [("in_transit", _at(row.ready_on, 18), "picked up"),
                ("out_for_delivery", _at(row.delivers_on, 8), "with the driver")]
        if unlucky:
            next_day = row.delivers_on + timedelta(days=1)
            plan += [("exception", _at(row.delivers_on, 13), "nobody home: delivery tomorrow"),
                     ("out_for_delivery", _at(next_day, 8), "with the driver, second attempt"),
                     ("delivered", _at(next_day, 13), "delivered")]
        else:
            plan.append(("delivered", _at(row.delivers_on, 13), "delivered"))
        cancelled = row.cancelled_at.replace(tzinfo=UTC) if row.cancelled_at is not None \
            and row.cancelled_at.tzinfo is None else row.cancelled_at
        return [TrackingEvent(f"{number}:{n}", number, event, at, detail)
                for n, (event, at, detail) in enumerate(plan)
                if cancelled is None or at < cancelled]


def _at(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), UTC)
