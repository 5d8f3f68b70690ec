"""The one place that wires adapters into the bus, from configuration."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine

from ordermesh.adapters.db.engine import make_engine, retry_reason
from ordermesh.adapters.db.unit_of_work import SqlUnitOfWork
from ordermesh.config import Settings
from ordermesh.services.bus import MessageBus


@dataclass
class App:
    settings: Settings
    engine: Engine
    bus: MessageBus


def bootstrap(settings: Settings | None = None) -> App:
    settings = settings or Settings()
    engine = make_engine(settings.database_url, pool_size=settings.db_pool_size)
    bus = MessageBus(lambda: SqlUnitOfWork(engine), retry_reason=retry_reason)
    return App(settings, engine, bus)
