"""/api/v1/suppliers and /api/v1/purchase-orders: buying stock, receiving it, and the
documents the supplier gets."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, Response
from sqlalchemy.engine import Engine

from ordermesh.adapters.db import purchasing_queries as pq
from ordermesh.adapters.db import queries
from ordermesh.adapters.documents.purchase_orders import (
    DeliveryLocation,
    DocumentLine,
    DocumentSupplier,
    PurchaseOrderDocument,
    render_purchase_order_csv,
    render_purchase_order_pdf,
)
from ordermesh.bootstrap import App
from ordermesh.domain.errors import NotFound
from ordermesh.domain.purchasing import PurchaseOrderStatus
from ordermesh.entrypoints.api.deps import (
    AdminKey,
    Bus,
    Conn,
    Db,
    OperatorKey,
    get_app,
    read_connection,
    read_one,
)
from ordermesh.entrypoints.api.pagination import decode_cursor, is_position, page
from ordermesh.entrypoints.api.patching import changes_of
from ordermesh.entrypoints.api.schemas.common import Code, Page
from ordermesh.entrypoints.api.schemas.orders import EventOut, StatusChangeIn
from ordermesh.entrypoints.api.schemas.purchasing import (
    PurchaseOrderIn,
    PurchaseOrderOut,
    PurchaseOrderSummaryOut,
    ReceiptIn,
    ReceiptOut,
    SupplierIn,
    SupplierOut,
    SupplierPatch,
)
from ordermesh.services import commands as c

router = APIRouter(prefix="/api/v1", tags=["purchasing"])
Wired = Annotated[App, Depends(get_app)]


def _supplier(db: Engine, code: str) -> dict[str, Any]:
    return read_one(db, "supplier", pq.get_supplier, code)


@router.post("/suppliers", status_code=201, response_model=SupplierOut)
def create_supplier(body: SupplierIn, principal: AdminKey, bus: Bus, db: Db) -> dict[str, Any]:
    code = bus.handle(c.CreateSupplier(principal.actor, body.model_dump(mode="python")))
    return _supplier(db, code)


@router.get("/suppliers", response_model=list[SupplierOut])
def list_suppliers(principal: OperatorKey, conn: Conn,
                   active: bool | None = None) -> list[dict[str, Any]]:
    return pq.list_suppliers(conn, active)


@router.get("/suppliers/{code}", response_model=SupplierOut)
def get_supplier(code: str, principal: OperatorKey, db: Db) -> dict[str, Any]:
    return _supplier(db, code)


@router.patch("/suppliers/{code}", response_model=SupplierOut)
def update_supplier(code: str, body: SupplierPatch, principal: AdminKey, bus: Bus,
                    db: Db) -> dict[str, Any]:
    bus.handle(c.UpdateSupplier(principal.actor, code, changes_of(body, set())))
    return _supplier(db, code)


def _detail(db: Engine, ref: str) -> dict[str, Any]:
    return read_one(db, "purchase order", pq.purchase_order_detail, ref)


@router.post("/purchase-orders", status_code=201, response_model=PurchaseOrderOut)
def create_purchase_order(body: PurchaseOrderIn, principal: OperatorKey, bus: Bus,
                          db: Db) -> JSONResponse:
    """A draft: nothing is expected from the supplier until it is sent."""
    po_id = bus.handle(c.CreatePurchaseOrder(principal.actor, body.model_dump(mode="python")))
    po = PurchaseOrderOut.model_validate(_detail(db, po_id))
    return JSONResponse(po.model_dump(mode="json"), status_code=201,
                        headers={"Location": f"/api/v1/purchase-orders/{po_id}"})


@router.get("/purchase-orders", response_model=Page[PurchaseOrderSummaryOut])
def list_purchase_orders(
    principal: OperatorKey, conn: Conn,
    status: PurchaseOrderStatus | None = None,
    supplier: Code | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    filters = pq.PurchaseOrderFilter(status, supplier)
    rows = pq.list_purchase_orders(conn, filters, decode_cursor(cursor, is_position), limit + 1)
    return page(rows, limit, lambda row: row["seq"])


def _document(db: Engine, ref: str, buyer: str) -> PurchaseOrderDocument:
    """What the supplier is sent: there is none before the purchase order is sent."""
    with read_connection(db) as conn:
        po = pq.purchase_order_detail(conn, ref)
        if po is None or po["sent_at"] is None:
            raise NotFound(f"no document for purchase order {ref!r}: it has not been sent")
        supplier = pq.get_supplier(conn, po["supplier_code"])
        location = queries.get_location(conn, po["deliver_to"])
    assert supplier is not None and location is not None  # foreign keys
    return PurchaseOrderDocument(
        number=po["number"], buyer_name=buyer,
        supplier=DocumentSupplier(supplier["name"], supplier["code"], supplier["email"]),
        deliver_to=DeliveryLocation(location["name"], location["address"]),
        sent_on=po["sent_at"].date(), expected_on=po["expected_on"],
        payment_terms_days=supplier["payment_terms_days"], currency=po["currency"],
        lines=tuple(DocumentLine(ln["line_no"], ln["sku"], ln["product_name"], ln["quantity"],
                                 ln["unit_cost"]) for ln in po["lines"]),
    )


# The document routes come before /{po_id}, which would otherwise take "PO-000001.pdf" as an id.
@router.get("/purchase-orders/{po_id}.pdf", response_class=Response,
            responses={200: {"content": {"application/pdf": {}}}})
def purchase_order_pdf(po_id: str, principal: OperatorKey, db: Db, app: Wired) -> Response:
    doc = _document(db, po_id, app.settings.retailer_name)
    return Response(render_purchase_order_pdf(doc), media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{doc.number}.pdf"'})


@router.get("/purchase-orders/{po_id}.csv", response_class=Response,
            responses={200: {"content": {"text/csv": {}}}})
def purchase_order_csv(po_id: str, principal: OperatorKey, db: Db, app: Wired) -> Response:
    doc = _document(db, po_id, app.settings.retailer_name)
    return Response(render_purchase_order_csv(doc), media_type="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{doc.number}.csv"'})


@router.get("/purchase-orders/{po_id}", response_model=PurchaseOrderOut)
def get_purchase_order(po_id: str, principal: OperatorKey, db: Db) -> dict[str, Any]:
    """A purchase order by its id or its number (PO-000123)."""
    return _detail(db, po_id)


@router.get("/purchase-orders/{po_id}/events", response_model=list[EventOut])
def purchase_order_timeline(po_id: str, principal: OperatorKey,
                            conn: Conn) -> list[dict[str, Any]]:
    po = pq.find_purchase_order(conn, po_id)
    if po is None:
        raise NotFound(f"purchase order {po_id!r} not found")
    return pq.purchase_order_events(conn, po["id"])


@router.post("/purchase-orders/{po_id}/send", response_model=PurchaseOrderOut)
def send_purchase_order(po_id: str, principal: OperatorKey, bus: Bus, db: Db) -> dict[str, Any]:
    """Record that it went to the supplier; expected_on follows from the supplier's lead time
    unless a date was agreed. The PDF and CSV are available from now on."""
    return _detail(db, bus.handle(c.SendPurchaseOrder(principal.actor, po_id)))


@router.post("/purchase-orders/{po_id}/receipts", response_model=ReceiptOut)
def receive_purchase_order(po_id: str, body: ReceiptIn, principal: OperatorKey, bus: Bus,
                           db: Db) -> dict[str, Any]:
    """Goods arrived at the deliver_to location: on hand rises, and waiting backorders and
    pre-orders are allocated first come, first served. All lines or none are booked."""
    received = bus.handle(c.ReceivePurchaseOrder(
        principal.actor, po_id, {line.line_no: line.quantity for line in body.lines},
        body.allow_over_receipt, body.reference, body.location))
    return {**_detail(db, received.po_id), "allocated_orders": received.allocated_orders}


@router.post("/purchase-orders/{po_id}/close", response_model=PurchaseOrderOut)
def close_purchase_order(po_id: str, principal: OperatorKey, bus: Bus, db: Db,
                         body: StatusChangeIn | None = None) -> dict[str, Any]:
    """Expect nothing more: what is still outstanding will not come."""
    reason = body.reason if body else None
    return _detail(db, bus.handle(c.ClosePurchaseOrder(principal.actor, po_id, reason)))


@router.post("/purchase-orders/{po_id}/cancel", response_model=PurchaseOrderOut)
def cancel_purchase_order(po_id: str, principal: OperatorKey, bus: Bus, db: Db,
                          body: StatusChangeIn | None = None) -> dict[str, Any]:
    """Only before any goods are received; after that, close it."""
    reason = body.reason if body else None
    return _detail(db, bus.handle(c.CancelPurchaseOrder(principal.actor, po_id, reason)))
