"""Fixtures. Every database test runs on SQLite and on PostgreSQL (`db` parametrisation)."""

from __future__ import annotations

import os
import shutil
import threading
import traceback
from collections import Counter
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import fastapi.dependencies.models as fastapi_dependencies
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.engine import Engine

from ordermesh.adapters.carriers.courier import Courier, CourierSettings
from ordermesh.adapters.db.engine import make_engine, retry_reason
from ordermesh.adapters.db.unit_of_work import SqlUnitOfWork
from ordermesh.adapters.payments.test_gateway import TestGateway, TestGatewaySettings
from ordermesh.adapters.webhooks.sender import WebhookSender, new_secret
from ordermesh.bootstrap import App
from ordermesh.config import Settings
from ordermesh.domain.invoicing import Party
from ordermesh.entrypoints import observability
from ordermesh.entrypoints.api.app import create_app
from ordermesh.services.bus import MessageBus
from ordermesh.services.handlers.payments import MoneySetup
from ordermesh.services.handlers.shipping import ShippingSetup
from ordermesh.services.handlers.webhooks import WebhookSetup
from tests import databases
from tests.builders import Clock


@pytest.fixture(autouse=True)
def forget_the_apps() -> Iterator[None]:
    """FastAPI remembers the endpoints it has classified in caches of 4,096 entries, among
    them closures of the API docs and the console that hold their whole application: with an
    application built per test, each xdist worker kept ~1,000 of them (~3 GiB). Emptied after
    every test; a FastAPI without these caches has nothing to empty."""
    yield
    for name in ("_is_gen_callable_cached", "_is_async_gen_callable_cached",
                 "_is_coroutine_callable_cached"):
        cached = getattr(fastapi_dependencies, name, None)
        if cached is not None:
            cached.cache_clear()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return databases.migrated_sqlite_template(tmp_path_factory.mktemp("sqlite"))


@pytest.fixture(scope="session")
def postgres_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str | None]:
    """One migrated PostgreSQL database for this test process, or None with a skip reason."""
    folder = tmp_path_factory.mktemp("pg")
    server_url, how = databases.find_postgres(folder)
    if server_url is None:
        if os.environ.get("ORDERMESH_TEST_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required here but unavailable: {how}")
        pytest.skip(f"PostgreSQL tests skipped: {how}")
    try:
        database_url = databases.create_postgres_database(server_url)
    except Exception as exc:
        if os.environ.get("ORDERMESH_TEST_REQUIRE_POSTGRES") == "1":
            raise
        pytest.skip(f"PostgreSQL tests skipped: cannot use {how}: {exc}")
    yield database_url
    databases.drop_postgres_database(server_url, database_url)
    databases.stop_cluster(folder)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        path = tmp_path / "ordermesh.db"
        shutil.copyfile(template, path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_database")
    engine = make_engine(url, pool_size=1)
    databases.empty_postgres_database(engine)
    engine.dispose()
    return url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url, pool_size=20)
    nested = one_connection_at_a_time(engine)
    yield engine
    engine.dispose()
    assert not nested, "a request held two pooled connections at once:\n" + nested[0]


# The command the bus is handling in this context (see one_connection_at_a_time).
_command: ContextVar[object | None] = ContextVar("ordermesh_test_command", default=None)
_handle = MessageBus.handle


def _handle_in_scope(self: MessageBus, command: Any) -> Any:
    token = _command.set(object())
    try:
        return _handle(self, command)
    finally:
        _command.reset(token)


MessageBus.handle = _handle_in_scope  # type: ignore[method-assign]


def one_connection_at_a_time(engine: Engine) -> list[str]:
    """Where a request, a command the bus handles, or a thread of the server outside both (the
    test's own code aside) took a second pooled connection while holding one: with a pool of
    fixed size (make_engine), enough such requests or worker jobs at once would each wait for
    the other's connection. A request is followed across the threads FastAPI runs its
    dependencies and endpoint in. Answers the list it fills."""
    nested: list[str] = []
    holding: Counter[int] = Counter()

    def holder() -> int | None:
        scope = observability._request_scope.get()
        if scope is not None:
            return id(scope)
        if (command := _command.get()) is not None:
            return id(command)
        return None if threading.current_thread() is threading.main_thread() else \
            threading.get_ident()

    def out(_dbapi: Any, record: Any, _proxy: Any) -> None:
        if (who := holder()) is None:
            return
        record.info["held_by"] = who
        if holding[who]:
            nested.append("".join(traceback.format_stack(limit=25)))
        holding[who] += 1

    def back(_dbapi: Any, record: Any) -> None:
        if (who := record.info.pop("held_by", None)) is not None:
            holding[who] -= 1

    event.listen(engine, "checkout", out)
    event.listen(engine, "checkin", back)
    return nested


@pytest.fixture
def gateway(tmp_path: Path) -> TestGateway:
    """The built-in test payment gateway, with its own books in a file of this test."""
    return TestGateway(TestGatewaySettings(database_url=f"sqlite:///{tmp_path / 'gateway.db'}",
                                           slow_seconds=0.2, async_seconds=0))


SELLER = Party("Ordermesh Test Shop", {"line1": "1 Market Street", "city": "Amsterdam",
                                       "postal_code": "1011 AA", "country": "NL"},
               tax_id="NL000099998B57")


@pytest.fixture
def carrier_clock() -> Clock:
    return Clock()


@pytest.fixture
def carrier(tmp_path: Path, carrier_clock: Clock) -> Iterator[Courier]:
    """The built-in courier simulator, with its own books in a file of this test and its own
    clock, set up as the carrier `courier`."""
    courier = Courier(CourierSettings(database_url=f"sqlite:///{tmp_path / 'courier.db'}"),
                      clock=carrier_clock)
    yield courier
    courier.engine.dispose()


@pytest.fixture
def bus(engine: Engine, gateway: TestGateway, carrier: Courier) -> MessageBus:
    return MessageBus(lambda: SqlUnitOfWork(engine), retry_reason=retry_reason,
                      setup=MoneySetup({"test": gateway}, SELLER),
                      shipping=ShippingSetup({"courier": carrier}, clock=carrier.clock),
                      webhooks=WebhookSetup(WebhookSender(allow_private=False), new_secret))


@pytest.fixture
def ordermesh(database_url: str, engine: Engine, bus: MessageBus) -> App:
    return App(Settings(database_url=database_url), engine, bus)


@pytest.fixture
def client(ordermesh: App) -> Iterator[TestClient]:
    with TestClient(create_app(ordermesh), raise_server_exceptions=False) as client:
        yield client
