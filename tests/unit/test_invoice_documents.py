"""Invoice and credit note PDFs: what the customer reads, printed from an issued Document."""

from __future__ import annotations

import io
import re
from dataclasses import replace
from datetime import date
from decimal import Decimal

from pypdf import PdfReader

from ordermesh.adapters.documents.invoices import render_document_pdf
from ordermesh.domain.invoicing import (
    Amounts,
    Document,
    DocumentKind,
    DocumentLine,
    Party,
    document_number,
)

VAT_21 = (Decimal("0.21"), "VAT 21%")
VAT_9 = (Decimal("0.09"), "VAT 9%")
VAT_10 = (Decimal("0.1"), "VAT 10%")
VAT_20 = (Decimal("0.2"), "VAT 20%")

SELLER = Party("Ordermesh Retail B.V.", {"line1": "Keizersgracht 1", "line2": None,
                                          "city": "Amsterdam", "postal_code": "1015 AA",
                                          "country": "NL"},
               email="billing@ordermesh.test", tax_id="NL123456789B01")
BUYER = Party("<b>O'Brien & Co</b>", {"line1": "12 <Main> Street", "line2": "Flat 3",
                                      "city": "Dublin", "postal_code": "D02 X285",
                                      "country": "IE"},
              email="ann@obrien.test")


def line(description: str, sku: str | None, quantity: int, unit_price: int, net: int, tax: int,
         rate: tuple[Decimal, str]) -> DocumentLine:
    return DocumentLine("line-id" if sku else None, sku, description, quantity, unit_price, net,
                        tax, rate[0], rate[1])


# Prices include tax: 2 x 12.10 = 24.20 is 20.00 + 4.20 at 21%; 3 x 10.90 = 32.70 is 30.00 + 2.70
# at 9%; shipping 4.95 is 4.09 + 0.86 at 21%.
LINES = (
    line("Organic tee, black, M", "TEE-BLK-M", 2, 1210, 2000, 420, VAT_21),
    line("Stoneware mug & saucer", "MUG-STONE", 3, 1090, 3000, 270, VAT_9),
    line("Shipping", None, 1, 495, 409, 86, VAT_21),
)


def an_invoice(**overrides: object) -> Document:
    doc = Document(
        kind=DocumentKind.INVOICE,
        number=document_number(DocumentKind.INVOICE, 2026, 42),
        issued_on=date(2026, 3, 10),
        order_number="OM-000123",
        currency="EUR",
        seller=SELLER,
        buyer=BUYER,
        amounts=Amounts(LINES),
        prices_include_tax=True,
        payment_terms="Paid by card at checkout",
        status="paid",
    )
    return replace(doc, **overrides)  # type: ignore[arg-type]


def a_credit_note(**overrides: object) -> Document:
    doc = an_invoice(
        kind=DocumentKind.CREDIT_NOTE,
        number=document_number(DocumentKind.CREDIT_NOTE, 2026, 7),
        amounts=Amounts((line("Stoneware mug & saucer", "MUG-STONE", 1, 1090, 1000, 90, VAT_9),)),
        status="refunded",
        payment_terms="Refunded to the card used",
        corrects="INV-2026-000042",
        reason="Returned: <broken> & chipped",
    )
    return replace(doc, **overrides)  # type: ignore[arg-type]


def pages_text(pdf: bytes) -> list[str]:
    """Each page's text as laid out, so a table row reads as one line."""
    return [page.extract_text(extraction_mode="layout") for page in PdfReader(io.BytesIO(pdf)).pages]


def pdf_text(pdf: bytes) -> str:
    return "\n".join(pages_text(pdf))


def lines_of(text: str) -> list[str]:
    """The non-blank rows of a text, each with its runs of spaces made one."""
    return [" ".join(row.split()) for row in text.splitlines() if row.strip()]


# ---------------------------------------------------------------------------------------------
# Invoices
# ---------------------------------------------------------------------------------------------


def test_an_invoice_shows_its_number_dates_parties_and_terms() -> None:
    # given an issued invoice, when it is rendered
    pdf = render_document_pdf(an_invoice())
    text = pdf_text(pdf)
    # then it is a PDF titled as an invoice, with its number, date and order
    assert pdf.startswith(b"%PDF-")
    assert lines_of(text)[0] == "Invoice"
    for expected in ("INV-2026-000042", "2026-03-10", "OM-000123",
                     # the seller with its tax id, the buyer with its email
                     "Ordermesh Retail B.V.", "Keizersgracht 1", "1015 AA Amsterdam", "NL",
                     "NL123456789B01", "D02 X285 Dublin", "Flat 3", "ann@obrien.test",
                     # the terms and status, and how the prices are meant
                     "Payment terms: Paid by card at checkout", "Status: paid",
                     "Prices include tax"):
        assert expected in text, expected
    assert "Corrects invoice" not in text
    assert "Prices exclude tax" not in text


