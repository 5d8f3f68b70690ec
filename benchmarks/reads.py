"""Reads at scale, and the cost of placing an order as the history grows.

For each database the script loads a realistic history with `history.py` (100,000 SKUs x 50
locations, orders over two years) and grows the same database step by step to each of
`--sizes` orders, running ANALYZE after each step. At each size it starts `ordermesh serve`
(one worker, rate limits off) on that database and measures, from one client with one
keep-alive connection, after `--warmup` calls not counted, `--calls` calls of each read:

- availability of a random 20-line cart (`POST /api/v1/availability`),
- the order list's first page, and a deep page through a cursor (`GET /api/v1/orders`),
- the order list searched by e-mail, external reference, status + channel and a day's dates,
  and an order looked up by its number (`GET /api/v1/orders/OM-...`),
- the timeline of a random order (`GET /api/v1/orders/{id}/events`),

the console's order search by SKU and by e-mail (the query the search page runs, called
in-process on a read-only connection: the console needs a signed-in browser), and then the
latency of placing `--orders` orders one after the other (`POST /api/v1/orders`): the cost per
order at that size. Figures are nearest-rank percentiles of per-call latency, in ms.

    .venv/bin/python benchmarks/reads.py --sizes 10000,100000,1000000 --out /tmp/reads.json
    .venv/bin/python benchmarks/reads.py --plot /tmp/reads.json \\
        --svg docs/benchmarks/reads-cost-curve.svg
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from figures import percentile
from history import Shape, analyze, build, email, grow, order_count, sku
from place_orders import BenchError, cpu_sample, fresh_postgres, run_cli, running_server
from sqlalchemy import select, update
from sqlalchemy.engine import Engine, make_url

from ordermesh.adapters.db import console_queries as cq
from ordermesh.adapters.db import tables as t
from ordermesh.adapters.db.engine import make_engine
from ordermesh.adapters.db.migrate import upgrade
from ordermesh.entrypoints.api.pagination import encode_cursor

PLACEMENT_SKUS = [sku(n) for n in range(40)]  # the most popular SKUs: the busiest rows
PLACEMENT_CHANNEL = "marketplace"  # paid outside Ordermesh: no gateway in the measurement
WAREHOUSE = "LOC-000"


def customer(rng: random.Random, shape: Shape) -> int:
    return int(shape.customers * rng.random() ** 2)  # as history.py draws them


def timed(calls: int, warmup: int, call: Callable[[], None]) -> dict[str, float]:
    for _ in range(warmup):
        call()
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return {"p50": percentile(times, 50), "p95": percentile(times, 95),
            "p99": percentile(times, 99), "mean": statistics.fmean(times)}


def sample_orders(engine: Engine, size: int, count: int, rng: random.Random
                  ) -> list[dict[str, Any]]:
    o = t.orders.c
    seqs = rng.sample(range(1, size + 1), min(count, size))
    with engine.connect() as conn:
        rows = conn.execute(select(o.seq, o.id, o.channel_code, o.external_reference,
                                   o.customer_email, o.created_at).where(o.seq.in_(seqs)))
        return [dict(row._mapping) for row in rows]


def ok(response: httpx.Response, *statuses: int) -> Any:
    if response.status_code not in (statuses or (200,)):
        raise BenchError(f"{response.request.method} {response.request.url} answered "
                         f"{response.status_code}: {response.text[:500]}")
    return response.json()


def measure_reads(base_url: str, admin_key: str, engine: Engine, size: int, shape: Shape,
                  opts: argparse.Namespace) -> dict[str, dict[str, float]]:
    rng = random.Random(f"reads-{size}")
    orders = sample_orders(engine, size, 500, rng)
    with_reference = [o for o in orders if o["external_reference"]]
    zipf_skus = [sku(int(shape.skus ** rng.random()) - 1) for _ in range(500)]  # log-uniform
    results: dict[str, dict[str, float]] = {}
    headers = {"Authorization": f"Bearer {admin_key}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=60.0) as client:

        def get(path: str, **params: Any) -> Callable[[], None]:
            return lambda: ok(client.get(path, params=params or None))

        def cart() -> None:
            lines = [{"sku": sku(n), "quantity": rng.randint(1, 3)}
                     for n in rng.sample(range(shape.skus), 20)]
            ok(client.post("/api/v1/availability", json={
                "lines": lines, "channel": "web", "currency": "GBP",
                "destination": {"latitude": rng.uniform(50.5, 55.5),
                                "longitude": rng.uniform(-4.5, 1.5)}}))

        def varying(make: Callable[[], Callable[[], None]]) -> Callable[[], None]:
            return lambda: make()()

        cases: dict[str, Callable[[], None]] = {
            "availability, 20-line cart": cart,
            "order list, first page": get("/api/v1/orders", limit=50),
            "order list, deep page (cursor)": varying(lambda: get(
                "/api/v1/orders", limit=50, cursor=encode_cursor(rng.randrange(2, size)))),
            "search by e-mail": varying(lambda: get(
                "/api/v1/orders", customer_email=email(customer(rng, shape)))),
            "search by e-mail, heaviest customer": get(
                "/api/v1/orders", customer_email=email(0)),
            "search by order number": varying(lambda: get(
                f"/api/v1/orders/OM-{rng.choice(orders)['seq']:06d}")),
            "search by external reference": varying(lambda: get(
                "/api/v1/orders", external_reference=rng.choice(with_reference)[
                    "external_reference"])),
            "search by status + channel (rare)": get("/api/v1/orders", status="on_hold",
                                                     channel="app"),
            "search by status + channel (common)": get("/api/v1/orders", status="delivered",
                                                       channel="marketplace"),
            "search by dates (one day)": varying(lambda: _one_day(get, rng.choice(orders))),
            "order timeline": varying(lambda: get(
                f"/api/v1/orders/{rng.choice(orders)['id']}/events")),
        }
        for name, call in cases.items():
            results[name] = timed(opts.calls, opts.warmup, call)
            _show(name, results[name])

    def console(q: Callable[[], str]) -> Callable[[], None]:
        def call() -> None:
            with engine.connect().execution_options(read_only=True) as conn:
                cq.search_orders(conn, cq.OrderSearch(q=q()), None, None, 50)
        return call

    for name, q in (("console search by SKU", lambda: rng.choice(zipf_skus)),
                    ("console search by SKU, most popular", lambda: sku(0)),
                    ("console search by e-mail", lambda: email(customer(rng, shape))),
                    ("console search by order number",
                     lambda: f"OM-{rng.choice(orders)['seq']:06d}")):
        results[name] = timed(opts.calls, opts.warmup, console(q))
        _show(name, results[name])
    return results


def _one_day(get: Callable[..., Callable[[], None]], order: dict[str, Any]) -> Callable[[], None]:
    day = order["created_at"].replace(hour=0, minute=0, second=0, microsecond=0)
    return get("/api/v1/orders", created_from=day.isoformat(),
               created_to=(day + timedelta(days=1)).isoformat())


def _show(name: str, figures: dict[str, float]) -> None:
    print(f"    {name:<40} " + "  ".join(f"{k} {v:7.2f}" for k, v in figures.items()),
          flush=True)


def stock_for_placing(engine: Engine) -> None:
    """Ample stock of the placement SKUs at the first warehouse, so no order is short."""
    s = t.stock_levels.c
    with engine.begin() as conn:
        conn.execute(update(t.stock_levels).where(
            s.sku.in_(PLACEMENT_SKUS), s.location_code == WAREHOUSE).values(
                on_hand=10_000_000, reserved=0, safety_stock=0))


def cpu_seconds(server_group: int, database: str | None) -> tuple[float, float]:
    """CPU seconds used so far by the server's process group and, with a PostgreSQL
    `database`, by PostgreSQL (every process of it, ended backends included). Unlike latency,
    this hardly moves with the load other programs put on the machine."""
    sample = cpu_sample(server_group)
    if sample is None:
        return 0.0, 0.0
    return sample.server, sample.database if database else 0.0


def measure_placing(base_url: str, channel_key: str, size: int, shape: Shape,
                    opts: argparse.Namespace, server_group: int, database: str | None
                    ) -> dict[str, float]:
    rng = random.Random(f"place-{size}")
    run = uuid.uuid4().hex[:8]
    address = {"line1": "1 Station Road", "city": "Leeds", "postal_code": "LS1 4AP",
               "country": "GB"}
    headers = {"Authorization": f"Bearer {channel_key}"}
    prices = {code: 200 + (int(code[4:]) * 7919) % 19_800 for code in PLACEMENT_SKUS}
    count = iter(range(10**9))
    with httpx.Client(base_url=base_url, headers=headers, timeout=60.0) as client:

        def place() -> None:
            n = next(count)
            who = customer(rng, shape)
            lines = [{"sku": code, "quantity": rng.randint(1, 3), "unit_price": prices[code]}
                     for code in rng.sample(PLACEMENT_SKUS, rng.randint(1, 3))]
            body = {"external_reference": f"reads-{run}-{n}", "currency": "GBP",
                    "customer": {"email": email(who), "name": f"Customer {who}"},
                    "billing_address": address, "shipping_address": address,
                    "fulfilment": {"method": "ship"}, "lines": lines, "shipping_total": 495}
            placed = ok(client.post("/api/v1/orders", json=body,
                                    headers={"Idempotency-Key": f"reads-{run}-{n}"}), 201)
            if placed["status"] != "allocated":
                raise BenchError(f"an order was not allocated: {placed['status']}")

        for _ in range(opts.warmup):
            place()
        cpu_before = cpu_seconds(server_group, database)
        figures = timed(opts.orders, 0, place)
        cpu_after = cpu_seconds(server_group, database)
    figures["server_cpu_ms"] = (cpu_after[0] - cpu_before[0]) * 1000 / opts.orders
    figures["database_cpu_ms"] = (cpu_after[1] - cpu_before[1]) * 1000 / opts.orders
    _show(f"place an order ({opts.orders}, one client)", figures)
    return figures


def bench(database: str, opts: argparse.Namespace, workdir: Path) -> list[dict[str, Any]]:
    shape = Shape(opts.skus, opts.locations, opts.customers, max(opts.sizes[-1], 1_000_000),
                  opts.seed)
    env = {**os.environ, "ORDERMESH_LOG_LEVEL": "WARNING",
           "ORDERMESH_RATE_LIMIT_ENABLED": "false"}
    if opts.reuse:
        url = opts.reuse
        engine = make_engine(url)
        upgrade(engine)  # a later migration (new indexes) applies to the kept history
        analyze(engine)
        print(f"[{database}] reusing {url}: {order_count(engine):,} orders", flush=True)
    elif database == "sqlite":
        url = f"sqlite:///{workdir / 'reads.db'}"
    else:
        url = make_url(opts.postgres_url).set(database=opts.pg_database).render_as_string(
            hide_password=False)
        fresh_postgres(opts.postgres_url, opts.pg_database)
    if not opts.reuse:
        print(f"[{database}] loading the network and {opts.sizes[0]:,} orders", flush=True)
        engine, network_s, orders_s = build(url, opts.sizes[0], shape)
        print(f"[{database}] network in {network_s:.0f} s, {opts.sizes[0]:,} orders in "
              f"{orders_s:.0f} s", flush=True)
    env["ORDERMESH_DATABASE_URL"] = url
    admin_key = run_cli(["create-key", "--name", "reads-bench", "--role", "admin"],
                        env).strip().splitlines()[-1]
    rows: list[dict[str, Any]] = []
    channel_key = ""
    for size in opts.sizes:
        grow_s = 0.0
        if order_count(engine) < size:
            print(f"[{database}] growing to {size:,} orders", flush=True)
            grow_s = grow(engine, size, shape)
            print(f"[{database}] grown in {grow_s:.0f} s", flush=True)
        stock_for_placing(engine)
        analyze(engine)
        print(f"[{database}] {size:,} orders; load average {os.getloadavg()[0]:.2f}", flush=True)
        log = workdir / f"server-{database}-{size}.log"
        with running_server(env, 1, log) as (base_url, server_group):
            if not channel_key:
                with httpx.Client(base_url=base_url, timeout=60.0, headers={
                        "Authorization": f"Bearer {admin_key}"}) as admin:
                    channel_key = ok(admin.post("/api/v1/api-keys", json={
                        "name": "reads-bench", "role": "channel",
                        "channel": PLACEMENT_CHANNEL}), 201)["key"]
            load_before = os.getloadavg()[0]
            reads = ({} if opts.only_placing
                     else measure_reads(base_url, admin_key, engine, size, shape, opts))
            placing = measure_placing(base_url, channel_key, size, shape, opts, server_group,
                                      make_url(url).database if database == "postgresql"
                                      else None)
        rows.append({"database": database, "orders": size, "grow_s": grow_s,
                     "load": [load_before, os.getloadavg()[0]], "reads": reads,
                     "place": placing, "at": datetime.now(UTC).isoformat()})
    engine.dispose()
    return rows


LABELS = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
COLOURS = {"sqlite": "#0072B2", "postgresql": "#D55E00"}


def plot(results: list[dict[str, Any]], svg: Path) -> None:
    """The cost of placing an order against the orders already held: latency (p50, p95) on the
    left, CPU per order (server, and server + PostgreSQL) on the right."""
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "ordermesh-reads"
    matplotlib.rcParams["svg.fonttype"] = "none"
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10.0, 4.2))
    latency, cpu = figure.subplots(1, 2)
    for database in ("sqlite", "postgresql"):
        rows = sorted((r for r in results if r["database"] == database),
                      key=lambda r: r["orders"])
        if not rows:
            continue
        sizes, colour, label = [r["orders"] for r in rows], COLOURS[database], LABELS[database]
        for pct, style in (("p50", "-o"), ("p95", "--s")):
            latency.plot(sizes, [r["place"][pct] for r in rows], style, color=colour,
                         label=f"{label} {pct}")
        measured = [r for r in rows if "server_cpu_ms" in r["place"]]
        if measured:
            cpu.plot([r["orders"] for r in measured],
                     [r["place"]["server_cpu_ms"] + r["place"]["database_cpu_ms"]
                      for r in measured], "-o", color=colour, label=f"{label}")
    for axes, title, unit in ((latency, "Latency of POST /api/v1/orders", "ms per order"),
                              (cpu, "CPU per order (server + PostgreSQL)", "CPU ms per order")):
        axes.set_xscale("log")
        axes.set_xlabel("orders already in the database")
        axes.set_ylabel(unit)
        axes.set_title(title)
        axes.set_ylim(bottom=0)
        axes.grid(True, alpha=0.3)
        if axes.get_legend_handles_labels()[0]:
            axes.legend()
    figure.tight_layout()
    svg.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(svg, format="svg", metadata={"Date": None})
    print(f"wrote {svg}")


def table(results: list[dict[str, Any]]) -> None:
    """The figures as Markdown tables: p50 / p95 per read, database and size; then placing."""
    measured = [r for r in results if r["reads"]]
    if measured:
        keys = [(LABELS[r["database"]], r["orders"]) for r in measured]
        print("| read (p50 / p95 ms) | " + " | ".join(f"{db} {n:,}" for db, n in keys) + " |")
        print("| --- |" + " ---: |" * len(keys))
        for name in measured[0]["reads"]:
            cells = [f"{r['reads'][name]['p50']:.1f} / {r['reads'][name]['p95']:.1f}"
                     for r in measured]
            print(f"| {name} | " + " | ".join(cells) + " |")
    print("\n| database | orders | p50 ms | p95 ms | server CPU ms | PostgreSQL CPU ms | load |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in sorted(results, key=lambda r: (r["database"] != "sqlite", r["orders"])):
        place = r["place"]
        cpu = (f"{place['server_cpu_ms']:.1f} | {place['database_cpu_ms']:.1f}"
               if "server_cpu_ms" in place else "n/a | n/a")
        print(f"| {LABELS[r['database']]} | {r['orders']:,} | {place['p50']:.1f} | "
              f"{place['p95']:.1f} | {cpu} | {r['load'][0]:.1f}-{r['load'][1]:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000",
                        type=lambda v: sorted(int(n) for n in v.split(",")))
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--skus", type=int, default=100_000)
    parser.add_argument("--locations", type=int, default=50)
    parser.add_argument("--customers", type=int, default=300_000)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--postgres-url", default=os.environ.get(
        "ORDERMESH_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--pg-database", default="ordermesh_reads_bench")
    parser.add_argument("--workdir", help="where the SQLite database and logs go (kept)")
    parser.add_argument("--reuse", help="measure a database an earlier run kept (one --db)")
    parser.add_argument("--only-placing", action="store_true",
                        help="measure only the cost of placing orders at each size")
    parser.add_argument("--out", help="write the figures as JSON here")
    parser.add_argument("--plot", help="draw the cost curve from these JSON files (comma "
                        "separated), measure nothing")
    parser.add_argument("--svg", default="docs/benchmarks/reads-cost-curve.svg")
    opts = parser.parse_args()
    if opts.plot:
        kept = [row for path in opts.plot.split(",") for row in json.loads(Path(path).read_text())]
        table(kept)
        plot(kept, Path(opts.svg))
        return
    workdir = Path(opts.workdir or tempfile.mkdtemp(prefix="ordermesh-reads-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"work directory: {workdir}")
    results: list[dict[str, Any]] = []
    for database in (["sqlite", "postgresql"] if opts.db == "both" else [opts.db]):
        results += bench(database, opts, workdir)
        if opts.out:
            Path(opts.out).write_text(json.dumps(results, indent=1))
    table(results)


if __name__ == "__main__":
    main()
