"""The built-in courier simulator as a carrier: rates by zone and weight, booking once per key,
tracking numbers with a check digit, tracking events as its clock moves, signed webhooks, and
cancellation before pick-up. Its books run on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from ordermesh.adapters.carriers import courier as oc
from ordermesh.adapters.carriers.courier import Courier, CourierSettings, is_tracking_number
from ordermesh.adapters.db.engine import normalise_url
from ordermesh.domain.carriers import Parcel, ShipmentRequest, TrackingEvent
from ordermesh.domain.errors import InvalidInput
from ordermesh.domain.rate_shopping import Preference, choose
from tests.builders import Clock
from tests.integration.test_test_gateway import gateway_postgres  # noqa: F401

MONDAY = date(2026, 11, 30)
AMSTERDAM = {"name": "Ordermesh DC", "line1": "Industrieweg 1", "city": "Tilburg",
             "postal_code": "5000 AA", "country": "NL"}
ROTTERDAM = {"name": "Ann de Vries", "line1": "Coolsingel 40", "city": "Rotterdam",
             "postal_code": "3011 AD", "country": "NL"}
BERLIN = {**ROTTERDAM, "city": "Berlin", "postal_code": "10115", "country": "DE"}
NEW_YORK = {**ROTTERDAM, "city": "New York", "postal_code": "10001", "country": "US"}


@pytest.fixture(params=["sqlite", "postgresql"])
def books(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'courier.db'}"
    url: str = request.getfixturevalue("gateway_postgres")
    engine = create_engine(normalise_url(url))
    oc.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE " + ", ".join(t.name for t in oc.metadata.sorted_tables)))
    engine.dispose()
    return url


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 30, 9, 0, tzinfo=UTC))


@pytest.fixture
def courier(books: str, clock: Clock) -> Iterator[Courier]:
    carrier = Courier(CourierSettings(database_url=books), clock=clock)
    yield carrier
    carrier.engine.dispose()


def request(*weights: int, to: dict[str, str] = ROTTERDAM, ref: str = "F-1") -> ShipmentRequest:
    return ShipmentRequest(ref, AMSTERDAM, to, tuple(Parcel(w) for w in weights), MONDAY)


def test_rates_go_by_zone_and_weight(courier: Courier) -> None:
    home = {q.service: (q.amount, q.delivers_on) for q in courier.rates(request(1500))}
    assert home == {"standard": (495, MONDAY + timedelta(days=2)),
                    "express": (995, MONDAY + timedelta(days=1))}
    heavy = {q.service: q.amount for q in courier.rates(request(1500, 12_000))}
    assert heavy == {"standard": 495 + 1295, "express": 995 + 2195}
    assert [q.amount for q in courier.rates(request(1500, to=BERLIN))] == [995, 2495]
    assert [q.amount for q in courier.rates(request(1500, to=NEW_YORK))] == [2495, 4995]
    with pytest.raises(InvalidInput, match=r"31\.5 kg"):
        courier.rates(request(40_000))


def test_a_booking_is_made_once_per_key_with_a_checked_number_per_parcel(
        courier: Courier) -> None:
    shipment = request(800, 2500)
    quote = choose(courier.rates(shipment), MONDAY + timedelta(days=2)).quote
    booking = courier.create_shipment(shipment, quote, "F-1:book")
    assert (booking.service, booking.amount) == ("standard", 495 + 695)
    assert len(booking.tracking_numbers) == 2
    assert all(is_tracking_number(n) for n in booking.tracking_numbers)
    assert not is_tracking_number(booking.tracking_numbers[0][:-1] + "0") or \
        booking.tracking_numbers[0].endswith("0")
    assert booking.tracking_url.endswith(booking.tracking_numbers[0])
    assert courier.create_shipment(shipment, quote, "F-1:book") == booking
    assert courier.create_shipment(shipment, quote, "F-1:again") != booking


def test_tracking_events_happen_as_time_passes(courier: Courier, clock: Clock) -> None:
    shipment = request(800)
    booking = courier.create_shipment(shipment, courier.rates(shipment)[0], "k")
    (number,) = booking.tracking_numbers
    assert courier.track(number) == []
    clock.now = datetime(2026, 11, 30, 19, 0, tzinfo=UTC)
    assert [e.event for e in courier.track(number)] == ["in_transit"]
    clock.now = datetime(2026, 12, 4, 0, 0, tzinfo=UTC)  # a parcel met by an exception too
    events = courier.track(number)
    assert [e.event for e in events][-1] == "delivered"
    assert all(isinstance(e, TrackingEvent) and e.at.tzinfo for e in events)
    assert [e.at for e in events] == sorted(e.at for e in events)
    with pytest.raises(InvalidInput):
        courier.track("OC0000000000")


def test_one_parcel_in_twenty_meets_an_exception_and_arrives_a_day_later(
        courier: Courier, clock: Clock) -> None:
    shipment = request(*([500] * 60))
    booking = courier.create_shipment(shipment, courier.rates(shipment)[0], "many")
    clock.now = datetime(2026, 12, 10, tzinfo=UTC)
    histories = {n: [e.event for e in courier.track(n)] for n in booking.tracking_numbers}
    unlucky = [n for n, h in histories.items() if "exception" in h]
    assert unlucky == [n for n in booking.tracking_numbers
                       if sum(int(d) for d in n[2:]) % 20 == 0]
    assert all(h[-1] == "delivered" for h in histories.values())


def test_webhooks_are_signed_sent_once_and_parsed(courier: Courier, clock: Clock) -> None:
    shipment = request(800)
    booking = courier.create_shipment(shipment, courier.rates(shipment)[0], "k")
    received: list[TrackingEvent] = []

    def send(body: bytes, headers: dict[str, str]) -> None:
        received.extend(courier.parse_webhook(body, headers))

    clock.now = datetime(2026, 12, 5, tzinfo=UTC)  # every event has happened, even a retry
    (number,) = booking.tracking_numbers
    happened = courier.track(number)
    assert courier.deliver_webhooks(send) == len(happened) >= 3
    assert courier.deliver_webhooks(send) == 0  # each event once
    assert received == happened
    assert received[-1].event == "delivered"
    assert {e.tracking_number for e in received} == set(booking.tracking_numbers)
    with pytest.raises(InvalidInput):
        courier.parse_webhook(b'{"events": []}', {"webhook-id": "x", "webhook-timestamp": "1",
                                                  "webhook-signature": "v1,AAAA"})


def test_a_shipment_is_cancelled_only_before_pick_up(courier: Courier, clock: Clock) -> None:
    shipment = request(800)
    first = courier.create_shipment(shipment, courier.rates(shipment)[0], "a")
    second = courier.create_shipment(shipment, courier.rates(shipment)[0], "b")
    assert courier.cancel(first.shipment_id)
    assert not courier.cancel(first.shipment_id)
    clock.now = datetime(2026, 11, 30, 19, 0, tzinfo=UTC)
    assert not courier.cancel(second.shipment_id)  # picked up at 18:00
    clock.now = datetime(2026, 12, 5, tzinfo=UTC)
    assert courier.track(first.tracking_numbers[0]) == []
    assert courier.track(second.tracking_numbers[0])[-1].event == "delivered"


def test_rate_shopping_over_the_couriers_quotes(courier: Courier) -> None:
    quotes = courier.rates(request(800))
    assert choose(quotes, MONDAY + timedelta(days=1)).quote.service == "express"
    assert choose(quotes, MONDAY + timedelta(days=3)).quote.service == "standard"
    assert choose(quotes, None, Preference.FASTEST).quote.service == "express"
