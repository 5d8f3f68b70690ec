"""Engines for SQLite and PostgreSQL, tuned so the same code is safe on both under concurrency."""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError

# PostgreSQL SQLSTATEs worth a retry, by the name the bus counts them under.
RETRYABLE_SQLSTATES = {"40001": "serialization_failure", "40P01": "deadlock"}


def normalise_url(url: str) -> str:
    """Plain postgresql:// URLs use psycopg 3, the driver Ordermesh installs."""
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain):]
    return url


def make_engine(url: str, pool_size: int = 10) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size * 2, pool_pre_ping=True,
                         hide_parameters=True)


def _sqlite_engine(url: str) -> Engine:
    # Parameters stay out of error messages: a traceback in a log must not carry customer data.
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False},
                           hide_parameters=True)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # The driver must not open transactions by itself: it would start them lazily and
        # deferred, so a read-decide-write could interleave with another writer.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        for pragma in ("journal_mode=WAL", "foreign_keys=ON", "busy_timeout=30000",
                       "synchronous=NORMAL"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Writers take the write lock up front; reads run deferred beside them (WAL); a
        # connection in autocommit runs each statement on its own.
        options = conn.get_execution_options()
        if options.get("isolation_level") == "AUTOCOMMIT":
            return
        mode = "DEFERRED" if options.get("read_only") else "IMMEDIATE"
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def retry_reason(exc: BaseException) -> str | None:
    """Why running the whole command again may succeed, or None if it would not help."""
    if not isinstance(exc, DBAPIError):
        return None
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate in RETRYABLE_SQLSTATES:
        return RETRYABLE_SQLSTATES[sqlstate]
    if isinstance(exc, OperationalError) and "database is locked" in str(exc.orig):
        return "database_locked"
    return None
