"""The ceiling: how many order placements per second each database itself can take on this
machine, with no application in between.

One "placement" here is the set of writes Ordermesh must make for an order of three lines, as
one transaction on Ordermesh's own schema: claim the idempotency key, reserve three stock rows
with the conditional update (in (sku, location) order, as Ordermesh locks them), insert the
order and its three lines, the three allocations and their three stock movements, and the
order's event. Nothing is read back or formatted: it is what the database costs, not what
Ordermesh costs.

- PostgreSQL: a pgbench custom script (`-M prepared`, durable commits) at 1, 8, 32 and 64
  clients, with uniform and with hot-product (Zipf, s = 1.1) SKU popularity;
- SQLite: the same transaction from a tight loop in one connection (`BEGIN IMMEDIATE`, WAL,
  `synchronous=NORMAL`: Ordermesh's settings), the ceiling of a single writer.

The database is set up as benchmarks/place_orders.py does (50 products, two warehouses, ample
stock, through Ordermesh's API in process), so the rows and indexes are the real ones.

    .venv/bin/python benchmarks/limit.py
    .venv/bin/python benchmarks/limit.py --db postgresql --clients 1,8 --seconds 10
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from place_orders import BenchError, set_up_catalogue
from sqlalchemy.engine import make_url

SKUS = 50
LOCATION = "BENCH-WH-A"  # the warehouse every benchmark order reserves in (highest priority)
ZIPF_S = 1.1
SQLITE_PRAGMAS = ("journal_mode=WAL", "foreign_keys=ON", "busy_timeout=30000",
                  "synchronous=NORMAL")  # as Ordermesh's engine sets them

# The order's three SKUs: ordered so the stock rows are locked in (sku, location) order.
PICK = {
    "uniform": "\\set s1 random(1, 16)\n\\set s2 random(17, 33)\n\\set s3 random(34, 50)\n",
    # Hot products: three Zipf draws, sorted so that the rows are locked in order.
    "zipf": (f"\\set a random_zipfian(1, {SKUS}, {ZIPF_S})\n"
             f"\\set b random_zipfian(1, {SKUS}, {ZIPF_S})\n"
             f"\\set c random_zipfian(1, {SKUS}, {ZIPF_S})\n"
             "\\set s1 least(:a, :b, :c)\n\\set s3 greatest(:a, :b, :c)\n"
             "\\set s2 :a + :b + :c - :s1 - :s3\n"),
}

RESERVE = """UPDATE stock_levels SET reserved = reserved + 1, updated_at = now()
 WHERE sku = 'BENCH-' || lpad(:s{n}::text, 4, '0') AND location_code = '{loc}'
 AND on_hand - reserved - safety_stock >= 1;
"""
LINE = """INSERT INTO order_lines (id, order_seq, line_no, sku, quantity, unit_price, line_total,
 tax_amount, tax_rate, tax_name, dispatched, returned, cancelled, status)
 VALUES ('line-' || :seq || '-{n}', :seq, {n}, 'BENCH-' || lpad(:s{n}::text, 4, '0'), 1, 1000,
 1000, 0, NULL, NULL, 0, 0, 0, 'allocated');
"""
ALLOCATION = """INSERT INTO allocations (order_seq, line_id, sku, location_code, quantity, source,
 status, ready_on, promised_on, decision, created_at)
 VALUES (:seq, 'line-' || :seq || '-{n}', 'BENCH-' || lpad(:s{n}::text, 4, '0'), '{loc}', 1,
 'stock', 'active', current_date, current_date + 2,
 '{{"rule": "priority", "location": "{loc}"}}', now());
INSERT INTO stock_movements (sku, location_code, on_hand_delta, reserved_delta, reason, reference,
 actor, occurred_at) VALUES ('BENCH-' || lpad(:s{n}::text, 4, '0'), '{loc}', 0, 1, 'reservation',
 'order' || chr(58) || :seq, 'channel' || chr(58) || 'web', now());
"""


def pgbench_script(skew: str) -> str:
    script = PICK[skew] + "BEGIN;\n"
    script += ("INSERT INTO idempotency_keys (scope, key, request_hash, created_at)"
               " VALUES ('web', gen_random_uuid()::text, md5(random()::text), now());\n")
    script += "".join(RESERVE.format(n=n, loc=LOCATION) for n in (1, 2, 3))
    script += """INSERT INTO orders (id, channel_code, external_reference, status, customer_email,
 customer_name, billing_address, shipping_address, tracking_token, payment_token,
 fulfilment_method, currency, lines_total, shipping_total, grand_total, tax_total,
 prices_include_tax, version, created_at, updated_at)
 VALUES (gen_random_uuid()::text, 'web', gen_random_uuid()::text, 'allocated',
 'customer@example.com', 'Customer', '{"line1": "Keizersgracht 1", "city": "Utrecht",
 "postal_code": "1015 CJ", "country": "NL"}', '{"line1": "Keizersgracht 1", "city": "Utrecht",
 "postal_code": "1015 CJ", "country": "NL"}', md5(random()::text), 'tok_bench', 'ship', 'EUR',
 3000, 495, 3495, 0, true, 2, now(), now()) RETURNING seq \\gset
