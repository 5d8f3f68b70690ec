"""Shipping over HTTP: package types, packing, the label bought from a carrier, the printed
labels and packing slips, tracking (carrier webhooks, or entered by hand), and a warehouse
system's leases and confirmations."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, Field, StrictBool, StrictInt, StringConstraints

from ordermesh.adapters.db import fulfilment_queries as fq
from ordermesh.adapters.documents.labels import (
    LabelDocument,
    PackingSlipDocument,
    PackingSlipLine,
    PostalAddress,
    render_label_pdf,
    render_packing_slip_pdf,
)
from ordermesh.domain.carriers import TrackingEvent
from ordermesh.domain.errors import InvalidInput, Leased, NotFound
from ordermesh.entrypoints.api.deps import Bus, Conn, Db, OperatorKey, read_connection
from ordermesh.entrypoints.api.routers.fulfilments import (
    DispatchOut,
    FoundIn,
    FulfilmentOut,
    ShipmentOut,
    one,
)
from ordermesh.entrypoints.api.schemas.common import Code, IsoText, Strict, Text
from ordermesh.entrypoints.api.schemas.money import move_view
from ordermesh.services import commands as c

router = APIRouter(prefix="/api/v1", tags=["shipping"])
webhooks = APIRouter(prefix="/api/v1/carrier-webhooks", tags=["shipping"])

Positive = Annotated[int, Field(ge=1, le=1_000_000)]
Tracking = Annotated[str, StringConstraints(strip_whitespace=True, min_length=4, max_length=64,
                                            pattern=r"^[A-Za-z0-9-]+$")]
PDF: dict[int | str, dict[str, Any]] = {200: {"content": {"application/pdf": {}}}}


# -- package types -------------------------------------------------------------------------


class PackageTypeIn(Strict):
    name: Text
    length_mm: Positive
    width_mm: Positive
    height_mm: Positive
    max_weight_grams: Positive
    tare_grams: Annotated[StrictInt, Field(ge=0, le=1_000_000)] = 0
    active: StrictBool = True


class PackageTypeOut(BaseModel):
    """A package type as stored. Not the strict input model: an answer names what it has,
    and a column added to the table later is left out rather than refused (a 500)."""

    code: str
    name: str
    length_mm: int
    width_mm: int
    height_mm: int
    max_weight_grams: int
    tare_grams: int
    active: bool
    updated_at: datetime = Field(description="When it was last put (UTC)")


@router.put("/package-types/{code}", response_model=PackageTypeOut)
def put_package_type(code: Code, body: PackageTypeIn, principal: OperatorKey,
                     bus: Bus, db: Db) -> dict[str, Any]:
    """A box the locations pack into: inner dimensions (mm), the weight it may hold with its
    own (tare) weight (g). Packing chooses the smallest set of active boxes that holds a
    fulfilment. Answers the package type as stored."""
    bus.handle(c.PutPackageType(principal.actor, code, **body.model_dump()))
    with read_connection(db) as conn:
        return next(row for row in fq.package_types(conn) if row["code"] == code)


@router.get("/package-types", response_model=list[PackageTypeOut])
def list_package_types(principal: OperatorKey, conn: Conn) -> list[dict[str, Any]]:
    """Every package type, active or not, by code."""
    return fq.package_types(conn)


# -- packing and the label -----------------------------------------------------------------


class ItemIn(Strict):
    sku: Code
    quantity: Positive


class PackageIn(Strict):
    items: Annotated[list[ItemIn], Field(min_length=1, max_length=500)]
    package_type: Code | None = None
    weight_grams: Positive | None = Field(None, description="Weighed; none: the items' "
                                                            "weights and the box's own")


class PackIn(Strict):
    packages: Annotated[list[PackageIn], Field(min_length=1, max_length=100)] | None = Field(
        None, description="The packages as packed; none: the smallest box set that holds the "
                          "units is chosen from the package types")


def _packages(body: PackIn | None) -> tuple[c.PackageIn, ...] | None:
    if body is None or body.packages is None:
        return None
    return tuple(c.PackageIn(tuple((i.sku, i.quantity) for i in p.items), p.package_type,
                             p.weight_grams) for p in body.packages)


@router.post("/fulfilments/{fulfilment_id}/pack", response_model=FulfilmentOut)
def pack(fulfilment_id: str, principal: OperatorKey, bus: Bus, db: Db,
         body: PackIn | None = None) -> dict[str, Any]:
    """The picked units go into packages, each weighed; a shipment then has a tracking number
    per package."""
    bus.handle(c.PackFulfilment(principal.actor, fulfilment_id, _packages(body)))
    return one(db, fulfilment_id)


class ManualIn(Strict):
    carrier_name: Text
    tracking_numbers: Annotated[list[Tracking], Field(min_length=1, max_length=100)]
    service: Text = "standard"
    tracking_url: Annotated[str, StringConstraints(max_length=500,
                                                   pattern=r"^https://")] | None = None


class BookIn(Strict):
    carrier: Code | None = Field(None, description="Only this carrier; none: every one set up")
    service: Text | None = None
    manual: ManualIn | None = Field(None, description="Booked outside Ordermesh: the carrier "
                                                      "and a tracking number per package")


@router.post("/fulfilments/{fulfilment_id}/shipment", response_model=ShipmentOut)
def book(fulfilment_id: str, principal: OperatorKey, bus: Bus, db: Db,
         body: BookIn | None = None) -> dict[str, Any]:
    """Buy the label of a packed shipment: the carriers quote its packages and the quote the
    channel prefers (cheapest or fastest) that arrives by the promised date is booked, with
    the reason kept. Booked once: asked again, it answers the same shipment."""
    body = body or BookIn()
    if body.manual is not None and (body.carrier or body.service):
        raise InvalidInput("a shipment is booked with a carrier or entered by hand, not both")
    manual = None if body.manual is None else c.ManualBooking(
        body.manual.carrier_name, tuple(body.manual.tracking_numbers), body.manual.service,
        body.manual.tracking_url)
    bus.handle(c.BookShipment(principal.actor, fulfilment_id, body.carrier, body.service, manual))
    shipment = one(db, fulfilment_id)["shipment"]
    assert shipment is not None
    return dict(shipment)


# -- documents -----------------------------------------------------------------------------


def _documents(db: Any, fulfilment_id: str) -> dict[str, Any]:
    with read_connection(db) as conn:
        data = fq.documents_data(conn, fulfilment_id)
    if data is None:
        raise NotFound(f"fulfilment {fulfilment_id!r} not found")
    return data


def _recipient(order: dict[str, Any]) -> PostalAddress:
    packaging = order["packaging"] or {}
    name = packaging.get("name_on_package") or order["customer_name"]
    return PostalAddress.from_mapping(name, order["shipping_address"] or {})


@router.get("/fulfilments/{fulfilment_id}/packages/{number}/label.pdf",
            response_class=Response, responses=PDF)
def label(fulfilment_id: str, number: int, principal: OperatorKey, db: Db) -> Response:
    """The 4x6 in label of one package: sender (the location), recipient, service, weight,
    package n of m, the tracking number as Code 128 and text, a QR code to the tracking page.
    A carrier that makes its own label gives that one instead."""
    data = _documents(db, fulfilment_id)
    fulfilment, order = data["fulfilment"], data["order"]
    shipment, packages = fulfilment["shipment"], fulfilment["packages"]
    package = next((p for p in packages if p["number"] == number), None)
    if shipment is None or package is None or package["tracking_number"] is None:
        raise NotFound(f"package {number} of fulfilment {fulfilment_id!r} has no label")
    if package["carrier_label"]:
        with read_connection(db) as conn:
            own = fq.carrier_label(conn, fulfilment_id, number)
        if own is not None:
            return Response(own, media_type="application/pdf")
    fragile = {sku for sku, p in data["products"].items() if p["fragile"]}
    handling = (("FRAGILE",) if any(i["sku"] in fragile for i in package["items"]) else ()) + (
        ("GIFT WRAP",) if (order["packaging"] or {}).get("gift_wrap") else ())
    location = data["location"]
    doc = LabelDocument(
        PostalAddress.from_mapping(location["name"], location["address"]), _recipient(order),
        shipment["carrier_name"], shipment["service"], package["weight_grams"], number,
        len(packages), package["tracking_number"],
        shipment["tracking_url"] or f"tracking number {package['tracking_number']}",
        fulfilment["order_number"], handling, order["delivery_instructions"])
    # the carrier's tracking number, kept to characters a filename header can carry
    name = re.sub(r"[^A-Za-z0-9_-]", "", package["tracking_number"])[:64]
    return Response(render_label_pdf(doc), media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="label-{name}.pdf"'})


@router.get("/fulfilments/{fulfilment_id}/packing-slip.pdf", response_class=Response,
            responses=PDF)
def packing_slip(fulfilment_id: str, principal: OperatorKey, db: Db, request: Request
                 ) -> Response:
    """The packing slip: order number, the lines with their SKU barcodes, and the packaging
    instructions (fragile, gift wrap and message, the name on the package, the customer's
    delivery instructions)."""
    data = _documents(db, fulfilment_id)
    fulfilment, order, products = data["fulfilment"], data["order"], data["products"]
    packaging = order["packaging"] or {}
    lines = tuple(PackingSlipLine(
        ln["sku"], products.get(ln["sku"], {}).get("name") or "", ln["quantity"],
        products.get(ln["sku"], {}).get("gtin"), bool(products.get(ln["sku"], {}).get("fragile")))
        for ln in fulfilment["lines"])
    doc = PackingSlipDocument(
        request.app.state.ordermesh.settings.retailer_name, fulfilment["order_number"],
        _recipient(order), lines, order["created_at"].date(),
        gift_wrap=bool(packaging.get("gift_wrap")), gift_message=packaging.get("gift_message"),
        name_on_package=packaging.get("name_on_package"),
        delivery_instructions=order["delivery_instructions"])
    return Response(render_packing_slip_pdf(doc), media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="packing-slip-{fulfilment_id}.pdf"'})


# -- tracking ------------------------------------------------------------------------------


class TrackingIn(Strict):
    tracking_number: Tracking
    event: Literal["in_transit", "out_for_delivery", "delivered", "exception",
                   "returned_to_sender"]
    at: Annotated[datetime, IsoText] = Field(description="When it happened, with its time zone")
    detail: Annotated[str, StringConstraints(max_length=500)] = ""


class TrackingEventOut(BaseModel):
    carrier: str
    event_id: str
    tracking_number: str
    event: str
    at: datetime
    detail: str
    applied: bool
    received_at: datetime


@router.post("/fulfilments/{fulfilment_id}/tracking", response_model=FulfilmentOut)
def enter_tracking(fulfilment_id: str, body: TrackingIn, principal: OperatorKey, bus: Bus,
                   db: Db) -> dict[str, Any]:
    """A tracking event entered by hand, for a shipment booked outside Ordermesh (a `manual`
    carrier): applied like a carrier's, once per (tracking number, event, time)."""
    found = one(db, fulfilment_id)
    shipment = found["shipment"]
    if shipment is None or shipment["carrier"] != "manual":
        raise InvalidInput("tracking is entered by hand only for shipments entered by hand; "
                           "carriers send their own")
    if body.at.tzinfo is None:
        raise InvalidInput("the event's time needs its time zone", field="at")
    try:
        ahead = body.at.astimezone(UTC) > datetime.now(UTC) + timedelta(minutes=10)
    except OverflowError as exc:
        raise InvalidInput("the event's time is out of range", field="at") from exc
    if ahead:
        raise InvalidInput("a tracking event happened already: its time is not ahead of now",
                           field="at")
    if body.tracking_number not in {p["tracking_number"] for p in found["packages"]}:
        raise InvalidInput(f"{body.tracking_number} is not a package of this fulfilment")
    event = TrackingEvent(
        f"{fulfilment_id}:{body.tracking_number}:{body.event}:{body.at.isoformat()}",
        body.tracking_number, body.event, body.at, body.detail)
    bus.handle(c.ApplyTracking(principal.actor, "manual", (event,), fulfilment_id))
    return one(db, fulfilment_id)


