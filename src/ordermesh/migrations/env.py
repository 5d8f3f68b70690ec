"""Alembic environment. SQLite runs in batch mode, so one history serves both databases."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from ordermesh.adapters.db.engine import make_engine
from ordermesh.adapters.db.tables import metadata
from ordermesh.config import Settings


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url") or Settings().database_url
    engine = make_engine(url, pool_size=1)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("Ordermesh migrations run online only")
run_migrations_online()
