"""Refuse, before routing and parsing, input that must never reach a model, the database or a log:
payment card numbers anywhere in the URL or a write body, text the database cannot store (NUL
characters, lone surrogates), bodies over 2 MiB (a stock sync sent as CSV: 32 MiB) and documents
nested too deep to read."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from functools import partial
from typing import Any
from urllib.parse import unquote_plus

from anyio import to_thread
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from stdnum import ean

from ordermesh.entrypoints.api.card_guard import (
    BARCODE_FIELDS,
    card_paths,
    card_spans,
    looks_like_card_number,
)
from ordermesh.entrypoints.api.errors import problem

MAX_BODY = 2 * 1024 * 1024
# A stock sync sent as a CSV file: 100,000 rows of a WMS or POS take about 7 MiB.
MAX_STOCK_SYNC_CSV_BODY = 32 * 1024 * 1024
STOCK_SYNC_PATH = "/api/v1/stock-syncs"
CSV_MEDIA_TYPES = (b"text/csv", b"application/csv")
SCAN_ON_LOOP = 256 * 1024  # bytes of body scanned on the event loop; more in a worker thread
MAX_DEPTH = 64  # no Ordermesh document nests deeper than a handful of levels
# What makes a JSON text's values differ from the text: escapes, %-escapes, numbers that are
# read as something else ("4.1e15", "4111111111111.9999999" is 4111111111112).
REWRITTEN = re.compile(r"[\\%]|\d[.eE]")


def nesting_depth(document: Any) -> int:
    """How deep arrays and objects nest, counted without recursion."""
    deepest, stack = 0, [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            deepest = max(deepest, depth)
            items = value.values() if isinstance(value, dict) else value
            stack.extend((item, depth + 1) for item in items)
    return deepest


def is_storable(text: str) -> bool:
    """Text both databases can store: UTF-8 encodable and free of NUL characters."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def unstorable_paths(value: Any, path: str = "$") -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if not is_storable(key):
                yield f"{path}[key]"
            yield from unstorable_paths(item, f"{path}.{key if is_storable(key) else '?'}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from unstorable_paths(item, f"{path}[{index}]")
    elif isinstance(value, str) and not is_storable(value):
        yield path


class InputGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"").decode("latin-1")
        target = unquote_plus(scope.get("path", "") + "?" + query)
        # each header on its own: joined, one header's digits could hide the next one's card
        headers = [value.decode("latin-1") for name, value in scope.get("headers", [])
                   if name.lower() != b"authorization"]
        if any(looks_like_card_number(value) for value in headers):
            await _card_response(["headers"])(scope, receive, send)
            return
        if looks_like_card_number(target):
            await _card_response(["url"])(scope, receive, send)
            return
        if not is_storable(target):
            await problem(400, "request.malformed", "The URL holds characters that cannot be stored")(
                scope, receive, send)
            return
        if scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        sent = dict(scope.get("headers") or ())
        media_type = sent.get(b"content-type", b"").split(b";")[0].strip().lower()
        cap = body_cap(scope["method"], scope.get("path", ""), media_type,
                       b"authorization" in sent)
        body = await _read(receive, cap)
        if body is None:
            await problem(413, "request.too_large", "Request too large",
                          f"a request body here is at most {cap} bytes")(scope, receive, send)
            return
        if media_type in CSV_MEDIA_TYPES:
            body = body.removeprefix(b"\xef\xbb\xbf")  # spreadsheets write CSV with a BOM
        scan = partial(inspect_body, body,
                       form=media_type == b"application/x-www-form-urlencoded",
                       csv_columns=media_type in CSV_MEDIA_TYPES
                       and scope.get("path", "") == STOCK_SYNC_PATH)
        # a large body (a stock sync file: up to a second) is scanned beside the event loop,
        # which goes on serving the other requests meanwhile
        refusal = scan() if len(body) <= SCAN_ON_LOOP else await to_thread.run_sync(scan)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)


