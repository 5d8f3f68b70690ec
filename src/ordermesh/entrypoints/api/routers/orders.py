"""/api/v1/orders: capture, read, timeline and status changes."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from sqlalchemy.engine import Engine

from ordermesh.adapters.db import queries
from ordermesh.domain.errors import InvalidInput, NotFound
from ordermesh.domain.orders import OrderStatus
from ordermesh.entrypoints.api.deps import (
    AnyKey,
    Bus,
    ChannelKey,
    ChannelOrOperatorKey,
    Conn,
    Db,
    OperatorKey,
    Principal,
    read_one,
)
from ordermesh.entrypoints.api.pagination import decode_cursor, is_position, page
from ordermesh.entrypoints.api.rate_limits import limit_orders
from ordermesh.entrypoints.api.schemas.common import Page, UtcTime
from ordermesh.entrypoints.api.schemas.orders import (
    EventOut,
    LineCancellationIn,
    LineRejectionIn,
    OrderIn,
    OrderOut,
    OrderSummaryOut,
    StatusChangeIn,
    order_view,
    summary_view,
)
from ordermesh.services import commands as c

router = APIRouter(prefix="/api/v1/orders", tags=["orders"])

IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", min_length=1, max_length=200,
    description="Repeat a create safely: the same key and body return the first order")]


def request_hash(order: dict[str, Any]) -> str:
    """The fingerprint of a validated order body, the same whatever its key order or spacing.
    Empty fields are left out, so an optional field added in a later release does not change
    the fingerprint of bodies that do not use it (a replay across an upgrade still matches)."""
    canonical = json.dumps(_without_nulls(order), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


Agent = Annotated[str | None, Header(
    alias="X-Agent", pattern=r"^[A-Za-z0-9._-]{1,64}$",
    description="Call centre: the agent placing the order for the customer")]


@router.post("", status_code=201, response_model=OrderOut,
             responses={409: {"description": "Stock short, duplicate or key reused"}})
def place_order(body: OrderIn, principal: ChannelKey, bus: Bus, db: Db, request: Request,
                idempotency_key: IdempotencyKey = None, agent: Agent = None) -> Response:
    """Place an order. A call centre's key may name the agent placing it for the customer
    (`X-Agent`): the order's events then say who (`<channel>/<agent>`)."""
    assert principal.channel is not None
    limit_orders(request, principal.key_id)  # 429 once this key placed too many
    if agent is not None and principal.channel.partition(":")[0] != "call_centre":
        raise InvalidInput("X-Agent is only taken on a call centre channel's key",
                           field="X-Agent")
    actor = f"{principal.channel}/{agent}" if agent else principal.actor
    order_fields = body.model_dump(mode="json")
    placed = bus.handle(c.PlaceOrder(
        actor=actor, channel=principal.channel, order=order_fields,
        idempotency_key=idempotency_key, request_hash=request_hash(order_fields)))
    # the answer is the order as placed, from what the command wrote, when nothing has
    # changed it since (a replay, or a gateway's answer, is read back)
    order = (order_view(placed.detail) if placed.detail is not None
             else _detail(db, placed.order_id, principal.channel))
    headers = {"Location": f"/api/v1/orders/{placed.order_id}"}
    if placed.replayed:
        headers["Idempotent-Replayed"] = "true"
    return Response(OrderOut.model_validate(order).model_dump_json(), status_code=201,
                    headers=headers, media_type="application/json")


