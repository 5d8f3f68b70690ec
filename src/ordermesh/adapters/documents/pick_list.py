"""The printed pick list of a location: what to take off the shelves for a wave, as an A4 PDF.

One row per SKU, in the order given (the pick list query sorts by SKU): a tick box, the SKU's
barcode to scan at the shelf, the SKU and description, the quantity in large type, and the orders
(order number x units) the units are split into. It is the PDF of
`fulfilment_queries.pick_list`, plus each product's description and GTIN.

Like the other documents, the renderer takes plain data and renders in reportlab's `invariant`
mode: the same document always gives the same bytes. Barcodes and text fitting are those of the
packing slip (`labels.py`): EAN-13 for a valid GTIN-13, else Code 128 of the SKU, else the SKU as
text only; long text is cut with an ellipsis so a row never overflows its cell.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

from reportlab.graphics.barcode import createBarcodeDrawing  # type: ignore[import-untyped]
from reportlab.graphics.shapes import Drawing, Rect  # type: ignore[import-untyped]
from reportlab.lib import colors  # type: ignore[import-untyped]
from reportlab.lib.pagesizes import A4  # type: ignore[import-untyped]
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet  # type: ignore[import-untyped]
from reportlab.lib.units import mm  # type: ignore[import-untyped]
from reportlab.pdfbase.pdfmetrics import stringWidth  # type: ignore[import-untyped]
from reportlab.platypus import (  # type: ignore[import-untyped]
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from ordermesh.adapters.documents.labels import code128, cut_paragraph, cut_to_width, sku_barcode
from ordermesh.domain.errors import InvalidInput

MARGIN = 18 * mm
# tick box, barcode, SKU and description, quantity, orders: 174 mm, A4 less margins
WIDTHS = tuple(w * mm for w in (10, 54, 50, 18, 42))
PADDING = 3  # points, each side of a cell
BARCODE_WIDTH = WIDTHS[1] - 2 * PADDING  # an EAN-13 at 1.2 pt modules takes 135.6 of its 147 points
BARCODE_HEIGHT = 11 * mm
ORDERS_PER_ROW = 12  # a SKU split into more orders continues on further rows, which may break pages
HEADER = ("", "Barcode", "SKU / description", "Qty", "Orders")


# ---------------------------------------------------------------------------------------------
# Document
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PickListOrder:
    """Units of a line that go to one fulfilment of one order."""

    order_number: str
    fulfilment_id: str
    quantity: int

    def __post_init__(self) -> None:
        if self.quantity < 1:
            raise InvalidInput(f"order {self.order_number} needs at least 1 unit, got {self.quantity}")


@dataclass(frozen=True, slots=True)
class PickListLine:
    """One SKU to pick: how many units in all, and the orders they are split into."""

    sku: str
    description: str
    quantity: int
    orders: tuple[PickListOrder, ...]
    gtin: str | None = None  # a valid GTIN-13 is printed as EAN-13 instead of the SKU's Code 128

    def __post_init__(self) -> None:
        if not self.sku.strip():
            raise InvalidInput("a pick list line needs a SKU")
        if self.quantity < 1:
            raise InvalidInput(f"SKU {self.sku} needs at least 1 unit to pick, got {self.quantity}")
        split = sum(order.quantity for order in self.orders)
        if split != self.quantity:
            raise InvalidInput(f"SKU {self.sku}: its orders take {split} units, the line {self.quantity}")

    @property
    def barcode(self) -> tuple[str, str]:
        return sku_barcode(self.sku, self.gtin)


@dataclass(frozen=True, slots=True)
class PickListDocument:
    """The pick list of a location as printed at `printed_at`; no lines: nothing to pick."""

    location_code: str
    location_name: str
    printed_at: datetime
    lines: tuple[PickListLine, ...]

    def __post_init__(self) -> None:
        skus = [line.sku for line in self.lines]
        if len(set(skus)) != len(skus):
            raise InvalidInput("each SKU goes on one line of the pick list")

    @property
    def units(self) -> int:
        return sum(line.quantity for line in self.lines)

    @classmethod
    def from_rows(cls, location_code: str, location_name: str, printed_at: datetime,
                  rows: Sequence[Mapping[str, Any]],
                  products: Mapping[str, Mapping[str, Any]]) -> PickListDocument:
        """From the rows of `fulfilment_queries.pick_list` and the products by SKU (their `name`
        is the description, `gtin` the barcode); a SKU missing from `products` prints its SKU only."""
        lines = []
        for row in rows:
            product = products.get(row["sku"], {})
            orders = tuple(PickListOrder(o["order_number"], o["fulfilment_id"], o["quantity"])
                           for o in row["orders"])
            lines.append(PickListLine(row["sku"], product.get("name") or "", row["quantity"], orders,
                                      product.get("gtin")))
        return cls(location_code, location_name, printed_at, tuple(lines))


# ---------------------------------------------------------------------------------------------
# PDF
# ---------------------------------------------------------------------------------------------


def render_pick_list_pdf(doc: PickListDocument) -> bytes:
    """An A4 portrait pick list: a heading (location, printed-at time, units and SKUs), then the
    table of SKUs, its header repeated on each page, and "Page n of m" at the foot of each page.
    Built twice: once to count the pages, then again with the count in the footers."""
    page_count = _build(doc, page_count=0)[1]
    return _build(doc, page_count)[0]


def format_printed_at(moment: datetime) -> str:
    """`2025-06-01 14:30 UTC`: to the minute, with the time zone's name when it has one."""
    zone = moment.tzname()
    return f"{moment:%Y-%m-%d %H:%M}" + (f" {zone}" if zone else "")