def test_markup_in_user_text_is_printed_literally() -> None:
    text = pdf_text(render_document_pdf(an_invoice()))
    assert "<b>O'Brien & Co</b>" in text
    assert "12 <Main> Street" in text
    assert "Stoneware mug & saucer" in text
    assert "&amp;" not in text and "&lt;" not in text


def test_markup_anywhere_never_breaks_rendering() -> None:
    # given markup, unbalanced tags and entities in every field a user can fill in
    nasty = "<para><b>x</i> & &nbsp; &bogus; <font name='nope'>"
    party = Party(nasty, {"line1": nasty, "city": nasty, "country": "<NL>"}, nasty, nasty)
    doc = an_invoice(seller=party, buyer=party, order_number=nasty, payment_terms=nasty,
                     status=nasty,
                     amounts=Amounts((line(nasty, nasty, 1, 100, 83, 17, (Decimal("0.2"), nasty)),)))
    # when it is rendered, then every field prints as typed
    text = pdf_text(render_document_pdf(doc))
    assert text.count("&bogus;") >= 6
    assert "<NL>" in text


def test_an_invoice_prints_lines_breakdown_and_totals() -> None:
    rows = lines_of(pdf_text(render_document_pdf(an_invoice())))
    # every line: description, SKU, quantity, unit price, net, rate name, tax, gross
    assert "Organic tee, black, M TEE-BLK-M 2 EUR 12.10 EUR 20.00 VAT 21% EUR 4.20 EUR 24.20" in rows
    assert "Stoneware mug & saucer MUG-STONE 3 EUR 10.90 EUR 30.00 VAT 9% EUR 2.70 EUR 32.70" in rows
    assert "Shipping 1 EUR 4.95 EUR 4.09 VAT 21% EUR 0.86 EUR 4.95" in rows
    # one breakdown row per rate, lowest first, that sums to the totals
    assert "VAT 9% 9% EUR 30.00 EUR 2.70" in rows
    assert "VAT 21% 21% EUR 24.09 EUR 5.06" in rows
    assert rows.index("VAT 9% 9% EUR 30.00 EUR 2.70") < rows.index("VAT 21% 21% EUR 24.09 EUR 5.06")
    # and the totals: a paid invoice says so
    assert "Net EUR 54.09" in rows
    assert "Tax EUR 7.76" in rows
    assert "Total paid EUR 61.85" in rows
    assert not any(row.startswith("Total due") for row in rows)


def test_an_unpaid_invoice_shows_the_total_due() -> None:
    doc = an_invoice(status="issued", payment_terms="Net 30 days")
    rows = lines_of(pdf_text(render_document_pdf(doc)))
    assert "Total due EUR 61.85" in rows
    assert "Payment terms: Net 30 days" in rows
    assert "Status: issued" in rows


def test_exclusive_prices_say_so() -> None:
    doc = an_invoice(prices_include_tax=False, amounts=Amounts((
        line("Widget", "W-1", 3, 1000, 3000, 630, VAT_21),)))
    text = pdf_text(render_document_pdf(doc))
    assert "Prices exclude tax" in text
    assert "Prices include tax" not in text
    assert "Total paid EUR 36.30" in lines_of(text)


def test_amounts_in_other_currencies_use_their_minor_units() -> None:
    doc = an_invoice(currency="JPY", amounts=Amounts((
        line("Tea bowl", "BOWL", 2, 5500, 10000, 1000, VAT_10),)))
    rows = lines_of(pdf_text(render_document_pdf(doc)))
    assert "Tea bowl BOWL 2 JPY 5,500 JPY 10,000 VAT 10% JPY 1,000 JPY 11,000" in rows
    assert "Total paid JPY 11,000" in rows


def test_large_amounts_get_thousands_separators() -> None:
    doc = an_invoice(amounts=Amounts((
        line("Pallet of tees", "PALLET", 20, 10_000_000, 165_289_256, 34_710_744, VAT_21),)))
    rows = lines_of(pdf_text(render_document_pdf(doc)))
    assert "Net EUR 1,652,892.56" in rows
    assert "Total paid EUR 2,000,000.00" in rows


# ---------------------------------------------------------------------------------------------
# Credit notes
# ---------------------------------------------------------------------------------------------