def body_cap(method: str, path: str, media_type: bytes, with_credentials: bool = True) -> int:
    """The largest body a request may carry: 2 MiB, but 32 MiB for a stock sync sent as CSV
    with credentials (a request without any gets no more than any other: it will be refused,
    and must not make the server read 32 MiB first)."""
    if (method == "POST" and path == STOCK_SYNC_PATH and media_type in CSV_MEDIA_TYPES
            and with_credentials):
        return MAX_STOCK_SYNC_CSV_BODY
    return MAX_BODY


async def _read(receive: Receive, cap: int = MAX_BODY) -> bytes | None:
    body = bytearray()  # appended in place: a large body arrives in many small messages
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
        if len(body) > cap:
            return None
    return bytes(body)


def inspect_body(body: bytes, form: bool = False, csv_columns: bool = False) -> Any:
    """A problem response refusing the body, or None if it may go on. A form is scanned as
    the receiver reads it, decoded ("4111+1111+1111+1111"). A stock sync's CSV file
    (`csv_columns`) that seems to hold a card number is scanned again field by field, as a JSON
    body is, where a valid GTIN in the `sku` column is a barcode, not a card.

    The body must be UTF-8 without a byte order mark: the parser after this one would also read
    UTF-16 and UTF-32, and what it reads must be exactly what was scanned here. UTF-8 JSON never
    holds a raw NUL byte, while UTF-16 and UTF-32 text is full of them.
    """
    try:
        text: str | None = body.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is None or "\x00" in text or text.startswith("\ufeff"):
        return problem(400, "request.malformed", "The body must be UTF-8 without a BOM")
    try:
        document = json.loads(text)
    except RecursionError:
        return problem(400, "request.malformed", "Request too deeply nested")
    except ValueError:  # not JSON: the schema refuses it later; scan it as text first
        card = looks_like_card_number(unquote_plus(text) if form else text)
        if card and csv_columns:
            found = _csv_card_fields(text)
            return _card_response(found) if found else None
        return _card_response(["$"]) if card else None
    if text.count("[") + text.count("{") > MAX_DEPTH and nesting_depth(document) > MAX_DEPTH:
        return problem(400, "request.malformed", "Request too deeply nested")
    if as_written(text) and next(card_spans(text), None) is None:
        return None  # no card number in the text, and no escape to hide one or a NUL
    cards = list(card_paths(document))
    if cards:
        return _card_response(cards)
    bad_text = list(unstorable_paths(document))
    if bad_text:
        return problem(422, "request.invalid", "Invalid request",
                       "text may not hold NUL characters or lone surrogates",
                       extra={"locations": bad_text})
    return None


def as_written(text: str) -> bool:
    """Whether a JSON text's values read as they are written, so that scanning the text scans
    them: no escapes ("\\u0034", "\\/", which alone could also make a NUL or a lone surrogate),
    no %-escapes (values are scanned decoded too), no exponent or fraction (an integral number
    is scanned as the integer it rounds to)."""
    return REWRITTEN.search(text) is None


def _csv_card_fields(text: str) -> list[str]:
    """Where card numbers stand in a CSV file, as "line N, column" with the columns the first
    line names; the whole file ("$") if it cannot be read as CSV. Commas, quotes and line ends
    never join the groups of a card number, so each one the scan of the whole text found stands
    in one field."""
    found: list[str] = []
    try:
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        header = next((record for record in reader if any(record)), [])  # as stock_csv reads
        if any(looks_like_card_number(name) for name in header):
            found.append(f"line {reader.line_num}")
        names = [name.strip().lower() for name in header]
        start = reader.line_num + 1
        for record in reader:
            for n, value in enumerate(record):
                column = names[n] if n < len(names) else f"field {n + 1}"
                if column in BARCODE_FIELDS and ean.is_valid(value):
                    continue
                if looks_like_card_number(value):
                    found.append(f"line {start}, {column}")
            start = reader.line_num + 1
    except csv.Error:
        return ["$"]
    return found


def _card_response(found: list[str]) -> Any:
    return problem(422, "request.card_data_refused", "Card data refused",
                   "Ordermesh takes payment tokens from a gateway, never card numbers",
                   extra={"locations": found})


def _replay(body: bytes, original: Receive) -> Receive:
    """Hand the buffered body to the app, then pass on what the client does next."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return await original()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive
