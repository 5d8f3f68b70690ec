"""The Carrier port on EasyPost, a carrier aggregator, with its official SDK (`EasyPostClient`).

Shipments. One parcel is one EasyPost Shipment. Several parcels are one EasyPost Order with a
Shipment per parcel, as EasyPost documents for multi-parcel shipping (Orders work with some
carriers only: UPS, FedEx, DHL Express, DPD, Purolator, ...; not USPS). A quote's service is
"<carrier> <service>" ("USPS Priority"); for an Order it is a service that every parcel's
Shipment offers, at the sum of their rates, arriving when the last one does. Amounts are
EasyPost's decimal strings turned into minor units with Decimal, by the currency's exponent.
`delivers_on` is the rate's delivery_date, else the hand-over day plus its delivery days; a rate
with neither is left out. Several carrier accounts offering one service: the cheapest is used.

Booking once per key. EasyPost's buy has no idempotency key, but a Shipment or an Order has a
`reference` of ours that EasyPost accepts in place of its id. The reference is made from the
fulfilment's reference and a hash of the idempotency key, so the same key always gives the
same reference. Booking first looks that reference up (GET /shipments/<ref> or /orders/<ref>):
bought already (a retry after a lost answer) -> the booking is read from it and nothing is
bought; made but not bought (the answer to the create or the buy was lost before EasyPost
bought) -> that one is bought; unknown (404) -> it is made with the reference, then bought.
Two calls racing with one key at the same moment could still buy twice: the caller runs one
booking per fulfilment at a time, as it does for every carrier.

Labels are asked for as PDF (as Ordermesh's own labels are) and fetched from the postage
label's URL, one per parcel (a multi-parcel booking is an EasyPost Order whose Shipments each
have their label).

Tracking. EasyPost's statuses in Ordermesh's words: in_transit, out_for_delivery, delivered;
return_to_sender -> returned_to_sender; failure (a failed delivery attempt) and
available_for_pickup (waiting at a pickup point) -> exception: the parcel will not arrive at the
door without someone acting. Skipped, as they are no move of the parcel: pre_transit (label
made), unknown (informational scans), error (the carrier's data), cancelled (our own cancel).
An event's id is the tracker's id, the scan's UTC time and EasyPost's status; events are
answered in time order whatever order EasyPost lists them in; a time without a zone is UTC,
as EasyPost documents.

Errors. No answer (timeout, connection, 5xx, 408, 429, an answer that is not JSON) raises
CarrierUnavailable: ask again with the same key. Other 4xx raise InvalidInput with EasyPost's
message. Webhooks are verified with the SDK's `validate_webhook` (HMAC-SHA256 of the body with
the webhook's secret, header X-Hmac-Signature); an event of the other mode than the API key's
(test key EZTK..., production key EZAK...) is ignored.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import requests
from easypost.easypost_client import EasyPostClient
from easypost.easypost_object import EasyPostObject
from easypost.errors.api.api_error import ApiError
from easypost.errors.general.easypost_error import EasyPostError
from easypost.errors.general.signature_verification_error import SignatureVerificationError
from easypost.util import validate_webhook

from ordermesh.domain.carriers import (
    Booking,
    CarrierUnavailable,
    Parcel,
    ShipmentRequest,
    TrackingEvent,
)
from ordermesh.domain.errors import InvalidInput
from ordermesh.domain.rate_shopping import Quote

# EasyPost's tracking statuses in Ordermesh's words; None: not an event for Ordermesh.
STATUSES: dict[str, str | None] = {
    "in_transit": "in_transit", "out_for_delivery": "out_for_delivery",
    "delivered": "delivered", "return_to_sender": "returned_to_sender",
    "failure": "exception", "available_for_pickup": "exception",
    "pre_transit": None, "unknown": None, "error": None, "cancelled": None,
}
# ISO 4217 minor-unit exponents other than 2.
EXPONENTS: dict[str, int] = {
    **dict.fromkeys(("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX",
                     "UYI", "VND", "VUV", "XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
}
REFUND_ACCEPTED = frozenset({"submitted", "refunded"})
GRAMS_PER_OUNCE = Decimal("28.349523125")
MM_PER_INCH = Decimal("25.4")
ADDRESS_FIELDS = (("name", "name"), ("company", "company"), ("line1", "street1"),
                  ("line2", "street2"), ("city", "city"), ("region", "state"), ("state", "state"),
                  ("postal_code", "zip"), ("country", "country"), ("phone", "phone"),
                  ("email", "email"))

Obj = dict[str, Any]


class EasyPostCarrier:
    """The port on EasyPost. `client` replaces the SDK client (another API base, say)."""

    def __init__(self, api_key: str, webhook_secret: str, name: str = "easypost",
                 client: EasyPostClient | None = None, *, timeout: int = 30) -> None:
        self.name = name
        self.webhooks = True  # tracker.updated webhooks; nothing to poll
        self._secret = webhook_secret
        self._timeout = timeout
        self._client = client or EasyPostClient(api_key, timeout=timeout)
        self._mode = {"EZTK": "test", "EZAK": "production"}.get(api_key[:4])

    # -- the port ----------------------------------------------------------------------------

    def rates(self, request: ShipmentRequest) -> list[Quote]:
        made = self._create(request, reference=None)
        offers = _offers(_parcels_of(made), request.ready_on)
        quotes = [Quote(self.name, service, amount, currency, delivers)
                  for service, (amount, currency, delivers) in sorted(offers.items())]
        if not quotes:
            why = "; ".join(str(m.get("message")) for m in made.get("messages") or [])
            raise InvalidInput(f"EasyPost has no rate for this shipment{': ' + why if why else ''}")
        return quotes

    def create_shipment(self, request: ShipmentRequest, quote: Quote,
                        idempotency_key: str) -> Booking:
        if quote.carrier != self.name:
            raise InvalidInput(f"{self.name} did not quote {quote.carrier} {quote.service}")
        reference = booking_reference(request.reference, idempotency_key)
        made = self._find(request, reference)
        if made is None or not _bought(made):
            made = made or self._create(request, reference)
            made = self._buy(made, quote)
        return self._booking(request, quote, made)

    def cancel(self, shipment_id: str) -> bool:
        """Ask EasyPost to refund (void) the label(s): True when it took the request."""
        ids = [shipment_id]
        if shipment_id.startswith("order_"):
            order = self._call("look up the order", lambda: self._client.order.retrieve(shipment_id))
            ids = [str(s["id"]) for s in _parcels_of(order)]
        accepted = True
        for one in ids:
            refund = self._call("refund the shipment", _bind(self._client.shipment.refund, one))
            accepted = accepted and refund.get("refund_status") in REFUND_ACCEPTED
        return accepted

    def track(self, tracking_number: str) -> list[TrackingEvent]:
        listed = self._call("look up the tracker", lambda: self._client.tracker.all(
            tracking_code=tracking_number, page_size=5))
        trackers = [t for t in listed.get("trackers") or []
                    if t.get("tracking_code") == tracking_number]
        if not trackers:
            raise InvalidInput(f"unknown tracking number {tracking_number!r}")
        return tracking_events(trackers[0])  # the newest tracker of that number

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> list[TrackingEvent]:
        if not self._secret:
            raise InvalidInput("webhook refused: no EasyPost webhook secret is configured")
        signature = next((v for k, v in headers.items() if k.lower() == "x-hmac-signature"), None)
        try:
            event = validate_webhook(body, {"X-Hmac-Signature": signature} if signature else {},
                                     self._secret)
        except SignatureVerificationError as exc:
            raise InvalidInput(f"webhook signature refused: {exc.message}") from exc
        except ValueError as exc:  # signed, but not JSON
            raise InvalidInput(f"the webhook's body is not an EasyPost event: {exc}") from exc
        if not isinstance(event, dict) or event.get("description") != "tracker.updated":
            return []
        if self._mode is not None and event.get("mode") != self._mode:
            return []  # the other mode's webhook, signed with the same secret
        try:
            return tracking_events(event["result"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidInput(f"a tracker.updated event without a readable tracker: {exc!r}") from exc

    # -- inside ----------------------------------------------------------------------------------

    def _create(self, request: ShipmentRequest, reference: str | None) -> Obj:
        params: Obj = {"from_address": _address(request.sender),
                       "to_address": _address(request.recipient)}
        if reference is not None:
            params["reference"] = reference
        options = {"label_format": "PDF"}
        if len(request.parcels) == 1:
            params |= {"parcel": _parcel(request.parcels[0]), "options": options}
            return self._call("create a shipment", lambda: self._client.shipment.create(**params))
        params["shipments"] = [{"parcel": _parcel(p), "options": options} for p in request.parcels]
        return self._call("create an order", lambda: self._client.order.create(**params))

    def _find(self, request: ShipmentRequest, reference: str) -> Obj | None:
        service: Any = self._client.order if len(request.parcels) > 1 else self._client.shipment
        try:
            return self._call("look up the booking", _bind(service.retrieve, reference))
        except InvalidInput as exc:
            if exc.extra.get("status") == 404:
                return None
            raise

    def _buy(self, made: Obj, quote: Quote) -> Obj:
        chosen = [_cheapest(parcel.get("rates") or [], quote.service) for parcel in _parcels_of(made)]
        rates = [rate for rate in chosen if rate is not None]
        if not rates or len(rates) != len(chosen):
            raise InvalidInput(f"EasyPost no longer offers {quote.service} for this shipment")
        if made.get("object") == "Order":
            carrier, service = str(rates[0]["carrier"]), str(rates[0]["service"])
            return self._call("buy the order", lambda: self._client.order.buy(
                made["id"], carrier=carrier, service=service))
        rate = {"id": rates[0]["id"]}
        return self._call("buy the shipment", lambda: self._client.shipment.buy(made["id"], rate=rate))

    def _booking(self, request: ShipmentRequest, quote: Quote, made: Obj) -> Booking:
        parcels = _parcels_of(made)
        rates: list[Obj] = [p["selected_rate"] for p in parcels]
        currency = str(rates[0]["currency"])
        estimates = [e for e in (_estimate(r, request.ready_on) for r in rates) if e is not None]
        delivers = max(estimates) if len(estimates) == len(rates) else quote.delivers_on
        tracker = parcels[0].get("tracker") or {}
        return Booking(
            carrier=self.name, service=_service(rates[0]), shipment_id=str(made["id"]),
            tracking_numbers=tuple(str(p["tracking_code"]) for p in parcels),
            amount=sum(minor_units(r["rate"], currency) for r in rates), currency=currency,
            delivers_on=delivers, tracking_url=str(tracker.get("public_url") or ""),
            labels=self._labels(parcels))

    def _labels(self, parcels: list[Obj]) -> tuple[bytes, ...]:
        """Each parcel's label PDF, fetched from its postage label's URL; none when a parcel
        has no label to fetch."""
        urls = [(p.get("postage_label") or {}).get("label_pdf_url")
                or (p.get("postage_label") or {}).get("label_url") for p in parcels]
        if not all(urls):
            return ()
        labels = []
        for url in urls:
            try:
                answer = requests.get(str(url), timeout=self._timeout)
                answer.raise_for_status()
            except requests.RequestException as exc:
                raise CarrierUnavailable(f"the EasyPost label could not be fetched: {exc}") from exc
            labels.append(bytes(answer.content))
        return tuple(labels)

    def _call(self, what: str, call: Callable[[], Any]) -> Obj:
        try:
            answer = call()
        except EasyPostError as exc:
            raise _failure(what, exc) from exc
        return answer.to_dict() if isinstance(answer, EasyPostObject) else dict(answer)


def booking_reference(fulfilment: str, idempotency_key: str) -> str:
    """The EasyPost `reference` of a booking: the same for the same key, safe in a URL path."""
    readable = re.sub(r"[^A-Za-z0-9_-]+", "-", fulfilment).strip("-")[:40]
    return f"om-{readable}-{hashlib.sha256(idempotency_key.encode()).hexdigest()[:20]}"


def minor_units(value: object, currency: str) -> int:
    """EasyPost's decimal string ("6.95") in the currency's minor units (695), half up."""
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise InvalidInput(f"EasyPost answered an amount that is no number: {value!r}") from exc
    exponent = EXPONENTS.get(currency.upper(), 2)
    return int(amount.scaleb(exponent).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def tracking_events(tracker: Obj) -> list[TrackingEvent]:
    """A tracker's tracking_details as TrackingEvents, in time order."""
    tracker_id, number = str(tracker["id"]), str(tracker["tracking_code"])
    events = []
    for scan in tracker.get("tracking_details") or []:
        event = STATUSES.get(str(scan.get("status")))
        if event is None:
            continue
        at = datetime.fromisoformat(str(scan["datetime"]))
        at = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
        stamp = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        events.append(TrackingEvent(f"{tracker_id}:{stamp}:{scan['status']}", number, event, at,
                                    _detail(scan)))
    return sorted(events, key=lambda e: e.at)


