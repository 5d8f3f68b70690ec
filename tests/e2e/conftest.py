"""A small shop behind the HTTP API, for stories told through requests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from ordermesh.adapters.db import tables as t
from ordermesh.bootstrap import App
from ordermesh.entrypoints.api.app import create_app
from ordermesh.services.bus import MessageBus
from tests.builders import Shop, a_shop


@pytest.fixture
def shop(bus: MessageBus) -> Shop:
    shop = a_shop(bus).location("WH-1", priority=200).location(
        "ST-AMS", kind="store", can_pickup=True, priority=50)
    shop.product("TEE-1").product("MUG-1", backorderable=True).product("CAP-1")
    shop.stock("TEE-1", "WH-1", 10).stock("TEE-1", "ST-AMS", 3)
    shop.stock("CAP-1", "WH-1", 1)
    return shop


@pytest.fixture
def uk(bus: MessageBus) -> Shop:
    """Two warehouses and a store in England."""
    shop = a_shop(bus)
    shop.location("LEEDS", latitude=53.8008, longitude=-1.5491, priority=100)
    shop.location("LONDON", latitude=51.5074, longitude=-0.1278, priority=200)
    shop.location("YORK-ST", kind="store", latitude=53.96, longitude=-1.08, can_ship=False,
                  can_pickup=True, priority=10)
    shop.product("TEE", currency="GBP").product("MUG", currency="GBP", backorderable=True)
    shop.stock("TEE", "LEEDS", 5).stock("TEE", "LONDON", 5)
    return shop


@pytest.fixture
def server(ordermesh: App) -> Iterator[str]:
    """The app served by uvicorn in a thread on a free port (with its access log); its URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(create_app(ordermesh), host="127.0.0.1", port=port,
                            log_level="debug", access_log=True)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def row_counts(engine: Engine) -> dict[str, int]:
    """How many rows each table holds: a request that failed must not change any."""
    with engine.connect() as conn:
        return {table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
                for table in t.metadata.sorted_tables}
