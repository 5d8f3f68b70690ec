"""/api/v1/fulfilments and /api/v1/pick-lists: what each location sends, and how it moves
from the pick to the customer's door or the store's counter. A store uses the same API as a
warehouse: accept or reject, pick (or report a short pick), pack, hand over."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field, StrictInt

from ordermesh.adapters.db import fulfilment_queries as fq
from ordermesh.adapters.documents.pick_list import PickListDocument, render_pick_list_pdf
from ordermesh.domain.errors import NotFound
from ordermesh.domain.fulfilments import FulfilmentStatus
from ordermesh.entrypoints.api.deps import Bus, Conn, Db, OperatorKey, read_connection
from ordermesh.entrypoints.api.schemas.common import Code, Strict, Text
from ordermesh.entrypoints.api.schemas.money import move_view
from ordermesh.services import commands as c

router = APIRouter(prefix="/api/v1", tags=["fulfilment"])

# The moves that are only a move; the others have endpoints of their own below.
Action = Literal["accept", "start-picking", "make-ready", "cancel"]
Units = Annotated[int, Field(ge=0, le=1_000_000)]


class ReleaseIn(Strict):
    location: Code | None = Field(None, description="Only this location; none: every location")


class ReleaseOut(BaseModel):
    wave: str = Field(description="The wave's id: its pick lists are /pick-lists/{location}"
                                  "?wave={id}")
    fulfilments: list[str]


class ChangeIn(Strict):
    reason: Text | None = None


class RejectIn(Strict):
    reason: Text


class FoundIn(Strict):
    line_no: Annotated[StrictInt, Field(ge=1, le=10_000)]
    found: Units = Field(description="Units found, fewer than the fulfilment's line holds")


class ShortPickIn(Strict):
    lines: Annotated[list[FoundIn], Field(min_length=1, max_length=500)]


class CollectIn(Strict):
    pickup_code: Annotated[str, Field(min_length=1, max_length=12, pattern=r"^[0-9]+$")]


class FulfilmentLineOut(BaseModel):
    line_no: int
    sku: str
    quantity: int


class PackageOut(BaseModel):
    number: int
    package_type: str | None
    weight_grams: int
    length_mm: int | None
    width_mm: int | None
    height_mm: int | None
    items: list[dict[str, Any]]
    tracking_number: str | None
    carrier_label: bool = Field(description="The carrier made its label (else Ordermesh does)")
    tracking_status: str | None
    tracked_at: datetime | None


class ShipmentOut(BaseModel):
    id: str
    carrier: str
    carrier_name: str
    service: str
    carrier_shipment_id: str | None
    amount: int
    currency: str
    delivers_on: date | None
    tracking_url: str | None
    choice: dict[str, Any] = Field(description="The quotes, the one chosen, and why")
    created_at: datetime


class FulfilmentOut(BaseModel):
    id: str
    order_id: str
    order_number: str
    location: str
    method: str
    status: str
    wave: str | None = Field(description="The wave that released it")
    lines: list[FulfilmentLineOut]
    packages: list[PackageOut]
    shipment: ShipmentOut | None
    accepted_at: datetime | None
    ready_at: datetime | None
    tracked_at: datetime | None
    lease_owner: str | None
    lease_until: datetime | None


class PickOrderOut(BaseModel):
    order_number: str
    fulfilment_id: str
    quantity: int


class PickLineOut(BaseModel):
    sku: str
    quantity: int
    orders: list[PickOrderOut]


class DispatchOut(FulfilmentOut):
    capture: dict[str, Any] | None = Field(
        description="The capture of the shipment's amount, when the channel captures on "
                    "dispatch (outcome pending: the gateway's answer is still to come)")


def view(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "location": row["location_code"], "wave": row["wave_id"]}


def one(db: Any, fulfilment_id: str) -> dict[str, Any]:
    with read_connection(db) as conn:
        found = fq.fulfilments(conn, fulfilment_id=fulfilment_id)
    if not found:
        raise NotFound(f"fulfilment {fulfilment_id!r} not found")
    return view(found[0])


@router.post("/fulfilments/release", response_model=ReleaseOut)
def release(principal: OperatorKey, bus: Bus, body: ReleaseIn | None = None) -> dict[str, Any]:
    """Release a wave: one fulfilment per order and location for the allocations no
    fulfilment has taken yet, of orders whose payment (if any) is authorized."""
    location = body.location if body else None
    wave = str(uuid.uuid4())
    return {"wave": wave, "fulfilments": bus.handle(
        c.ReleaseFulfilments(principal.actor, location, wave=wave))}


@router.get("/fulfilments", response_model=list[FulfilmentOut])
def list_fulfilments(principal: OperatorKey, conn: Conn, location: Code | None = None,
                     status: FulfilmentStatus | None = None,
                     limit: Annotated[int, Query(ge=1, le=500)] = 200) -> list[dict[str, Any]]:
    return [view(f) for f in fq.fulfilments(conn, location, status, limit=limit)]


@router.get("/fulfilments/{fulfilment_id}", response_model=FulfilmentOut)
def get_fulfilment(fulfilment_id: str, principal: OperatorKey, db: Db) -> dict[str, Any]:
    return one(db, fulfilment_id)


@router.post("/fulfilments/{fulfilment_id}/dispatch", response_model=DispatchOut)
def dispatch(fulfilment_id: str, principal: OperatorKey, bus: Bus, db: Db) -> dict[str, Any]:
    """A packed, labelled shipment leaves: its units leave its location's stock, it is
    invoiced and its amount captured as the channel says, in one transaction with its move to
    `dispatched` and the tracking numbers on the order's event. Asked again, it changes
    nothing and answers the same capture."""
    found = one(db, fulfilment_id)
    _, move = bus.handle(c.DispatchShipment(principal.actor, found["order_id"],
                                            f"fulfilment:{fulfilment_id}", (),
                                            fulfilment_id=fulfilment_id))
    return {**one(db, fulfilment_id), "capture": move_view(move)}


@router.post("/fulfilments/{fulfilment_id}/collect", response_model=DispatchOut)
def collect(fulfilment_id: str, body: CollectIn, principal: OperatorKey, bus: Bus,
            db: Db) -> dict[str, Any]:
    """Handed over at the counter to the customer who shows the pickup code: the units leave
    the store's stock and the money follows the channel's policy, as for a dispatch."""
    found = one(db, fulfilment_id)
    _, move = bus.handle(c.DispatchShipment(principal.actor, found["order_id"],
                                            f"fulfilment:{fulfilment_id}", (),
                                            fulfilment_id=fulfilment_id,
                                            pickup_code=body.pickup_code))
    return {**one(db, fulfilment_id), "capture": move_view(move)}


@router.post("/fulfilments/{fulfilment_id}/reject", response_model=FulfilmentOut)
def reject(fulfilment_id: str, body: RejectIn, principal: OperatorKey, bus: Bus,
           db: Db) -> dict[str, Any]:
    """The location cannot do it (a store rejects it): cancelled, and its units sourced again
    elsewhere by the channel's rules, never from this location."""
    bus.handle(c.RejectFulfilment(principal.actor, fulfilment_id, body.reason))
    return one(db, fulfilment_id)