@router.get("/fulfilments/{fulfilment_id}/tracking", response_model=list[TrackingEventOut])
def tracking(fulfilment_id: str, principal: OperatorKey, db: Db) -> list[dict[str, Any]]:
    """Every tracking event received for the fulfilment's parcels, in the carrier's time;
    `applied` false: a repeat or older than the parcel's last event, kept and ignored."""
    one(db, fulfilment_id)
    with read_connection(db) as conn:
        return fq.tracking_events(conn, fulfilment_id)


@webhooks.post("/{carrier}", status_code=204)
async def carrier_webhook(carrier: Code, request: Request) -> None:
    """A carrier's tracking webhook, verified with the carrier's own signature scheme
    (Standard Webhooks for the courier simulator, X-Hmac-Signature for EasyPost). Needs no API
    key: the signature is the authentication. Repeats and late events are harmless."""
    body = await request.body()
    bus = request.app.state.ordermesh.bus
    await run_in_threadpool(bus.handle, c.ApplyCarrierWebhook(
        f"carrier:{carrier}", carrier, body, dict(request.headers)))


# -- a warehouse system ----------------------------------------------------------------------


class LeaseIn(Strict):
    location: Code
    worker: Text = Field(description="The WMS worker taking them; asking again renews")
    seconds: Annotated[StrictInt, Field(ge=10, le=3600)] = 300
    limit: Annotated[StrictInt, Field(ge=1, le=200)] = 20


