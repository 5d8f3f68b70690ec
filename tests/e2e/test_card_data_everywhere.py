"""Card numbers of every brand, written as people write them, are refused wherever a request
can carry one (any string field of any write, nested JSON and its keys, headers, query strings,
the path, CSV imports, console forms), through the real server; afterwards the number is in no
column of any table and in no log line (the uvicorn access log included), whatever its
formatting. tests/e2e/test_card_data.py covers the encodings of a body."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from ordermesh.adapters.db import tables as t
from ordermesh.entrypoints.api.card_guard import looks_like_card_number
from tests.builders import ADDRESS, Shop, an_order
from tests.e2e.conftest import row_counts


def luhn_valid(body: str) -> str:
    """body + the Luhn check digit (written here, not taken from the code under test)."""
    total = 0
    for position, char in enumerate(reversed(body)):
        digit = int(char) * (2 if position % 2 == 0 else 1)
        total += digit - 9 if digit > 9 else digit
    return body + str(-total % 10)


UNIONPAY_19 = luhn_valid("621234567890123456")
# (brand, digits, as written in the request)
CARDS = [
    ("visa", "4111111111111111", "4111111111111111"),
    ("visa 13 digits", "4222222222222", "4222222222222"),
    ("mastercard", "5555555555554444", "5555 5555 5555 4444"),
    ("mastercard 2-series", "2223003122003222", "2223-0031-2200-3222"),
    ("american express", "378282246310005", "3782 822463 10005"),
    ("discover", "6011111111111117", "6011.1111.1111.1117"),
    ("diners", "30569309025904", "30569309025904"),
    ("jcb", "3530111333300000", "3530 - 1113 - 3330 - 0000"),
    ("unionpay 19 digits", UNIONPAY_19, " ".join(re.findall(".{1,4}", UNIONPAY_19))),
    ("maestro", "6759649826438453", "6759  6498  2643  8453"),
]
# 4242 4242 4242 4242 in full-width digits, as a Japanese keyboard types them
WIDE = "".join(chr(0xFF10 + int(d)) for d in "4242424242424242")


def order_with(**change: Any) -> dict[str, Any]:
    return {**an_order(("TEE-1", 1)), **change}


Request = Callable[[httpx.Client, Shop, str], httpx.Response]


def post(path: str, who: str, body: Callable[[str], Any]) -> Request:
    return lambda http, shop, card: http.post(path, json=body(card), headers=shop.headers(who))


PLACES: dict[str, Request] = {
    "customer name": post("/api/v1/orders", "web", lambda card: order_with(
        customer={"email": "ann@example.com", "name": card})),
    "address line 2": post("/api/v1/orders", "web", lambda card: order_with(
        shipping_address={**ADDRESS, "line2": f"c/o {card}"})),
    "company": post("/api/v1/orders", "web", lambda card: order_with(
        billing_address={**ADDRESS, "company": card})),
    "external reference": post("/api/v1/orders", "web", lambda card: order_with(
        external_reference=card)),
    "payment token": post("/api/v1/orders", "web", lambda card: order_with(
        payment_token=f"tok {card}")),
    "nested unknown field": post("/api/v1/orders", "web", lambda card: order_with(
        metadata={"cart": [{"notes": ["gift", {"pay": f"card: {card}"}]}]})),
    "a JSON key": post("/api/v1/orders", "web", lambda card: order_with(
        metadata={card: "visa"})),
    "a line": post("/api/v1/orders", "web", lambda card: order_with(
        lines=[{"sku": "TEE-1", "quantity": 1, "unit_price": 1999, "note": card}])),
    "a product": post("/api/v1/products", "admin", lambda card: {"sku": "X-1", "name": card}),
    "a cart hold": post("/api/v1/cart-holds", "web", lambda card: {
        "lines": [{"sku": card, "quantity": 1}]}),
    "an order import": post("/api/v1/order-imports", "web", lambda card: {
        "mapping": "custom", "orders": [{"id": card}]}),
    "a till sale": post("/api/v1/pos-sales", "pos", lambda card: {
        "store": "ST-AMS", "receipt": card, "currency": "EUR", "lines": []}),
    "a webhook URL": post("/api/v1/webhook-subscriptions", "admin", lambda card: {
        "url": f"https://93.184.216.34/hook?c={quote(card)}", "event_types": ["*"]}),
    "a supplier": post("/api/v1/suppliers", "admin", lambda card: {
        "code": "S-1", "name": "S", "email": "s@example.com", "currency": "EUR",
        "notes": card}),
    "a CSV import": lambda http, shop, card: http.post(
        "/api/v1/order-imports.csv", headers={**shop.headers("web"), "content-type": "text/csv"},
        content=f"external_reference,sku,quantity\nR-1,TEE-1,1\n\"{card}\",TEE-1,1\n".encode()),
    "the query string": lambda http, shop, card: http.get(
        "/api/v1/orders", params={"external_reference": card}, headers=shop.headers("web")),
    "the query string, %-encoded": lambda http, shop, card: http.get(
        f"/api/v1/orders?customer_email={quote(card, safe='')}", headers=shop.headers("web")),
    "the path": lambda http, shop, card: http.get(
        f"/api/v1/orders/{quote(card)}", headers=shop.headers("web")),
    "Idempotency-Key": lambda http, shop, card: http.post(
        "/api/v1/orders", json=an_order(("TEE-1", 1)),
        headers={**shop.headers("web"), "Idempotency-Key": card}),
    "X-Request-Id": lambda http, shop, card: http.get(
        "/api/v1/orders", headers={**shop.headers("web"), "X-Request-Id": card}),
    "User-Agent": lambda http, shop, card: http.get(
        "/api/v1/orders", headers={**shop.headers("web"), "User-Agent": f"till {card}"}),
    "a header of its own": lambda http, shop, card: http.get(
        "/api/v1/products", headers={**shop.headers("web"), "X-Customer-Card": card}),
    "a console form": lambda http, shop, card: http.post(
        "/console/sign-in", data={"email": card, "password": "a long test password"}),
}


@pytest.fixture
def http(server: str) -> Iterator[httpx.Client]:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the client's own log of URLs
    with httpx.Client(base_url=server, timeout=10) as client:
        yield client


def stored_values(engine: Engine) -> Iterator[tuple[str, str]]:
    """Every value of every column of every table, as text: (table.column, text)."""
    with engine.connect() as conn:
        for table in t.metadata.sorted_tables:
            for row in conn.execute(select(table)).mappings():
                for column, value in row.items():
                    if value is not None:
                        text = json.dumps(value) if isinstance(value, dict | list) else str(value)
                        yield f"{table.name}.{column}", text


def holds_card(text: str, digits: str) -> bool:
    """The number in any formatting: its digits in a row once everything else is taken out
    (per line, so that digits of separate lines are not joined), or anything card-like."""
    return any(digits in re.sub(r"\D", "", line) for line in text.splitlines()) \
        or looks_like_card_number(text)


@pytest.mark.parametrize(("digits", "written"), [(d, w) for _, d, w in CARDS],
                         ids=[brand for brand, _, _ in CARDS])
def test_a_card_number_is_refused_everywhere_and_kept_nowhere(
        http: httpx.Client, shop: Shop, engine: Engine, digits: str, written: str,
        caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    before = row_counts(engine)
    # when the number is sent in each place a request can carry it
    for place, send in PLACES.items():
        response = send(http, shop, written)
        # then each request is refused as card data, without repeating the number
        assert response.status_code == 422, (place, response.text)
        assert response.json()["code"] == "request.card_data_refused", place
        assert not holds_card(response.text, digits), place
    # and nothing was written: no row, and no column of any table holds the number
    assert row_counts(engine) == before
    found = [where for where, text in stored_values(engine) if holds_card(text, digits)]
    assert found == []
    # and no log line holds it: the server's, the access log's, and what reached the console
    out, err = capfd.readouterr()
    logged = "\n".join([*(r.getMessage() for r in caplog.records), out, err])
    assert "POST /api/v1/orders" in logged and "GET /api/v1/orders?" in logged  # access log
    assert [line for line in logged.splitlines() if holds_card(line, digits)] == []


def test_full_width_digits_are_read_as_the_card_they_spell(
        http: httpx.Client, shop: Shop, engine: Engine) -> None:
    for place in ("customer name", "nested unknown field", "the query string", "the path"):
        response = PLACES[place](http, shop, WIDE)
        assert response.status_code == 422, (place, response.text)
    assert not any(WIDE in text for _, text in stored_values(engine))


def test_numbers_that_are_not_cards_still_go_through(http: httpx.Client, shop: Shop) -> None:
    # a phone number, an order number, a date range and a UUID-like reference are kept
    placed = http.post("/api/v1/orders", headers=shop.headers("web"), json=an_order(
        ("TEE-1", 1), customer={"email": "ann@example.com", "name": "Ann",
                                "phone": "+49 1511 2345678"},
        external_reference="2024-01-01 2024-01-03",
        delivery_instructions="call +4915112345678, ref f31aeb00-4982-4407-8941-965096ee86ef"))
    assert placed.status_code == 201, placed.text
    form = http.post("/console/sign-in", data={"email": "a@b.example", "password": "+4915112345678"})
    assert form.status_code == 401  # a wrong password, not card data