@router.get("", response_model=Page[OrderSummaryOut])
def list_orders(
    principal: AnyKey, conn: Conn,
    status: OrderStatus | None = None,
    channel: str | None = None,
    customer_email: str | None = None,
    created_from: UtcTime | None = None,
    created_to: UtcTime | None = None,
    external_reference: Annotated[str | None, Query(
        max_length=200, description="The channel's own order id")] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    if principal.channel_scope is not None:
        if channel not in (None, principal.channel_scope):
            return {"items": [], "next_cursor": None}
        channel = principal.channel_scope
    filters = queries.OrderFilter(channel, status, customer_email, created_from, created_to,
                                  external_reference)
    rows = queries.list_orders(conn, filters, decode_cursor(cursor, is_position), limit + 1)
    result = page(rows, limit, lambda row: row["seq"])
    result["items"] = [summary_view(row) for row in result["items"]]
    return result


def _detail(db: Engine, ref: str, channel: str | None) -> dict[str, Any]:
    return order_view(read_one(db, "order", queries.order_detail, ref, channel))


@router.get("/{order_id}", response_model=OrderOut)
def get_order(order_id: str, principal: AnyKey, db: Db) -> dict[str, Any]:
    """An order by its id or its number (OM-000123)."""
    return _detail(db, order_id, principal.channel_scope)


@router.get("/{order_id}/events", response_model=list[EventOut])
def order_timeline(order_id: str, principal: AnyKey, conn: Conn) -> list[dict[str, Any]]:
    order = queries.find_order(conn, order_id, principal.channel_scope)
    if order is None:
        raise NotFound(f"order {order_id!r} not found")
    return queries.order_events(conn, order["id"])


def _change(action: str, order_id: str, body: StatusChangeIn | None, principal: Principal,
            bus: Bus, db: Db) -> dict[str, Any]:
    bus.handle(c.ChangeOrderStatus(actor=principal.actor, order_id=order_id, action=action,
                                   reason=body.reason if body else None,
                                   channel=principal.channel_scope))
    return _detail(db, order_id, principal.channel_scope)


@router.post("/{order_id}/cancel", response_model=OrderOut)
def cancel_order(order_id: str, principal: ChannelOrOperatorKey, bus: Bus, db: Db,
                 body: StatusChangeIn | None = None) -> dict[str, Any]:
    """Cancel an order and release its reservations, and the part of its payment that was
    authorized and never captured. A channel may cancel its own orders."""
    order = _change("cancel", order_id, body, principal, bus, db)
    bus.handle(c.VoidPayment(principal.actor, order_id, principal.channel_scope))
    return order


@router.post("/{order_id}/hold", response_model=OrderOut)
def hold_order(order_id: str, principal: OperatorKey, bus: Bus, db: Db,
               body: StatusChangeIn | None = None) -> dict[str, Any]:
    return _change("hold", order_id, body, principal, bus, db)


@router.post("/{order_id}/release", response_model=OrderOut)
def release_order(order_id: str, principal: OperatorKey, bus: Bus, db: Db,
                  body: StatusChangeIn | None = None) -> dict[str, Any]:
    """Release a hold: the order returns to the state it was held in."""
    return _change("release", order_id, body, principal, bus, db)



@router.post("/{order_id}/lines/{line_no}/reject", response_model=OrderOut)
def reject_line(order_id: str, line_no: int, body: LineRejectionIn, principal: OperatorKey,
                bus: Bus, db: Db) -> dict[str, Any]:
    """A location cannot fulfil (part of) a line: the quantity is released there and sourced
    again by the channel's rules, never from that location; what no one can fill waits."""
    bus.handle(c.ResourceLine(principal.actor, order_id, line_no, body.location, body.reason,
                              body.quantity))
    return _detail(db, order_id, None)


@router.post("/{order_id}/lines/{line_no}/cancel", response_model=OrderOut,
             responses={409: {"description": "Nothing (or not that much) left to cancel"}})
def cancel_line(order_id: str, line_no: int, body: LineCancellationIn,
                principal: ChannelOrOperatorKey, bus: Bus, db: Db,
                agent: Agent = None) -> dict[str, Any]:
    """Cancel units of a line not sent yet (all that can go, without `quantity`): their stock
    is given back, what was captured for them refunded (with a credit note when the order was
    invoiced), and the order cancelled with its last line. A channel may cancel lines of its
    own orders; a call centre's key may name its agent (`X-Agent`)."""
    actor = principal.actor
    if agent is not None:
        if principal.channel is None or principal.channel.partition(":")[0] != "call_centre":
            raise InvalidInput("X-Agent is only taken on a call centre channel's key",
                               field="X-Agent")
        actor = f"{principal.channel}/{agent}"
    bus.handle(c.CancelOrderLine(actor, order_id, line_no, body.quantity, body.reason,
                                 principal.channel_scope))
    return _detail(db, order_id, principal.channel_scope)