def test_a_credit_note_names_the_invoice_it_corrects_and_why() -> None:
    pdf = render_document_pdf(a_credit_note())
    text = pdf_text(pdf)
    rows = lines_of(text)
    assert rows[0] == "Credit note"
    for expected in ("CN-2026-000007", "Corrects invoice INV-2026-000042",
                     "Reason: Returned: <broken> & chipped", "Status: refunded",
                     "Payment terms: Refunded to the card used"):
        assert expected in text, expected
    assert "Stoneware mug & saucer MUG-STONE 1 EUR 10.90 EUR 10.00 VAT 9% EUR 0.90 EUR 10.90" in rows
    assert "VAT 9% 9% EUR 10.00 EUR 0.90" in rows
    assert "Total credited EUR 10.90" in rows
    assert not any(row.startswith(("Total due", "Total paid")) for row in rows)
    assert "Invoice" not in rows


def test_a_credit_note_for_a_price_adjustment_has_no_sku() -> None:
    doc = a_credit_note(amounts=Amounts((line("Price adjustment", None, 1, 500, 413, 87, VAT_21),)),
                        reason="Late delivery")
    rows = lines_of(pdf_text(render_document_pdf(doc)))
    assert "Price adjustment 1 EUR 5.00 EUR 4.13 VAT 21% EUR 0.87 EUR 5.00" in rows
    assert "Total credited EUR 5.00" in rows
    assert "Reason: Late delivery" in rows


# ---------------------------------------------------------------------------------------------
# Determinism, length, and no floats
# ---------------------------------------------------------------------------------------------


def test_the_same_document_renders_to_the_same_bytes() -> None:
    assert render_document_pdf(an_invoice()) == render_document_pdf(an_invoice())
    assert render_document_pdf(a_credit_note()) == render_document_pdf(a_credit_note())
    assert render_document_pdf(an_invoice()) != render_document_pdf(an_invoice(number="INV-2026-000043"))


def long_invoice(count: int) -> Document:
    lines = tuple(line(f"Item {n}", f"SKU-{n:03d}", n % 7 + 1, 100 + n,
                       (n % 7 + 1) * (100 + n), n, VAT_20 if n % 2 else VAT_10)
                  for n in range(1, count + 1))
    return an_invoice(amounts=Amounts(lines))


def test_a_long_invoice_runs_onto_more_pages_with_the_header_on_each() -> None:
    doc = long_invoice(120)
    pages = pages_text(render_document_pdf(doc))
    text = "\n".join(pages)
    assert len(pages) > 2
    # every line is printed once
    assert all(text.count(f"SKU-{n:03d}") == 1 for n in range(1, 121))
    # the lines table header is repeated on every page the table runs onto
    header = "Description SKU Qty Unit price Net Tax rate Tax Gross"
    table_pages = [page for page in pages if "SKU-" in page]
    assert len(table_pages) > 1
    assert all(header in lines_of(page) for page in table_pages)
    # every page has the footer, and the totals come once, at the end
    assert all("Prices include tax" in page for page in pages)
    gross = doc.amounts.gross
    rows = lines_of(text)
    totals = [n for n, row in enumerate(rows) if row.startswith("Total paid")]
    assert [rows[n] for n in totals] == [f"Total paid EUR {gross // 100:,}.{gross % 100:02d}"]
    assert totals[0] > max(n for n, row in enumerate(rows) if "SKU-120" in row)


def test_no_float_artefacts_are_printed() -> None:
    # given amounts and rates that floats cannot hold exactly (0.1 + 0.2, 7.25%)
    doc = an_invoice(amounts=Amounts((
        line("Ten", "A", 1, 10, 10, 1, VAT_10),
        line("Twenty", "B", 1, 20, 20, 4, VAT_20),
        line("Sales tax", "C", 3, 33, 99, 7, (Decimal("0.0725"), "CA sales tax")),
        line("Ninety", "D", 1, 90, 90, 0, (Decimal("0.0"), "No tax")),
    )), prices_include_tax=False)
    text = pdf_text(render_document_pdf(doc))
    assert "0.30000000000000004" not in text
    # every decimal printed has at most two decimals (EUR), and the rates print as percents
    assert re.findall(r"\d\.\d{3,}", text) == []
    rows = lines_of(text)
    assert "CA sales tax 7.25% EUR 0.99 EUR 0.07" in rows
    assert "VAT 10% 10% EUR 0.10 EUR 0.01" in rows
    assert "No tax 0% EUR 0.90 EUR 0.00" in rows
    assert "Net EUR 2.19" in rows
    assert "Tax EUR 0.12" in rows
    assert "Total paid EUR 2.31" in rows