@router.post("/wms/leases", response_model=list[FulfilmentOut])
def lease(body: LeaseIn, principal: OperatorKey, bus: Bus, db: Db) -> list[dict[str, Any]]:
    """Fulfilments of a location to work on, leased to one worker for `seconds`: no other
    worker gets them until the lease runs out (concurrent leases never share one)."""
    ids = bus.handle(c.LeaseFulfilments(principal.actor, body.location,
                                        f"{principal.actor}/{body.worker}", body.seconds,
                                        body.limit))
    return [one(db, i) for i in ids]


class ConfirmationIn(Strict):
    reference: Annotated[str, StringConstraints(min_length=1, max_length=120,
                                                pattern=r"^[A-Za-z0-9._:/-]+$")] = Field(
        description="The WMS's own reference: sent again, the confirmation is done once")
    worker: Text = Field(description="The WMS worker confirming: while another worker's lease "
                                     "on the fulfilment lasts, its confirmations are refused")
    kind: Literal["accepted", "picking_started", "short_picked", "packed", "labelled",
                  "dispatched"]
    lines: Annotated[list[FoundIn], Field(max_length=500)] | None = Field(
        None, description="short_picked: units found per order line")
    packages: Annotated[list[PackageIn], Field(min_length=1, max_length=100)] | None = Field(
        None, description="packed: the packages (none: chosen by Ordermesh)")
    manual: ManualIn | None = Field(None, description="labelled: the carrier and tracking "
                                                      "numbers (none: booked by Ordermesh)")


