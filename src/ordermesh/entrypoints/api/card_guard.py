"""Refuse any write request that carries something that looks like a payment card number.

It runs before routing and parsing, so a card number is never parsed into a model, stored,
or echoed in an error, and the refusal names only where it was found.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from stdnum import luhn

from ordermesh.entrypoints.api.errors import problem

# 13 to 19 digits, optionally grouped by single spaces or dashes, not part of a longer number.
CANDIDATE = re.compile(r"(?<![\d])\d(?:[ -]?\d){12,18}(?![\d])")
MAX_BODY = 2 * 1024 * 1024


def looks_like_card_number(text: str) -> bool:
    for match in CANDIDATE.finditer(text):
        digits = re.sub(r"[ -]", "", match.group())
        if 13 <= len(digits) <= 19 and luhn.is_valid(digits):
            return True
    return False


def card_paths(value: Any, path: str = "$") -> Iterator[str]:
    """JSON paths of the values in a document that look like card numbers."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from card_paths(key, f"{path}[key]")
            yield from card_paths(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from card_paths(item, f"{path}[{index}]")
    elif isinstance(value, str | int) and not isinstance(value, bool):
        if looks_like_card_number(str(value)):
            yield path


class CardGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
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
        found = self._scan(body)
        if found is not None:
            response = problem(
                422, "request.card_data_refused", "Card data refused",
                "Ordermesh takes payment tokens from a gateway, never card numbers",
                extra={"locations": found})
            await response(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    @staticmethod
    def _scan(body: bytes) -> list[str] | None:
        text = body.decode("utf-8", errors="replace")
        try:
            paths = list(card_paths(json.loads(text)))
        except ValueError:
            paths = []
        if paths:
            return paths
        return ["$"] if looks_like_card_number(text) else None


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
