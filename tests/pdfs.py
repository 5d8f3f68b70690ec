"""Reading rendered PDFs the way a person or a scanner would: the barcodes a real reader finds
(pages rendered to images with pdfium, decoded with zxing-cpp) and the text of each page."""

from __future__ import annotations

import pypdfium2 as pdfium
import zxingcpp

SCALE = 4  # 288 dpi: a 0.5 pt module is 2 pixels wide, which zxing reads reliably


def scan(pdf: bytes) -> list[tuple[int, str, str]]:
    """(page, format, text) of every barcode a reader finds, page by page, top to bottom."""
    found: list[tuple[int, float, str, str]] = []
    document = pdfium.PdfDocument(pdf)
    try:
        for index in range(len(document)):
            image = document[index].render(scale=SCALE).to_pil()
            for barcode in zxingcpp.read_barcodes(image):
                found.append((index, barcode.position.top_left.y, barcode.format.name, barcode.text))
    finally:
        document.close()
    return [(page, kind, text) for page, _, kind, text in sorted(found)]


def page_texts(pdf: bytes) -> list[str]:
    """The text of each page, as pdfium extracts it."""
    document = pdfium.PdfDocument(pdf)
    try:
        return [document[i].get_textpage().get_text_range() for i in range(len(document))]
    finally:
        document.close()
