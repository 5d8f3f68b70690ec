"""A stock sync of 100,000 rows in one call, measured over real HTTP.

For each database (SQLite, PostgreSQL) the script builds a fresh database (SQLite: a file;
PostgreSQL: the database ordermesh_stocksync, dropped and created), migrates it, issues an admin
key, writes the products, locations and their stock rows in bulk (straight into the tables:
setting up 100,000 products through the API is not what is measured), starts `ordermesh serve`
as a separate process with rate limits off, and sends one CSV file with a count for every stock
row to POST /api/v1/stock-syncs. Then it sends the same file again (every row a duplicate).
It reports the seconds per call, rows per second and the server's peak resident memory
(VmHWM of its processes), and checks what was written.

    .venv/bin/python benchmarks/stock_sync.py --skus 100000 --locations 1
    .venv/bin/python benchmarks/stock_sync.py --skus 20000 --locations 5 --db postgresql
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from place_orders import (
    BenchError,
    cpu_sample,
    drop_postgres,
    fresh_postgres,
    run_cli,
    running_server,
)
from sqlalchemy import create_engine, func, insert, select

from ordermesh.adapters.db import tables as t
from ordermesh.adapters.db.engine import normalise_url

DATABASE = "ordermesh_stocksync"
HEADER = "sku,location,mode,quantity,source_reference,counted_at"
INSERT_ROWS = 10_000


@dataclass
class Options:
    skus: int
    locations: int
    databases: list[str]
    postgres_url: str
    keep: bool
    seed: int


@dataclass
class Call:
    seconds: float
    answer: dict[str, Any]
    server_cpu_s: float = 0.0
    database_cpu_s: float = 0.0


@dataclass
class Result:
    database: str
    rows: int
    body_bytes: int
    first: Call
    second: Call
    idle_rss_kib: int
    peak_rss_kib: int
    checks: list[str]


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--skus", type=int, default=100_000)
    parser.add_argument("--locations", type=int, default=1)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("ORDERMESH_BENCH_POSTGRES_URL",
                               "postgresql://postgres@127.0.0.1:5432/postgres"),
        help=f"a PostgreSQL server URL; the database {DATABASE} is dropped and recreated")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true",
                        help="keep the databases and the server logs")
    args = parser.parse_args(argv)
    if min(args.skus, args.locations) < 1:
        parser.error("--skus and --locations must be at least 1")
    databases = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    return Options(args.skus, args.locations, databases, args.postgres_url, args.keep, args.seed)


def set_up_network(database_url: str, opts: Options) -> list[tuple[str, str]]:
    """Products, locations and an empty stock row for each pair, inserted in bulk."""
    now = datetime.now(UTC)
    skus = [f"SYNC-{n:06d}" for n in range(opts.skus)]
    codes = [f"SYNC-DC-{n:02d}" for n in range(opts.locations)]
    engine = create_engine(normalise_url(database_url))
    try:
        with engine.begin() as conn:
            conn.execute(insert(t.locations), [{
                "code": code, "name": f"Warehouse {code}", "kind": "warehouse",
                "address": {"line1": "Industrieweg 1", "city": "Tilburg", "country": "NL"},
                "latitude": 51.56, "longitude": 5.09, "can_ship": True, "can_pickup": False,
                "priority": 100 + n, "transfer_days": 1, "shipping_rates": [], "active": True,
                "created_at": now, "updated_at": now} for n, code in enumerate(codes)])
            products = [{
                "sku": sku, "name": f"Product {sku}", "category": "benchmark", "gtin": None,
                "price_amount": 1999, "currency": "EUR", "tax_class": "standard",
                "preorder": False, "backorderable": False, "low_stock_threshold": 0,
                "active": True, "created_at": now, "updated_at": now} for sku in skus]
            for n in range(0, len(products), INSERT_ROWS):
                conn.execute(insert(t.products), products[n:n + INSERT_ROWS])
            keys = [(sku, code) for sku in skus for code in codes]
            for n in range(0, len(keys), INSERT_ROWS):
                conn.execute(insert(t.stock_levels), [
                    {"sku": sku, "location_code": code, "on_hand": 10, "reserved": 0,
                     "safety_stock": 0, "updated_at": now} for sku, code in keys[n:n + INSERT_ROWS]])
    finally:
        engine.dispose()
    return keys


def the_file(keys: list[tuple[str, str]], seed: int) -> tuple[bytes, dict[tuple[str, str], int]]:
    """A count for every stock row, in a shuffled order, counted a minute ago."""
    rng = random.Random(seed)
    counted_at = (datetime.now(UTC) - timedelta(minutes=1)).isoformat(timespec="seconds")
    counts = {key: rng.randint(0, 500) for key in keys}
    order = list(keys)
    rng.shuffle(order)
    lines = [HEADER, *(f"{sku},{code},absolute,{counts[(sku, code)]},wms-{sku}-{code},{counted_at}"
                       for sku, code in order)]
    return ("\n".join(lines) + "\n").encode(), counts


def peak_rss_kib(group: int) -> int:
    """The largest VmHWM among the server's processes (its process group)."""
    peak = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getpgid(int(entry.name)) != group:
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except (OSError, ValueError):
            continue
    return peak


def cpu_seconds(group: int) -> tuple[float, float]:
    """CPU seconds used so far by the server's live processes, and by PostgreSQL (every process
    of it, ended backends included; nothing on SQLite)."""
    sample = cpu_sample(group)
    return (sample.server, sample.database) if sample is not None else (0.0, 0.0)


