"""Document numbers: a series, the year, and a gapless sequence (INV-2026-000001)."""

from __future__ import annotations

import re

from ordermesh.domain.errors import InvalidInput

SERIES = re.compile(r"[A-Z]{2,16}")
NUMBER = re.compile(r"([A-Z]{2,16})-([0-9]{4})-([0-9]{6,})")


def format_document_number(series: str, year: int, n: int) -> str:
    if not SERIES.fullmatch(series) or not 1 <= year <= 9999 or n < 1:
        raise InvalidInput(f"not a document number: {series!r}, {year}, {n}")
    return f"{series}-{year:04d}-{n:06d}"


def parse_document_number(number: str) -> tuple[str, int, int] | None:
    match = NUMBER.fullmatch(number)
    return (match.group(1), int(match.group(2)), int(match.group(3))) if match else None
