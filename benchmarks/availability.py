"""Availability of a 20-line cart over a large network, on SQLite and PostgreSQL.

For each database the script builds a fresh database, migrates it and bulk-loads a realistic
network: `--skus` products, `--locations` locations (a fifth warehouses, the rest stores, spread
over Great Britain, with rate tables and capacities), one stock level per SKU and location, open
purchase orders and waiting backorders; then it runs ANALYZE. It then answers `--carts` cart
checks of `--lines` random SKUs each, shipped to random places (every tenth one collected at a
store), through the same code the `POST /api/v1/availability` endpoint runs: read the figures on
a read-only connection, source the cart with the channel's rules, and build the answer. Also
`GET /api/v1/availability` for the same SKUs. Latencies are per call, nearest-rank percentiles.

    .venv/bin/python benchmarks/availability.py --skus 100000 --locations 50
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from figures import percentile
from sqlalchemy import insert, text
from sqlalchemy.engine import Engine, make_url

from ordermesh.adapters.db import tables as t
from ordermesh.adapters.db.engine import make_engine
from ordermesh.adapters.db.migrate import upgrade
from ordermesh.adapters.db.sourcing_repository import SqlReads
from ordermesh.domain.geo import Point
from ordermesh.services.availability import CartLine, cart_availability, sku_availability

BENCH_DATABASE = "ordermesh_avail_bench"
NOW = datetime.now(UTC)
TODAY = NOW.date()


def sku(n: int) -> str:
    return f"SKU-{n:07d}"


def locations(count: int, rng: random.Random) -> list[dict[str, Any]]:
    rows = []
    for n in range(count):
        warehouse = n % 5 == 0
        rows.append({
            "code": f"LOC-{n:03d}", "name": f"Location {n}",
            "kind": "warehouse" if warehouse else "store",
            "address": {"line1": f"{n} High Street", "city": "Somewhere", "country": "GB"},
            "latitude": rng.uniform(50.5, 55.5), "longitude": rng.uniform(-4.5, 1.5),
            "can_ship": warehouse or n % 2 == 1, "can_pickup": not warehouse,
            "priority": rng.randint(0, 500), "transfer_days": rng.randint(1, 3),
            "daily_order_capacity": None if warehouse else rng.randint(50, 500),
            "shipping_rates": [{"max_km": 100, "amount": 395, "currency": "GBP", "days": 1},
                               {"max_km": None, "amount": 695, "currency": "GBP", "days": 2}],
            "active": True, "created_at": NOW, "updated_at": NOW})
    return rows


def products(count: int, rng: random.Random) -> Iterator[dict[str, Any]]:
    for n in range(count):
        yield {"sku": sku(n), "name": f"Product {n}", "category": "bench", "gtin": None,
               "price_amount": rng.randint(100, 20_000), "currency": "GBP",
               "tax_class": "standard", "preorder": False, "release_date": None,
               "backorderable": n % 10 == 0, "low_stock_threshold": 3, "supplier_code": "SUP",
               "active": True, "created_at": NOW, "updated_at": NOW}


def stock_rows(skus: int, codes: list[str], rng: random.Random) -> Iterator[tuple[Any, ...]]:
    for n in range(skus):
        for code in codes:
            on_hand = 0 if rng.random() < 0.3 else rng.randint(1, 60)
            reserved = rng.randint(0, on_hand // 3) if on_hand else 0
            yield (sku(n), code, on_hand, reserved, rng.randint(0, 2) if on_hand else 0)


def load(engine: Engine, opts: argparse.Namespace) -> list[str]:
    rng = random.Random(opts.seed)
    locs = locations(opts.locations, rng)
    codes = [row["code"] for row in locs]
    with engine.begin() as conn:
        conn.execute(insert(t.channels), [{"code": "web", "name": "Web", "active": True,
                                           "created_at": NOW}])
        conn.execute(insert(t.suppliers), [{
            "code": "SUP", "name": "Supplier", "email": "buy@example.com", "currency": "GBP",
            "lead_time_days": 14, "payment_terms_days": 30, "active": True,
            "created_at": NOW, "updated_at": NOW}])
        conn.execute(insert(t.locations), locs)
        batch: list[dict[str, Any]] = []
        for row in products(opts.skus, rng):
            batch.append(row)
            if len(batch) == 10_000:
                conn.execute(insert(t.products), batch)
                batch = []
        if batch:
            conn.execute(insert(t.products), batch)
    started = time.perf_counter()
    _load_stock(engine, stock_rows(opts.skus, codes, rng))
    print(f"  {opts.skus * len(codes):,} stock levels loaded in {time.perf_counter() - started:.0f} s")
    _load_supply(engine, opts, codes, rng)
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    return codes


def _load_stock(engine: Engine, rows: Iterator[tuple[Any, ...]]) -> None:
    columns = "sku, location_code, on_hand, reserved, safety_stock, updated_at"
    sqlite_insert = ("INSERT INTO stock_levels (sku, location_code, on_hand, reserved, "
                     "safety_stock, updated_at) VALUES (?, ?, ?, ?, ?, ?)")
    if engine.dialect.name == "postgresql":
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            with cursor.copy(f"COPY stock_levels ({columns}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for row in rows:
                    copy.write_row((*row, NOW))
            raw.commit()
        finally:
            raw.close()
        return
    with engine.begin() as conn:
        chunk: list[tuple[Any, ...]] = []
        for row in rows:
            chunk.append((*row, NOW.isoformat()))
            if len(chunk) == 50_000:
                conn.exec_driver_sql(sqlite_insert, chunk)
                chunk = []
        if chunk:
            conn.exec_driver_sql(sqlite_insert, chunk)


def _load_supply(engine: Engine, opts: argparse.Namespace, codes: list[str],
                 rng: random.Random) -> None:
    """Open purchase orders for a tenth of the SKUs, so supply is read as it would be."""
    with engine.begin() as conn:
        for n in range(opts.skus // 200):
            result = conn.execute(insert(t.purchase_orders), {
                "id": f"po-{n}", "supplier_code": "SUP", "deliver_to": codes[0],
                "currency": "GBP", "status": "sent", "version": 0,
                "expected_on": TODAY + timedelta(days=rng.randint(1, 30)),
                "created_at": NOW, "updated_at": NOW})
            seq = result.inserted_primary_key[0]  # type: ignore[index]
            conn.execute(insert(t.purchase_order_lines), [
                {"po_seq": seq, "line_no": i + 1, "sku": sku(rng.randrange(opts.skus)),
                 "quantity": rng.randint(10, 100), "unit_cost": 500, "received": 0}
                for i in range(20)])


def measure(name: str, calls: int, call: Callable[[], object]) -> dict[str, float]:
    for _ in range(min(50, calls)):  # warm the caches and the compiled statements
        call()
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    figures = {"p50": percentile(times, 50), "p95": percentile(times, 95),
               "p99": percentile(times, 99), "mean": statistics.fmean(times)}
    print(f"  {name:<34} " + "  ".join(f"{k} {v:6.2f} ms" for k, v in figures.items()))
    return figures


def run(url: str, label: str, opts: argparse.Namespace) -> None:
    print(f"{label}: building the network ...")
    engine = make_engine(url)
    upgrade(engine)
    codes = load(engine, opts)
    rng = random.Random(opts.seed + 1)

    def a_cart() -> tuple[list[CartLine], Point | None, str | None]:
        lines = [CartLine(sku(n), rng.randint(1, 3)) for n in rng.sample(range(opts.skus),
                                                                         opts.lines)]
        if rng.random() < 0.1:
            return lines, None, codes[1]
        return lines, Point(rng.uniform(50.5, 55.5), rng.uniform(-4.5, 1.5)), None

    def check() -> object:
        lines, destination, pickup = a_cart()
        with engine.connect().execution_options(read_only=True) as conn:
            return cart_availability(SqlReads(conn), lines, "web", TODAY, destination, pickup)

    def figures() -> object:
        skus = [sku(n) for n in rng.sample(range(opts.skus), opts.lines)]
        with engine.connect().execution_options(read_only=True) as conn:
            return sku_availability(SqlReads(conn), skus, "web", TODAY)

    print(f"{label}: {opts.skus:,} SKUs x {opts.locations} locations, {opts.lines}-line carts")
    measure(f"POST availability ({opts.carts} carts)", opts.carts, check)
    measure(f"GET availability ({opts.carts} calls)", opts.carts, figures)
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skus", type=int, default=100_000)
    parser.add_argument("--locations", type=int, default=50)
    parser.add_argument("--lines", type=int, default=20)
    parser.add_argument("--carts", type=int, default=1000)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--postgres-url", default=os.environ.get(
        "ORDERMESH_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--seed", type=int, default=1)
    opts = parser.parse_args()
    if opts.db in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            run(f"sqlite:///{Path(tmp) / 'bench.db'}", "SQLite", opts)
    if opts.db in ("postgresql", "both"):
        admin = make_engine(opts.postgres_url)
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {BENCH_DATABASE}"))
            conn.execute(text(f"CREATE DATABASE {BENCH_DATABASE}"))
        admin.dispose()
        url = make_url(opts.postgres_url).set(database=BENCH_DATABASE)
        try:
            run(url.render_as_string(hide_password=False), "PostgreSQL", opts)
        finally:
            admin = make_engine(opts.postgres_url)
            with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text(f"DROP DATABASE IF EXISTS {BENCH_DATABASE}"))
            admin.dispose()


if __name__ == "__main__":
    main()
