"""A stock sync sent as a CSV file: read and checked whole before anything is written, then cut
into batches that are applied one transaction each (docs/api.md, "Stock sync as a CSV file").

The file is read row by row with the standard csv module and checked by hand against the same
bounds as the JSON rows (`StockUpdateIn`): a pydantic model per row costs about six times as much
for 100,000 rows."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple, get_args

from pydantic import StringConstraints

from ordermesh.domain.errors import InvalidInput
from ordermesh.domain.inventory import StockUpdate, SyncMode
from ordermesh.entrypoints.api.schemas.common import NUMBER, Code
from ordermesh.entrypoints.api.schemas.stock import (
    MAX_CSV_ROWS,
    MAX_QUANTITY,
    MAX_SOURCE_REFERENCE,
)

COLUMNS = ("sku", "location", "mode", "quantity", "source_reference", "counted_at")
# Rows per transaction: large enough that a statement carries many rows, small enough that
# SQLite's one writer lock is held for a short while and order placement goes on between.
BATCH_ROWS = 2000
# Errors listed in a refusal; the count says how many there were in all.
MAX_ERRORS_LISTED = 100

CODE = re.compile(next(str(m.pattern) for m in get_args(Code)[1:]
                       if isinstance(m, StringConstraints) and m.pattern))
INTEGER = re.compile(r"[+-]?\d{1,10}")


class FileRow(NamedTuple):
    line: int
    update: StockUpdate


class _Errors:
    def __init__(self) -> None:
        self.listed: list[dict[str, Any]] = []
        self.count = 0

    def add(self, line: int, column: str | None, msg: str) -> None:
        self.count += 1
        if len(self.listed) < MAX_ERRORS_LISTED:
            self.listed.append({"line": line, "column": column, "msg": msg})

    def refuse(self, what: str) -> InvalidInput:
        first = self.listed[0]
        where = f"line {first['line']}" + (f", {first['column']}" if first["column"] else "")
        return InvalidInput(f"{what}: {self.count} error(s), the first on {where}: "
                            f"{first['msg']}; nothing was applied",
                            errors=self.listed, error_count=self.count)


class _BadRecord(Exception):
    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line = line


def _records(text: str) -> Iterator[tuple[int, list[str]]]:
    """Each record with the line it starts on (a quoted field may span lines)."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    start = 1
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise _BadRecord(reader.line_num, str(exc)) from None
        yield start, record
        start = reader.line_num + 1


def parse(text: str) -> list[FileRow]:
    """The rows of the file, every one checked; InvalidInput naming the lines if any is not
    valid, or if two rows share a source_reference."""
    errors = _Errors()
    records = _records(text)
    rows: list[FileRow] = []
    header_line = 1
    try:
        header = next(((n, r) for n, r in records if any(r)), None)
        if header is None:
            errors.add(1, None, "the file is empty: give a header line and at least one row")
            raise errors.refuse("the file is not a valid stock sync")
        header_line = header[0]
        reader = _Reader(_columns(*header, errors), errors)
        first_line: dict[str, int] = {}
        count = 0
        for line, record in records:
            if not any(record):
                continue  # blank lines
            count += 1
            if count > MAX_CSV_ROWS:
                errors.add(line, None, f"a file holds at most {MAX_CSV_ROWS} rows")
                break
            row = reader.row(line, record)
            if row is None:
                continue
            ref = row.update.source_reference
            if ref in first_line:
                errors.add(line, "source_reference",
                           f"the same source_reference as line {first_line[ref]}")
                continue
            first_line[ref] = line
            rows.append(row)
    except _BadRecord as exc:
        errors.add(exc.line, None, f"not a valid CSV record ({exc})")
    if errors.count:
        raise errors.refuse("the file is not a valid stock sync")
    if not rows:
        errors.add(header_line + 1, None, "the file has a header but no rows")
        raise errors.refuse("the file is not a valid stock sync")
    return rows


def _columns(line: int, header: list[str], errors: _Errors) -> dict[str, int]:
    names = [name.strip().lower() for name in header]
    for name in names:
        if name not in COLUMNS:
            errors.add(line, None, f"unknown column {name[:64]!r}; the columns are "
                                   f"{', '.join(COLUMNS)}")
    for name in COLUMNS:
        if names.count(name) == 0:
            errors.add(line, name, "the header lacks this column")
        elif names.count(name) > 1:
            errors.add(line, name, "the header names this column more than once")
    if errors.count:
        raise errors.refuse("the header is not a stock sync's")
    return {name: names.index(name) for name in COLUMNS}


