"""Every pooled connection busy for longer than the pool waits: the request answers 503
`service.busy` with Retry-After (a problem, never a 500) and writes nothing; once a connection
is free again the next request works. A process opens no connection beyond its pool."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ordermesh.adapters.db.engine import make_engine, retry_reason
from ordermesh.adapters.db.unit_of_work import SqlUnitOfWork
from ordermesh.bootstrap import App
from ordermesh.config import Settings
from ordermesh.entrypoints.api.app import create_app
from ordermesh.services.bus import MessageBus
from tests.builders import Shop, an_order
from tests.e2e.conftest import row_counts


@pytest.fixture
def small_pool(database_url: str, shop: Shop) -> Iterator[App]:
    """Ordermesh with a pool of two connections that waits a quarter of a second for one."""
    engine = make_engine(database_url, pool_size=2, pool_timeout_s=0.25)
    yield App(Settings(database_url=database_url), engine,
              MessageBus(lambda: SqlUnitOfWork(engine), retry_reason=retry_reason))
    engine.dispose()


def test_a_request_that_finds_no_free_connection_is_a_503_and_changes_nothing(
        small_pool: App, shop: Shop) -> None:
    engine = small_pool.engine
    before = row_counts(engine)
    with TestClient(create_app(small_pool), raise_server_exceptions=False) as client:
        held = [engine.connect(), engine.connect()]  # the whole pool, taken by others
        try:
            refused = client.post("/api/v1/orders", json=an_order(("TEE-1", 1)),
                                  headers=shop.headers("web"))
            assert engine.pool.checkedout() == 2  # no third connection was opened
        finally:
            for conn in held:
                conn.close()
        assert refused.status_code == 503, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.headers["Retry-After"] == "1"
        assert refused.json()["code"] == "service.busy"
        assert "no database connection came free in time" in refused.json()["detail"]
        assert row_counts(engine) == before
        # and with the connections back, the same order is placed
        placed = client.post("/api/v1/orders", json=an_order(("TEE-1", 1)),
                             headers=shop.headers("web"))
        assert placed.status_code == 201, placed.text


def test_a_failure_to_read_the_answer_after_the_change_says_the_change_was_made(
        small_pool: App, shop: Shop) -> None:
    """The command committed; only reading its answer found no connection: a client told
    "nothing changed" would send the request again."""
    engine = small_pool.engine
    with TestClient(create_app(small_pool), raise_server_exceptions=False) as client:
        placed = client.post("/api/v1/orders", json=an_order(("TEE-1", 1), payment_token=None),
                             headers=shop.headers("web"))
        assert placed.status_code == 201, placed.text
        order = placed.json()["id"]
        held: list[Any] = []

        def take_the_pool(command: object) -> None:  # right after the hold is committed
            held.extend([engine.connect(), engine.connect()])

        small_pool.bus.done.append(take_the_pool)
        try:
            answer = client.post(f"/api/v1/orders/{order}/hold", json={"reason": "fraud check"},
                                 headers=shop.headers("operator"))
        finally:
            small_pool.bus.done.remove(take_the_pool)
            for conn in held:
                conn.close()
        assert answer.status_code == 503, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert "Retry-After" not in answer.headers
        assert answer.json()["code"] == "service.answer_unavailable"
        assert answer.json()["done"] == ["ChangeOrderStatus"]
        # and the change it reports is there
        now = client.get(f"/api/v1/orders/{order}", headers=shop.headers("operator")).json()
        assert now["status"] == "on_hold"


def test_a_busy_process_is_still_ready(small_pool: App, shop: Shop) -> None:
    """The readiness probe and the metrics read the database beside the pool: every pooled
    connection in use is a busy process, not an unready one."""
    engine = small_pool.engine
    with TestClient(create_app(small_pool), raise_server_exceptions=False) as client:
        held = [engine.connect(), engine.connect()]
        try:
            ready = client.get("/readyz")
            metrics = client.get("/metrics")
        finally:
            for conn in held:
                conn.close()
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["database"]["status"] == "ok"
    assert "ordermesh_database_up 1.0" in metrics.text


@pytest.mark.filterwarnings("ignore:Selection of the SingletonThreadPool")
def test_an_in_memory_database_keeps_sqlalchemys_own_pool() -> None:
    """An in-memory database lives as long as its one connection (per thread): it gets no
    pool of fixed size, whichever way its URL says it is in memory."""
    engine = make_engine("sqlite:///file:ordermesh-test?mode=memory&uri=true", pool_size=2)
    with engine.connect() as first, engine.connect() as second:  # one per thread, shared
        assert first.connection.dbapi_connection is second.connection.dbapi_connection
    engine.dispose()
