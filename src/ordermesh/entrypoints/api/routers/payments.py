"""An order's money: its payments, shipments (dispatch), refunds and invoices; and the
gateways' webhooks."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ordermesh.adapters.db import money_queries as mq
from ordermesh.adapters.db import queries
from ordermesh.domain.errors import NotFound
from ordermesh.entrypoints.api.deps import (
    AnyKey,
    Bus,
    ChannelOrOperatorKey,
    Conn,
    Db,
    OperatorKey,
    read_connection,
)
from ordermesh.entrypoints.api.schemas.money import (
    CaptureIn,
    InvoiceOut,
    MoneyMoveOut,
    PaymentIn,
    PaymentOut,
    RefundIn,
    ShipmentIn,
    invoice_view,
    move_view,
    payment_view,
)
from ordermesh.entrypoints.api.schemas.orders import OrderOut, order_view
from ordermesh.services import commands as c

router = APIRouter(prefix="/api/v1/orders", tags=["payments"])
webhooks = APIRouter(prefix="/api/v1/payment-webhooks", tags=["payments"])


def _seq(conn: Any, order_id: str, channel: str | None) -> int:
    seq = mq.order_seq_of(conn, order_id, channel)
    if seq is None:
        raise NotFound(f"order {order_id!r} not found")
    return seq


@router.get("/{order_id}/payments", response_model=list[PaymentOut])
def list_payments(order_id: str, principal: AnyKey, conn: Conn) -> list[dict[str, Any]]:
    """The order's payments with every gateway call made for them; status is computed from
    those calls. Only the gateway's token and the card's brand, last four digits and expiry are
    kept: never a card number."""
    return [payment_view(p) for p in mq.payments_of(conn, _seq(conn, order_id,
                                                                principal.channel_scope))]


@router.post("/{order_id}/payments", response_model=MoneyMoveOut, status_code=201)
def authorize(order_id: str, body: PaymentIn, principal: ChannelOrOperatorKey,
              bus: Bus) -> dict[str, Any] | None:
    """Authorize the order's total again: after a refusal, with a new token (the hold for the
    failed payment is released when it succeeds)."""
    return move_view(bus.handle(c.AuthorizePayment(principal.actor, order_id, body.token,
                                               principal.channel_scope)))


@router.post("/{order_id}/payments/capture", response_model=MoneyMoveOut)
def capture(order_id: str, body: CaptureIn, principal: OperatorKey, bus: Bus) -> dict[str, Any] | None:
    """Capture by hand (shipments capture by themselves as the channel says)."""
    return move_view(bus.handle(c.CapturePayment(principal.actor, order_id, body.reference,
                                             body.amount, body.final)))


@router.post("/{order_id}/payments/void", response_model=MoneyMoveOut | None)
def void(order_id: str, principal: OperatorKey, bus: Bus) -> dict[str, Any] | None:
    """Release what is authorized and not captured; null if there is nothing to release."""
    return move_view(bus.handle(c.VoidPayment(principal.actor, order_id)))


@router.post("/{order_id}/shipments", response_model=OrderOut, status_code=201)
def dispatch(order_id: str, body: ShipmentIn, principal: OperatorKey, bus: Bus,
             db: Db) -> JSONResponse:
    """Units leave the building: stock goes down at the locations they were reserved at; the
    shipment is invoiced and its amount captured as the channel says. Dispatching the same
    reference again changes nothing."""
    order_id, move = bus.handle(c.DispatchShipment(
        principal.actor, order_id, body.reference,
        tuple((u.line_no, u.quantity) for u in body.lines)))
    with read_connection(db) as conn:
        order = queries.order_detail(conn, order_id, None)
    assert order is not None
    body_out = OrderOut.model_validate(order_view(order)).model_dump(mode="json")
    return JSONResponse({**body_out, "capture": move_view(move)}, status_code=201)


@router.post("/{order_id}/refunds", response_model=MoneyMoveOut, status_code=201)
def refund(order_id: str, body: RefundIn, principal: OperatorKey, bus: Bus) -> dict[str, Any] | None:
    """Give money back with the credit note that documents it: for returned units (credited at
    what they were invoiced), the shipping, or an amount. The same reference refunds once."""
    return move_view(bus.handle(c.RefundPayment(
        principal.actor, order_id, body.reference, body.reason,
        tuple((u.line_no, u.quantity) for u in body.lines), body.include_shipping, body.amount,
        body.invoice)))


@router.get("/{order_id}/invoices", response_model=list[InvoiceOut])
def order_invoices(order_id: str, principal: AnyKey, conn: Conn) -> list[dict[str, Any]]:
    seq = _seq(conn, order_id, principal.channel_scope)
    return [invoice_view(i) for i in mq.invoices(conn, order_seq=seq)]


@webhooks.post("/{gateway}", status_code=204)
async def gateway_webhook(gateway: str, request: Request) -> None:
    """A gateway's asynchronous answer, verified with the gateway's own signature scheme
    (Stripe-Signature for Stripe, Standard Webhooks for the test gateway). Needs no API key:
    the signature is the authentication."""
    body = await request.body()
    bus = request.app.state.ordermesh.bus
    await run_in_threadpool(bus.handle, c.ApplyGatewayNotice(
        f"gateway:{gateway}", gateway, body, dict(request.headers)))
