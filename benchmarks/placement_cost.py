"""What one order placement costs inside Ordermesh: SQL statements and CPU milliseconds per
order, measured in one process with no network in between, and optionally where the time goes.

The FastAPI application runs in this process against a fresh database (the same set-up as
benchmarks/place_orders.py: a channel, 50 products, two warehouses with ample stock, made
through the API); orders are then placed one after the other with `POST /api/v1/orders`
through an in-process ASGI client. For the measured orders it reports the SQL statements sent
to the database per order (by kind: SELECT, INSERT, UPDATE, and transaction control as the
database sees it: BEGIN, COMMIT, ROLLBACK) and the CPU
time of this process per order (application, SQLAlchemy and driver; not the database server).

    .venv/bin/python benchmarks/placement_cost.py --db sqlite --orders 500
    .venv/bin/python benchmarks/placement_cost.py --db postgresql --orders 500 --profile
"""

from __future__ import annotations

import argparse
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
from place_orders import drop_postgres, expect, fresh_postgres, order_body, set_up_catalogue
from sqlalchemy import event
from sqlalchemy.engine import Engine

from ordermesh.adapters.db.migrate import upgrade
from ordermesh.bootstrap import bootstrap
from ordermesh.config import Settings
from ordermesh.entrypoints.api.app import create_app
from ordermesh.services.commands import CreateApiKey

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


def measure(url: str, orders: int, lines: int, profile: str | None,
            show_sql: bool = False) -> dict[str, Any]:
    os.environ["ORDERMESH_RATE_LIMIT_ENABLED"] = "false"
    ordermesh = bootstrap(Settings(database_url=url))
    upgrade(ordermesh.engine)
    admin_key = ordermesh.bus.handle(CreateApiKey("bench", "bench", "admin", None)).key
    counter = StatementCounter(ordermesh.engine)
    with TestClient(create_app(ordermesh), base_url="https://bench.local") as client:
        client.headers["Authorization"] = f"Bearer {admin_key}"
        channel_key, prices = set_up_catalogue(client, 50)  # type: ignore[arg-type]
        client.headers["Authorization"] = f"Bearer {channel_key}"
        run = uuid.uuid4().hex[:8]

        def place(n: int) -> None:
            body = order_body(n, run, 1, prices, lines)
            expect(client.post("/api/v1/orders", json=body,
                               headers={"Idempotency-Key": f"{run}-{n}"}), 201)

        for n in range(49):  # warm-up: imports, caches, connection pool
            place(n)
        counter.show = show_sql
        place(49)
        counter.show = False
        counter.on = True
        profiler = None
        if profile:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0005)
            profiler.start()
        cpu, wall = time.process_time(), time.perf_counter()
        for n in range(50, 50 + orders):
            place(n)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        counter.on = False
        if profiler is not None:
            profiler.stop()
            Path(profile).write_text(profiler.output_text(unicode=False, show_all=False))  # type: ignore[arg-type]
    ordermesh.engine.dispose()
    return {"orders": orders, "statements": counter.kinds, "cpu_ms": cpu * 1000 / orders,
            "wall_ms": wall * 1000 / orders, "shown": counter.shown}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--orders", type=int, default=500)
    parser.add_argument("--lines", type=int, default=3)
    parser.add_argument("--profile", action="store_true",
                        help="write a pyinstrument call tree to placement-<db>.txt")
    parser.add_argument("--show-sql", action="store_true",
                        help="print the statements of one order placement")
    parser.add_argument("--postgres-url", default=os.environ.get(
        "ORDERMESH_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    print(f"{'database':<11} {'orders':>6} {'SQL/order':>9} {'CPU ms/order':>12} "
          f"{'wall ms/order':>13}  statements per order by kind")
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
              f"{got['wall_ms']:>13.2f}  {per_kind}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
