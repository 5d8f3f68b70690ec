"""Shipping labels and packing slips: what is printed, and what a scanner reads off the page.

The barcodes are checked the way a warehouse sees them: each PDF page is rendered to an image
(pypdfium2) and read by a real barcode reader (zxing-cpp), then compared with the data.
"""

from __future__ import annotations

import io
from dataclasses import replace

import pytest
from pypdf import PdfReader

from ordermesh.adapters.documents.labels import (
    LabelDocument,
    PackingSlipDocument,
    PackingSlipLine,
    PostalAddress,
    format_weight,
    is_gtin13,
    render_label_pdf,
    render_packing_slip_pdf,
)
from ordermesh.domain.errors import InvalidInput
from tests.pdfs import scan

WAREHOUSE = PostalAddress("Ordermesh London warehouse", ("1 Dock Road", "Unit 4", "E16 1AA London"),
                          "GB")
CUSTOMER = PostalAddress("Ada Lovelace", ("12 St James's Square", "SW1Y 4JH London"), "GB")
GTIN = "4006381333931"


def a_label(**overrides: object) -> LabelDocument:
    doc = LabelDocument(
        sender=WAREHOUSE,
        recipient=CUSTOMER,
        carrier="Ordermesh Courier",
        service="Next day 12:00",
        weight_grams=1250,
        package_number=1,
        package_count=2,
        tracking_number="1Z999AA10123456784",
        tracking_url="https://shop.example/track/1Z999AA10123456784?order=SO-000042",
        order_number="SO-000042",
        handling=("FRAGILE", "GIFT WRAP"),
        delivery_instructions="Leave with the neighbour at number 14.",
    )
    return replace(doc, **overrides)  # type: ignore[arg-type]


def a_slip(line_count: int = 4, **overrides: object) -> PackingSlipDocument:
    doc = PackingSlipDocument(
        retailer_name="Ordermesh retailer",
        order_number="SO-000042",
        ship_to=CUSTOMER,
        lines=tuple(PackingSlipLine(f"TEE-{n:03d}-BLK", f"Organic tee no. {n}, black", n % 4 + 1,
                                    gtin=GTIN if n % 5 == 2 else None)
                    for n in range(1, line_count + 1)),
        fragile=True,
        gift_wrap=True,
        gift_message="Happy birthday!",
        name_on_package="Ada",
        delivery_instructions="Ring twice.",
    )
    return replace(doc, **overrides)  # type: ignore[arg-type]


def pdf_text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


# ---------------------------------------------------------------------------------------------
# Shipping label
# ---------------------------------------------------------------------------------------------


def test_the_label_is_one_page_of_exactly_4_by_6_inches() -> None:
    reader = PdfReader(io.BytesIO(render_label_pdf(a_label())))

    assert len(reader.pages) == 1
    box = reader.pages[0].mediabox
    assert (float(box.left), float(box.bottom), float(box.width), float(box.height)) == (0, 0, 288, 432)


@pytest.mark.parametrize("tracking_number", [
    "1Z999AA10123456784",  # letters and digits
    "9400111899223197428490",  # digits only: Code 128 set C
    "OMC-2025-ABCDEFGHJKLMNPQRSTUVWX-7",  # long and mixed: narrower bars
])
def test_a_scanner_reads_the_tracking_number_and_the_tracking_url(tracking_number: str) -> None:
    url = f"https://shop.example/track/{tracking_number}"
    barcodes = scan(render_label_pdf(a_label(tracking_number=tracking_number, tracking_url=url)))

    assert sorted((kind, text) for _, kind, text in barcodes) == [
        ("Code128", tracking_number), ("QRCode", url)]


def test_the_label_prints_recipient_sender_service_package_and_tracking_number_as_text() -> None:
    text = pdf_text(render_label_pdf(a_label()))

    for expected in ("Ada Lovelace", "12 St James's Square", "SW1Y 4JH London",
                     "Ordermesh London warehouse", "1 Dock Road", "Ordermesh Courier",
                     "Next day 12:00", "1.25 kg", "1 of 2", "1Z999AA10123456784", "SO-000042",
                     "FRAGILE", "GIFT WRAP", "Leave with the neighbour at number 14."):
        assert expected in text