def _build(doc: PickListDocument, page_count: int) -> tuple[bytes, int]:
    out = io.BytesIO()
    template = SimpleDocTemplate(
        out, pagesize=A4, invariant=1, title=f"Pick list {doc.location_code}",
        author=doc.location_name, leftMargin=MARGIN, rightMargin=MARGIN,
        topMargin=MARGIN, bottomMargin=MARGIN + 6 * mm,
    )
    pages = 0

    def footer(canvas: Any, page: Any) -> None:
        # drawn straight on the canvas, which reads no markup: no escaping here
        nonlocal pages
        pages = page.page
        canvas.saveState()
        canvas.setFont("Helvetica", 8)
        canvas.drawString(MARGIN, MARGIN, cut_to_width(
            f"Pick list  |  {doc.location_code}  |  printed {format_printed_at(doc.printed_at)}",
            "Helvetica", 8, 120 * mm))
        canvas.drawRightString(A4[0] - MARGIN, MARGIN, f"Page {page.page} of {page_count}")
        canvas.restoreState()

    template.build(_story(doc), onFirstPage=footer, onLaterPages=footer)
    return out.getvalue(), pages


def _story(doc: PickListDocument) -> list[Any]:
    styles = getSampleStyleSheet()
    body = styles["BodyText"]
    units, skus = doc.units, len(doc.lines)
    story: list[Any] = [
        Paragraph("Pick list", styles["Title"]),
        Paragraph(f"<b>{escape(doc.location_code)}</b> \u2013 {escape(doc.location_name[:200])}",
                  styles["Heading3"]),
        Paragraph(f"Printed: {format_printed_at(doc.printed_at)}<br/>"
                  f"<b>{units} {'unit' if units == 1 else 'units'}</b> of "
                  f"<b>{skus} {'SKU' if skus == 1 else 'SKUs'}</b>", body),
        Spacer(1, 5 * mm),
    ]
    if not doc.lines:
        story.append(Paragraph("<b>Nothing to pick:</b> there are no pending fulfilments at this "
                               "location.", body))
    else:
        story.append(_lines_table(doc.lines))
    return story


def _lines_table(lines: Sequence[PickListLine]) -> Table:
    cell = ParagraphStyle("cell", parent=getSampleStyleSheet()["BodyText"], fontSize=9, leading=11)
    sku_style = ParagraphStyle("sku", parent=cell, fontName="Helvetica-Bold")
    text_width = WIDTHS[2] - 2 * PADDING
    rows: list[list[Any]] = [list(HEADER)]
    group_ends: list[int] = []  # the last row of each SKU, ruled off below
    for line in lines:
        chunks = [line.orders[i:i + ORDERS_PER_ROW] for i in range(0, len(line.orders), ORDERS_PER_ROW)]
        item = [cut_paragraph(line.sku, sku_style, text_width, 4 * sku_style.leading),
                cut_paragraph(line.description, cell, text_width, 2 * cell.leading)]
        rows.append([_tick_box(), _barcode(line, cell), item, str(line.quantity),
                     _orders(chunks[0], cell)])
        for chunk in chunks[1:]:
            continued = cut_to_width(line.sku, "Helvetica", 9, text_width) + " (continued)"
            rows.append(["", "", Paragraph(escape(continued), cell), "", _orders(chunk, cell)])
        group_ends.append(len(rows) - 1)
    table = Table(rows, colWidths=list(WIDTHS), repeatRows=1)
    table.setStyle(TableStyle([
        ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
        ("FONTSIZE", (0, 0), (-1, 0), 9),
        ("LINEBELOW", (0, 0), (-1, 0), 1, colors.black),
        ("FONTNAME", (3, 1), (3, -1), "Helvetica-Bold"),
        ("FONTSIZE", (3, 1), (3, -1), 20),
        ("LEADING", (3, 1), (3, -1), 22),
        ("ALIGN", (3, 0), (3, -1), "RIGHT"),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("VALIGN", (4, 1), (4, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), PADDING),
        ("RIGHTPADDING", (0, 0), (-1, -1), PADDING),
        ("TOPPADDING", (0, 1), (-1, -1), 5),
        ("BOTTOMPADDING", (0, 1), (-1, -1), 5),
        *(("LINEBELOW", (0, row), (-1, row), 0.5, colors.black) for row in group_ends),
    ]))
    return table


def _tick_box() -> Drawing:
    box = Drawing(12, 12)
    box.add(Rect(0, 0, 12, 12, fillColor=None, strokeColor=colors.black, strokeWidth=1))
    return box


def _barcode(line: PickListLine, cell: ParagraphStyle) -> Any:
    symbology, value = line.barcode
    if symbology == "EAN13":
        # reportlab adds the check digit itself from the first 12 (already checked by is_gtin13)
        return createBarcodeDrawing("EAN13", value=value[:12], barWidth=1.2, barHeight=BARCODE_HEIGHT,
                                    fontSize=8, humanReadable=True)
    if value.isascii() and value.isprintable():
        barcode = code128(value, width=BARCODE_WIDTH, height=BARCODE_HEIGHT, max_module=1.0)
        if barcode is not None:
            return barcode
    return Paragraph("<i>no barcode: scan or type the SKU</i>", cell)


def _orders(orders: Sequence[PickListOrder], cell: ParagraphStyle) -> Paragraph:
    width = WIDTHS[4] - 2 * PADDING
    entries = []
    for order in orders:
        units = f" \u00d7 {order.quantity}"  # the units are never cut; a long order number is
        number = cut_to_width(order.order_number, "Helvetica", 9, width - stringWidth(units, "Helvetica", 9))
        entries.append(number + units)
    return Paragraph("<br/>".join(escape(entry) for entry in entries), cell)