def _failure(what: str, exc: EasyPostError) -> Exception:
    status = exc.http_status if isinstance(exc, ApiError) else 400
    if status is None or status < 400 or status >= 500 or status in (408, 429):
        return CarrierUnavailable(f"EasyPost did not answer to {what}: {exc.message}")
    fields = [f"{e.get('field')}: {e.get('message')}" if isinstance(e, dict) else str(e)
              for e in (getattr(exc, "errors", None) or [])]
    message = "; ".join([str(exc.message), *fields])
    return InvalidInput(f"EasyPost refused to {what}: {message}", status=status,
                        code=getattr(exc, "code", None))


def _bind(method: Callable[[str], Any], argument: str) -> Callable[[], Any]:
    return lambda: method(argument)


def _parcels_of(made: Obj) -> list[Obj]:
    return list(made.get("shipments") or []) if made.get("object") == "Order" else [made]


def _bought(made: Obj) -> bool:
    return all(p.get("selected_rate") and p.get("tracking_code") for p in _parcels_of(made))


def _service(rate: Obj) -> str:
    return f"{rate.get('carrier')} {rate.get('service')}"


def _cheapest(rates: Sequence[Obj], service: str) -> Obj | None:
    offered = [r for r in rates if _service(r) == service]
    return min(offered, key=lambda r: Decimal(str(r["rate"]))) if offered else None