def send(client: httpx.Client, body: bytes, group: int) -> Call:
    server_before, database_before = cpu_seconds(group)
    started = time.perf_counter()
    response = client.post("/api/v1/stock-syncs", content=body,
                           headers={"content-type": "text/csv"})
    seconds = time.perf_counter() - started
    server_after, database_after = cpu_seconds(group)
    if response.status_code != 200:
        raise BenchError(f"the stock sync answered {response.status_code}: {response.text[:2000]}")
    answer: dict[str, Any] = response.json()
    return Call(seconds, answer, server_after - server_before, database_after - database_before)


def check(database_url: str, counts: dict[tuple[str, str], int], rng: random.Random) -> list[str]:
    engine = create_engine(normalise_url(database_url))
    problems = []
    try:
        with engine.connect() as conn:
            refs = conn.execute(select(func.count()).select_from(t.stock_sync_refs)).scalar_one()
            if refs != len(counts):
                problems.append(f"{refs} sync references for {len(counts)} rows")
            moved = conn.execute(select(func.count()).select_from(t.stock_movements)).scalar_one()
            changed = sum(1 for count in counts.values() if count != 10)
            if moved != changed:
                problems.append(f"{moved} ledger rows for {changed} changes")
            s = t.stock_levels.c
            for sku, code in rng.sample(sorted(counts), min(200, len(counts))):
                on_hand = conn.execute(select(s.on_hand).where(
                    s.sku == sku, s.location_code == code)).scalar_one()
                if on_hand != counts[(sku, code)]:
                    problems.append(f"{sku} at {code}: on hand {on_hand}, counted "
                                    f"{counts[(sku, code)]}")
    finally:
        engine.dispose()
    return problems


def bench_database(database: str, opts: Options, workdir: Path) -> Result:
    env = {**os.environ, "ORDERMESH_LOG_LEVEL": os.environ.get("ORDERMESH_LOG_LEVEL", "WARNING"),
           "ORDERMESH_RATE_LIMIT_ENABLED": "false"}
    if database == "sqlite":
        database_url = f"sqlite:///{workdir / 'ordermesh-stocksync.db'}"
    else:
        database_url = fresh_postgres(opts.postgres_url, DATABASE)
    env["ORDERMESH_DATABASE_URL"] = database_url
    print(f"[{database}] migrating a fresh database", flush=True)
    run_cli(["migrate"], env)
    admin_key = run_cli(["create-key", "--name", "bench", "--role", "admin"],
                        env).strip().splitlines()[-1]
    print(f"[{database}] {opts.skus} products x {opts.locations} locations of stock rows",
          flush=True)
    keys = set_up_network(database_url, opts)
    body, counts = the_file(keys, opts.seed)
    log_path = workdir / f"server-{database}.log"
    with running_server(env, 1, log_path) as (base_url, group), httpx.Client(
            base_url=base_url, timeout=600.0,
            headers={"Authorization": f"Bearer {admin_key}"}) as client:
        print(f"[{database}] sending {len(keys)} rows ({len(body) / 2**20:.1f} MiB)", flush=True)
        idle = peak_rss_kib(group)  # the server started and answered /health
        first = send(client, body, group)
        second = send(client, body, group)
        peak = peak_rss_kib(group)
    checks = check(database_url, counts, random.Random(opts.seed))
    if first.answer["applied"] != len(keys):
        checks.append(f"first call applied {first.answer['applied']} of {len(keys)}")
    if second.answer["duplicate"] != len(keys):
        checks.append(f"second call: {second.answer['duplicate']} duplicates of {len(keys)}")
    return Result(database, len(keys), len(body), first, second, idle, peak, checks)


def report(results: list[Result], opts: Options) -> str:
    lines = [f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
             f"{platform.python_version()}, {platform.platform()}",
             f"Command: benchmarks/stock_sync.py --skus {opts.skus} --locations {opts.locations}",
             "",
             "| database | rows | file MiB | transactions | call | s | rows/s | server CPU s | "
             "database CPU s | server peak RSS MiB (before the calls) | checks |",
             "| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in results:
        for name, call in (("first", r.first), ("same file again", r.second)):
            lines.append(
                f"| {r.database} | {r.rows:,} | {r.body_bytes / 2**20:.1f} | "
                f"{r.first.answer['transactions']} | {name} | {call.seconds:.2f} | "
                f"{r.rows / call.seconds:,.0f} | {call.server_cpu_s:.2f} | "
                f"{call.database_cpu_s:.2f} | {r.peak_rss_kib / 1024:.0f} "
                f"({r.idle_rss_kib / 1024:.0f}) | "
                f"{'ok' if not r.checks else '; '.join(r.checks[:5])} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="ordermesh-stocksync-"))
    results = []
    try:
        for database in opts.databases:
            results.append(bench_database(database, opts, workdir))
    except BenchError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    finally:
        if not opts.keep and "postgresql" in opts.databases:
            drop_postgres_quietly(opts.postgres_url)
    print(report(results, opts))
    if not opts.keep:
        for path in workdir.iterdir():
            path.unlink()
        workdir.rmdir()
    else:
        print(f"kept: {workdir}")
    return 0 if all(not r.checks for r in results) else 1


def drop_postgres_quietly(server_url: str) -> None:
    try:
        drop_postgres(server_url, DATABASE)
    except Exception as exc:  # a report is still worth printing
        print(f"could not drop {DATABASE}: {exc}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
