"""A purchase order as the supplier sees it: a PDF to read and a CSV to import.

The renderers take a PurchaseOrderDocument of plain data, so they need neither the database nor
the domain aggregate, and the same document always renders to the same bytes.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from xml.sax.saxutils import escape

from reportlab.lib import colors  # type: ignore[import-untyped]
from reportlab.lib.pagesizes import A4  # type: ignore[import-untyped]
from reportlab.lib.styles import getSampleStyleSheet  # type: ignore[import-untyped]
from reportlab.lib.units import mm  # type: ignore[import-untyped]
from reportlab.platypus import (  # type: ignore[import-untyped]
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

# ISO 4217 minor-unit exponents that differ from the usual two decimals.
EXPONENTS: dict[str, int] = {"JPY": 0, "KRW": 0, "BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3, "TND": 3}

CSV_FIELDS = ("po_number", "supplier_code", "line_no", "sku", "description", "quantity",
              "unit_cost_minor", "currency", "line_total_minor", "expected_on")


def format_money(amount_minor: int, currency: str) -> str:
    """`GBP 1,234.50` from 123450 minor units, by integer arithmetic so nothing is ever rounded."""
    exponent = EXPONENTS.get(currency, 2)
    major, minor = divmod(abs(amount_minor), 10**exponent)
    sign = "-" if amount_minor < 0 else ""
    fraction = f".{minor:0{exponent}d}" if exponent else ""
    return f"{currency} {sign}{major:,}{fraction}"


@dataclass(frozen=True, slots=True)
class DocumentSupplier:
    name: str
    code: str
    email: str


@dataclass(frozen=True, slots=True)
class DeliveryLocation:
    name: str
    address: Mapping[str, str | None]  # line1, line2, city, postal_code, country


@dataclass(frozen=True, slots=True)
class DocumentLine:
    line_no: int
    sku: str
    description: str
    quantity: int
    unit_cost_minor: int

    @property
    def total_minor(self) -> int:
        return self.quantity * self.unit_cost_minor


@dataclass(frozen=True, slots=True)
class PurchaseOrderDocument:
    number: str
    buyer_name: str
    supplier: DocumentSupplier
    deliver_to: DeliveryLocation
    sent_on: date
    expected_on: date | None
    payment_terms_days: int
    currency: str
    lines: tuple[DocumentLine, ...]

    @property
    def total_minor(self) -> int:
        return sum(line.total_minor for line in self.lines)


def render_purchase_order_csv(doc: PurchaseOrderDocument) -> str:
    """One row per line, amounts in minor units so an importing system never parses decimals."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_FIELDS)
    expected = doc.expected_on.isoformat() if doc.expected_on else ""
    for line in doc.lines:
        writer.writerow([doc.number, doc.supplier.code, line.line_no, line.sku, line.description,
                         line.quantity, line.unit_cost_minor, doc.currency, line.total_minor,
                         expected])
    return out.getvalue()


def render_purchase_order_pdf(doc: PurchaseOrderDocument) -> bytes:
    """An A4 PDF. `invariant` drops the creation time and random document id, so the same
    document renders to the same bytes (tests compare them, caches can key on them)."""
    out = io.BytesIO()
    template = SimpleDocTemplate(
        out, pagesize=A4, invariant=1, title=f"Purchase order {doc.number}",
        author=doc.buyer_name, leftMargin=18 * mm, rightMargin=18 * mm,
        topMargin=18 * mm, bottomMargin=18 * mm,
    )
    template.build([*_heading(doc), Spacer(1, 6 * mm), _lines_table(doc)])
    return out.getvalue()


def _text(value: str) -> str:
    # Paragraph reads a little XML markup: a supplier called "Smith & Sons" must stay text
    return escape(value)


def _heading(doc: PurchaseOrderDocument) -> list[Paragraph]:
    styles = getSampleStyleSheet()
    body = styles["BodyText"]
    expected = doc.expected_on.isoformat() if doc.expected_on else "to be confirmed"
    supplier = doc.supplier
    return [
        Paragraph(_text(doc.buyer_name), styles["Title"]),
        Paragraph(f"Purchase order {_text(doc.number)}", styles["Heading2"]),
        Paragraph(f"Date sent: {doc.sent_on.isoformat()}<br/>Expected: {expected}<br/>"
                  f"Payment terms: Net {doc.payment_terms_days} days", body),
        Paragraph(f"<b>Supplier</b><br/>{_text(supplier.name)} ({_text(supplier.code)})<br/>"
                  f"{_text(supplier.email)}", body),
        Paragraph(f"<b>Deliver to</b><br/>{'<br/>'.join(_address_lines(doc.deliver_to))}", body),
    ]


def _address_lines(location: DeliveryLocation) -> list[str]:
    address = location.address
    city = " ".join(part for part in (address.get("postal_code"), address.get("city")) if part)
    parts = [location.name, address.get("line1"), address.get("line2"), city, address.get("country")]
    return [_text(part) for part in parts if part]


def _lines_table(doc: PurchaseOrderDocument) -> Table:
    cell = getSampleStyleSheet()["BodyText"]
    rows: list[list[object]] = [["Line", "SKU", "Description", "Qty", "Unit cost", "Line total"]]
    for line in doc.lines:
        rows.append([str(line.line_no), line.sku, Paragraph(_text(line.description), cell),
                     str(line.quantity), format_money(line.unit_cost_minor, doc.currency),
                     format_money(line.total_minor, doc.currency)])
    rows.append(["", "", "", "", "Total", format_money(doc.total_minor, doc.currency)])
    widths = [12 * mm, 28 * mm, 50 * mm, 14 * mm, 35 * mm, 35 * mm]  # 174 mm: A4 less margins
    table = Table(rows, colWidths=widths, repeatRows=1)
    table.setStyle(TableStyle([
        ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
        ("FONTNAME", (0, -1), (-1, -1), "Helvetica-Bold"),
        ("LINEBELOW", (0, 0), (-1, 0), 0.5, colors.black),
        ("LINEABOVE", (0, -1), (-1, -1), 0.5, colors.black),
        ("ALIGN", (3, 0), (-1, -1), "RIGHT"),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]))
    return table
