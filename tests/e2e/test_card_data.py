"""A card number is refused wherever it appears, and is found nowhere afterwards: not in the
database and not in the logs."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.engine import Engine

from ordermesh.adapters.db import tables as t
from tests.builders import Shop, an_order
from tests.e2e.conftest import row_counts

CARD = "4111111111111111"

PLACES: dict[str, dict[str, Any]] = {
    "payment token": {"payment_token": CARD},
    "grouped with spaces": {"delivery_instructions": "pay with 4111 1111 1111 1111 please"},
    "grouped with dashes": {"customer": {"email": "a@b.nl", "name": "4111-1111-1111-1111"}},
    "as a JSON number": {"payment_token": int(CARD)},
    "in an address": {"billing_address": {"line1": CARD, "city": "Utrecht", "country": "NL"}},
    "in an unknown field": {"card": {"number": CARD, "cvc": "123"}},
    "in a line": {"lines": [{"sku": "TEE-1", "quantity": 1, "unit_price": 1999,
                              "note": f"card {CARD}"}]},
}


def everything_stored(engine: Engine) -> str:
    with engine.connect() as conn:
        return "\n".join(str(tuple(row)) for table in t.metadata.sorted_tables
                         for row in conn.execute(select(table)))


@pytest.mark.parametrize("change", PLACES.values(), ids=PLACES.keys())
def test_card_number_is_refused_and_stored_nowhere(
        client: TestClient, shop: Shop, engine: Engine, change: dict[str, Any],
        caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    before = row_counts(engine)
    # when a channel sends a card number somewhere in an order
    response = client.post("/api/v1/orders", json={**an_order(("TEE-1", 1)), **change},
                           headers=shop.headers("web") | {"Idempotency-Key": "card-1"})
    # then it is refused with a problem that does not repeat it
    assert response.status_code == 422
    assert response.json()["code"] == "request.card_data_refused"
    assert CARD not in response.text and "4111 1111" not in response.text
    # and nothing was written, and the number is in no table and no log line
    assert row_counts(engine) == before
    assert CARD not in everything_stored(engine)
    out, err = capsys.readouterr()
    for text in (caplog.text, out, err):
        assert CARD not in text and "4111 1111 1111 1111" not in text
        assert "4111-1111-1111-1111" not in text


def test_card_numbers_are_refused_on_every_write_endpoint(client: TestClient, shop: Shop) -> None:
    response = client.patch("/api/v1/products/TEE-1", json={"name": f"Tee {CARD}"},
                            headers=shop.headers("admin"))
    assert response.status_code == 422
    assert response.json()["code"] == "request.card_data_refused"


@pytest.mark.parametrize("token", ["4111.1111.1111.1111", "tok_4111-1111-1111-1111",
                                   "tok_4111_1111_1111_1111", "4111/1111/1111/1111"])
def test_card_numbers_with_other_separators_are_refused(
        client: TestClient, shop: Shop, engine: Engine, token: str) -> None:
    response = client.post("/api/v1/orders", json=an_order(("TEE-1", 1), payment_token=token),
                           headers=shop.headers("web"))
    assert response.status_code == 422
    assert token not in everything_stored(engine)


def test_a_card_number_in_a_header_is_refused(client: TestClient, shop: Shop,
                                              engine: Engine) -> None:
    response = client.post("/api/v1/orders", json=an_order(("TEE-1", 1)),
                           headers=shop.headers("web") | {"Idempotency-Key": CARD})
    assert response.status_code == 422
    assert response.json()["locations"] == ["headers"]
    assert CARD not in everything_stored(engine)


@pytest.mark.parametrize("encode", [
    lambda text: text.encode("utf-16"),
    lambda text: text.encode("utf-32"),
    lambda text: b"\xef\xbb\xbf" + text.replace(CARD, "".join(f"\\u{ord(d):04x}" for d in CARD)
                                                ).encode(),
], ids=["utf-16", "utf-32", "bom-and-escapes"])
def test_bodies_the_guard_cannot_read_as_utf8_are_refused(
        client: TestClient, shop: Shop, engine: Engine, encode: Any) -> None:
    import json

    body = encode(json.dumps(an_order(("TEE-1", 1), payment_token=CARD)))
    response = client.post("/api/v1/orders", content=body,
                           headers=shop.headers("web") | {"content-type": "application/json"})
    assert response.status_code in (400, 422)
    assert CARD not in response.text
    assert CARD not in everything_stored(engine)


def test_json_escaped_digits_are_read_as_the_card_they_spell(
        client: TestClient, shop: Shop, engine: Engine) -> None:
    import json

    escaped = json.dumps(an_order(("TEE-1", 1), payment_token=CARD)).replace(
        CARD, "".join(f"\\u{ord(d):04x}" for d in CARD))
    response = client.post("/api/v1/orders", content=escaped.encode(),
                           headers=shop.headers("web") | {"content-type": "application/json"})
    assert response.status_code == 422
    assert CARD not in everything_stored(engine)


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
def test_bodies_in_utf16_or_utf32_without_a_bom_are_refused(
        client: TestClient, shop: Shop, engine: Engine, encoding: str) -> None:
    import json

    text = json.dumps(an_order(("TEE-1", 1), delivery_instructions=f"card {CARD} \u0000"))
    response = client.post("/api/v1/orders", content=text.encode(encoding),
                           headers=shop.headers("web") | {"content-type": "application/json"})
    assert response.status_code == 400
    assert CARD not in everything_stored(engine)
