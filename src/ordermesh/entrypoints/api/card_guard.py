"""Refuse any write request that carries something that looks like a payment card number.

It runs before routing and parsing, so a card number is never parsed into a model, stored,
or echoed in an error, and the refusal names only where it was found.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote_plus

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from stdnum import ean, luhn

from ordermesh.entrypoints.api.errors import problem

# Card numbers as people write them: 13 to 19 digits in one run, or in groups of four
# (4-4-4-4, 4-4-4-4-3, 4-4-4-1..4) or the 4-6-5 of American Express, split by spaces or dashes.
# A leading + marks an international phone number, never a card. Grouped digits touching a
# letter or a dash are part of an identifier such as a UUID, not a card.
CANDIDATE = re.compile(r"""
      (?<![\d+])\d{13,19}(?!\d)
    | (?<![\w+-])(?:
          \d{4}[ -]\d{4}[ -]\d{4}[ -]\d{1,4}(?:[ -]\d{1,3})?
        | \d{4}[ -]\d{6}[ -]\d{5}
      )(?![\w-])
""", re.VERBOSE)
# Fields whose valid GTINs are barcodes: one GTIN in ten passes Luhn, and no card number of
# 15 digits or more is a GTIN.
BARCODE_FIELDS = frozenset({"gtin", "sku"})
MAX_BODY = 2 * 1024 * 1024


def is_card_number(digits: str) -> bool:
    """Payment card numbers start with 2 to 6 (13-digit ones are Visa: 4) and pass Luhn."""
    if not 13 <= len(digits) <= 19 or digits[0] not in "23456":
        return False
    if len(digits) == 13 and digits[0] != "4":
        return False
    return bool(luhn.is_valid(digits))


def looks_like_card_number(text: str) -> bool:
    return any(is_card_number(re.sub(r"[ -]", "", m.group())) for m in CANDIDATE.finditer(text))


def card_paths(value: Any, path: str = "$") -> Iterator[str]:
    """JSON paths of the values in a document that look like card numbers."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from card_paths(key, f"{path}[key]")
            if key in BARCODE_FIELDS and isinstance(item, str) and ean.is_valid(item):
                continue
            yield from card_paths(item, f"{path}.{redact(str(key))}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from card_paths(item, f"{path}[{index}]")
    elif isinstance(value, float) and value.is_integer():
        yield from card_paths(int(value), path)
    elif (isinstance(value, str | int) and not isinstance(value, bool)
          and looks_like_card_number(str(value))):
        yield path


def redact(text: str) -> str:
    def mask(match: re.Match[str]) -> str:
        digits = re.sub(r"[ -]", "", match.group())
        return "[card number removed]" if is_card_number(digits) else match.group()

    return CANDIDATE.sub(mask, text)


class CardNumberRedactor(logging.Filter):
    """Masks card-like numbers in log records (the access log prints request URLs)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


LOGGERS = ("uvicorn", "uvicorn.access", "uvicorn.error", "ordermesh", "ordermesh.api")


def install_log_redaction() -> None:
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, CardNumberRedactor) for f in logger.filters):
            logger.addFilter(CardNumberRedactor())


class CardGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        target = unquote_plus(scope.get("path", "") + "?" + scope.get("query_string", b"").decode(
            "latin-1"))
        if looks_like_card_number(target):
            await self._refuse(["url"], scope, receive, send)
            return
        if scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > MAX_BODY:
                await problem(413, "request.too_large", "Request too large")(scope, receive, send)
                return
        try:
            found = self._scan(body)
        except RecursionError:
            await problem(400, "request.malformed", "Request too deeply nested")(
                scope, receive, send)
            return
        if found is not None:
            await self._refuse(found, scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    @staticmethod
    async def _refuse(found: list[str], scope: Scope, receive: Receive, send: Send) -> None:
        response = problem(
            422, "request.card_data_refused", "Card data refused",
            "Ordermesh takes payment tokens from a gateway, never card numbers",
            extra={"locations": found})
        await response(scope, receive, send)

    @staticmethod
    def _scan(body: bytes) -> list[str] | None:
        text = body.decode("utf-8", errors="replace")
        try:
            document = json.loads(text)
        except ValueError:  # not JSON: scan it as text
            return ["$"] if looks_like_card_number(text) else None
        return list(card_paths(document)) or None


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
