"""Purchase order documents: the PDF a supplier reads, the CSV it imports, and money formatting."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import date

import pytest
from pypdf import PdfReader

from ordermesh.adapters.documents.purchase_orders import (
    CSV_FIELDS,
    DeliveryLocation,
    DocumentLine,
    DocumentSupplier,
    PurchaseOrderDocument,
    format_money,
    render_purchase_order_csv,
    render_purchase_order_pdf,
)

LINES = (
    DocumentLine(1, "TEE-BLK-M", "Organic tee, black, M", 120, 450),
    DocumentLine(2, "MUG-STONE", "Stoneware mug & saucer", 36, 1275),
    DocumentLine(3, "BAG-TOTE", "Canvas tote bag, natural, with a long description that wraps",
                 7, 123456),
)


def a_document(**overrides: object) -> PurchaseOrderDocument:
    doc = PurchaseOrderDocument(
        number="PO-000042",
        buyer_name="Ordermesh retailer",
        supplier=DocumentSupplier("Smith & Sons Textiles", "SMITH", "orders@smith.test"),
        deliver_to=DeliveryLocation("London warehouse", {
            "line1": "1 Dock Road", "line2": "Unit 4", "city": "London",
            "postal_code": "E16 1AA", "country": "GB"}),
        sent_on=date(2025, 3, 10),
        expected_on=date(2025, 3, 24),
        payment_terms_days=30,
        currency="GBP",
        lines=LINES,
    )
    return replace(doc, **overrides)  # type: ignore[arg-type]


def pdf_text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


# ---------------------------------------------------------------------------------------------
# PDF
# ---------------------------------------------------------------------------------------------


def test_the_pdf_shows_what_the_supplier_needs() -> None:
    # given a purchase order of three lines, when it is rendered
    pdf = render_purchase_order_pdf(a_document())
    text = pdf_text(pdf)
    # then it is a PDF that names the buyer, order, dates, supplier, delivery place and terms
    assert pdf.startswith(b"%PDF-")
    for expected in ("Ordermesh retailer", "PO-000042", "2025-03-10", "2025-03-24",
                     "Smith & Sons Textiles", "SMITH", "orders@smith.test", "London warehouse",
                     "1 Dock Road", "Unit 4", "E16 1AA London", "GB", "Net 30 days"):
        assert expected in text, expected
    # and every line with its quantity, unit cost and total, and the order total
    for line in LINES:
        assert line.sku in text
    for expected in ("120", "36", "GBP 4.50", "GBP 540.00", "GBP 12.75", "GBP 459.00",
                     "GBP 1,234.56", "GBP 8,641.92", "GBP 9,640.92"):
        assert expected in text, expected


def test_an_unconfirmed_expected_date_says_so() -> None:
    text = pdf_text(render_purchase_order_pdf(a_document(expected_on=None)))
    assert "Expected: to be confirmed" in text


def test_the_pdf_is_the_same_every_time() -> None:
    assert render_purchase_order_pdf(a_document()) == render_purchase_order_pdf(a_document())


def test_a_long_order_runs_onto_more_pages_with_every_line() -> None:
    lines = tuple(DocumentLine(n, f"SKU-{n:03d}", f"Item {n}", n, 100) for n in range(1, 81))
    reader = PdfReader(io.BytesIO(render_purchase_order_pdf(a_document(lines=lines))))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert len(reader.pages) > 1
    assert all(f"SKU-{n:03d}" in text for n in range(1, 81))


# ---------------------------------------------------------------------------------------------
# CSV
# ---------------------------------------------------------------------------------------------


def test_the_csv_reads_back_to_the_same_lines() -> None:
    rows = list(csv.DictReader(io.StringIO(render_purchase_order_csv(a_document()))))
    assert rows == [
        {"po_number": "PO-000042", "supplier_code": "SMITH", "line_no": str(line.line_no),
         "sku": line.sku, "description": line.description, "quantity": str(line.quantity),
         "unit_cost_minor": str(line.unit_cost_minor), "currency": "GBP",
         "line_total_minor": str(line.quantity * line.unit_cost_minor),
         "expected_on": "2025-03-24"}
        for line in LINES
    ]


def test_the_csv_header_and_an_unknown_expected_date() -> None:
    text = render_purchase_order_csv(a_document(expected_on=None))
    assert text.splitlines()[0] == ",".join(CSV_FIELDS) == (
        "po_number,supplier_code,line_no,sku,description,quantity,unit_cost_minor,currency,"
        "line_total_minor,expected_on")
    assert {row["expected_on"] for row in csv.DictReader(io.StringIO(text))} == {""}


# ---------------------------------------------------------------------------------------------
# Money formatting
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("amount", "currency", "text"), [
    (123450, "GBP", "GBP 1,234.50"),
    (5, "GBP", "GBP 0.05"),
    (0, "GBP", "GBP 0.00"),
    (-123450, "GBP", "GBP -1,234.50"),
    (-5, "GBP", "GBP -0.05"),
    (123456789012345678, "EUR", "EUR 1,234,567,890,123,456.78"),
    (1235, "JPY", "JPY 1,235"),
    (-1235, "JPY", "JPY -1,235"),
    (1500, "KRW", "KRW 1,500"),
    (1234, "BHD", "BHD 1.234"),
    (1234567, "KWD", "KWD 1,234.567"),
    (-5, "OMR", "OMR -0.005"),
])
def test_format_money(amount: int, currency: str, text: str) -> None:
    assert format_money(amount, currency) == text
