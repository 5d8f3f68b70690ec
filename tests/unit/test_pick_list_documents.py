"""The printed pick list: what is printed, and what a scanner reads off the page.

As for the packing slip, each PDF page is rendered to an image (pypdfium2) and its barcodes read
by a real barcode reader (zxing-cpp); the text is extracted page by page with pypdfium2.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

import pypdfium2 as pdfium
import pytest

from ordermesh.adapters.documents.pick_list import (
    PickListDocument,
    PickListLine,
    PickListOrder,
    format_printed_at,
    render_pick_list_pdf,
)
from ordermesh.domain.errors import InvalidInput
from tests.pdfs import scan

GTIN = "4006381333931"
PRINTED_AT = datetime(2025, 6, 1, 14, 30, tzinfo=UTC)
HEADER = ("Barcode", "SKU / description", "Qty", "Orders")


def a_line(n: int, **overrides: object) -> PickListLine:
    """SKU n: n % 3 + 1 orders, order k taking k + 1 units."""
    orders = tuple(PickListOrder(f"OM-{n * 10 + k:06d}", f"ful-{n}-{k}", k + 1) for k in range(n % 3 + 1))
    line = PickListLine(f"TEE-{n:03d}-BLK", f"Organic tee no. {n}, black", sum(o.quantity for o in orders),
                        orders, gtin=GTIN if n % 5 == 2 else None)
    return replace(line, **overrides)  # type: ignore[arg-type]


def a_pick_list(line_count: int = 4, **overrides: object) -> PickListDocument:
    doc = PickListDocument("LON-1", "London warehouse", PRINTED_AT,
                           tuple(a_line(n) for n in range(1, line_count + 1)))
    return replace(doc, **overrides)  # type: ignore[arg-type]


def page_texts(pdf: bytes) -> list[str]:
    document = pdfium.PdfDocument(pdf)
    try:
        return [str(document[index].get_textpage().get_text_range()) for index in range(len(document))]
    finally:
        document.close()


def expected_barcodes(doc: PickListDocument) -> list[tuple[str, str]]:
    return [("EAN13", line.gtin) if line.gtin else ("Code128", line.sku) for line in doc.lines]


def test_the_pick_list_is_a4_portrait() -> None:
    document = pdfium.PdfDocument(render_pick_list_pdf(a_pick_list()))
    try:
        width, height = document[0].get_size()
    finally:
        document.close()

    assert (round(width, 1), round(height, 1)) == (595.3, 841.9)


def test_a_scanner_reads_each_lines_sku_or_gtin_in_order() -> None:
    doc = a_pick_list(line_count=4)
    barcodes = scan(render_pick_list_pdf(doc))

    # line 2 has a GTIN-13 and is printed as EAN-13; the others as Code 128 of the SKU
    assert barcodes == [(0, "Code128", "TEE-001-BLK"), (0, "EAN13", GTIN),
                        (0, "Code128", "TEE-003-BLK"), (0, "Code128", "TEE-004-BLK")]


def test_the_pick_list_prints_the_heading_every_sku_quantity_and_order() -> None:
    doc = a_pick_list(line_count=4)
    text = "\n".join(page_texts(render_pick_list_pdf(doc)))

    for expected in ("Pick list", "LON-1", "London warehouse", "Printed: 2025-06-01 14:30 UTC",
                     f"{doc.units} units of 4 SKUs", *HEADER, "Page 1 of 1"):
        assert expected in text
    for line in doc.lines:
        assert line.sku in text and line.description in text
        assert str(line.quantity) in text
        for order in line.orders:
            assert f"{order.order_number} \u00d7 {order.quantity}" in text


def test_a_pick_list_of_60_skus_runs_over_pages_each_with_the_header_and_page_n_of_m() -> None:
    doc = a_pick_list(line_count=60)
    pdf = render_pick_list_pdf(doc)
    texts = page_texts(pdf)
    barcodes = scan(pdf)

    pages = len(texts)
    assert pages >= 3
    for number, text in enumerate(texts, start=1):
        assert all(column in text for column in HEADER)
        assert f"Page {number} of {pages}" in text
    assert {page for page, _, _ in barcodes} == set(range(pages))
    assert [(kind, text) for _, kind, text in barcodes] == expected_barcodes(doc)
    everything = "\n".join(texts)
    assert all(f"{order.order_number} \u00d7 {order.quantity}" in everything
               for line in doc.lines for order in line.orders)


def test_a_sku_split_into_many_orders_continues_on_further_rows_and_pages() -> None:
    orders = tuple(PickListOrder(f"OM-{k:06d}", f"ful-{k}", 1) for k in range(150))
    big = PickListLine("MUG-1", "Mug", 150, orders)
    pdf = render_pick_list_pdf(a_pick_list(lines=(big, a_line(1))))
    text = "\n".join(page_texts(pdf))

    assert len(page_texts(pdf)) >= 2
    assert all(f"{order.order_number} \u00d7 1" in text for order in orders)
    assert "MUG-1 (continued)" in text
    assert [text for _, _, text in scan(pdf)] == ["MUG-1", "TEE-001-BLK"]  # one barcode per SKU


def test_an_empty_pick_list_renders_a_page_saying_there_is_nothing_to_pick() -> None:
    pdf = render_pick_list_pdf(a_pick_list(lines=()))
    texts = page_texts(pdf)

    assert len(texts) == 1
    assert "Nothing to pick" in texts[0]
    assert "0 units of 0 SKUs" in texts[0]
    assert scan(pdf) == []


def test_the_same_pick_list_renders_to_the_same_bytes() -> None:
    doc = a_pick_list(line_count=30)

    assert render_pick_list_pdf(doc) == render_pick_list_pdf(a_pick_list(line_count=30))


def test_long_descriptions_are_cut_and_markup_prints_literally() -> None:
    long = "Mug & saucer <large> with a very long story of where it was made and by whom " * 12
    doc = a_pick_list(lines=(a_line(1, description=long), a_line(2, description="Tea & <b>cake</b>")))
    pdf = render_pick_list_pdf(doc)
    text = "\n".join(page_texts(pdf))

    assert len(page_texts(pdf)) == 1
    assert "\u2026" in text  # cut, with an ellipsis
    assert text.count("Mug & saucer <large>") <= 3  # two lines at most: not the 12 repeats
    assert "Tea & <b>cake</b>" in text
    assert "&amp;" not in text and "&lt;" not in text
    assert [text for _, _, text in scan(pdf)] == ["TEE-001-BLK", GTIN]


def test_a_gtin_that_is_not_a_valid_gtin_13_falls_back_to_the_sku() -> None:
    lines = (a_line(1, sku="A-1", gtin="4006381333932"),  # bad check digit
             a_line(4, sku="A-2", gtin="036000291452"),  # GTIN-12
             a_line(7, sku="A-3", gtin=GTIN))
    barcodes = scan(render_pick_list_pdf(a_pick_list(lines=lines)))

    assert [(kind, text) for _, kind, text in barcodes] == [("Code128", "A-1"), ("Code128", "A-2"),
                                                           ("EAN13", GTIN)]


def test_a_sku_too_long_or_not_ascii_for_a_barcode_is_printed_as_text_only() -> None:
    long_sku = "LONG-SKU-WITH-MANY-LETTERS-ABCDEFGHIJKLMNOPQRSTUVWXYZ-0123456789"
    lines = (a_line(1, sku=long_sku), a_line(3, sku="CAF\u00c9-1"), a_line(4, sku="S-1"))
    pdf = render_pick_list_pdf(a_pick_list(lines=lines))
    text = "\n".join(page_texts(pdf))

    assert [text for _, _, text in scan(pdf)] == ["S-1"]
    assert text.count("no barcode") == 2
    assert "CAF\u00c9-1" in text


def test_a_document_is_built_from_the_pick_list_query_rows_and_the_products() -> None:
    rows = [{"sku": "MUG-1", "quantity": 3, "orders": [
                {"order_number": "OM-000001", "fulfilment_id": "f1", "quantity": 1},
                {"order_number": "OM-000002", "fulfilment_id": "f2", "quantity": 2}]},
            {"sku": "TEA-1", "quantity": 1, "orders": [
                {"order_number": "OM-000002", "fulfilment_id": "f2", "quantity": 1}]}]
    doc = PickListDocument.from_rows("LON-1", "London warehouse", PRINTED_AT, rows,
                                     {"MUG-1": {"name": "Mug", "gtin": GTIN}})

    assert doc.lines == (
        PickListLine("MUG-1", "Mug", 3, (PickListOrder("OM-000001", "f1", 1),
                                         PickListOrder("OM-000002", "f2", 2)), gtin=GTIN),
        PickListLine("TEA-1", "", 1, (PickListOrder("OM-000002", "f2", 1),)),
    )
    assert doc.units == 4


def test_the_printed_at_time_shows_its_zone_when_it_has_one() -> None:
    assert format_printed_at(PRINTED_AT) == "2025-06-01 14:30 UTC"
    assert format_printed_at(PRINTED_AT.replace(tzinfo=None)) == "2025-06-01 14:30"


@pytest.mark.parametrize("make", [
    lambda: PickListOrder("OM-000001", "f1", 0),
    lambda: a_line(1, quantity=0, orders=()),
    lambda: a_line(1, quantity=4),  # its orders take 1 + 2 units
    lambda: a_line(2, quantity=2),  # its orders take 1 + 2 + 3 units
    lambda: a_line(1, orders=()),
    lambda: a_line(1, sku=" "),
    lambda: a_pick_list(lines=(a_line(1), a_line(1))),  # one SKU on two lines
], ids=["order-without-units", "line-without-units", "orders-short", "orders-over", "no-orders",
        "blank-sku", "duplicate-sku"])
def test_a_pick_list_that_does_not_add_up_is_refused(make: Callable[[], object]) -> None:
    with pytest.raises(InvalidInput):
        make()
