"""Run the Alembic history programmatically (the CLI and the tests use this)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection, Engine


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", "ordermesh:migrations")
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    config = alembic_config()
    with migration_connection(engine) as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
        conn.commit()


@contextmanager
def migration_connection(engine: Engine) -> Iterator[Connection]:
    """A connection for migrations. On SQLite, batch migrations rebuild a table (copy, drop,
    rename), and the drop fails while other tables refer to it unless foreign keys are off,
    which SQLite only allows outside a transaction; they are checked and switched back on after."""
    with engine.connect() as conn:
        if engine.dialect.name != "sqlite":
            yield conn
            return
        raw = conn.connection.driver_connection
        assert raw is not None
        raw.execute("PRAGMA foreign_keys=OFF")
        try:
            yield conn
            broken = raw.execute("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"the migration broke foreign keys: {broken[:5]}")
        finally:
            raw.execute("PRAGMA foreign_keys=ON")
