"""What one order placement costs inside Ordermesh: SQL statements and CPU milliseconds per
order, measured in one process with no network in between, and optionally where the time goes.

The FastAPI application runs in this process against a fresh database (the same set-up as
benchmarks/place_orders.py: a channel, 50 products, two warehouses with ample stock, made
through the API); orders are then placed one after the other with `POST /api/v1/orders`,
each handed to the ASGI application as a server would hand it (no HTTP client, no socket).
For the measured orders it reports the SQL statements sent to the database per order (by
kind: SELECT, INSERT, UPDATE, and transaction control as the database sees it: BEGIN, COMMIT,
ROLLBACK), the CPU time of this process per order (application, SQLAlchemy and driver, and
SQLite itself; not a PostgreSQL server), and how much of it the placement command took (CPU of
the thread running it, from its unit of work to its commit): the rest is the web layer
(middleware, routing, dependencies, the API key, body validation, the answer).

    .venv/bin/python benchmarks/placement_cost.py --db sqlite --orders 500
    .venv/bin/python benchmarks/placement_cost.py --db postgresql --orders 500 --profile
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from fastapi.testclient import TestClient
from place_orders import drop_postgres, fresh_postgres, order_body, set_up_catalogue
from sqlalchemy import event
from sqlalchemy.engine import Engine

from ordermesh.adapters.db.migrate import upgrade
from ordermesh.bootstrap import bootstrap
from ordermesh.config import Settings
from ordermesh.entrypoints.api.app import create_app
from ordermesh.services.commands import CreateApiKey, PlaceOrder

DATABASE = "ordermesh_placement_cost"


class StatementCounter:
    """Counts the statements an engine sends, by their first word."""

    def __init__(self, engine: Engine) -> None:
        self.kinds: Counter[str] = Counter()
        self.on = False
        event.listen(engine, "before_cursor_execute", self._seen)
        # Transaction control as the database sees it: SQLite's BEGIN is a statement of its
        # own (counted above); a connection in autocommit opens and ends no transaction.
        if engine.dialect.name != "sqlite":
            event.listen(engine, "begin", lambda conn: self._control(conn, "BEGIN"))
        event.listen(engine, "commit", lambda conn: self._control(conn, "COMMIT"))
        event.listen(engine, "rollback", lambda conn: self._control(conn, "ROLLBACK"))

        self.shown: list[str] = []
        self.show = False

    def _seen(self, conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        self._count(statement.lstrip().split(None, 1)[0].upper())
        if self.show:
            self.shown.append(" ".join(statement.split()))

    def _control(self, conn: Any, kind: str) -> None:
        if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            self._count(kind)

    def _count(self, kind: str) -> None:
        if self.on:
            self.kinds[kind] += 1
        if self.show and kind in ("BEGIN", "COMMIT", "ROLLBACK"):
            self.shown.append(kind)


@contextmanager
def database(kind: str, postgres_url: str) -> Iterator[str]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="ordermesh-cost-") as tmp:
            yield f"sqlite:///{tmp}/cost.db"
        return
    url = fresh_postgres(postgres_url, DATABASE)
    try:
        yield url
    finally:
        drop_postgres(postgres_url, DATABASE)


class CommandClock:
    """CPU time of the threads running the placement command, summed while `on`."""

    def __init__(self, bus: Any) -> None:
        self.cpu_s = 0.0
        self.on = False
        handle = bus.handle

        def timed(command: Any) -> Any:
            if not (self.on and isinstance(command, PlaceOrder)):
                return handle(command)
            began = time.thread_time()
            try:
                return handle(command)
            finally:
                self.cpu_s += time.thread_time() - began

        bus.handle = timed


def measure(url: str, orders: int, lines: int, profile: str | None,
            show_sql: bool = False) -> dict[str, Any]:
    os.environ["ORDERMESH_RATE_LIMIT_ENABLED"] = "false"
    ordermesh = bootstrap(Settings(database_url=url))
    upgrade(ordermesh.engine)
    admin_key = ordermesh.bus.handle(CreateApiKey("bench", "bench", "admin", None)).key
    counter = StatementCounter(ordermesh.engine)
    clock = CommandClock(ordermesh.bus)
    app = create_app(ordermesh)
    with TestClient(app, base_url="https://bench.local") as client:  # the set-up, and startup
        client.headers["Authorization"] = f"Bearer {admin_key}"
        channel_key, prices = set_up_catalogue(client, 50)  # type: ignore[arg-type]
    run = uuid.uuid4().hex[:8]
    got: dict[str, Any] = {}

    async def place(n: int) -> None:
        body = order_body(n, run, 1, prices, lines)
        raw = json.dumps(body).encode()
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": "POST", "scheme": "http", "path": "/api/v1/orders",
                 "raw_path": b"/api/v1/orders", "root_path": "", "query_string": b"",
                 "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 50000),
                 "headers": [(b"host", b"127.0.0.1:8000"),
                             (b"content-type", b"application/json"),
                             (b"content-length", str(len(raw)).encode()),
                             (b"authorization", f"Bearer {channel_key}".encode()),
                             (b"idempotency-key", f"{run}-{n}".encode())]}
        pending = [{"type": "http.request", "body": raw, "more_body": False}]
        answer: list[Any] = []

        async def receive() -> Any:
            if pending:
                return pending.pop()
            await asyncio.Event().wait()  # the client stays connected until the answer

        async def send(message: Any) -> None:
            answer.append(message)

        await app(scope, receive, send)
        if answer[0]["status"] != 201:
            raise SystemExit(f"order {n}: {answer[0]['status']} {answer[1].get('body')!r}")

    async def placing() -> None:
        for n in range(49):  # warm-up: imports, caches, connection pool
            await place(n)
        counter.show = show_sql
        await place(49)
        counter.show = False
        counter.on = clock.on = True
        profiler = None
        if profile:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0005, async_mode="disabled")
            profiler.start()
        cpu, wall = time.process_time(), time.perf_counter()
        for n in range(50, 50 + orders):
            await place(n)
        got["cpu_s"], got["wall_s"] = time.process_time() - cpu, time.perf_counter() - wall
        counter.on = clock.on = False
        if profiler is not None:
            profiler.stop()
            Path(profile).write_text(profiler.output_text(unicode=False, show_all=False))  # type: ignore[arg-type]

    asyncio.run(placing())
    ordermesh.engine.dispose()
    return {"orders": orders, "statements": counter.kinds, "cpu_ms": got["cpu_s"] * 1000 / orders,
            "command_ms": clock.cpu_s * 1000 / orders,
            "wall_ms": got["wall_s"] * 1000 / orders, "shown": counter.shown}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--orders", type=int, default=500)
    parser.add_argument("--lines", type=int, default=3)
    parser.add_argument("--profile", action="store_true",
                        help="write a pyinstrument call tree of the event loop (the web layer;"
                        " the command runs in a worker thread: py-spy shows it) to "
                        "placement-<db>.txt")
    parser.add_argument("--show-sql", action="store_true",
                        help="print the statements of one order placement")
    parser.add_argument("--postgres-url", default=os.environ.get(
        "ORDERMESH_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    print(f"{'database':<11} {'orders':>6} {'SQL/order':>9} {'CPU ms/order':>12} "
          f"{'of it command':>13} {'wall ms/order':>13}  statements per order by kind")
    for kind in kinds:
        with database(kind, args.postgres_url) as url:
            got = measure(url, args.orders, args.lines,
                          f"placement-{kind}.txt" if args.profile else None, args.show_sql)
        for statement in got["shown"]:
            print(f"  {statement[:400]}")
        n = got["orders"]
        per_kind = ", ".join(f"{k} {v / n:.1f}" for k, v in got["statements"].most_common())
        total = sum(got["statements"].values())
        print(f"{kind:<11} {n:>6} {total / n:>9.1f} {got['cpu_ms']:>12.2f} "
              f"{got['command_ms']:>13.2f} {got['wall_ms']:>13.2f}  {per_kind}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
