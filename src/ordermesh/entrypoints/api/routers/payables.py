"""/api/v1/supplier-bills and /api/v1/reports/ap-ageing: what Ordermesh owes its suppliers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.engine import Engine

from ordermesh.adapters.db import payables_queries as q
from ordermesh.bootstrap import App
from ordermesh.domain.errors import NotFound
from ordermesh.domain.payables import BUCKETS, AgeingRow, BillStatus, Tolerance
from ordermesh.entrypoints.api.deps import Bus, Conn, Db, OperatorKey, get_app, read_one
from ordermesh.entrypoints.api.pagination import decode_cursor, is_position, page
from ordermesh.entrypoints.api.schemas.common import BusinessDate, Code, Page
from ordermesh.entrypoints.api.schemas.orders import EventOut
from ordermesh.entrypoints.api.schemas.payables import (
    AgeingReportOut,
    ReviewIn,
    SupplierBillIn,
    SupplierBillOut,
    SupplierBillSummaryOut,
    SupplierPaymentIn,
)
from ordermesh.services import commands as c

router = APIRouter(prefix="/api/v1", tags=["payables"])


def _detail(db: Engine, bill_id: str) -> dict[str, Any]:
    return read_one(db, "supplier bill", q.bill_detail, bill_id)


@router.post("/supplier-bills", status_code=201, response_model=SupplierBillOut)
def create_supplier_bill(body: SupplierBillIn, principal: OperatorKey, bus: Bus,
                         db: Db, app: Annotated[App, Depends(get_app)]) -> JSONResponse:
    """Enter the supplier's bill for a purchase order. It is matched against what was ordered
    and received, within the price tolerance of the settings
    (`ORDERMESH_BILL_PRICE_TOLERANCE_PERCENT`, `..._MINOR`): `matched`, or `held` for review
    with its findings."""
    tolerance = Tolerance(price_percent=app.settings.bill_price_tolerance_percent,
                          price_amount=app.settings.bill_price_tolerance_minor)
    bill_id = bus.handle(c.CreateSupplierBill(
        principal.actor, body.number, body.purchase_order, body.bill_date,
        tuple((ln.line_no, ln.quantity, ln.unit_cost) for ln in body.lines), body.currency,
        tolerance=tolerance))
    bill = SupplierBillOut.model_validate(_detail(db, bill_id))
    return JSONResponse(bill.model_dump(mode="json"), status_code=201,
                        headers={"Location": f"/api/v1/supplier-bills/{bill_id}"})


@router.get("/supplier-bills", response_model=Page[SupplierBillSummaryOut])
def list_supplier_bills(
    principal: OperatorKey, conn: Conn,
    status: BillStatus | None = None,
    supplier: Code | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    filters = q.BillFilter(status, supplier)
    rows = q.list_bills(conn, filters, decode_cursor(cursor, is_position), limit + 1)
    return page(rows, limit, lambda row: row["seq"])


@router.get("/supplier-bills/{bill_id}", response_model=SupplierBillOut)
def get_supplier_bill(bill_id: str, principal: OperatorKey, db: Db) -> dict[str, Any]:
    """The bill with its lines, the findings of the match, and the payments made."""
    return _detail(db, bill_id)


@router.get("/supplier-bills/{bill_id}/events", response_model=list[EventOut])
def supplier_bill_timeline(bill_id: str, principal: OperatorKey,
                           conn: Conn) -> list[dict[str, Any]]:
    if q.find_bill(conn, bill_id) is None:
        raise NotFound(f"supplier bill {bill_id!r} not found")
    return q.bill_events(conn, bill_id)


@router.post("/supplier-bills/{bill_id}/approve", response_model=SupplierBillOut)
def approve_supplier_bill(bill_id: str, principal: OperatorKey, bus: Bus, db: Db,
                          body: ReviewIn | None = None) -> dict[str, Any]:
    """Approve for payment; a held bill needs a reason."""
    reason = body.reason if body else None
    return _detail(db, bus.handle(c.ApproveSupplierBill(principal.actor, bill_id, reason)))


@router.post("/supplier-bills/{bill_id}/reject", response_model=SupplierBillOut)
def reject_supplier_bill(bill_id: str, principal: OperatorKey, bus: Bus, db: Db,
                         body: ReviewIn | None = None) -> dict[str, Any]:
    reason = body.reason if body else None
    return _detail(db, bus.handle(c.RejectSupplierBill(principal.actor, bill_id, reason)))


@router.post("/supplier-bills/{bill_id}/payments", status_code=201, response_model=SupplierBillOut)
def record_supplier_payment(bill_id: str, body: SupplierPaymentIn, principal: OperatorKey,
                            bus: Bus, db: Db) -> dict[str, Any]:
    """Record a payment of an approved bill, in full or in part; never more than it owes."""
    return _detail(db, bus.handle(c.RecordSupplierPayment(
        principal.actor, bill_id, body.amount, body.paid_on, body.reference, body.currency)))


def _row(row: AgeingRow, names: dict[str, str]) -> dict[str, Any]:
    code = row.supplier_code
    return {"supplier_code": code, "supplier_name": names.get(code) if code else None,
            "currency": row.currency, **{str(b): row.amounts[b] for b in BUCKETS},
            "total": row.total}


@router.get("/reports/ap-ageing", response_model=AgeingReportOut,
            responses={200: {"content": {"text/csv": {}}}})
def ap_ageing(
    request: Request, principal: OperatorKey, conn: Conn,
    as_of: BusinessDate | None = None,
    format_: Annotated[Literal["json", "csv"] | None, Query(alias="format")] = None,
) -> Any:
    """What is owed to suppliers at `as_of` (default: today), by days past due: current (not
    yet due), 1-30, 31-60, 61-90 and over 90; per supplier and currency, and a total per
    currency. CSV with `?format=csv` or `Accept: text/csv`."""
    day = as_of or datetime.now(UTC).date()
    report, names = q.ageing(conn, day)
    wants_csv = format_ == "csv" or (
        format_ is None and "text/csv" in request.headers.get("accept", ""))
    if wants_csv:
        return Response(report.to_csv(names), media_type="text/csv",
                        headers={"Content-Disposition":
                                 f'attachment; filename="ap-ageing-{day.isoformat()}.csv"'})
    return {"as_of": day, "suppliers": [_row(r, names) for r in report.suppliers],
            "totals": [_row(r, names) for r in report.totals]}