MODES = {"absolute": SyncMode.ABSOLUTE, "delta": SyncMode.DELTA}


class _Reader:
    """Reads the fields of rows; values seen before (a location, a time shared by many rows)
    are taken from what was read the first time."""

    def __init__(self, columns: dict[str, int], errors: _Errors) -> None:
        self.at = [columns[c] for c in COLUMNS]
        self.width = len(columns)
        self.errors = errors
        self.codes: set[str] = set()
        self.moments: dict[str, datetime] = {}

    def row(self, line: int, record: list[str]) -> FileRow | None:
        if len(record) != self.width:
            self.errors.add(line, None, f"{len(record)} fields where the header has {self.width}")
            return None
        at = self.at
        sku, location, mode, quantity = record[at[0]], record[at[1]], record[at[2]], record[at[3]]
        ref, counted_at = record[at[4]], record[at[5]]
        valid = self._code(sku, line, "sku") & self._code(location, line, "location")
        sync_mode = MODES.get(mode)
        if sync_mode is None:
            self.errors.add(line, "mode", "give absolute (a count) or delta (a movement)")
        amount = _quantity(quantity, line, self.errors)
        if not 1 <= len(ref) <= MAX_SOURCE_REFERENCE:
            self.errors.add(line, "source_reference",
                            f"give 1 to {MAX_SOURCE_REFERENCE} characters")
            valid = False
        moment = self.moments.get(counted_at)
        if moment is None:
            moment = _moment(counted_at, line, self.errors)
            if moment is not None:
                self.moments[counted_at] = moment
        if not valid or sync_mode is None or amount is None or moment is None:
            return None
        return FileRow(line, StockUpdate(sku, location, sync_mode, amount, ref, moment))

    def _code(self, value: str, line: int, column: str) -> bool:
        if value in self.codes:
            return True
        if CODE.fullmatch(value):
            self.codes.add(value)
            return True
        self.errors.add(line, column, "not a code: 1 to 64 letters, digits and . _ : - , "
                                      "starting with a letter or digit")
        return False


def _quantity(text: str, line: int, errors: _Errors) -> int | None:
    if not INTEGER.fullmatch(text):
        errors.add(line, "quantity", "not a whole number")
        return None
    value = int(text)
    if not -MAX_QUANTITY <= value <= MAX_QUANTITY:
        errors.add(line, "quantity", f"outside -{MAX_QUANTITY} to {MAX_QUANTITY}")
        return None
    return value


def _moment(text: str, line: int, errors: _Errors) -> datetime | None:
    """An ISO 8601 time with its offset from UTC, as the JSON rows' `counted_at`."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        errors.add(line, "counted_at", "give an ISO 8601 date and time, not a number"
                   if NUMBER.fullmatch(text) else "not an ISO 8601 date and time")
        return None
    if value.tzinfo is None:
        errors.add(line, "counted_at", "give the offset from UTC (Z or +01:00)")
        return None
    try:
        return value.astimezone(UTC)
    except OverflowError:
        errors.add(line, "counted_at", "the time is out of range once moved to UTC")
        return None


def batches(rows: Sequence[FileRow], size: int = BATCH_ROWS) -> list[list[FileRow]]:
    """The rows in the order they are applied, cut into batches of about `size`.

    By SKU, location and time, so the rows of one stock row are applied oldest first whichever
    batch they fall in (as one batch of the JSON route sorts them). A batch ends between two
    SKUs when it can, so the rows of one SKU share a transaction; a SKU with more than twice
    `size` rows is cut anyway."""
    ordered = [rows[n] for _, _, _, n in sorted(
        (r.update.sku, r.update.location, r.update.counted_at, n) for n, r in enumerate(rows))]
    cut: list[list[FileRow]] = []
    batch: list[FileRow] = []
    for row in ordered:
        if batch and (len(batch) >= 2 * size
                      or (len(batch) >= size and row.update.sku != batch[-1].update.sku)):
            cut.append(batch)
            batch = []
        batch.append(row)
    if batch:
        cut.append(batch)
    return cut
