"""What a payment card number looks like, where one hides in a JSON document, and how the logs
are kept free of them. The InputGuard middleware refuses requests that carry one."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

from stdnum import ean, luhn

# Card numbers as people write them: 13 to 19 digits in one run, or in groups of four
# (4-4-4-4, 4-4-4-4-3, 4-4-4-1..4) or the 4-6-5 of American Express, split by spaces, dashes,
# dots, underscores or slashes. A leading + marks an international phone number, never a card.
# Digits touching a letter, grouped or not, are part of an identifier (a UUID, a gateway's
# "auth_6346565791494471e9..."), not a card; an underscore or a space still sets them apart
# ("tok_4111111111111111" is a card number).
CANDIDATE = re.compile(r"""
      (?<![\dA-Za-z+])\d{13,19}(?![\dA-Za-z])
    | (?<![A-Za-z0-9+])(?:
          \d{4}[ ._/-]\d{4}[ ._/-]\d{4}[ ._/-]\d{1,4}(?:[ ._/-]\d{1,3})?
        | \d{4}[ ._/-]\d{6}[ ._/-]\d{5}
      )(?![A-Za-z0-9])
""", re.VERBOSE)
SEPARATORS = re.compile(r"[ ._/-]")
# Fields whose valid GTINs are barcodes: one GTIN in ten passes Luhn, and no card number of
# 15 digits or more is a GTIN.
BARCODE_FIELDS = frozenset({"gtin", "sku"})


def is_card_number(digits: str) -> bool:
    """Payment card numbers start with 2 to 6 (13-digit ones are Visa: 4) and pass Luhn."""
    if not 13 <= len(digits) <= 19 or digits[0] not in "23456":
        return False
    if len(digits) == 13 and digits[0] != "4":
        return False
    return bool(luhn.is_valid(digits))


def looks_like_card_number(text: str) -> bool:
    return any(is_card_number(SEPARATORS.sub("", m.group())) for m in CANDIDATE.finditer(text))


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
        digits = SEPARATORS.sub("", match.group())
        return "[card number removed]" if is_card_number(digits) else match.group()

    return CANDIDATE.sub(mask, text)


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
