"""The input guard's quick look at a JSON body (scanning its text when the text is what its
values say) refuses exactly what the value-by-value scan refuses."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ordermesh.entrypoints.api.card_guard import card_paths
from ordermesh.entrypoints.api.input_guard import (
    MAX_DEPTH,
    as_written,
    inspect_body,
    nesting_depth,
    unstorable_paths,
)

CARD = "4111111111111111"
# Text made of the pieces card numbers, identifiers, escapes and separators are made of.
PIECES = st.sampled_from([CARD, "4111 1111 1111 1111", "4111-1111", "1111", "5555555555554444",
                          "378282246310005", "4012888888881881", "12", " ", "-", ".", "/", "%",
                          "%20", "a", "Z", "+31", "\u00e9", "\uff14", "\x00", "\ud800", "9"])
TEXT = st.lists(PIECES, max_size=6).map("".join)
NUMBERS = st.one_of(st.integers(), st.integers(4 * 10**15, 5 * 10**15),
                    st.floats(allow_nan=False, allow_infinity=False),
                    st.sampled_from([4111111111111111.0, 4.111111111111111e15, 0.5]))
DOCUMENTS = st.recursive(
    st.one_of(TEXT, NUMBERS, st.booleans(), st.none()),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.one_of(TEXT, st.sampled_from(["sku", "gtin"])),
                                            inner, max_size=4)),
    max_leaves=12)


def refused_value_by_value(document: Any) -> bool:
    return (nesting_depth(document) > MAX_DEPTH or any(card_paths(document))
            or any(unstorable_paths(document)))


@settings(max_examples=400, deadline=None)
@given(DOCUMENTS, st.booleans())
def test_the_quick_look_refuses_what_the_full_scan_refuses(document: Any, ascii: bool) -> None:
    try:
        body = json.dumps(document, ensure_ascii=ascii).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate is only sent escaped
        body = json.dumps(document, ensure_ascii=True).encode("utf-8")
    assert (inspect_body(body) is not None) == refused_value_by_value(json.loads(body))


@pytest.mark.parametrize("text", [
    '{"note": "card 4111\\u00201111\\u00201111\\u00201111"}',  # an escape hides the groups
    '{"note": "4111%201111%201111%201111"}',
    '{"amount": 4.111111111111111e15}',
    '{"amount": 4111111111111.9999999}',  # read as 4111111111112, a number that passes Luhn
    '{"note": "\\u0000"}',
])
def test_text_that_reads_as_something_else_is_scanned_value_by_value(text: str) -> None:
    assert not as_written(text)
    assert (inspect_body(text.encode()) is not None) == refused_value_by_value(json.loads(text))


def test_a_plain_order_body_is_taken_and_one_with_a_card_is_not() -> None:
    order = {"customer": {"email": "anna@example.com", "name": "Anna de Vries"},
             "lines": [{"sku": "TEE-1", "quantity": 2}], "payment_token": "tok_visa"}
    assert inspect_body(json.dumps(order).encode()) is None
    order["delivery_instructions"] = f"ring twice, card {CARD}"
    refusal = inspect_body(json.dumps(order).encode())
    assert refusal is not None and refusal.status_code == 422
    assert json.loads(refusal.body)["locations"] == ["$.delivery_instructions"]


def test_a_card_under_a_key_with_a_lone_surrogate_is_refused_with_a_readable_answer() -> None:
    body = json.dumps({"note\ud800": CARD}).encode()  # sent escaped: "note\\ud800"
    refusal = inspect_body(body)
    assert refusal is not None and refusal.status_code == 422
    assert json.loads(refusal.body)["locations"] == ["$.note?"]
