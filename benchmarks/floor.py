"""The floor: how fast the leanest Python HTTP service can place orders on this machine, beside
Ordermesh and the database's own limit, all in one run.

The limit (benchmarks/limit.py) is the database alone. Between it and Ordermesh stand two
things: serving HTTP from Python at all, and what Ordermesh does per order (validation, the
API key, idempotency, sourcing, tax, the answer). The floor measures the first alone:
benchmarks/floor_app.py, a bare ASGI application under uvicorn (the same server, worker
processes, thread pool and SQLite writer turns as Ordermesh), which makes exactly the limit's
writes for each `POST /api/v1/orders` and answers a few bytes. It is driven by the same
clients, bodies and phases as benchmarks/place_orders.py; then Ordermesh is run the same
way, and the limit is measured after each, so all three are of the same run.

    .venv/bin/python benchmarks/floor.py --db both --orders 1500 --clients 1,8,32 --skew uniform
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from figures import percentile
from limit import LOCATION, seed
from place_orders import (
    Options,
    Result,
    bench_database,
    drop_postgres,
    fresh_postgres,
    healthy,
    measure_limits,
    parse_args,
    place_orders,
    run_phases,
    running_server,
    summary,
)
from sqlalchemy import create_engine, text

FLOOR_DATABASE = "ordermesh_floor"
WARMUP = 200


@contextlib.contextmanager
def floor_database(kind: str, opts: Options, workdir: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'floor.db'}"
        return
    url = fresh_postgres(opts.postgres_url, FLOOR_DATABASE)
    try:
        yield url
    finally:
        if not opts.keep:
            drop_postgres(opts.postgres_url, FLOOR_DATABASE)


def reserved_matches(url: str, ordered: Counter[str]) -> str:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT sku, reserved FROM stock_levels "
                                     "WHERE location_code = :loc"), {"loc": LOCATION}).all()
    finally:
        engine.dispose()
    wrong = {sku: (reserved, ordered[sku]) for sku, reserved in rows if reserved != ordered[sku]}
    return "ok: reserved = ordered" if not wrong else f"mismatch (reserved, ordered): {wrong}"


def floor_phases(kind: str, opts: Options, workdir: Path) -> list[Result]:
    """Every phase of `opts` against the floor's server, then the limit on its database."""
    with floor_database(kind, opts, workdir) as url:
        print(f"[{kind}] the floor: setting up {url.rsplit('/', 1)[-1]}", flush=True)
        prices = seed(url)
        env = {**os.environ, "ORDERMESH_FLOOR_DATABASE_URL": url}
        log_path = workdir / f"floor-{kind}.log"
        command = [sys.executable, "-m", "uvicorn", "floor_app:app", "--app-dir",
                   str(Path(__file__).parent), "--no-access-log", "--log-level", "warning"]
        ordered: Counter[str] = Counter()
        run_id = uuid.uuid4().hex[:8]
        with running_server(env, opts.workers, log_path, command) as (base_url, group):
            warm = place_orders(base_url, "-", prices, WARMUP, max(opts.clients), opts.lines,
                                opts.seed + 7919, f"{run_id}w")
            ordered.update(warm.ordered)
            results = run_phases(kind, url, opts, base_url, "-", prices, group, log_path, run_id,
                                 ordered, server="the floor")
        check = reserved_matches(url, ordered)
        for result in results:
            result.stock_check = check
        measure_limits(kind, url, opts, results)
    return results


def compare(floor: list[Result], ordermesh: list[Result]) -> None:
    print("\n| database | SKUs | clients | floor orders/s | Ordermesh orders/s | Ordermesh / floor "
          "| floor p99 ms | Ordermesh p99 ms | floor share of its limit "
          "| Ordermesh share of its limit |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    ours = {(r.database, r.skew, r.clients): r for r in ordermesh}
    for f in floor:
        o = ours.get((f.database, f.skew, f.clients))
        if o is None:
            continue
        share = [f"{100 * r.orders_per_s / r.limit_tps:.0f} %" if r.limit_tps else "-"
                 for r in (f, o)]
        print(f"| {f.database} | {f.skew} | {f.clients} | {f.orders_per_s:.0f} "
              f"| {o.orders_per_s:.0f} | {o.orders_per_s / f.orders_per_s:.2f} "
              f"| {percentile(f.latencies_ms, 99):.1f} | {percentile(o.latencies_ms, 99):.1f} "
              f"| {share[0]} | {share[1]} |")


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    opts.limit = True
    floor: list[Result] = []
    ordermesh: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="ordermesh-floor-") as tmp:
        for kind in opts.databases:
            floor += floor_phases(kind, opts, Path(tmp))
            ordermesh += bench_database(kind, opts, Path(tmp))
    print("\n## The floor (a bare ASGI app making the limit's writes)")
    summary(floor)
    print("\n## Ordermesh")
    summary(ordermesh)
    compare(floor, ordermesh)
    return 0 if all(healthy(r) for r in floor + ordermesh) else 1


if __name__ == "__main__":
    sys.exit(main())