@router.post("/fulfilments/{fulfilment_id}/short-pick", response_model=FulfilmentOut)
def short_pick(fulfilment_id: str, body: ShortPickIn, principal: OperatorKey, bus: Bus,
               db: Db) -> dict[str, Any]:
    """Fewer units found than reserved, per order line: the fulfilment keeps what was found,
    the location's stock count goes down by the rest (ledger reason `short_pick`), and the
    missing units are sourced again elsewhere."""
    bus.handle(c.ShortPick(principal.actor, fulfilment_id,
                           tuple((ln.line_no, ln.found) for ln in body.lines)))
    return one(db, fulfilment_id)


@router.post("/fulfilments/{fulfilment_id}/return-to-stock", response_model=FulfilmentOut)
def return_to_stock(fulfilment_id: str, principal: OperatorKey, bus: Bus,
                    db: Db) -> dict[str, Any]:
    """A pickup not collected goes back on the shelf; its order is cancelled (and its payment
    released) unless other units of it have already left. The worker does this by itself
    after the channel's `pickup_hold_days`."""
    one(db, fulfilment_id)
    bus.handle(c.ReturnUncollected(principal.actor, fulfilment_id=fulfilment_id))
    return one(db, fulfilment_id)


@router.post("/fulfilments/{fulfilment_id}/{action}", response_model=FulfilmentOut)
def change(fulfilment_id: str, action: Action, principal: OperatorKey, bus: Bus, db: Db,
           body: ChangeIn | None = None) -> dict[str, Any]:
    """Move the fulfilment by one action of its lifecycle (docs/order-lifecycle.md); a move
    its status or method does not allow is 409."""
    bus.handle(c.ChangeFulfilment(principal.actor, fulfilment_id, action.replace("-", "_"),
                                  body.reason if body else None))
    return one(db, fulfilment_id)


@router.get("/pick-lists/{location}.pdf", response_class=Response, responses={
    200: {"content": {"application/pdf": {}}}})
def pick_list_pdf(location: Code, principal: OperatorKey, conn: Conn,
                  wave: str | None = None) -> Response:
    """The pick list printed: a barcode per SKU to scan, the units, the orders they go to."""
    rows = fq.pick_list(conn, location, wave)
    found = fq.pick_list_products(conn, location, {r["sku"] for r in rows})
    if found is None:
        raise NotFound(f"location {location!r} not found")
    name, products = found
    doc = PickListDocument.from_rows(location, name, datetime.now(UTC), rows, products)
    return Response(render_pick_list_pdf(doc), media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="pick-list-{location}.pdf"'})


@router.get("/pick-lists/{location}", response_model=list[PickLineOut])
def pick_list(location: Code, principal: OperatorKey, conn: Conn,
              wave: str | None = None) -> list[dict[str, Any]]:
    """What to pick at a location, of one wave (`wave`) or of all: the pending fulfilments'
    units by SKU, with their orders."""
    return fq.pick_list(conn, location, wave)
