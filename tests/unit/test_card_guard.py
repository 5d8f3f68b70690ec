"""What the card guard takes for a payment card number, and where it says it found one."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ordermesh.entrypoints.api.card_guard import card_paths, looks_like_card_number


def luhn_check_digit(body: str) -> str:
    """The digit that makes body + digit pass the Luhn check (written here, not imported)."""
    total = 0
    for position, char in enumerate(reversed(body)):
        digit = int(char)
        if position % 2 == 0:  # doubled once the check digit is appended
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return str(-total % 10)


def luhn_valid(body: str) -> str:
    return body + luhn_check_digit(body)


def luhn_invalid(body: str) -> str:
    return body + str((int(luhn_check_digit(body)) + 1) % 10)


def grouped(digits: str, sizes: tuple[int, ...], separator: str = " ") -> str:
    parts, start = [], 0
    for size in sizes:
        parts.append(digits[start:start + size])
        start += size
    assert start == len(digits)
    return separator.join(parts)


def test_the_luhn_helper_agrees_with_known_card_numbers() -> None:
    assert luhn_valid("411111111111111") == "4111111111111111"
    assert luhn_valid("37828224631000") == "378282246310005"
    assert luhn_invalid("411111111111111") == "4111111111111112"


VISA = "4111111111111111"
AMEX = "378282246310005"
NINETEEN = luhn_valid("601100099013942412")  # 19 digits
GTIN_13_LUHN_VALID = "4000000000006"  # a valid EAN-13 that also passes Luhn and starts with 4


@pytest.mark.parametrize("text", [
    VISA,
    "4242424242424242",
    "5555555555554444",
    "2223003122003222",  # Mastercard 2-series
    AMEX,
    "4222222222222",  # Visa, 13 digits
    NINETEEN,
    luhn_valid("4" * 18),
    "4111 1111 1111 1111",
    "4111-1111-1111-1111",
    "4242-4242 4242-4242",
    "3782 822463 10005",  # Amex as printed: 4-6-5
    "3782 8224 6310 005",  # Amex in fours
    "4222 2222 2222 2",
    grouped(NINETEEN, (4, 4, 4, 4, 3)),
    "card 4111 1111 1111 1111 thanks",
    "please charge 5555555555554444.",
    "(4242424242424242)",
    "first line\n4111111111111111\nlast line",
    "call +31 20 123 4567 or use 4111111111111111",
    "4111 1111 1111 1111 1111",  # a card number followed by one more group is still one
])
def test_card_numbers_are_recognised(text: str) -> None:
    assert looks_like_card_number(text)


def card_numbers() -> st.SearchStrategy[str]:
    """Luhn-valid numbers of 13 to 19 digits that start like a payment card (2-6; 13: Visa)."""
    def build(length: int, first: str, rest: str) -> str:
        first = "4" if length == 13 else first
        return luhn_valid(first + rest[: length - 2])

    return st.builds(build, st.integers(13, 19), st.sampled_from("23456"),
                     st.text(alphabet="0123456789", min_size=17, max_size=17))


@given(number=card_numbers(), prefix=st.sampled_from(["", "card ", "nr: ", "x\n", "("]),
       suffix=st.sampled_from(["", " thanks", ".", "\n", ")"]))
def test_any_card_number_is_recognised(number: str, prefix: str, suffix: str) -> None:
    assert 13 <= len(number) <= 19
    assert looks_like_card_number(prefix + number + suffix)


@given(body=st.text(alphabet="0123456789", min_size=14, max_size=14),
       first=st.sampled_from("23456"), separator=st.sampled_from([" ", "-"]))
def test_a_card_number_in_groups_of_four_is_recognised(body: str, first: str,
                                                       separator: str) -> None:
    assert looks_like_card_number(grouped(luhn_valid(first + body), (4, 4, 4, 4), separator))


@pytest.mark.parametrize("text", [
    "4111111111111112",  # Luhn fails
    luhn_invalid("424242424242424"),
    luhn_valid("41111111111"),  # 12 digits, Luhn-valid
    luhn_valid("4" * 19),  # 20 digits, Luhn-valid
    "41111111111111110000",  # a 20-digit run starting with a card number
    luhn_invalid("4" + VISA),  # a card number inside a longer run
    "0" * 40,
    luhn_valid("8" * 15),  # Luhn-valid, but no card starts with 8
    luhn_valid("5" * 12),  # 13 digits, Luhn-valid, but 13-digit cards are Visa (4)
    "+31 20 123 4567",
    "+1 555-123-4567",
    "+44 20 7946 0958",
    "0031 20 123 4567",
    "+" + luhn_valid("491511234567"),  # a German mobile number; its 13 digits pass Luhn
    "2024-01-15",
    "15-01-2024",
    "2024-01-15T10:30:00Z",
    "2024-01-15 10:30:00",
    "2024-01-01 2024-01-03",  # a date range; its 16 digits pass Luhn
    "20240115",
    "550e8400-e29b-41d4-a716-446655440000",
    "123e4567-e89b-12d3-a456-426614174000",
    "4006381333931",  # an EAN-13 barcode that fails Luhn
    luhn_invalid("400638133393"),
    "8710000000048",  # a GTIN-13 that passes Luhn but starts with 8 (no card does)
    "OM-000123",
    "amount 1999 EUR, 3 items",
    "",
])
def test_other_numbers_are_not_card_numbers(text: str) -> None:
    assert not looks_like_card_number(text)


@given(st.text(alphabet="0123456789", min_size=20, max_size=40))
def test_runs_of_20_digits_or_more_are_not_card_numbers(run: str) -> None:
    assert not looks_like_card_number(run)


@given(st.text(alphabet="0123456789", max_size=12))
def test_12_digits_or_fewer_are_not_card_numbers(digits: str) -> None:
    assert not looks_like_card_number(digits)


@pytest.mark.parametrize("text", [
    "da014d5f-5490-4992-8482-319cb34dfe19",
    "50f39f87-6863-4490-9630-8004c969b11e",
    "b32d4130-1150-4068-8821-7cb1e3aba5ec",
    "a60f725a-2800-4111-8265-003d411061ab",
])
def test_uuids_are_not_card_numbers(text: str) -> None:
    assert not looks_like_card_number(text)


@pytest.mark.parametrize(("text", "card"), [
    ("auth_634656579149447e9069c65a", False),  # a gateway's id: the digits touch a letter
    ("ch_3Pq4111111111111111", False),
    ("4111111111111111abc", False),
    ("tok_4111111111111111", True),  # an underscore sets the number apart
    ("card:4111111111111111;", True),
])
def test_digits_touching_a_letter_are_an_identifier(text: str, card: bool) -> None:
    assert looks_like_card_number(text) is card


@pytest.mark.parametrize("text", [
    "f31aeb00-4982-4407-8941-965096ee86ef",
    "313874cd-dfbc-423d-b246-548991270564",
    "53033190-7660-45b1-99e1-7b552e94525c",
])
def test_uuids_whose_digits_join_into_a_luhn_valid_run_are_not_card_numbers(text: str) -> None:
    # regression: any single space or dash used to join digit groups into one candidate
    assert not looks_like_card_number(text)


# ---------------------------------------------------------------------------------------------
# card_paths
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("document", "paths"), [
    ({"payment": {"card": VISA}}, ["$.payment.card"]),
    ({"lines": [{"note": "ok"}, {"note": f"card {VISA} thanks"}]}, ["$.lines[1].note"]),
    ([["a", ["b", VISA]]], ["$[0][1][1]"]),
    ({VISA: "x"}, ["$[key]"]),
    ({"meta": {"4242 4242 4242 4242": 1}}, ["$.meta[key]"]),
    ({"amount": int(VISA)}, ["$.amount"]),
    ({"values": [1, 2, int("5555555555554444")]}, ["$.values[2]"]),
    (VISA, ["$"]),
    (int(VISA), ["$"]),
])
def test_card_paths_finds_where_a_card_number_is(document: Any, paths: list[str]) -> None:
    assert list(card_paths(document)) == paths


def test_card_paths_reports_every_place_in_document_order() -> None:
    document = {"a": VISA, "b": [{"c": "none here"}, {"d": "4242424242424242"}],
                "5555555555554444": {"e": "no card"}, "f": int(AMEX)}
    assert list(card_paths(document)) == ["$.a", "$.b[1].d", "$[key]", "$.f"]


def test_a_clean_order_body_has_no_card_paths() -> None:
    body = json.loads(json.dumps({
        "currency": "EUR", "payment_token": "tok_visa_4242",
        "customer": {"phone": "+31 20 123 4567", "email": "ann@example.com"},
        "lines": [{"sku": "SKU-1", "quantity": 2, "unit_price": 1999, "gtin": "4006381333931"}],
        "delivery_instructions": "after 2024-01-15, ring twice",
        "external_reference": "550e8400-e29b-41d4-a716-446655440000",
        "flags": [True, False, None], "weight": 12.5,
    }))
    assert list(card_paths(body)) == []


@pytest.mark.parametrize("value", [True, False, None, 4.5])
def test_values_that_are_not_text_or_integers_are_not_scanned(value: Any) -> None:
    assert list(card_paths({"flag": value, "list": [value]})) == []


def test_a_valid_gtin_in_a_gtin_field_is_a_barcode() -> None:
    # given a GTIN that would pass for a 13-digit Visa number
    assert looks_like_card_number(GTIN_13_LUHN_VALID)
    # then in a gtin field it is a barcode, and a card number there is still found
    assert list(card_paths({"gtin": GTIN_13_LUHN_VALID})) == []
    assert list(card_paths({"product": {"gtin": VISA}})) == ["$.product.gtin"]
    assert list(card_paths({"gtin": int(GTIN_13_LUHN_VALID)})) == ["$.gtin"]


def test_paths_never_repeat_a_card_number() -> None:
    # given a card number as a key with another card number below it
    paths = list(card_paths({"outer": {VISA: {"inner": "4111 1111 1111 1111"}}}))
    # then both are found, and no path carries the number
    assert len(paths) == 2
    assert paths[0] == "$.outer[key]"
    assert paths[1].startswith("$.outer.") and paths[1].endswith(".inner")
    assert not any(looks_like_card_number(path) for path in paths)
    assert all("1111" not in path for path in paths)


def test_ordinary_keys_are_kept_in_paths() -> None:
    document = {"order 2024-01-15": {"ref 12345": VISA}}
    assert list(card_paths(document)) == ["$.order 2024-01-15.ref 12345"]


@given(st.uuids())
def test_no_uuid_is_a_card_number(value: object) -> None:
    assert not looks_like_card_number(str(value))


def test_a_gtin_used_as_a_sku_is_not_a_card_number() -> None:
    # 4000000000006 is a valid EAN-13 that also passes Luhn and starts with 4
    assert looks_like_card_number("4000000000006")
    assert list(card_paths({"lines": [{"sku": "4000000000006"}]})) == []
    assert list(card_paths({"lines": [{"note": "4000000000006"}]})) == ["$.lines[0].note"]


def test_a_card_number_sent_as_a_json_decimal_is_found() -> None:
    assert list(card_paths({"n": 4111111111111111.0})) == ["$.n"]
