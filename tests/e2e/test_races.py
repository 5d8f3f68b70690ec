"""Races for orders through HTTP, on SQLite and PostgreSQL: many clients at once buying the last
units (one location, and mixed quantities over two), sending one Idempotency-Key, or one external
reference. Nothing is oversold, one order is made of one request, no client gets a 5xx, and the
stock rows, allocations and ledger agree after. (At full size: `pytest -m heavy`.)"""

from __future__ import annotations

import time
from collections import Counter

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from ordermesh.adapters.db import tables as t
from tests.builders import an_order
from tests.e2e.race_api import (  # noqa: F401 (fixtures)
    SIZES,
    Api,
    Size,
    api_under_race,
    assert_books_agree,
    available,
    heavy_only_when_asked,
    order_request,
    outcome,
    outcomes,
    report,
)

# -- the last units ---------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_clients_buying_the_last_units_sell_exactly_the_stock(api: Api, engine: Engine,
                                                              size: Size) -> None:
    started, seen = time.monotonic(), Counter[str]()
    stock = size.clients * 50 // 64  # 50 units for 64 clients
    for n in range(size.rounds):
        # given `stock` units of a product in the warehouse
        sku = f"LAST-{n}"
        api.shop.product(sku).stock(sku, "WH-1", stock)
        # when every client buys one at the same moment
        responses = api.at_once([order_request(an_order((sku, 1)))] * size.clients)
        # then exactly the stock is sold, every other client is told it is short, and no more
        round_seen = outcomes(responses)
        assert round_seen == {"201": stock, "409 stock.insufficient": size.clients - stock}
        assert available(engine, sku) == 0
        seen += round_seen
    # and the stock rows, the allocations and the ledger agree
    assert_books_agree(engine)
    report(api, engine, "last units", size, seen, started)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("taking", ["orders", "cart holds"])
def test_clients_taking_units_at_once_leave_the_channels_safety_buffer_alone(
        api: Api, engine: Engine, size: Size, taking: str) -> None:
    # given a channel that holds 3 units back at every location (its safety buffer)
    api.call("PATCH", "/channels/web", {"safety_buffer": 3, "cart_hold_minutes": 30},
             who="admin")
    started, seen = time.monotonic(), Counter[str]()
    stock = size.clients * 50 // 64
    for n in range(size.rounds):
        sku = f"BUFFERED-{n}"
        api.shop.product(sku).stock(sku, "WH-1", stock)
        # when every client of the channel orders one, or holds one in its cart, at once
        request = (order_request(an_order((sku, 1))) if taking == "orders" else
                   ("POST", "/cart-holds", {"lines": [{"sku": sku, "quantity": 1}]}, "web", {}))
        responses = api.at_once([request] * size.clients)
        # then the channel takes all but its buffer, however the requests interleave
        round_seen = outcomes(responses)
        assert round_seen == {"201": stock - 3, "409 stock.insufficient": size.clients - stock + 3}
        assert available(engine, sku) == 3
        seen += round_seen
    if taking == "orders":  # (held units have no allocations)
        assert_books_agree(engine)
    report(api, engine, f"the channel's buffer, {taking}", size, seen, started)


