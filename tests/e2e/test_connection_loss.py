"""A pooled PostgreSQL connection that the server dropped (as a restart does): a connection in
steady use is not pinged before each transaction (adapters/db/engine.py), so the request that
meets the dead connection answers 503 `service.unavailable` (never a 500, nothing written) and
the next one works on a fresh connection; a connection idle for a while is pinged and replaced
before use, so no request sees it."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import Engine

from ordermesh.adapters.db import engine as engines
from ordermesh.adapters.db import tables as t
from ordermesh.adapters.db.engine import make_engine, retry_reason
from ordermesh.adapters.db.unit_of_work import SqlUnitOfWork
from ordermesh.bootstrap import App
from ordermesh.config import Settings
from ordermesh.entrypoints.api.app import create_app
from ordermesh.services.bus import MessageBus
from tests.builders import Shop, an_order


@pytest.fixture
def app_of_its_own(database_url: str) -> Iterator[App]:
    """Ordermesh on an engine of its own, so that the test knows every connection it holds."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has no server to drop a connection")
    engine = make_engine(database_url, pool_size=1)
    yield App(Settings(database_url=database_url), engine,
              MessageBus(lambda: SqlUnitOfWork(engine), retry_reason=retry_reason))
    engine.dispose()


def drop_connections_of(engine: Engine) -> int:
    """What a server restart does to every connection of this database."""
    url = engine.url
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        dropped = conn.execute(text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": url.database}).scalar()
    admin.dispose()
    return int(dropped or 0)


def orders(engine: Engine) -> int:
    """Counted on a connection of its own, outside the pool under test."""
    counting = create_engine(engine.url)
    with counting.connect() as conn:
        count = int(conn.execute(select(func.count()).select_from(t.orders)).scalar_one())
    counting.dispose()
    return count


def test_a_dropped_connection_is_a_503_and_the_next_request_works(
        app_of_its_own: App, shop: Shop) -> None:
    engine = app_of_its_own.engine
    with TestClient(create_app(app_of_its_own), raise_server_exceptions=False) as client:
        headers = {**shop.headers("web"), "Idempotency-Key": "after-restart-1"}
        assert client.get("/api/v1/orders", headers=shop.headers("web")).status_code == 200
        assert drop_connections_of(engine) >= 1
        before = orders(engine)
        refused = client.post("/api/v1/orders", json=an_order(("TEE-1", 1)), headers=headers)
        assert refused.status_code == 503, refused.text
        assert refused.json()["code"] == "service.unavailable"
        assert refused.headers["Retry-After"] == "1"
        placed = client.post("/api/v1/orders", json=an_order(("TEE-1", 1)), headers=headers)
        assert placed.status_code == 201, placed.text
        assert orders(engine) == before + 1


def test_a_connection_idle_for_a_while_is_pinged_and_replaced_before_use(
        app_of_its_own: App, shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engines, "PING_AFTER_IDLE_S", 0.2)
    engine = app_of_its_own.engine
    with TestClient(create_app(app_of_its_own), raise_server_exceptions=False) as client:
        assert client.get("/api/v1/orders", headers=shop.headers("web")).status_code == 200
        assert drop_connections_of(engine) >= 1
        time.sleep(0.3)
        placed = client.post("/api/v1/orders", json=an_order(("TEE-1", 1)),
                             headers=shop.headers("web"))
        assert placed.status_code == 201, placed.text