def _estimate(rate: Obj, ready_on: date) -> date | None:
    if rate.get("delivery_date"):
        return datetime.fromisoformat(str(rate["delivery_date"])).date()
    days = rate.get("delivery_days") or rate.get("est_delivery_days")
    return ready_on + timedelta(days=int(days)) if days else None


def _offers(parcels: Sequence[Obj], ready_on: date) -> dict[str, tuple[int, str, date]]:
    """Per service offered for every parcel: the sum of the cheapest rates, the currency and
    the day the last parcel arrives."""
    services = set.intersection(*({_service(r) for r in p.get("rates") or []} for p in parcels))
    offers = {}
    for service in services:
        rates = [_cheapest(p["rates"], service) or {} for p in parcels]
        estimates = [e for e in (_estimate(r, ready_on) for r in rates) if e is not None]
        currencies = {str(r["currency"]) for r in rates}
        if len(currencies) == 1 and len(estimates) == len(rates):
            (currency,) = currencies
            offers[service] = (sum(minor_units(r["rate"], currency) for r in rates), currency,
                               max(estimates))
    return offers


def _address(address: Mapping[str, str | None]) -> Obj:
    return {theirs: str(address[ours]) for ours, theirs in ADDRESS_FIELDS if address.get(ours)}


def _parcel(parcel: Parcel) -> Obj:
    """Ounces and inches, rounded up to a tenth, as decimal strings (EasyPost takes them)."""
    def up(value: Decimal) -> str:
        return str(max(value, Decimal("0.1")).quantize(Decimal("0.1"), rounding=ROUND_CEILING))

    answer = {"weight": up(Decimal(parcel.weight_grams) / GRAMS_PER_OUNCE)}
    sides = (("length", parcel.length_mm), ("width", parcel.width_mm), ("height", parcel.height_mm))
    if all(mm is not None for _, mm in sides):
        answer |= {side: up(Decimal(mm or 0) / MM_PER_INCH) for side, mm in sides}
    return answer


def _detail(scan: Obj) -> str:
    place = scan.get("tracking_location") or {}
    where = ", ".join(str(place[k]) for k in ("city", "state", "country") if place.get(k))
    message = str(scan.get("message") or scan.get("status_detail") or "")
    return f"{message} ({where})" if where else message
