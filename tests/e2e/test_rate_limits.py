"""Rate limits: orders placed per API key, API requests with an unknown key per address, and
console sign-in attempts per email and address and per address. Over a limit: 429 with
Retry-After (problem+json for the API, a page for the console); under it nothing changes; one
key's or address's count is not another's; with Redis storage two API processes share the
count; a counter that does not answer lets requests through."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from ordermesh.adapters.db import tables as t
from ordermesh.bootstrap import App
from ordermesh.config import Settings
from ordermesh.entrypoints.api.app import create_app
from ordermesh.services.bus import MessageBus
from tests.builders import Shop, an_order
from tests.console import PASSWORD, a_user
from tests.e2e.conftest import row_counts

REDIS_URL = os.environ.get("ORDERMESH_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
ADDRESS, OTHER_ADDRESS = "203.0.113.7", "198.51.100.20"  # documentation ranges


def limited(ordermesh: App, **settings: Any) -> FastAPI:
    """The API with these settings (validated as the environment's would be)."""
    return create_app(App(Settings(database_url=ordermesh.settings.database_url, **settings),
                          ordermesh.engine, ordermesh.bus))


def client_at(app: FastAPI, address: str = ADDRESS) -> TestClient:
    """A client calling from this address, as a browser would (https, redirects not followed)."""
    return TestClient(app, base_url="https://testserver", client=(address, 50000),
                      raise_server_exceptions=False, follow_redirects=False)


def place(client: TestClient, shop: Shop, channel: str) -> httpx.Response:
    return client.post("/api/v1/orders", json=an_order(("TEE-1", 1)),
                       headers=shop.headers(channel))


def assert_too_many(response: httpx.Response, problem: bool = True) -> int:
    """A 429 with a Retry-After of at most the window (a minute here); the seconds."""
    assert response.status_code == 429, response.text
    wait = int(response.headers["retry-after"])
    assert 1 <= wait <= 60
    if problem:
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        assert body["status"] == 429 and "try again" in body["title"]
        assert body["code"] == "request.rate_limited"
    return wait


def sessions(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(t.user_sessions)).scalar_one()


# -- orders per API key ---------------------------------------------------------------------

def test_orders_past_a_keys_limit_are_refused_and_other_keys_go_on(
        ordermesh: App, shop: Shop, engine: Engine) -> None:
    # given a limit of 3 orders a minute per key
    with client_at(limited(ordermesh, rate_limit_orders="3/minute")) as client:
        # when the webshop places 3 orders: under the limit, all are taken
        for _ in range(3):
            assert place(client, shop, "web").status_code == 201
        before = row_counts(engine)
        # when it places a 4th within the minute
        refused = place(client, shop, "web")
        # then it is refused with Retry-After, and nothing was written
        assert_too_many(refused)
        assert "orders placed with this API key" in refused.json()["title"]
        assert row_counts(engine) == before
        # and the shop floor's key places its order: the count is the web key's alone
        assert place(client, shop, "pos").status_code == 201
        # and the web key may still read: only creating orders is counted
        assert client.get("/api/v1/orders", headers=shop.headers("web")).status_code == 200


def test_switched_off_nothing_is_counted(ordermesh: App, shop: Shop) -> None:
    app = limited(ordermesh, rate_limit_enabled=False, rate_limit_orders="1/minute",
                  rate_limit_unknown_keys="1/minute")
    with client_at(app) as client:
        assert [place(client, shop, "web").status_code for _ in range(3)] == [201] * 3
        assert [client.get("/api/v1/orders", headers={"Authorization": "Bearer om_x"}
                           ).status_code for _ in range(3)] == [401] * 3


# -- unknown API keys per address -----------------------------------------------------------

def test_an_address_sending_unknown_keys_is_slowed_down_but_valid_keys_still_work(
        ordermesh: App, shop: Shop) -> None:
    app = limited(ordermesh, rate_limit_unknown_keys="3/minute")
    with client_at(app) as guesser, client_at(app, OTHER_ADDRESS) as elsewhere:
        # given an address that sent 3 keys nobody holds (each a 401)
        for n in range(3):
            answer = guesser.get("/api/v1/orders", headers={"Authorization": f"Bearer om_{n}"})
            assert answer.status_code == 401
        # when it sends a 4th: 429 instead of 401
        assert_too_many(guesser.get("/api/v1/orders", headers={"Authorization": "Bearer om_4"}))
        # then a valid key from that address still works, and no key at all is still a 401
        assert guesser.get("/api/v1/orders", headers=shop.headers("web")).status_code == 200
        assert guesser.get("/api/v1/orders").status_code == 401
        # and another address is not held to the first one's count
        assert elsewhere.get("/api/v1/orders", headers={"Authorization": "Bearer om_5"}
                             ).status_code == 401


# -- console sign-in ------------------------------------------------------------------------

def sign_in_with(client: TestClient, email: str, password: str = PASSWORD) -> httpx.Response:
    return client.post("/console/sign-in", data={"email": email, "password": password})


def test_sign_in_attempts_past_the_limit_get_a_clear_page_and_no_session(
        ordermesh: App, bus: MessageBus, engine: Engine) -> None:
    app = limited(ordermesh, rate_limit_sign_in="3/minute")
    email, colleague = a_user(bus, "operator"), a_user(bus, "admin")
    with client_at(app) as browser:
        # given 3 wrong passwords for one email from one address
        for _ in range(3):
            assert sign_in_with(browser, email, "not the password").status_code == 401
        # when the right password comes next, within the minute
        refused = sign_in_with(browser, email.upper())
        # then it is refused before the password is looked at: a 429 page that says why
        wait = assert_too_many(refused, problem=False)
        assert refused.headers["content-type"].startswith("text/html")
        assert f"Too many sign-in attempts. Try again in {wait} seconds." in refused.text
        assert 'role="alert"' in refused.text and 'name="email"' in refused.text
        assert "set-cookie" not in refused.headers and sessions(engine) == 0
        # and another email from the same address signs in
        assert sign_in_with(browser, colleague).status_code == 303
    # and the same email from another address signs in
    with client_at(app, OTHER_ADDRESS) as other:
        assert sign_in_with(other, email).status_code == 303
    assert sessions(engine) == 2


def test_one_address_trying_many_emails_is_stopped(ordermesh: App, bus: MessageBus) -> None:
    app = limited(ordermesh, rate_limit_sign_in_per_address="4/minute")
    email = a_user(bus, "operator")
    with client_at(app) as sprayer, client_at(app, OTHER_ADDRESS) as other:
        # given an address that tried 4 emails
        for n in range(4):
            assert sign_in_with(sprayer, f"someone{n}@shop.example").status_code == 401
        # then its 5th attempt is refused, even with a real user's password
        assert_too_many(sign_in_with(sprayer, email), problem=False)
        # while that user signs in from their own address
        assert sign_in_with(other, email).status_code == 303


# -- shared counts in Redis, and a counter that does not answer -----------------------------

@pytest.fixture
def redis_url() -> Iterator[str]:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        if os.environ.get("ORDERMESH_TEST_REQUIRE_STREAMS") == "1":
            pytest.fail(f"Redis at {REDIS_URL} is required here but unavailable: {exc}")
        pytest.skip(f"Redis at {REDIS_URL} unavailable: {exc}")
    yield REDIS_URL
    client.close()


def test_with_redis_storage_two_api_processes_share_the_count(
        ordermesh: App, shop: Shop, redis_url: str) -> None:
    # given two API processes counting in Redis, 3 orders a minute per key
    one = limited(ordermesh, rate_limit_storage=redis_url, rate_limit_orders="3/minute")
    two = limited(ordermesh, rate_limit_storage=redis_url, rate_limit_orders="3/minute")
    with client_at(one) as first, client_at(two) as second:
        # when the webshop's orders go to either
        answers = [place(first, shop, "web"), place(second, shop, "web"),
                   place(first, shop, "web")]
        assert [a.status_code for a in answers] == [201] * 3
        # then the 4th is refused by the other process too
        assert_too_many(place(second, shop, "web"))


def test_in_memory_each_process_counts_alone(ordermesh: App, shop: Shop) -> None:
    # the default storage: the same story as above, but the second process has its own count
    one = limited(ordermesh, rate_limit_orders="2/minute")
    two = limited(ordermesh, rate_limit_orders="2/minute")
    with client_at(one) as first, client_at(two) as second:
        assert [place(first, shop, "web").status_code for _ in range(2)] == [201] * 2
        assert_too_many(place(first, shop, "web"))
        assert place(second, shop, "web").status_code == 201


def test_a_counter_that_does_not_answer_lets_requests_through(
        ordermesh: App, shop: Shop, caplog: pytest.LogCaptureFixture) -> None:
    # given a Redis storage where nothing listens (port 1)
    app = limited(ordermesh, rate_limit_storage="redis://127.0.0.1:1/0",
                  rate_limit_orders="1/minute")
    with caplog.at_level(logging.WARNING, "ordermesh.api"), client_at(app) as client:
        # then orders are placed as if there were no limit, and the failure is logged
        assert [place(client, shop, "web").status_code for _ in range(2)] == [201] * 2
    assert "rate limits not counted" in caplog.text


def test_settings_refuse_limits_and_storage_they_cannot_read() -> None:
    for bad in ({"rate_limit_orders": "lots"}, {"rate_limit_sign_in": "10 per fortnight"},
                {"rate_limit_storage": "memcached://127.0.0.1:11211"}):
        with pytest.raises(ValueError, match="rate limit"):
            Settings(**bad)