"""
    script += "".join(LINE.format(n=n) for n in (1, 2, 3))
    script += "".join(ALLOCATION.format(n=n, loc=LOCATION) for n in (1, 2, 3))
    script += """INSERT INTO events (id, stream, stream_id, type, actor, data, occurred_at)
 VALUES (gen_random_uuid()::text, 'order', :seq::text, 'order.allocated',
 'channel' || chr(58) || 'web',
 '{"status": "allocated", "lines": 3}', now());
END;
"""
    return script


def postgres_limit(url: str, clients: int, skew: str, seconds: int) -> dict[str, float]:
    """pgbench with the placement script: transactions/s and average latency (ms)."""
    pgbench = shutil.which("pgbench") or "/usr/lib/postgresql/15/bin/pgbench"
    parts = make_url(url)
    with tempfile.TemporaryDirectory(prefix="ordermesh-limit-") as tmp:
        script = Path(tmp) / f"placement-{skew}.sql"
        script.write_text(pgbench_script(skew))
        args = [pgbench, "-n", "-M", "prepared", "-f", str(script), "-c", str(clients),
                "-j", str(min(clients, os.cpu_count() or 1)), "-T", str(seconds),
                "-h", parts.host or "127.0.0.1", "-p", str(parts.port or 5432),
                "-U", parts.username or "postgres", parts.database or "postgres"]
        env = {**os.environ, **({"PGPASSWORD": parts.password} if parts.password else {})}
        done = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", done.stdout)
    latency = re.search(r"latency average = ([\d.]+) ms", done.stdout)
    failed = re.search(r"number of failed transactions: (\d+)", done.stdout)
    if done.returncode != 0 or tps is None or latency is None:
        raise BenchError(f"pgbench failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return {"tps": float(tps.group(1)), "latency_ms": float(latency.group(1)),
            "failed": float(failed.group(1)) if failed else 0.0}


def placement_writes(conn: Any, lines: list[tuple[str, int]], key: str,
                     mark: str = "?") -> int | None:
    """One placement's writes as one transaction on a DB-API connection that runs each
    statement as it comes (no transaction of its own): claim `key`, reserve each (SKU,
    quantity) at LOCATION with the conditional update (`lines` in SKU order: the lock order),
    insert the order, its lines, their allocations and stock movements, and its event. The
    order's number; None, rolled back, when a stock row has too little. `mark` is the
    driver's parameter marker (`?` for sqlite3, `%s` for psycopg)."""

    def run(sql: str, params: tuple[Any, ...] = ()) -> Any:
        return conn.execute(sql.replace("?", mark), params)

    now = datetime.now(UTC)
    stamp, today = now.isoformat(), now.date()
    promised = (today + timedelta(days=2)).isoformat()
    address = '{"line1": "Keizersgracht 1", "city": "Utrecht", "country": "NL"}'
    run("BEGIN IMMEDIATE" if mark == "?" else "BEGIN")
    run("INSERT INTO idempotency_keys (scope, key, request_hash, created_at) "
        "VALUES ('web', ?, ?, ?)", (key, uuid.uuid4().hex, stamp))
    for sku, quantity in lines:
        reserved = run("UPDATE stock_levels SET reserved = reserved + ?, updated_at = ? "
                       "WHERE sku = ? AND location_code = ? "
                       "AND on_hand - reserved - safety_stock >= ?",
                       (quantity, stamp, sku, LOCATION, quantity))
        if reserved.rowcount != 1:
            run("ROLLBACK")
            return None
    seq: int = run(
        "INSERT INTO orders (id, channel_code, external_reference, status, customer_email, "
        "customer_name, billing_address, shipping_address, tracking_token, payment_token, "
        "fulfilment_method, currency, lines_total, shipping_total, grand_total, tax_total, "
        "prices_include_tax, version, created_at, updated_at) VALUES (?, 'web', ?, "
        "'allocated', 'customer@example.com', 'Customer', ?, ?, ?, 'tok_bench', 'ship', "
        "'EUR', 3000, 495, 3495, 0, ?, 2, ?, ?) RETURNING seq",
        (str(uuid.uuid4()), str(uuid.uuid4()), address, address, uuid.uuid4().hex, True,
         stamp, stamp)).fetchone()[0]
    for n, (sku, quantity) in enumerate(lines, start=1):
        run("INSERT INTO order_lines (id, order_seq, line_no, sku, quantity, unit_price, "
            "line_total, tax_amount, dispatched, returned, cancelled, status) "
            "VALUES (?, ?, ?, ?, ?, 1000, 1000, 0, 0, 0, 0, 'allocated')",
            (f"line-{seq}-{n}", seq, n, sku, quantity))
    for n, (sku, quantity) in enumerate(lines, start=1):
        run("INSERT INTO allocations (order_seq, line_id, sku, location_code, quantity, "
            "source, status, ready_on, promised_on, decision, created_at) VALUES "
            "(?, ?, ?, ?, ?, 'stock', 'active', ?, ?, ?, ?)",
            (seq, f"line-{seq}-{n}", sku, LOCATION, quantity, today.isoformat(), promised,
             '{"rule": "priority", "location": "BENCH-WH-A"}', stamp))
        run("INSERT INTO stock_movements (sku, location_code, on_hand_delta, reserved_delta, "
            "reason, reference, actor, occurred_at) VALUES (?, ?, 0, ?, 'reservation', ?, "
            "'channel:web', ?)", (sku, LOCATION, quantity, f"order:{seq}", stamp))
    run("INSERT INTO events (id, stream, stream_id, type, actor, data, occurred_at) "
        "VALUES (?, 'order', ?, 'order.allocated', 'channel:web', ?, ?)",
        (str(uuid.uuid4()), str(seq), '{"status": "allocated", "lines": 3}', stamp))
    run("COMMIT")
    return seq