def test_markup_characters_in_names_and_instructions_print_literally() -> None:
    label = a_label(recipient=PostalAddress("<b>Tom & Jerry</b>", ("1 <i>Main</i> St",), "US"),
                    sender=PostalAddress("Smith & Sons", ("2 Dock Road",), "GB"),
                    delivery_instructions="Gate code <1234> & ring")
    text = pdf_text(render_label_pdf(label))

    for expected in ("<b>Tom & Jerry</b>", "1 <i>Main</i> St", "Smith & Sons", "Gate code <1234> & ring"):
        assert expected in text
    assert "&amp;" not in text


def test_the_same_label_renders_to_the_same_bytes() -> None:
    assert render_label_pdf(a_label()) == render_label_pdf(a_label())


def test_long_text_is_shrunk_or_cut_and_the_label_stays_one_page_that_scans() -> None:
    # given a long name, a long address line, and 1000 characters of instructions full of markup
    label = a_label(
        recipient=PostalAddress("Dr. Bartholomew Maximilian " * 6, ("Flat 2, " * 25, "London"), "GB"),
        delivery_instructions="Leave it behind the blue bin & <not> by the door. " * 20,
        handling=("FRAGILE", "GIFT WRAP", "THIS WAY UP", "KEEP DRY", "HEAVY: LIFT WITH TWO"),
    )
    pdf = render_label_pdf(label)

    assert len(PdfReader(io.BytesIO(pdf)).pages) == 1
    text = pdf_text(pdf)
    assert "\u2026" in text  # cut, with an ellipsis
    assert "&amp;" not in text and "&lt;" not in text  # never cut inside an escaped character
    assert "Leave it behind the blue bin & <not> by the door." in text
    assert sorted(text for _, _, text in scan(pdf)) == sorted([label.tracking_number, label.tracking_url])


def test_a_label_without_handling_notes_or_instructions_renders() -> None:
    pdf = render_label_pdf(a_label(handling=(), delivery_instructions=None))

    assert "FRAGILE" not in pdf_text(pdf)
    assert len(scan(pdf)) == 2


@pytest.mark.parametrize("overrides", [
    {"package_number": 3, "package_count": 2},
    {"package_number": 0},
    {"weight_grams": -1},
    {"tracking_number": ""},
    {"tracking_number": "TRACK\u00c9"},  # Code 128 holds ASCII only
    {"tracking_number": "TRACK\n1"},
    {"tracking_url": " "},
])
def test_a_label_that_cannot_be_printed_right_is_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        a_label(**overrides)


def test_a_tracking_number_too_long_to_scan_on_the_label_is_refused() -> None:
    with pytest.raises(InvalidInput, match="too long"):
        render_label_pdf(a_label(tracking_number="AB" * 40))


@pytest.mark.parametrize(("grams", "printed"), [
    (0, "0 g"), (850, "850 g"), (1000, "1 kg"), (1250, "1.25 kg"), (20005, "20.005 kg")])
def test_weights_print_in_grams_or_kilograms(grams: int, printed: str) -> None:
    assert format_weight(grams) == printed


def test_an_address_mapping_becomes_printed_lines() -> None:
    address = PostalAddress.from_mapping("Ada Lovelace", {
        "line1": "12 St James's Square", "line2": None, "city": "London",
        "postal_code": "SW1Y 4JH", "country": "GB"})

    assert address == PostalAddress("Ada Lovelace", ("12 St James's Square", "SW1Y 4JH London"), "GB")


# ---------------------------------------------------------------------------------------------
# Packing slip
# ---------------------------------------------------------------------------------------------


def test_a_scanner_reads_the_order_number_and_each_lines_sku_or_gtin_in_order() -> None:
    slip = a_slip(line_count=4)
    barcodes = scan(render_packing_slip_pdf(slip))

    # line 2 has a GTIN-13 and is printed as EAN-13; the others as Code 128 of the SKU
    assert barcodes == [
        (0, "Code128", "SO-000042"),
        (0, "Code128", "TEE-001-BLK"),
        (0, "EAN13", GTIN),
        (0, "Code128", "TEE-003-BLK"),
        (0, "Code128", "TEE-004-BLK"),
    ]


