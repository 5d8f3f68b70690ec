"""Invoices and credit notes, tax rates, gateway payouts and the reconciliation report."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from ordermesh.adapters.db import money_queries as mq
from ordermesh.adapters.documents.invoices import render_document_pdf
from ordermesh.adapters.documents.reconciliation import reconciliation_csv
from ordermesh.domain.errors import NotFound
from ordermesh.domain.invoicing import Amounts, Document, DocumentKind, DocumentLine, Party
from ordermesh.domain.orders import format_order_number
from ordermesh.entrypoints.api.deps import (
    AdminKey,
    AnyKey,
    Bus,
    Conn,
    Db,
    OperatorKey,
    read_connection,
)
from ordermesh.entrypoints.api.schemas.common import IsoText
from ordermesh.entrypoints.api.schemas.money import (
    InvoiceOut,
    PayoutImportIn,
    PayoutImportOut,
    TaxRateIn,
    TaxRateOut,
    invoice_view,
)
from ordermesh.services import commands as c

router = APIRouter(prefix="/api/v1", tags=["finance"])


def _invoice(conn: Any, ref: str, channel: str | None) -> dict[str, Any]:
    found = mq.invoice(conn, ref, channel)
    if found is None:
        raise NotFound(f"invoice {ref!r} not found")
    return found


@router.get("/invoices/{invoice_id}.pdf", response_class=Response,
            responses={200: {"content": {"application/pdf": {}}}})
def invoice_pdf(invoice_id: str, principal: AnyKey, conn: Conn) -> Response:
    """The invoice or credit note as a PDF, rendered from what was issued (the same bytes every
    time)."""
    row = _invoice(conn, invoice_id, principal.channel_scope)
    return Response(render_document_pdf(document_of(row)), media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{row["number"]}.pdf"'})


@router.get("/invoices/{invoice_id}", response_model=InvoiceOut)
def get_invoice(invoice_id: str, principal: AnyKey, conn: Conn) -> dict[str, Any]:
    """An invoice or credit note by its id or its number (INV-2026-000001)."""
    return invoice_view(_invoice(conn, invoice_id, principal.channel_scope))


def document_of(row: dict[str, Any]) -> Document:
    lines = tuple(DocumentLine(ln["order_line_id"], ln["sku"], ln["description"],
                               ln["quantity"], ln["unit_price"], ln["net"], ln["tax"],
                               Decimal(ln["tax_rate"]), ln["tax_name"]) for ln in row["lines"])
    return Document(DocumentKind(row["kind"]), row["number"], row["issued_on"],
                    format_order_number(row["order_seq"]), row["currency"],
                    _party(row["seller"]), _party(row["buyer"]), Amounts(lines),
                    row["prices_include_tax"], row["payment_terms"], row["status"],
                    row["corrects"], row["reason"])


def _party(data: dict[str, Any]) -> Party:
    return Party(data["name"], data.get("address") or {}, data.get("email"), data.get("tax_id"))


@router.get("/tax-rates", response_model=list[TaxRateOut])
def list_tax_rates(principal: AnyKey, conn: Conn) -> list[dict[str, Any]]:
    return mq.tax_rates(conn)


@router.put("/tax-rates", response_model=list[TaxRateOut])
def put_tax_rate(body: TaxRateIn, principal: AdminKey, bus: Bus, db: Db) -> list[dict[str, Any]]:
    """Set the rate of a tax class in a country (or one region of it). Orders placed from now
    on are taxed by it; orders placed before keep what they were taxed."""
    bus.handle(c.PutTaxRate(principal.actor, body.tax_class, body.country, body.region,
                            body.rate, body.name))
    with read_connection(db) as conn:  # after the command, not held across it
        rates = mq.tax_rates(conn)
    return [r for r in rates if (r["tax_class"], r["country"], r["region"])
            == (body.tax_class, body.country, body.region)]


@router.delete("/tax-rates/{tax_class}/{country}", status_code=204)
def remove_tax_rate(tax_class: str, country: str, principal: AdminKey, bus: Bus,
                    region: str | None = None) -> None:
    bus.handle(c.RemoveTaxRate(principal.actor, tax_class, country, region))


@router.post("/payouts/import", response_model=PayoutImportOut)
def import_payouts(body: PayoutImportIn, principal: OperatorKey, bus: Bus) -> dict[str, int]:
    """Fetch the gateway's payouts since a day and store each once, with what it consisted of."""
    return {"imported": len(bus.handle(c.ImportPayouts(principal.actor, body.gateway,
                                                       body.since)))}


@router.get("/reports/reconciliation", responses={200: {"content": {"text/csv": {}}}})
def reconciliation(request: Request, principal: OperatorKey, conn: Conn,
                   since: Annotated[date, IsoText], gateway: str | None = None,
                   settled_within_days: Annotated[int, Query(ge=0, le=365)] = 7,
                   format: Annotated[str | None, Query(pattern="^(json|csv)$")] = None) -> Response:
    """Each imported payout against our captures, refunds and fees: captured - refunded - fees
    = paid out, with every movement that does not match listed; and our movements no payout
    settled within `settled_within_days`. JSON, or CSV with `format=csv` or Accept: text/csv."""
    checks, late = mq.reconciliation(conn, gateway, since, settled_within_days)
    if format == "csv" or (format is None and "text/csv" in request.headers.get("accept", "")):
        return Response(reconciliation_csv(checks, late), media_type="text/csv")
    return JSONResponse({
        "payouts": [{"gateway": ch.gateway, "payout": ch.payout,
                     "arrival_date": ch.arrival_date.isoformat(), "currency": ch.currency,
                     "captured": ch.captured, "refunded": ch.refunded, "fees": ch.fees,
                     "other": ch.other, "expected": ch.expected, "paid_out": ch.paid_out,
                     "difference": ch.difference, "reconciled": ch.reconciled,
                     "findings": [_finding(f) for f in ch.findings]} for ch in checks],
        "not_settled": [_finding(f) for f in late],
    })


def _finding(finding: Any) -> dict[str, Any]:
    return {"payout": finding.payout, "reference": finding.reference,
            "problem": finding.problem, "expected": finding.expected,
            "actual": finding.actual, "order": finding.order_number}
