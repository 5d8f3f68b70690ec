"""/api/v1/availability: what can be promised, where and when."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from ordermesh.adapters.db.sourcing_repository import SqlReads
from ordermesh.domain.errors import InvalidInput
from ordermesh.domain.events import utcnow
from ordermesh.domain.geo import Point
from ordermesh.entrypoints.api.deps import AnyKey, Db, Principal, read_connection
from ordermesh.entrypoints.api.schemas.availability import AvailabilityOut, CartIn, CartOut
from ordermesh.services.availability import CartLine, cart_availability, sku_availability

router = APIRouter(prefix="/api/v1", tags=["availability"])


def _channel(principal: Principal, asked: str | None) -> str | None:
    """A channel key answers as its channel; operators may ask as any channel, or as none."""
    if principal.channel_scope is not None:
        if asked not in (None, principal.channel_scope):
            raise InvalidInput("a channel key answers only for its own channel")
        return principal.channel_scope
    return asked


@router.get("/availability", response_model=AvailabilityOut)
def get_availability(principal: AnyKey, db: Db,
                     sku: Annotated[list[str], Query(min_length=1, max_length=100)],
                     channel: str | None = None) -> dict[str, Any]:
    """On hand, reserved, safety stock, available and incoming supply per SKU, network-wide and
    per location, with a status. Channel keys see their own locations, net of their buffer."""
    skus = list(dict.fromkeys(sku))
    with read_connection(db) as conn:
        items = sku_availability(SqlReads(conn), skus, _channel(principal, channel),
                                 utcnow().date())
    return {"items": items}


@router.post("/availability", response_model=CartOut, response_model_by_alias=True)
def check_cart(body: CartIn, principal: AnyKey, db: Db) -> dict[str, Any]:
    """Whether, when and from where each line of a cart can be delivered or collected,
    decided by the same rules an order would be sourced by. Nothing is reserved."""
    lines = [CartLine(line.sku, line.quantity) for line in body.lines]
    destination = (Point(body.destination.latitude, body.destination.longitude)
                   if body.destination else None)
    with read_connection(db) as conn:
        return cart_availability(SqlReads(conn), lines, _channel(principal, body.channel),
                                 utcnow().date(), destination, body.pickup_location,
                                 body.currency)
