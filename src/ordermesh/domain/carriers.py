"""What Ordermesh asks of a carrier and what a carrier answers, whatever the carrier: the
shipment to quote and book (parcels from one place to another), the booking (one tracking number
per parcel, under one shipment), and tracking events in Ordermesh's own words."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime

from ordermesh.domain.errors import InvalidInput
from ordermesh.domain.fulfilments import TRACKING_ACTIONS


class CarrierUnavailable(Exception):
    """The carrier did not answer (timeout, network, 5xx): ask again with the same key."""


@dataclass(frozen=True, slots=True)
class Parcel:
    weight_grams: int
    length_mm: int | None = None
    width_mm: int | None = None
    height_mm: int | None = None

    def __post_init__(self) -> None:
        if type(self.weight_grams) is not int or self.weight_grams < 1:
            raise InvalidInput("a parcel weighs at least a gram")


@dataclass(frozen=True, slots=True)
class ShipmentRequest:
    reference: str  # ours: the fulfilment's id; a carrier books one reference once
    sender: Mapping[str, str | None]  # an address: line1, city, postal_code, country...
    recipient: Mapping[str, str | None]  # with the name on the package
    parcels: tuple[Parcel, ...]
    ready_on: date  # the day the parcels are handed over

    def __post_init__(self) -> None:
        if not self.parcels:
            raise InvalidInput("a shipment has at least one parcel")
        for who, address in (("sender", self.sender), ("recipient", self.recipient)):
            if not address.get("country"):
                raise InvalidInput(f"the {who}'s address needs its country")

    @property
    def weight_grams(self) -> int:
        return sum(p.weight_grams for p in self.parcels)


@dataclass(frozen=True, slots=True)
class Booking:
    """A booked shipment: one tracking number per parcel, in the order of the parcels."""

    carrier: str
    service: str
    shipment_id: str  # the carrier's id of the whole shipment
    tracking_numbers: tuple[str, ...]
    amount: int  # what the carrier charges, minor units
    currency: str
    delivers_on: date
    tracking_url: str  # where the customer follows it (the first parcel's page)
    # the carrier's own labels, one per parcel in the order of the parcels, when it makes them
    # (a real carrier's label is the one to print); none: Ordermesh prints its own
    labels: tuple[bytes, ...] = ()


@dataclass(frozen=True, slots=True)
class TrackingEvent:
    """A carrier's scan in Ordermesh's words (fulfilments.TRACKING_ACTIONS), at the carrier's
    own time; `id` is the carrier's, so a repeat is recognised."""

    id: str
    tracking_number: str
    event: str
    at: datetime
    detail: str = ""

    def __post_init__(self) -> None:
        if self.event not in TRACKING_ACTIONS:
            raise InvalidInput(f"unknown tracking event {self.event!r}")
        if self.at.tzinfo is None:
            raise InvalidInput("a tracking event's time needs its time zone")
        try:  # kept in UTC; a time with no UTC equivalent (year 1 at +14:00) is no time
            object.__setattr__(self, "at", self.at.astimezone(UTC))
        except OverflowError as exc:
            raise InvalidInput(f"a tracking event at {self.at.isoformat()} is out of range") \
                from exc
