"""Engines for SQLite and PostgreSQL, tuned so the same code is safe on both under concurrency."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
import weakref
from typing import Any

try:
    import fcntl

    fcntl_available = True
except ImportError:  # not a POSIX system: writers poll for SQLite's lock instead
    fcntl_available = False

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.pool import NullPool, QueuePool

log = logging.getLogger(__name__)

# PostgreSQL SQLSTATEs worth a retry, by the name the bus counts them under.
RETRYABLE_SQLSTATES = {"40001": "serialization_failure", "40P01": "deadlock"}


def normalise_url(url: str) -> str:
    """Plain postgresql:// URLs use psycopg 3, the driver Ordermesh installs."""
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain):]
    return url


def make_engine(url: str, pool_size: int = 10, pool_timeout_s: float = 30.0) -> Engine:
    """An engine for the URL. A process keeps `pool_size` connections and opens
    no more: a thread wanting one when all are busy waits for the next free one (up to
    `pool_timeout_s`, then sqlalchemy.exc.TimeoutError: a 503 to retry). Connections opened
    beyond a pool under load ("overflow") are closed again as they come back, so at 64 clients
    PostgreSQL started ~35 backends a second, each a process to fork and warm: its CPU per
    order doubled and p99 went from ~0.6 to ~1.0-1.7 s (docs/benchmarks.md). A request holds
    one connection at a time (tests/conftest.py checks), so a fixed pool cannot deadlock."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        return _sqlite_engine(url, pool_size, pool_timeout_s)
    engine = create_engine(url, pool_size=pool_size, max_overflow=0,
                           pool_timeout=pool_timeout_s, hide_parameters=True)
    _ping_when_idle(engine)
    return engine


# A pooled connection used less than this long ago is taken as it is; one idle for longer is
# pinged first (one round trip), and replaced if the server dropped it (e.g. a restart).
PING_AFTER_IDLE_S = 5.0


def _ping_when_idle(engine: Engine) -> None:
    """Check a pooled connection before use only when it sat idle: a ping on every check-out
    (SQLAlchemy's pool_pre_ping) costs a round trip per transaction, three per order placed.
    A connection in steady use was answering a moment ago; one that fails anyway fails its
    command, which answers 503 and is not half-written."""

    @event.listens_for(engine, "checkin")
    def _idle_from(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_S:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:  # the pool connects again and retries the check-out
            raise DisconnectionError("the pooled connection did not answer a ping") from exc


class WriterTurns:
    """Writers to one SQLite file take turns, first come first served.

    SQLite lets one writer in at a time; the others poll with growing sleeps (up to 100 ms),
    so under load a writer may wait long after the lock is free while later ones slip in (a
    long tail of latency). Here a writer first takes this process's turn (a thread lock), then
    the file's (an exclusive flock on `<database>-writers`, which the kernel hands to the next
    waiter the moment it is released, and drops when a process dies), and only then begins
    its transaction; both are given back when its connection returns to the pool. A writer
    that cannot get its process's turn within `timeout_s` fails as a locked database does
    (retried). The file's turn is waited for without a limit, as the kernel queues it: a
    holder that is stopped (not dead) holds up one writer per process until it goes on. Where
    the lock file cannot be opened (a read-only directory, a file of another user), writers
    fall back to SQLite's own waiting.
    """

    def __init__(self, path: str, timeout_s: float = 30.0) -> None:
        self.path = f"{path}-writers"
        self.timeout_s = timeout_s
        self.in_process = threading.Lock()
        self.unavailable = False

    def take(self, info: dict[str, Any]) -> None:
        if info.get("writer_turn"):
            return  # this connection has it already (a second transaction before check-in)
        if not self.in_process.acquire(timeout=self.timeout_s):
            raise OperationalError("BEGIN IMMEDIATE", {},
                                   sqlite3.OperationalError("database is locked"))
        try:
            if "writer_fd" not in info:
                # read-only is enough for flock; readable by all, as SQLite's own -wal file is
                info["writer_fd"] = os.open(self.path, os.O_RDONLY | os.O_CREAT, 0o644)
            fcntl.flock(info["writer_fd"], fcntl.LOCK_EX)
        except OSError as exc:
            self.in_process.release()
            if not self.unavailable:
                self.unavailable = True
                log.warning("SQLite writers wait without turns: %s", exc)
            return
        except BaseException:
            self.in_process.release()
            raise
        info["writer_turn"] = True

    def give_back(self, info: dict[str, Any]) -> None:
        if info.pop("writer_turn", False):
            fcntl.flock(info["writer_fd"], fcntl.LOCK_UN)
            self.in_process.release()

    def forget(self, info: dict[str, Any]) -> None:
        self.give_back(info)
        if "writer_fd" in info:
            os.close(info.pop("writer_fd"))


def _sqlite_engine(url: str, pool_size: int, pool_timeout_s: float) -> Engine:
    # Parameters stay out of error messages: a traceback in a log must not carry customer data.
    # A file gets a pool of fixed size; an in-memory database keeps SQLAlchemy's own pool
    parsed = make_url(url)
    pooled = issubclass(parsed.get_dialect().get_pool_class(parsed), QueuePool)  # type: ignore[attr-defined]
    pool: dict[str, Any] = ({"pool_size": pool_size, "max_overflow": 0,
                             "pool_timeout": pool_timeout_s} if pooled else {})
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False},
                           hide_parameters=True, **pool)
    path = engine.url.database
    turns = WriterTurns(path) if path and path != ":memory:" and fcntl_available else None

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
        if options.get("read_only"):
            conn.exec_driver_sql("BEGIN DEFERRED")
            return
        if turns is not None and not turns.unavailable:
            turns.take(conn.connection.info)
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            if turns is not None:
                turns.give_back(conn.connection.info)
            raise

    if turns is not None:
        # the turn ends when the connection is back in the pool: after its commit or rollback
        event.listen(engine, "checkin", lambda _dbapi, record: turns.give_back(record.info))
        event.listen(engine, "close", lambda _dbapi, record: turns.forget(record.info))

    @event.listens_for(engine, "checkin")
    def _driver_off_again(dbapi_conn: Any, _record: Any) -> None:
        # A connection lent in autocommit comes back with the driver's own transactions
        # switched on again by SQLAlchemy's reset; they stay off (see _on_connect).
        if dbapi_conn is not None:
            dbapi_conn.isolation_level = None

    return engine


_probes: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()


def probe_engine(engine: Engine) -> Engine:
    """An engine beside the process's pool for health checks and metrics: a connection of its
    own for each probe (no pool), so a probe tells whether the database answers, not whether
    a pooled connection is free (a busy process is not an unready one)."""
    if (probe := _probes.get(engine)) is None:
        args = {"connect_args": {"timeout": 5}} if engine.dialect.name == "sqlite" else {}
        probe = create_engine(engine.url, poolclass=NullPool, hide_parameters=True, **args)
        _probes[engine] = probe
    return probe


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
