"""Invoices and credit notes as the customer receives them: an A4 PDF.

The renderer takes an issued Document (plain data from the domain), so it needs neither the
database nor the order, and the same document always renders to the same bytes. Amounts are
integer minor units throughout and are printed with `format_money`, so no float ever rounds them.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors  # type: ignore[import-untyped]
from reportlab.lib.pagesizes import A4  # type: ignore[import-untyped]
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet  # type: ignore[import-untyped]
from reportlab.lib.units import mm  # type: ignore[import-untyped]
from reportlab.platypus import (  # type: ignore[import-untyped]
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from ordermesh.adapters.documents.purchase_orders import format_money
from ordermesh.domain.invoicing import Document, DocumentKind, Party

MARGIN = 18 * mm
FRAME_WIDTH = A4[0] - 2 * MARGIN  # 174 mm

# Invoice statuses whose total has been paid rather than is still due (matched ignoring case).
PAID_STATUSES = frozenset({"paid", "captured"})

TITLES = {DocumentKind.INVOICE: "Invoice", DocumentKind.CREDIT_NOTE: "Credit note"}

LINE_HEADER = ("Description", "SKU", "Qty", "Unit price", "Net", "Tax rate", "Tax", "Gross")
# description, SKU, qty, unit price, net, tax rate, tax, gross: 174 mm, A4 less margins
LINE_WIDTHS = tuple(w * mm for w in (32, 22, 10, 23, 23, 18, 23, 23))


def render_document_pdf(document: Document) -> bytes:
    """An A4 PDF of an invoice or credit note. `invariant` drops the creation time and the
    random document id, so the same document renders to the same bytes."""
    out = io.BytesIO()
    title = TITLES[document.kind]
    template = SimpleDocTemplate(
        out, pagesize=A4, invariant=1, title=f"{title} {document.number}",
        author=document.seller.name, leftMargin=MARGIN, rightMargin=MARGIN,
        topMargin=MARGIN, bottomMargin=MARGIN + 6 * mm,
    )
    story: list[Any] = [
        *_heading(document), Spacer(1, 4 * mm),
        _parties(document), Spacer(1, 6 * mm),
        _lines_table(document), Spacer(1, 6 * mm),
        Paragraph("<b>Tax breakdown</b>", _styles()["BodyText"]),
        _breakdown_table(document), Spacer(1, 4 * mm),
        _totals_table(document), Spacer(1, 6 * mm),
        *_terms(document),
    ]

    def footer(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 8)
        canvas.drawString(MARGIN, MARGIN, _footer_text(document))
        canvas.drawRightString(A4[0] - MARGIN, MARGIN, f"Page {doc.page}")
        canvas.restoreState()

    template.build(story, onFirstPage=footer, onLaterPages=footer)
    return out.getvalue()


def _text(value: str) -> str:
    # Paragraph reads a little XML markup: a buyer called "<b>O'Brien & Co</b>" must stay text
    return escape(value)


def _styles() -> Any:
    return getSampleStyleSheet()


def _cell_style() -> ParagraphStyle:
    return ParagraphStyle("cell", parent=_styles()["BodyText"], fontSize=7, leading=8.5)


def _footer_text(document: Document) -> str:
    # drawn straight on the canvas, which reads no markup: no escaping here
    prices = "Prices include tax" if document.prices_include_tax else "Prices exclude tax"
    return f"{prices}  |  {TITLES[document.kind]} {document.number}"


def _heading(document: Document) -> list[Paragraph]:
    styles = _styles()
    details = [f"Number: {_text(document.number)}",
               f"Issue date: {document.issued_on.isoformat()}",
               f"Order: {_text(document.order_number)}"]
    if document.kind is DocumentKind.CREDIT_NOTE and document.corrects:
        details.append(f"Corrects invoice {_text(document.corrects)}")
    if document.reason:
        details.append(f"Reason: {_text(document.reason)}")
    return [
        Paragraph(TITLES[document.kind], styles["Title"]),
        Paragraph("<br/>".join(details), styles["BodyText"]),
    ]


def _parties(document: Document) -> Table:
    body = _styles()["BodyText"]
    seller = _party_lines(document.seller)
    if document.seller.tax_id:
        seller.append(f"Tax id: {_text(document.seller.tax_id)}")
    buyer = _party_lines(document.buyer)
    if document.buyer.email:
        buyer.append(_text(document.buyer.email))
    if document.buyer.tax_id:
        buyer.append(f"Tax id: {_text(document.buyer.tax_id)}")
    table = Table([[Paragraph("<br/>".join(["<b>Seller</b>", *seller]), body),
                    Paragraph("<br/>".join(["<b>Bill to</b>", *buyer]), body)]],
                  colWidths=[FRAME_WIDTH / 2, FRAME_WIDTH / 2])
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"),
                               ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
    return table


def _party_lines(party: Party) -> list[str]:
    return [_text(part) for part in (party.name, *_address_lines(party.address)) if part]


def _address_lines(address: Mapping[str, str | None]) -> list[str]:
    city = " ".join(part for part in (address.get("postal_code"), address.get("city")) if part)
    parts = [address.get("line1"), address.get("line2"), city, address.get("region"),
             address.get("country")]
    return [part for part in parts if part]


def _money_table(rows: list[list[Any]], widths: tuple[float, ...], first_money_column: int,
                 extra: list[tuple[Any, ...]] | None = None) -> Table:
    table = Table(rows, colWidths=list(widths), repeatRows=1)
    table.setStyle(TableStyle([
        ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
        ("FONTSIZE", (0, 0), (-1, -1), 7),
        ("LEADING", (0, 0), (-1, -1), 8.5),
        ("LINEBELOW", (0, 0), (-1, 0), 0.5, colors.black),
        ("ALIGN", (first_money_column, 0), (-1, -1), "RIGHT"),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 3),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3),
        *(extra or []),
    ]))
    return table


def _lines_table(document: Document) -> Table:
    cell = _cell_style()
    money = _money_formatter(document.currency)
    rows: list[list[Any]] = [list(LINE_HEADER)]
    for line in document.amounts.lines:
        rows.append([Paragraph(_text(line.description), cell), Paragraph(_text(line.sku or ""), cell),
                     str(line.quantity), money(line.unit_price), money(line.net),
                     Paragraph(_text(line.tax_name), cell), money(line.tax), money(line.gross)])
    # quantities and amounts right-aligned; the rate name between them stays a left-aligned cell
    return _money_table(rows, LINE_WIDTHS, 2, [("ALIGN", (5, 0), (5, -1), "LEFT")])


def _breakdown_table(document: Document) -> Table:
    cell = _cell_style()
    money = _money_formatter(document.currency)
    rows: list[list[Any]] = [["Tax rate", "Rate", "Net", "Tax"]]
    for rate in document.amounts.by_rate():
        rows.append([Paragraph(_text(rate.name), cell), _percent(rate.rate), money(rate.net),
                     money(rate.tax)])
    return _money_table(rows, tuple(w * mm for w in (62, 20, 46, 46)), 1)


def _totals_table(document: Document) -> Table:
    money = _money_formatter(document.currency)
    amounts = document.amounts
    rows = [["Net", money(amounts.net)], ["Tax", money(amounts.tax)],
            [_total_label(document), money(amounts.gross)]]
    table = Table(rows, colWidths=[FRAME_WIDTH - 46 * mm, 46 * mm])
    table.setStyle(TableStyle([
        ("ALIGN", (0, 0), (-1, -1), "RIGHT"),
        ("FONTNAME", (0, -1), (-1, -1), "Helvetica-Bold"),
        ("LINEABOVE", (0, -1), (-1, -1), 0.5, colors.black),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3),
    ]))
    return table


def _total_label(document: Document) -> str:
    if document.kind is DocumentKind.CREDIT_NOTE:
        return "Total credited"
    return "Total paid" if document.status.strip().lower() in PAID_STATUSES else "Total due"


def _terms(document: Document) -> list[Paragraph]:
    body = _styles()["BodyText"]
    return [Paragraph(f"Payment terms: {_text(document.payment_terms)}<br/>"
                      f"Status: {_text(document.status)}", body)]


def _money_formatter(currency: str) -> Callable[[int], str]:
    def money(amount_minor: int) -> str:
        return format_money(amount_minor, currency)
    return money


def _percent(rate: Decimal) -> str:
    """21% from Decimal("0.21"), 7.25% from Decimal("0.0725"): Decimal arithmetic, no floats."""
    percent = (rate * 100).normalize()
    return f"{percent:f}%"