def sqlite_limit(path: str, skew: str, seconds: float) -> dict[str, float]:
    """The placement transaction in a tight loop on one connection: transactions/s."""
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in SQLITE_PRAGMAS:
        conn.execute(f"PRAGMA {pragma}")
    rng = random.Random(1)
    weights = [1 / (k ** ZIPF_S) for k in range(1, SKUS + 1)]
    done, began = 0, time.perf_counter()
    while time.perf_counter() - began < seconds:
        if skew == "zipf":
            picks = sorted(rng.choices(range(1, SKUS + 1), weights, k=3))
        else:
            picks = [rng.randint(1, 16), rng.randint(17, 33), rng.randint(34, 50)]
        lines = [(f"BENCH-{n:04d}", 1) for n in picks]
        if placement_writes(conn, lines, str(uuid.uuid4())) is None:
            raise BenchError(f"no stock left for one of {lines}")
        done += 1
    elapsed = time.perf_counter() - began
    conn.close()
    return {"tps": done / elapsed, "latency_ms": elapsed * 1000 / done, "failed": 0.0}


def seed(url: str) -> dict[str, int]:
    """Migrate and set up the benchmark's channel, catalogue and stock, through the API; the
    price of each SKU."""
    from fastapi.testclient import TestClient

    from ordermesh.adapters.db.migrate import upgrade
    from ordermesh.bootstrap import bootstrap
    from ordermesh.config import Settings
    from ordermesh.entrypoints.api.app import create_app
    from ordermesh.services.commands import CreateApiKey

    os.environ["ORDERMESH_RATE_LIMIT_ENABLED"] = "false"
    ordermesh = bootstrap(Settings(database_url=url))
    upgrade(ordermesh.engine)
    key = ordermesh.bus.handle(CreateApiKey("bench", "bench", "admin", None)).key
    with TestClient(create_app(ordermesh), base_url="https://bench.local") as client:
        client.headers["Authorization"] = f"Bearer {key}"
        _, prices = set_up_catalogue(client, SKUS)  # type: ignore[arg-type]
    ordermesh.engine.dispose()
    return prices


def main() -> int:
    from placement_cost import database

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--clients", default="1,8,32,64", help="PostgreSQL client counts")
    parser.add_argument("--skew", default="uniform,zipf")
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--postgres-url", default=os.environ.get(
        "ORDERMESH_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()
    clients = [int(c) for c in args.clients.split(",")]
    skews = args.skew.split(",")
    print("| database | skew | clients | transactions/s | mean latency ms | failed |")
    print("|---|---|---:|---:|---:|---:|")
    for kind in (["sqlite", "postgresql"] if args.db == "both" else [args.db]):
        with database(kind, args.postgres_url) as url:
            seed(url)
            for skew in skews:
                if kind == "sqlite":
                    got = sqlite_limit(make_url(url).database or "", skew, args.seconds)
                    print(f"| SQLite | {skew} | 1 | {got['tps']:.0f} | {got['latency_ms']:.2f} "
                          "| 0 |", flush=True)
                    continue
                for n in clients:
                    got = postgres_limit(url, n, skew, args.seconds)
                    print(f"| PostgreSQL | {skew} | {n} | {got['tps']:.0f} | "
                          f"{got['latency_ms']:.2f} | {got['failed']:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
