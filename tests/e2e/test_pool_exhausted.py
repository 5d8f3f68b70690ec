"""Every pooled connection busy for longer than the pool waits: the request answers 503
`service.busy` with Retry-After (a problem, never a 500) and writes nothing; once a connection
is free again the next request works. A process opens no connection beyond its pool."""

from __future__ import annotations

from collections.abc import Iterator

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
