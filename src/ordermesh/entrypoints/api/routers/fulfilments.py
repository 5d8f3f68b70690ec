"""/api/v1/fulfilments and /api/v1/pick-lists: what each location sends, and what to pick."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from ordermesh.adapters.db import fulfilment_queries as fq
from ordermesh.domain.errors import NotFound
from ordermesh.domain.fulfilments import FulfilmentStatus
from ordermesh.entrypoints.api.deps import Bus, Conn, Db, OperatorKey, read_connection
from ordermesh.entrypoints.api.schemas.common import Code, Strict, Text
from ordermesh.services import commands as c

router = APIRouter(prefix="/api/v1", tags=["fulfilment"])

# The moves made here; dispatch and carrier tracking come with the carriers (docs/fulfilment.md).
Action = Literal["start-picking", "pack", "make-ready", "collect", "return-to-stock", "cancel"]


class ReleaseIn(Strict):
    location: Code | None = Field(None, description="Only this location; none: every location")


class ReleaseOut(BaseModel):
    fulfilments: list[str]


class ChangeIn(Strict):
    reason: Text | None = None


class FulfilmentLineOut(BaseModel):
    line_no: int
    sku: str
    quantity: int


class FulfilmentOut(BaseModel):
    id: str
    order_id: str
    order_number: str
    location: str
    method: str
    status: str
    lines: list[FulfilmentLineOut]


class PickOrderOut(BaseModel):
    order_number: str
    fulfilment_id: str
    quantity: int


class PickLineOut(BaseModel):
    sku: str
    quantity: int
    orders: list[PickOrderOut]


def _view(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "location": row["location_code"]}


@router.post("/fulfilments/release", response_model=ReleaseOut)
def release(principal: OperatorKey, bus: Bus, body: ReleaseIn | None = None) -> dict[str, Any]:
    """Release a wave: one fulfilment per order and location for the allocations no
    fulfilment has taken yet, of orders whose payment (if any) is authorized."""
    location = body.location if body else None
    return {"fulfilments": bus.handle(c.ReleaseFulfilments(principal.actor, location))}


@router.get("/fulfilments", response_model=list[FulfilmentOut])
def list_fulfilments(principal: OperatorKey, conn: Conn, location: Code | None = None,
                     status: FulfilmentStatus | None = None,
                     limit: Annotated[int, Query(ge=1, le=500)] = 200) -> list[dict[str, Any]]:
    return [_view(f) for f in fq.fulfilments(conn, location, status, limit=limit)]


@router.get("/fulfilments/{fulfilment_id}", response_model=FulfilmentOut)
def get_fulfilment(fulfilment_id: str, principal: OperatorKey, conn: Conn) -> dict[str, Any]:
    found = fq.fulfilments(conn, fulfilment_id=fulfilment_id)
    if not found:
        raise NotFound(f"fulfilment {fulfilment_id!r} not found")
    return _view(found[0])


class DispatchOut(FulfilmentOut):
    capture: dict[str, Any] | None = Field(
        description="The capture of the shipment's amount, when the channel captures on "
                    "dispatch (outcome pending: the gateway's answer is still to come)")


@router.post("/fulfilments/{fulfilment_id}/dispatch", response_model=DispatchOut)
def dispatch(fulfilment_id: str, principal: OperatorKey, bus: Bus, db: Db) -> dict[str, Any]:
    """A packed fulfilment leaves: its units leave its location's stock, it is invoiced and
    its amount captured as the channel says, in one transaction with its move to
    `dispatched`. Asked again, it changes nothing and answers the same capture."""
    with read_connection(db) as conn:
        found = fq.fulfilments(conn, fulfilment_id=fulfilment_id)
    if not found:
        raise NotFound(f"fulfilment {fulfilment_id!r} not found")
    _, move = bus.handle(c.DispatchShipment(principal.actor, found[0]["order_id"],
                                            f"fulfilment:{fulfilment_id}", (),
                                            fulfilment_id=fulfilment_id))
    with read_connection(db) as conn:
        done = _view(fq.fulfilments(conn, fulfilment_id=fulfilment_id)[0])
    capture = None if move is None else {
        "payment_id": move.payment_id, "kind": move.kind, "amount": move.amount,
        "outcome": move.outcome, "failure": move.failure}
    return {**done, "capture": capture}


@router.post("/fulfilments/{fulfilment_id}/{action}", response_model=FulfilmentOut)
def change(fulfilment_id: str, action: Action, principal: OperatorKey, bus: Bus, db: Db,
           body: ChangeIn | None = None) -> dict[str, Any]:
    """Move the fulfilment by one action of its lifecycle (docs/order-lifecycle.md); a move
    its status or method does not allow is 409."""
    bus.handle(c.ChangeFulfilment(principal.actor, fulfilment_id, action.replace("-", "_"),
                                  body.reason if body else None))
    with read_connection(db) as conn:
        return _view(fq.fulfilments(conn, fulfilment_id=fulfilment_id)[0])


@router.get("/pick-lists/{location}", response_model=list[PickLineOut])
def pick_list(location: Code, principal: OperatorKey, conn: Conn) -> list[dict[str, Any]]:
    """What to pick at a location: the pending fulfilments' units by SKU, with their orders."""
    return fq.pick_list(conn, location)