@pytest.mark.parametrize("size", SIZES)
def test_mixed_quantities_over_two_locations_never_oversell(api: Api, engine: Engine,
                                                            size: Size) -> None:
    started, seen = time.monotonic(), Counter[str]()
    for n in range(size.rounds):
        # given a product in the warehouse (2 held back as safety stock) and in the store, and
        # a second product some orders take as well
        sku, other = f"MIX-{n}", f"MIX-OTHER-{n}"
        api.shop.product(sku).product(other)
        api.shop.stock(sku, "WH-1", size.clients // 2, safety_stock=2)
        api.shop.stock(sku, "ST-AMS", size.clients // 4).stock(other, "WH-1", size.clients // 8)
        # when clients buy 1, 2 or 3 of it at once, every third with one of the other product
        wanted = [(((sku, i % 3 + 1),) + (((other, 1),) if i % 3 == 0 else ()))
                  for i in range(size.clients)]
        responses = api.at_once([order_request(an_order(*lines)) for lines in wanted])
        round_seen = outcomes(responses)
        assert set(round_seen) <= {"201", "409 stock.insufficient"}
        # then no location sells what it does not have, and each refused order asked for more
        # of something than is left even now
        left = {sku: available(engine, sku), other: available(engine, other)}
        for lines, response in zip(wanted, responses, strict=True):
            if response.status_code == 409:
                assert any(qty > left[s] for s, qty in lines), (lines, left)
        sold = sum(qty for lines, r in zip(wanted, responses, strict=True) if r.status_code == 201
                   for s, qty in lines if s == sku)
        assert sold + left[sku] == size.clients // 2 - 2 + size.clients // 4
        seen += round_seen
    assert_books_agree(engine)
    report(api, engine, "mixed quantities", size, seen, started)


# -- one order, asked for many times ----------------------------------------------------------


def count_orders(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(t.orders)).scalar_one())


@pytest.mark.parametrize("size", SIZES)
def test_clients_sending_one_idempotency_key_make_one_order(api: Api, engine: Engine,
                                                            size: Size) -> None:
    started, seen = time.monotonic(), Counter[str]()
    for n in range(size.rounds):
        before = count_orders(engine)
        # when every client sends the same order with the same key at once
        key = {"Idempotency-Key": f"checkout-{n}"}
        responses = api.at_once([order_request(an_order(("TEE-1", 1)), **key)] * size.clients)
        # then each is answered with the one order, created once and replayed to the others
        round_seen = outcomes(responses)
        assert round_seen == {"201": size.clients}
        assert len({r.json()["id"] for r in responses}) == 1
        assert sum(r.headers.get("Idempotent-Replayed") == "true"
                   for r in responses) == size.clients - 1
        assert count_orders(engine) == before + 1
        # and the same key with another body is refused, creating nothing
        other = api.http.post("/api/v1/orders", json=an_order(("TEE-1", 2)),
                              headers=api.shop.headers("web") | key)
        assert outcome(other) == "409 idempotency.key_reused"
        seen += round_seen + Counter([outcome(other)])
    assert count_orders(engine) == size.rounds
    assert_books_agree(engine)
    report(api, engine, "one idempotency key", size, seen, started)


@pytest.mark.parametrize("size", SIZES)
def test_two_bodies_racing_for_one_key_make_one_order_of_one_of_them(
        api: Api, engine: Engine, size: Size) -> None:
    started, seen = time.monotonic(), Counter[str]()
    for n in range(size.rounds):
        # when half the clients send one body and half another, with one key, at once
        key = {"Idempotency-Key": f"twins-{n}"}
        bodies = [an_order(("TEE-1", 1 + i % 2)) for i in range(size.clients)]
        responses = api.at_once([order_request(body, **key) for body in bodies])
        # then the body that came first made the one order, and all who sent it got it;
        # all who sent the other were refused
        winner = next(r for r in responses if r.status_code == 201).json()
        won = [r for b, r in zip(bodies, responses, strict=True)
               if b["lines"][0]["quantity"] == winner["lines"][0]["quantity"]]
        lost = [r for r in responses if r not in won]
        assert {(r.status_code, r.json()["id"]) for r in won} == {(201, winner["id"])}
        assert Counter(outcome(r) for r in lost) == {"409 idempotency.key_reused": len(lost)}
        assert count_orders(engine) == n + 1
        seen += outcomes(responses)
    assert_books_agree(engine)
    report(api, engine, "two bodies, one key", size, seen, started)


@pytest.mark.parametrize("size", SIZES)
def test_clients_sending_one_external_reference_make_one_order(api: Api, engine: Engine,
                                                               size: Size) -> None:
    started, seen = time.monotonic(), Counter[str]()
    for n in range(size.rounds):
        # when every client sends the marketplace's order with its reference, without a key
        body = an_order(("TEE-1", 1), external_reference=f"MP-{n}")
        responses = api.at_once([order_request(body)] * size.clients)
        # then one order is captured, and every other client is told which one it is
        round_seen = outcomes(responses)
        assert round_seen == {"201": 1, "409 order.duplicate_external_reference":
                              size.clients - 1}
        [created] = [r.json()["id"] for r in responses if r.status_code == 201]
        assert {r.json()["order_id"] for r in responses if r.status_code == 409} == {created}
        assert count_orders(engine) == n + 1
        seen += round_seen
    assert_books_agree(engine)
    report(api, engine, "one external reference", size, seen, started)
