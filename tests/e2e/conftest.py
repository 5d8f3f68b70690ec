"""A small shop behind the HTTP API, for stories told through requests."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from ordermesh.adapters.db import tables as t
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


def row_counts(engine: Engine) -> dict[str, int]:
    """How many rows each table holds: a request that failed must not change any."""
    with engine.connect() as conn:
        return {table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
                for table in t.metadata.sorted_tables}
