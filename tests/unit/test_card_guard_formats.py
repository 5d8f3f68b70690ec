"""Card numbers written the ways people and programs write them: more than one space, tabs,
no-break spaces, typographic dashes, full-width digits, %-escapes, after other digit groups;
and the log redaction of raw query strings. (tests/unit/test_card_guard.py holds the rest.)"""

from __future__ import annotations

import logging

import pytest

from ordermesh.entrypoints.api.card_guard import (
    CardNumberRedactor,
    card_spans,
    looks_like_card_number,
    redact,
)

VISA = "4111111111111111"


@pytest.mark.parametrize("text", [
    "4111  1111  1111  1111",
    "4111\t1111\t1111\t1111",
    "4111\u00a01111\u00a01111\u00a01111",  # no-break spaces, as a word processor puts them
    "4111\u20131111\u20131111\u20131111",  # en dashes
    "4111 - 1111 - 1111 - 1111",
    "3782 - 822463 - 10005",
    "\uff14\uff11\uff11\uff11" * 1 + "\uff11" * 12,  # full-width digits
    "4111%201111%201111%201111",  # %-escaped, as a receiver would decode it
    "%34%31%31%31%31%31%31%31%31%31%31%31%31%31%31%31",
    "ref 1234 5555 5555 5555 4444",  # after another group of four
    "4111 1111 1111 1111 12",  # followed by one more short group
    "order 2024 4111 1111 1111 1111 thanks",
])
def test_card_numbers_in_other_writings_are_recognised(text: str) -> None:
    assert looks_like_card_number(text)


@pytest.mark.parametrize("text", [
    "4111\n1111\n1111\n1111",  # four lines of four digits: not one number
    "4111,1111,1111,1111",  # four CSV cells
    "100%", "50% off, 30%", "%zz%",
    "+4915112345678",  # a phone number whose digits pass Luhn
    "+49%201511%202345678",
    "1234 5678 9012 3456",  # grouped, but fails Luhn
])
def test_other_text_is_not_a_card_number(text: str) -> None:
    assert not looks_like_card_number(text)


def test_spans_cover_the_card_number_alone() -> None:
    text = "ref 1234 5555 5555 5555 4444 ok"
    [(start, end)] = card_spans(text)
    assert text[start:end] == "5555 5555 5555 4444"


@pytest.mark.parametrize(("logged", "shown"), [
    ('127.0.0.1:1 - "GET /api/v1/orders?note=4111+1111+1111+1111 HTTP/1.1" 422',
     '127.0.0.1:1 - "GET /api/v1/orders?note=[card number removed] HTTP/1.1" 422'),
    ("GET /x?c=card%3A4111111111111111", "GET /x?c=card:[card number removed]"),
    (f"two: {VISA} and 5555 5555 5555 4444.",
     "two: [card number removed] and [card number removed]."),
    ("call +4915112345678, 100% sure", "call +4915112345678, 100% sure"),
])
def test_redaction_masks_raw_and_url_encoded_numbers(logged: str, shown: str) -> None:
    assert redact(logged) == shown


def test_the_access_log_record_is_masked_argument_by_argument() -> None:
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1,
                               '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:1", "GET", "/o?n=4111%201111%201111%201111", "1.1",
                                422), None)
    assert CardNumberRedactor().filter(record)
    assert "1111" not in record.getMessage() and "[card number removed]" in record.getMessage()