@router.post("/wms/fulfilments/{fulfilment_id}/confirmations", response_model=DispatchOut)
def confirm(fulfilment_id: str, body: ConfirmationIn, principal: OperatorKey, bus: Bus,
            db: Db) -> dict[str, Any]:
    """What the warehouse did, in its own words, each done once per its `reference`: started
    picking, short-picked, packed, labelled, dispatched."""
    found = one(db, fulfilment_id)
    holder, until = found["lease_owner"], found["lease_until"]
    if (holder is not None and until is not None and until > datetime.now(UTC)
            and holder != f"{principal.actor}/{body.worker}"):
        raise Leased(f"fulfilment {fulfilment_id} is leased to {holder} until "
                       f"{until.isoformat()}", lease_owner=holder)
    content = body.model_dump(mode="json", exclude={"reference", "worker"})
    once = (f"{principal.actor}:{body.reference}",
            hashlib.sha256(json.dumps([fulfilment_id, content], sort_keys=True).encode())
            .hexdigest())
    move = None
    if body.kind in ("accepted", "picking_started"):
        action = "accept" if body.kind == "accepted" else "start_picking"
        bus.handle(c.ChangeFulfilment(principal.actor, fulfilment_id, action, None,
                                      confirmation=once))
    elif body.kind == "short_picked":
        if not body.lines:
            raise InvalidInput("a short pick names the lines and the units found")
        bus.handle(c.ShortPick(principal.actor, fulfilment_id,
                               tuple((ln.line_no, ln.found) for ln in body.lines),
                               confirmation=once))
    elif body.kind == "packed":
        bus.handle(c.PackFulfilment(principal.actor, fulfilment_id,
                                    _packages(PackIn(packages=body.packages)),
                                    confirmation=once))
    elif body.kind == "labelled":
        manual = None if body.manual is None else c.ManualBooking(
            body.manual.carrier_name, tuple(body.manual.tracking_numbers), body.manual.service,
            body.manual.tracking_url)
        bus.handle(c.BookShipment(principal.actor, fulfilment_id, manual=manual,
                                  confirmation=once))
    else:  # dispatched: once per fulfilment anyway
        _, move = bus.handle(c.DispatchShipment(principal.actor, found["order_id"],
                                                f"fulfilment:{fulfilment_id}", (),
                                                fulfilment_id=fulfilment_id))
    return {**one(db, fulfilment_id), "capture": move_view(move)}
