"""/api/v1/cart-holds: a channel reserves a cart for a few minutes before placing the order."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Response
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine

from ordermesh.adapters.db.hold_repository import hold_detail
from ordermesh.domain.geo import Point
from ordermesh.entrypoints.api.deps import (
    AnyKey,
    Bus,
    ChannelKey,
    ChannelOrOperatorKey,
    Db,
    read_one,
)
from ordermesh.entrypoints.api.routers.orders import request_hash
from ordermesh.entrypoints.api.schemas.cart_holds import CartHoldIn, CartHoldOut
from ordermesh.services import commands as c

router = APIRouter(prefix="/api/v1/cart-holds", tags=["cart holds"])

IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", min_length=1, max_length=200,
    description="Repeat a create safely: the same key and body return the first hold")]


def _detail(db: Engine, hold_id: str, channel: str | None) -> dict[str, Any]:
    return read_one(db, "cart hold", hold_detail, hold_id, channel)


@router.post("", status_code=201, response_model=CartHoldOut,
             responses={409: {"description": "Not all of the cart is in stock now"}})
def hold_cart(body: CartHoldIn, principal: ChannelKey, bus: Bus, db: Db,
              idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Reserve the cart for the channel's `cart_hold_minutes`, from the locations an order
    would be sourced from now. Only stock in hand can be held: anything that would wait is 409
    `stock.insufficient` and nothing is reserved."""
    assert principal.channel is not None
    to = body.destination
    held = bus.handle(c.HoldCart(
        principal.actor, principal.channel, tuple((ln.sku, ln.quantity) for ln in body.lines),
        destination=Point(to.latitude, to.longitude) if to else None,
        pickup_location=body.pickup_location, currency=body.currency,
        idempotency_key=idempotency_key, request_hash=request_hash(body.model_dump(mode="json"))))
    hold = CartHoldOut.model_validate(_detail(db, held.hold_id, principal.channel))
    headers = {"Location": f"/api/v1/cart-holds/{held.hold_id}"}
    if held.replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(hold.model_dump(mode="json"), status_code=201, headers=headers)


@router.get("/{hold_id}", response_model=CartHoldOut)
def get_cart_hold(hold_id: str, principal: AnyKey, db: Db) -> dict[str, Any]:
    """A hold and where its units are reserved. A channel sees only its own holds."""
    return _detail(db, hold_id, principal.channel_scope)


@router.delete("/{hold_id}", status_code=204, response_class=Response)
def release_cart_hold(hold_id: str, principal: ChannelOrOperatorKey, bus: Bus) -> Response:
    """Give the held units back now. A hold that already ended is 409."""
    bus.handle(c.ReleaseCartHold(principal.actor, hold_id, principal.channel_scope))
    return Response(status_code=204)
