"""What a payment card number looks like, where one hides in a JSON document, and how the logs
are kept free of them. The InputGuard middleware refuses requests that carry one."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote, unquote_plus

from stdnum import ean, luhn

# Card numbers as people write them: 13 to 19 digits in one run, or in groups of four
# (4-4-4-4, 4-4-4-4-3, 4-4-4-1..4) or the 4-6-5 of American Express, split by up to three
# spaces, tabs, no-break spaces, dashes (also typographic ones), dots, underscores or slashes; in
# any script's digits (a Japanese keyboard types full-width ones). A leading + marks an
# international phone number, never a card.
# Digits touching a letter, grouped or not, are part of an identifier (a UUID, a gateway's
# "auth_6346565791494471e9..."), not a card; an underscore or a space still sets them apart
# ("tok_4111111111111111" is a card number).
SEP = r"(?:[^\S\r\n]|[._/\-\u2010-\u2015\u2212]){1,3}"  # horizontal space, never a new line
CANDIDATE = re.compile(rf"""
      (?<![\dA-Za-z+])\d{{13,19}}(?![\dA-Za-z])
    | (?<![A-Za-z0-9+])(?:
          \d{{4}}{SEP}\d{{4}}{SEP}\d{{4}}{SEP}\d{{1,4}}(?:{SEP}\d{{1,3}})?
        | \d{{4}}{SEP}\d{{6}}{SEP}\d{{5}}
      )(?![A-Za-z0-9])
""", re.VERBOSE)
GROUP = re.compile(r"\d+")
MASK = "[card number removed]"
# Fields whose valid GTINs are barcodes: one GTIN in ten passes Luhn, and no card number of
# 15 digits or more is a GTIN.
BARCODE_FIELDS = frozenset({"gtin", "sku"})


def is_card_number(digits: str) -> bool:
    """Payment card numbers start with 2 to 6 (13-digit ones are Visa: 4) and pass Luhn."""
    digits = "".join(str(int(d)) for d in digits)  # full-width and other scripts' digits
    if not 13 <= len(digits) <= 19 or digits[0] not in "23456":
        return False
    if len(digits) == 13 and digits[0] != "4":
        return False
    return bool(luhn.is_valid(digits))


def card_spans(text: str) -> Iterator[tuple[int, int]]:
    """Where card numbers stand in the text. Every group is tried as a start, since a card
    number may follow other digit groups ("ref 1234 5555 5555 5555 4444"), and a grouped one
    may be followed by one more ("4111 1111 1111 1111 12")."""
    position = 0
    while (match := CANDIDATE.search(text, position)) is not None:
        groups = list(GROUP.finditer(match.group()))
        ends = [groups[-1].end()] + ([groups[3].end()] if len(groups) == 5 else [])
        end = next((e for e in ends
                    if is_card_number("".join(g.group() for g in groups if g.end() <= e))),
                   None)
        if end is None:
            position = match.start() + 1
        else:
            yield match.start(), match.start() + end
            position = match.start() + end


def looks_like_card_number(text: str) -> bool:
    """Whether the text holds a card number, also once its %-escapes are decoded (a header or
    a value the receiver will decode: "4111%201111%201111%201111")."""
    if next(card_spans(text), None) is not None:
        return True
    decoded = unquote(text) if "%" in text else text
    return decoded != text and looks_like_card_number(decoded)


def card_paths(value: Any, path: str = "$") -> Iterator[str]:
    """JSON paths of the values in a document that look like card numbers."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from card_paths(key, f"{path}[key]")
            if key in BARCODE_FIELDS and isinstance(item, str) and ean.is_valid(item):
                continue
            name = redact(str(key)).encode("utf-8", "replace").decode()  # no lone surrogate
            yield from card_paths(item, f"{path}.{name}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from card_paths(item, f"{path}[{index}]")
    elif isinstance(value, float) and value.is_integer():
        yield from card_paths(int(value), path)
    elif (isinstance(value, str | int) and not isinstance(value, bool)
          and looks_like_card_number(str(value))):
        yield path


def redact(text: str) -> str:
    """The text with its card numbers masked. A URL-encoded one (a raw query string in the
    access log: "?note=4111+1111+1111+1111", "%34%31...") is masked in the decoded text."""
    masked = _masked(text)
    decoded = unquote_plus(masked) if "?" in masked else unquote(masked)  # "+": a query's space
    if decoded != masked and looks_like_card_number(decoded):
        return _masked(decoded)
    return masked


def _masked(text: str) -> str:
    parts, last = [], 0
    for start, end in card_spans(text):
        parts += [text[last:start], MASK]
        last = end
    return "".join(parts) + text[last:]


class CardNumberRedactor(logging.Filter):
    """Masks card-like numbers in log records (the access log prints request URLs)."""

    def filter(self, record: logging.LogRecord) -> bool:
        # Arguments are masked one by one: formatters such as uvicorn's read them by position.
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


LOGGERS = ("uvicorn", "uvicorn.access", "uvicorn.error", "ordermesh", "ordermesh.api")


def install_log_redaction() -> None:
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, CardNumberRedactor) for f in logger.filters):
            logger.addFilter(CardNumberRedactor())