def test_a_packing_slip_of_80_lines_runs_over_pages_and_every_barcode_scans() -> None:
    slip = a_slip(line_count=80)
    pdf = render_packing_slip_pdf(slip)
    barcodes = scan(pdf)

    pages = len(PdfReader(io.BytesIO(pdf)).pages)
    assert pages >= 3
    assert {page for page, _, _ in barcodes} == set(range(pages))
    expected = [("Code128", slip.order_number)]
    expected += [("EAN13", line.gtin) if line.gtin else ("Code128", line.sku) for line in slip.lines]
    assert [(kind, text) for _, kind, text in barcodes] == expected
    text = pdf_text(pdf)
    assert all(line.sku in text for line in slip.lines)
    assert f"Page {pages}" in text


def test_the_packing_slip_prints_the_lines_and_the_packaging_instructions() -> None:
    text = pdf_text(render_packing_slip_pdf(a_slip()))

    for expected in ("Packing slip", "SO-000042", "Ada Lovelace", "TEE-001-BLK", "Organic tee no. 1, black",
                     "FRAGILE", "GIFT WRAP", "Gift message: Happy birthday!", "Name on the package: Ada",
                     "Delivery instructions: Ring twice."):
        assert expected in text


def test_a_packing_slip_without_instructions_leaves_the_section_out() -> None:
    slip = a_slip(fragile=False, gift_wrap=False, gift_message=None, name_on_package=None,
                  delivery_instructions="  ")

    assert "Packaging instructions" not in pdf_text(render_packing_slip_pdf(slip))


def test_markup_characters_on_the_packing_slip_print_literally() -> None:
    slip = a_slip(ship_to=PostalAddress("<b>Tom & Jerry</b>", ("1 Main St",), "US"),
                  gift_message="<3 & kisses", name_on_package="Jerry & Co",
                  lines=(PackingSlipLine("MUG-1", "Mug & saucer <large>", 2),))
    text = pdf_text(render_packing_slip_pdf(slip))

    for expected in ("<b>Tom & Jerry</b>", "<3 & kisses", "Jerry & Co", "Mug & saucer <large>"):
        assert expected in text
    assert "&amp;" not in text


def test_the_same_packing_slip_renders_to_the_same_bytes() -> None:
    assert render_packing_slip_pdf(a_slip()) == render_packing_slip_pdf(a_slip())


def test_a_gtin_that_is_not_a_valid_gtin_13_falls_back_to_the_sku() -> None:
    lines = (PackingSlipLine("A-1", "bad check digit", 1, gtin="4006381333932"),
             PackingSlipLine("A-2", "GTIN-12", 1, gtin="036000291452"),
             PackingSlipLine("A-3", "good", 1, gtin=GTIN))
    barcodes = scan(render_packing_slip_pdf(a_slip(lines=lines)))

    assert [(kind, text) for _, kind, text in barcodes] == [
        ("Code128", "SO-000042"), ("Code128", "A-1"), ("Code128", "A-2"), ("EAN13", GTIN)]


def test_a_sku_too_long_for_its_barcode_column_is_printed_as_text_only() -> None:
    sku = "LONG-SKU-WITH-MANY-LETTERS-ABCDEFGHIJKLMNOPQRSTUVWXYZ-0123456789"
    slip = a_slip(lines=(PackingSlipLine(sku, "long", 1), PackingSlipLine("S-1", "short", 1)))
    pdf = render_packing_slip_pdf(slip)

    assert [text for _, _, text in scan(pdf)] == ["SO-000042", "S-1"]
    assert "no barcode" in pdf_text(pdf)


def test_gtin13_check_digits() -> None:
    assert is_gtin13(GTIN)
    assert not is_gtin13("4006381333932")
    assert not is_gtin13("400638133393")
    assert not is_gtin13("400638133393\uff11")  # a full-width digit is a digit, but not ASCII


def test_an_order_number_that_cannot_be_a_barcode_is_refused() -> None:
    with pytest.raises(InvalidInput):
        a_slip(order_number="SO-\u00e9")
