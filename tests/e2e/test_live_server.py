"""Through a real HTTP server (uvicorn) with truly concurrent clients."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from ordermesh.adapters.db import tables as t
from tests.builders import Shop, an_order

CLIENTS = 32


def together(calls: int, call: Any) -> list[httpx.Response]:
    barrier = threading.Barrier(calls)

    def one(i: int) -> httpx.Response:
        with httpx.Client(timeout=60) as http:
            barrier.wait()
            return call(http, i)  # type: ignore[no-any-return]

    with ThreadPoolExecutor(max_workers=calls) as pool:
        return list(pool.map(one, range(calls)))


def count(engine: Engine, table: t.Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_concurrent_requests_with_one_key_create_one_order(
        server: str, shop: Shop, engine: Engine) -> None:
    # when 32 clients send the same order with the same Idempotency-Key at once
    headers = shop.headers("web") | {"Idempotency-Key": "checkout-42"}
    body = an_order(("TEE-1", 1))
    responses = together(CLIENTS, lambda http, _: http.post(
        f"{server}/api/v1/orders", json=body, headers=headers))
    # then all get 201 with the same order, and one order exists, reserving one unit
    assert Counter(r.status_code for r in responses) == {201: CLIENTS}
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == CLIENTS - 1
    assert count(engine, t.orders) == 1
    assert count(engine, t.allocations) == 1


def test_clients_racing_over_http_sell_exactly_the_last_units(
        server: str, shop: Shop, engine: Engine) -> None:
    # given 13 T-shirts available (10 in the warehouse, 3 in the store)
    # when 32 clients each try to buy one at the same moment
    responses = together(CLIENTS, lambda http, i: http.post(
        f"{server}/api/v1/orders", json=an_order(("TEE-1", 1)),
        headers=shop.headers("web") | {"Idempotency-Key": f"race-{i}"}))
    # then 13 are allocated and 19 refused as short, none failed otherwise
    assert Counter(r.status_code for r in responses) == {201: 13, 409: CLIENTS - 13}
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"stock.insufficient"}
    with engine.connect() as conn:
        reserved = conn.execute(select(func.sum(t.stock_levels.c.reserved)).where(
            t.stock_levels.c.sku == "TEE-1")).scalar_one()
    assert reserved == 13


def test_a_card_number_never_reaches_the_server_logs(
        server: str, shop: Shop, caplog: pytest.LogCaptureFixture,
        capfd: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    card = "5555555555554444"
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the test client's own log
    response = httpx.post(f"{server}/api/v1/orders?note={card}",
                          json={**an_order(("TEE-1", 1)), "payment_token": card},
                          headers=shop.headers("web"))
    assert response.status_code == 422
    assert response.json()["code"] == "request.card_data_refused"
    out, err = capfd.readouterr()
    server_records = [r.getMessage() for r in caplog.records
                      if r.name.startswith(("uvicorn", "ordermesh"))]
    logged = "\n".join([*server_records, out, err])
    assert "POST /api/v1/orders" in logged  # the access log ran and was captured
    assert card not in logged
