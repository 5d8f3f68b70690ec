"""CSV for operators' spreadsheets, shared by the API's `.csv` answers and the console."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from typing import Any

# A cell starting with one of these is run as a formula by spreadsheet programs; data such as a
# SKU or a channel name must never become one (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return "" if value is None else value


def to_csv(rows: list[dict[str, Any]] | list[Mapping[str, Any]], columns: list[str]) -> str:
    """The rows as CSV (RFC 4180: CRLF line ends, quoted where needed) with a header row of
    `columns`, in that order; keys not named are left out, None is an empty cell, and text that
    a spreadsheet would run as a formula is prefixed with an apostrophe."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(column)) for column in columns])
    return out.getvalue()
