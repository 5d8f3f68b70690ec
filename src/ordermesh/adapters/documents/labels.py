"""What goes on and in a parcel: the 4x6 inch shipping label and the A4 packing slip.

Like the other documents, the renderers take plain data (a LabelDocument, a PackingSlipDocument),
so they need neither the database nor the domain aggregates, and render with reportlab's
`invariant` mode: the same document always gives the same bytes.

Barcodes come from `reportlab.graphics.barcode` (Code 128, EAN-13, QR); nothing is hand-encoded.
Each linear barcode keeps a quiet zone of 10 modules on both sides, and its module ("bar") width
shrinks to fit the space it has, but never below MIN_MODULE: a label whose tracking number would
need thinner bars is refused (a label that cannot be scanned is worse than none), and a packing
slip line whose SKU is too long for its column prints the SKU as text only.

Text from customers and operators goes two ways: through `Paragraph`, which reads a little XML
markup, always escaped (a customer called "<b>Tom & Jerry</b>" stays text); or drawn straight on
the canvas, which reads no markup. Text that may be long is shrunk, wrapped and then cut with an
ellipsis to the space it has, cut before escaping so no entity is ever cut in half.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any
from xml.sax.saxutils import escape

from reportlab.graphics import renderPDF  # type: ignore[import-untyped]
from reportlab.graphics.barcode import createBarcodeDrawing  # type: ignore[import-untyped]
from reportlab.lib import colors  # type: ignore[import-untyped]
from reportlab.lib.enums import TA_RIGHT  # type: ignore[import-untyped]
from reportlab.lib.pagesizes import A4  # type: ignore[import-untyped]
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet  # type: ignore[import-untyped]
from reportlab.lib.units import inch, mm  # type: ignore[import-untyped]
from reportlab.pdfbase.pdfmetrics import stringWidth  # type: ignore[import-untyped]
from reportlab.pdfgen.canvas import Canvas  # type: ignore[import-untyped]
from reportlab.platypus import (  # type: ignore[import-untyped]
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from ordermesh.domain.errors import InvalidInput

LABEL_SIZE: tuple[float, float] = (4 * inch, 6 * inch)  # 288 x 432 points
LABEL_MARGIN = 10.0
QUIET_MODULES = 10  # Code 128 needs a quiet zone of at least 10 modules on each side
MIN_MODULE = 0.5  # points: ~1.4 dots on a 203 dpi thermal printer, the least that scans reliably
ELLIPSIS = "\u2026"
LONG_TEXT = 1000  # characters of free text kept before fitting (the API allows 1000)

SLIP_MARGIN = 18 * mm
SLIP_FRAME_WIDTH = A4[0] - 2 * SLIP_MARGIN  # 174 mm
# line no, SKU, description, quantity, barcode: 174 mm
SLIP_WIDTHS = tuple(w * mm for w in (9, 34, 57, 12, 62))
SLIP_BARCODE_WIDTH = SLIP_WIDTHS[4] - 6  # less the cell padding
DESCRIPTION_CHARS = 300  # a table row must fit on one page


# ---------------------------------------------------------------------------------------------
# Documents
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PostalAddress:
    """A name and the printed lines of an address; `country` is printed last, on its own."""

    name: str
    lines: tuple[str, ...]
    country: str = ""

    @classmethod
    def from_mapping(cls, name: str, address: Mapping[str, str | None]) -> PostalAddress:
        """From the address dictionaries the project stores (line1, line2, city, postal_code,
        region, country)."""
        city = " ".join(part for part in (address.get("postal_code"), address.get("city")) if part)
        parts = (address.get("company"), address.get("line1"), address.get("line2"), city,
                 address.get("region"))
        return cls(name, tuple(part for part in parts if part), address.get("country") or "")


@dataclass(frozen=True, slots=True)
class LabelDocument:
    sender: PostalAddress  # the location's business address
    recipient: PostalAddress
    carrier: str
    service: str
    weight_grams: int
    package_number: int
    package_count: int
    tracking_number: str
    tracking_url: str
    order_number: str
    handling: tuple[str, ...] = ()  # "FRAGILE", "GIFT WRAP", ...
    delivery_instructions: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.package_number <= self.package_count:
            raise InvalidInput(f"package {self.package_number} of {self.package_count} does not exist")
        if self.weight_grams < 0:
            raise InvalidInput(f"weight must not be negative, got {self.weight_grams} g")
        _check_code128("tracking number", self.tracking_number)
        if not self.tracking_url.strip():
            raise InvalidInput("a label needs a tracking URL for its QR code")


@dataclass(frozen=True, slots=True)
class PackingSlipLine:
    sku: str
    description: str
    quantity: int
    gtin: str | None = None  # a valid GTIN-13 is printed as EAN-13 instead of the SKU's Code 128
    fragile: bool = False
    gift_wrap: bool = False

    @property
    def barcode(self) -> tuple[str, str]:
        return sku_barcode(self.sku, self.gtin)


@dataclass(frozen=True, slots=True)
class PackingSlipDocument:
    retailer_name: str
    order_number: str
    ship_to: PostalAddress
    lines: tuple[PackingSlipLine, ...]
    order_date: date | None = None
    fragile: bool = False
    gift_wrap: bool = False
    gift_message: str | None = None
    name_on_package: str | None = None
    delivery_instructions: str | None = None

    def __post_init__(self) -> None:
        _check_code128("order number", self.order_number)

    @property
    def instructions(self) -> list[tuple[str, str]]:
        """(heading, text) of each packaging instruction, in the order the packer needs them."""
        found: list[tuple[str, str]] = []
        if self.fragile or any(line.fragile for line in self.lines):
            found.append(("FRAGILE", "handle with care, pack with protective filling"))
        if self.gift_wrap or any(line.gift_wrap for line in self.lines):
            found.append(("GIFT WRAP", "wrap the items as a gift; leave prices out of the parcel"))
        for heading, text in (("Gift message", self.gift_message),
                              ("Name on the package", self.name_on_package),
                              ("Delivery instructions", self.delivery_instructions)):
            if text and text.strip():
                found.append((heading, text.strip()))
        return found


def sku_barcode(sku: str, gtin: str | None) -> tuple[str, str]:
    """(symbology, value) of an article's barcode: ("EAN13", gtin) when it has a valid GTIN-13,
    else ("Code128", sku)."""
    if gtin is not None and is_gtin13(gtin):
        return "EAN13", gtin
    return "Code128", sku


def is_gtin13(value: str) -> bool:
    """13 digits whose last is the GS1 check digit of the first 12."""
    if len(value) != 13 or not value.isascii() or not value.isdigit():
        return False
    digits = [int(c) for c in value]
    weighted = sum(d * (3 if i % 2 else 1) for i, d in enumerate(digits[:12]))
    return (10 - weighted % 10) % 10 == digits[12]


def _check_code128(what: str, value: str) -> None:
    # Code 128 holds printable ASCII; reportlab would silently drop anything else
    if not value or not value.isascii() or not value.isprintable():
        raise InvalidInput(f"the {what} {value!r} must be printable ASCII to go in a barcode")


# ---------------------------------------------------------------------------------------------
# Shipping label
# ---------------------------------------------------------------------------------------------


def render_label_pdf(doc: LabelDocument) -> bytes:
    """One 4x6 inch page. Top to bottom: sender and carrier, the recipient in large type,
    weight / package n of m / order, handling notes in reverse, the tracking number as Code 128
    and as text, then a QR code of the tracking URL beside the delivery instructions."""
    width, height = LABEL_SIZE
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=LABEL_SIZE, invariant=1, pageCompression=1)
    canvas.setTitle(f"Shipping label {doc.tracking_number}")
    canvas.setAuthor(doc.sender.name)
    left, right, inner = LABEL_MARGIN, width - LABEL_MARGIN, width - 2 * LABEL_MARGIN

    def top(y: float) -> float:  # layout is written from the top of the page down
        return height - y

    def rule(y: float, weight: float = 1.0) -> None:
        canvas.setLineWidth(weight)
        canvas.line(left, top(y), right, top(y))

    def caption(x: float, y: float, text: str) -> None:
        canvas.setFont("Helvetica", 6)
        canvas.drawString(x, top(y) - 6, cut_to_width(text, "Helvetica", 6, right - x))

    # sender (left) and carrier + service (right)
    caption(left, 10, "FROM")
    _draw_block(canvas, left, top(18), 150, 40, _lines(doc.sender), scales=(1.0, 0.85))
    _draw_cut_line(canvas, doc.carrier, right, top(24), 108, "Helvetica-Bold", 13, align_right=True)
    _draw_cut_line(canvas, doc.service, right, top(40), 108, "Helvetica-Bold", 11, align_right=True)
    rule(62, 1.5)

    # recipient: the largest text on the label
    caption(left, 66, "SHIP TO")
    _draw_block(canvas, left + 8, top(76), inner - 8, 104, _lines(doc.recipient, name_size=16, size=12),
                scales=(1.0, 0.9, 0.8, 0.7, 0.6))
    rule(184, 1.5)

    # weight, package n of m, order number
    thirds = inner / 3
    caption(left, 188, "WEIGHT")
    caption(left + thirds, 188, "PACKAGE")
    caption(left + 2 * thirds, 188, "ORDER")
    _draw_cut_line(canvas, format_weight(doc.weight_grams), left, top(214), thirds - 6, "Helvetica-Bold", 14)
    package = f"{doc.package_number} of {doc.package_count}"
    canvas.setFont("Helvetica-Bold", _fit_size(package, "Helvetica-Bold", 18, thirds - 6))
    canvas.drawString(left + thirds, top(214), package)
    _draw_cut_line(canvas, doc.order_number, left + 2 * thirds, top(214), thirds, "Helvetica-Bold", 11)
    rule(224)

    # handling notes, white on black so they are seen from across the bench
    notes = "  \u00b7  ".join(note.strip() for note in doc.handling if note.strip())
    if notes:
        canvas.rect(left, top(254), inner, 26, stroke=0, fill=1)
        canvas.setFillColor(colors.white)
        size = _fit_size(notes, "Helvetica-Bold", 16, inner - 8, minimum=8)
        text = cut_to_width(notes, "Helvetica-Bold", size, inner - 8)
        canvas.setFont("Helvetica-Bold", size)
        canvas.drawCentredString(width / 2, top(254) + (26 - size * 0.7) / 2, text)
        canvas.setFillColor(colors.black)

    # tracking number: Code 128, then as text
    caption(left, 260, f"TRACKING  {doc.carrier.upper()}")
    barcode = code128(doc.tracking_number, width=inner, height=62, max_module=1.4)
    if barcode is None:
        raise InvalidInput(f"the tracking number {doc.tracking_number!r} is too long for a barcode "
                           "on a 4x6 inch label")
    renderPDF.draw(barcode, canvas, (width - barcode.width) / 2, top(332))
    size = _fit_size(doc.tracking_number, "Helvetica-Bold", 12, inner, minimum=6)
    canvas.setFont("Helvetica-Bold", size)
    canvas.drawCentredString(width / 2, top(346), doc.tracking_number)
    rule(352)

    # QR code of the tracking page, and the customer's delivery instructions beside it
    qr_size = height - 356 - LABEL_MARGIN + 4
    qr = createBarcodeDrawing("QR", value=doc.tracking_url, barLevel="M",
                              width=qr_size, height=qr_size)
    renderPDF.draw(qr, canvas, left - 4, top(356) - qr_size)
    text_left = left + qr_size + 2
    instructions = " ".join((doc.delivery_instructions or "").split())
    if instructions:
        caption(text_left, 358, "DELIVERY INSTRUCTIONS")
        style = ParagraphStyle("instructions", fontName="Helvetica", fontSize=8, leading=9.5)
        paragraph = cut_paragraph(instructions, style, right - text_left, top(366) - LABEL_MARGIN)
        _, used = paragraph.wrap(right - text_left, height)
        paragraph.drawOn(canvas, text_left, top(366) - used)

    canvas.showPage()
    canvas.save()
    return out.getvalue()


def format_weight(grams: int) -> str:
    """`1.25 kg` from 1250, `850 g` from 850: integer arithmetic, nothing rounded."""
    if grams < 1000:
        return f"{grams} g"
    kilos, rest = divmod(grams, 1000)
    fraction = f"{rest:03d}".rstrip("0")
    return f"{kilos}.{fraction} kg" if fraction else f"{kilos} kg"


def _lines(address: PostalAddress, name_size: float = 8, size: float = 7) -> list[tuple[str, str, float]]:
    lines = [(address.name, "Helvetica-Bold", name_size)]
    lines += [(line, "Helvetica", size) for line in address.lines]
    if address.country:
        lines.append((address.country, "Helvetica-Bold", size))
    return lines


def _draw_block(canvas: Any, x: float, y_top: float, width: float, height: float,
                lines: Sequence[tuple[str, str, float]], scales: Sequence[float]) -> None:
    """Stack one Paragraph per line from `y_top` down, in the largest scale at which they all fit
    the box; at the smallest scale that still does not fit, each line is cut to one line."""
    lines = [line for line in lines if line[0].strip()]
    for scale in scales:
        paragraphs = [Paragraph(escape(text), _style(font, size * scale))
                      for text, font, size in lines]
        heights = [p.wrap(width, height)[1] for p in paragraphs]
        if sum(heights) <= height:
            break
    else:
        scale = scales[-1]
        paragraphs, heights = [], []
        for text, font, size in lines:
            one_line = cut_to_width(text, font, size * scale, width)
            paragraph = Paragraph(escape(one_line), _style(font, size * scale))
            paragraphs.append(paragraph)
            heights.append(paragraph.wrap(width, height)[1])
    y = y_top
    for paragraph, used in zip(paragraphs, heights, strict=True):
        if y - used < y_top - height - 0.01:
            break  # more lines than the box holds even one line each: the rest is left off
        paragraph.drawOn(canvas, x, y - used)
        y -= used


def _style(font: str, size: float) -> ParagraphStyle:
    return ParagraphStyle(f"{font}-{size}", fontName=font, fontSize=size, leading=size * 1.18)


def _fit_size(text: str, font: str, size: float, width: float, minimum: float = 7) -> float:
    """The font size at which `text` fits `width` on one line, at most `size`, at least `minimum`."""
    natural: float = stringWidth(text, font, size)
    if natural <= width:
        return size
    return max(minimum, size * width / natural - 0.01)  # a hair under, so rounding cannot overflow


def cut_to_width(text: str, font: str, size: float, width: float) -> str:
    """`text` itself if it fits `width` on one line, else its longest prefix that fits with an
    ellipsis after it."""
    if stringWidth(text, font, size) <= width:
        return text
    low, high = 0, len(text)
    while low < high:  # the longest prefix that fits, by bisection
        middle = (low + high + 1) // 2
        if stringWidth(text[:middle].rstrip() + ELLIPSIS, font, size) <= width:
            low = middle
        else:
            high = middle - 1
    return text[:low].rstrip() + ELLIPSIS


def _draw_cut_line(canvas: Any, text: str, x: float, y: float, width: float, font: str,
                   size: float, align_right: bool = False) -> None:
    """One line of text from `x` (or ending at `x`), shrunk to at most `width`, down to 7 points,
    and cut with an ellipsis beyond that. The canvas reads no markup: nothing to escape."""
    size = _fit_size(text, font, size, width, minimum=7)
    canvas.setFont(font, size)
    shown = cut_to_width(text, font, size, width)
    if align_right:
        canvas.drawRightString(x, y, shown)
    else:
        canvas.drawString(x, y, shown)


def cut_paragraph(text: str, style: ParagraphStyle, width: float, height: float) -> Paragraph:
    """A Paragraph of `text` (plain, escaped here) wrapped to `width`; if it is taller than
    `height`, the longest prefix that fits, cut at a word where one is near, plus an ellipsis."""
    text = text[:LONG_TEXT]

    def paragraph(prefix_length: int) -> Paragraph:
        shown = text if prefix_length >= len(text) else text[:prefix_length].rstrip() + ELLIPSIS
        return Paragraph(escape(shown), style)

    def fits(candidate: Paragraph) -> bool:
        return bool(candidate.wrap(width, height)[1] <= height)

    whole = paragraph(len(text))
    if fits(whole):
        return whole
    low, high = 0, len(text) - 1
    while low < high:
        middle = (low + high + 1) // 2
        if fits(paragraph(middle)):
            low = middle
        else:
            high = middle - 1
    space = text.rfind(" ", 0, low)
    if space > low - 20 and space > 0:
        low = space  # end on a whole word when it costs only a few characters
    return paragraph(low)


def code128(value: str, width: float, height: float, max_module: float) -> Any:
    """A Code 128 drawing of `value` at the widest module (<= max_module) that fits `width` with
    its quiet zones, or None when even MIN_MODULE would not fit."""
    probe = createBarcodeDrawing("Code128", value=value, barWidth=1, barHeight=height,
                                 humanReadable=False, quiet=False)
    modules = probe.width + 2 * QUIET_MODULES
    module = min(max_module, width / modules)
    if module < MIN_MODULE:
        return None
    quiet = QUIET_MODULES * module
    return createBarcodeDrawing("Code128", value=value, barWidth=module, barHeight=height,
                                humanReadable=False, quiet=True, lquiet=quiet, rquiet=quiet)


# ---------------------------------------------------------------------------------------------
# Packing slip
# ---------------------------------------------------------------------------------------------


def render_packing_slip_pdf(doc: PackingSlipDocument) -> bytes:
    """An A4 packing slip: order number as text and Code 128, ship-to, packaging instructions,
    then the lines with each SKU's barcode. The lines table runs over as many pages as needed,
    its header repeated on each."""
    out = io.BytesIO()
    template = SimpleDocTemplate(
        out, pagesize=A4, invariant=1, title=f"Packing slip {doc.order_number}",
        author=doc.retailer_name, leftMargin=SLIP_MARGIN, rightMargin=SLIP_MARGIN,
        topMargin=SLIP_MARGIN, bottomMargin=SLIP_MARGIN + 6 * mm,
    )
    story: list[Any] = [_slip_heading(doc), Spacer(1, 5 * mm), *_slip_instructions(doc),
                        _slip_lines(doc)]

    def footer(canvas: Any, page: Any) -> None:
        # drawn straight on the canvas, which reads no markup: no escaping here
        canvas.saveState()
        canvas.setFont("Helvetica", 8)
        canvas.drawString(SLIP_MARGIN, SLIP_MARGIN, f"Packing slip  |  Order {doc.order_number}"[:120])
        canvas.drawRightString(A4[0] - SLIP_MARGIN, SLIP_MARGIN, f"Page {page.page}")
        canvas.restoreState()

    template.build(story, onFirstPage=footer, onLaterPages=footer)
    return out.getvalue()


def _slip_heading(doc: PackingSlipDocument) -> Table:
    styles = getSampleStyleSheet()
    body = styles["BodyText"]
    details = [f"Order: <b>{escape(doc.order_number)}</b>"]
    if doc.order_date:
        details.append(f"Order date: {doc.order_date.isoformat()}")
    ship_to = [f"<b>{escape(doc.ship_to.name)}</b>", *(escape(line) for line in doc.ship_to.lines)]
    if doc.ship_to.country:
        ship_to.append(escape(doc.ship_to.country))
    left = [Paragraph("Packing slip", styles["Heading1"]),
            Paragraph(escape(doc.retailer_name), styles["Heading3"]),
            Paragraph("<br/>".join(details), body), Spacer(1, 3 * mm),
            Paragraph("<br/>".join(["<b>Ship to</b>", *ship_to]), body)]
    half = SLIP_FRAME_WIDTH / 2
    barcode = code128(doc.order_number, width=half, height=16 * mm, max_module=1.2)
    right: list[Any] = [barcode] if barcode is not None else []
    right.append(Paragraph(escape(doc.order_number), ParagraphStyle(
        "order-number", parent=body, alignment=TA_RIGHT, fontName="Helvetica-Bold")))
    table = Table([[left, right]], colWidths=[half, half])
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"),
                               ("ALIGN", (1, 0), (1, 0), "RIGHT"),
                               ("LEFTPADDING", (0, 0), (-1, -1), 0),
                               ("RIGHTPADDING", (0, 0), (-1, -1), 0)]))
    return table


def _slip_instructions(doc: PackingSlipDocument) -> list[Any]:
    instructions = doc.instructions
    if not instructions:
        return []
    styles = getSampleStyleSheet()
    flag = ParagraphStyle("flag", parent=styles["BodyText"], fontName="Helvetica-Bold", fontSize=13,
                          leading=16, textColor=colors.white, backColor=colors.black, borderPadding=3,
                          spaceBefore=4, spaceAfter=4)
    body = styles["BodyText"]
    flowables: list[Any] = [Paragraph("Packaging instructions", styles["Heading3"])]
    for heading, text in instructions:
        if heading.isupper():
            flowables.append(Paragraph(f"{escape(heading)}: {escape(text)}", flag))
        else:  # free text from the customer: may run long, and a Paragraph splits over pages
            flowables.append(Paragraph(f"<b>{escape(heading)}:</b> {escape(text[:LONG_TEXT])}", body))
    flowables.append(Spacer(1, 4 * mm))
    return flowables


def _slip_lines(doc: PackingSlipDocument) -> Table:
    styles = getSampleStyleSheet()
    cell = ParagraphStyle("cell", parent=styles["BodyText"], fontSize=9, leading=11)
    quantity = ParagraphStyle("quantity", parent=cell, fontName="Helvetica-Bold", fontSize=12,
                              leading=14, alignment=TA_RIGHT)
    rows: list[list[Any]] = [["#", "SKU", "Description", "Qty", "Barcode"]]
    for number, line in enumerate(doc.lines, start=1):
        description = escape(_cut(line.description, DESCRIPTION_CHARS))
        tags = [tag for tag, on in (("FRAGILE", line.fragile), ("GIFT WRAP", line.gift_wrap)) if on]
        if tags:
            description += f"<br/><b>{' &middot; '.join(tags)}</b>"
        rows.append([Paragraph(str(number), cell), Paragraph(escape(line.sku), cell),
                     Paragraph(description, cell), Paragraph(str(line.quantity), quantity),
                     _line_barcode(line, cell)])
    table = Table(rows, colWidths=list(SLIP_WIDTHS), repeatRows=1)
    table.setStyle(TableStyle([
        ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
        ("LINEBELOW", (0, 0), (-1, -1), 0.5, colors.black),
        ("ALIGN", (3, 0), (3, -1), "RIGHT"),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 1), (-1, -1), 5),
        ("BOTTOMPADDING", (0, 1), (-1, -1), 5),
    ]))
    return table


def _line_barcode(line: PackingSlipLine, cell: ParagraphStyle) -> Any:
    symbology, value = line.barcode
    if symbology == "EAN13":
        # reportlab adds the check digit itself from the first 12 (already checked by is_gtin13)
        return createBarcodeDrawing("EAN13", value=value[:12], barWidth=1.2, barHeight=11 * mm,
                                    fontSize=8, humanReadable=True)
    if value.isascii() and value.isprintable():
        barcode = code128(value, width=SLIP_BARCODE_WIDTH, height=11 * mm, max_module=1.0)
        if barcode is not None:
            return barcode
    return Paragraph("<i>no barcode: scan or type the SKU</i>", cell)


def _cut(text: str, length: int) -> str:
    return text if len(text) <= length else text[:length].rstrip() + ELLIPSIS
