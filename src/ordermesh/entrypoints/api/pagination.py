"""Opaque cursors for keyset pagination."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from ordermesh.domain.errors import InvalidInput
from ordermesh.entrypoints.api.input_guard import is_storable

MAX_CURSOR = 1000


def encode_cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, shape: Callable[[Any], bool]) -> Any:
    """The position a cursor holds, if it has the shape this list gives out."""
    if cursor is None:
        return None
    if len(cursor) > MAX_CURSOR:
        raise InvalidInput("the cursor is not one this API gave out")
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise InvalidInput("the cursor is not one this API gave out") from exc
    if not shape(value):
        raise InvalidInput("the cursor is not one this API gave out")
    return value


def is_position(value: Any) -> bool:
    """A sequence number: a positive 64-bit integer."""
    return type(value) is int and 0 < value < 2**63


def is_key(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 200 and is_storable(value)


def is_key_pair(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and all(is_key(v) for v in value)


def page(items: list[Any], limit: int, cursor_of: Any) -> dict[str, Any]:
    """Queries fetch limit + 1 rows; the extra row only says there is a next page."""
    has_more = len(items) > limit
    items = items[:limit]
    next_cursor = encode_cursor(cursor_of(items[-1])) if has_more and items else None
    return {"items": items, "next_cursor": next_cursor}
