"""Order capture throughput and latency of Ordermesh, measured over real HTTP.

For each database (SQLite, PostgreSQL) the script builds a fresh database, migrates it, issues
an admin key, starts `ordermesh serve` as a separate process, sets up a channel, a catalogue,
two ship-capable warehouses and ample stock through the API, and then places orders from many
concurrent clients. Every order must be answered 201 and allocated; afterwards the reserved
stock reported by the API must equal the quantity ordered.

    .venv/bin/python benchmarks/place_orders.py --orders 2000 --clients 32
    .venv/bin/python benchmarks/place_orders.py --clients 1,8,32,64 --skew uniform,zipf --limit

With several client counts and skews, one server per database takes every phase in turn (one
warm-up first); with --limit, the database's own ceiling for the same writes
(benchmarks/limit.py: pgbench at the same client count and skew, or a sqlite3 loop) is
measured on the same database after the server has stopped, and each phase is reported as a
share of it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
from figures import percentile
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

ROOT = Path(__file__).resolve().parents[1]
BENCH_DATABASE = "ordermesh_bench"
CHANNEL = "web"
CURRENCY = "EUR"
LOCATIONS = (("BENCH-WH-A", 200, 52.37, 4.90), ("BENCH-WH-B", 100, 51.92, 4.48))
STOCK_PER_LEVEL = 10_000_000
MAX_QUANTITY = 3
ERROR_SAMPLES = 10
LOG_TAIL_LINES = 60


ZIPF_S = 1.1  # hot products: the k-th most popular SKU is ordered in proportion to 1 / k^s


@dataclass
class Options:
    orders: int
    clients: list[int]
    lines: int
    products: int
    warmup: int
    workers: int
    databases: list[str]
    postgres_url: str
    seed: int
    keep: bool
    payments: bool = False
    skews: list[str] = field(default_factory=lambda: ["uniform"])
    limit: bool = False
    limit_seconds: int = 10


@dataclass
class Outcome:
    """What one phase of order placing saw; filled by the client threads under a lock."""

    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    failure_count: int = 0
    not_allocated: int = 0
    ordered: Counter[str] = field(default_factory=Counter)
    wall_s: float = 0.0
    client_cpu_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def success(self, latency_ms: float, lines: list[dict[str, Any]], body: Any) -> None:
        with self.lock:
            self.latencies_ms.append(latency_ms)
            self.statuses["201"] += 1
            for line in lines:
                self.ordered[line["sku"]] += line["quantity"]
            if not isinstance(body, dict) or body.get("status") != "allocated":
                self.not_allocated += 1

    def failure(self, status: str, latency_ms: float | None, detail: str) -> None:
        with self.lock:
            self.statuses[status] += 1
            self.failure_count += 1
            if latency_ms is not None:
                self.latencies_ms.append(latency_ms)
            if len(self.failures) < ERROR_SAMPLES:
                self.failures.append(f"{status}: {detail[:500]}")


@dataclass
class Result:
    database: str
    orders: int
    clients: int
    skew: str
    wall_s: float
    latencies_ms: list[float]
    errors: int
    statuses: Counter[str]
    not_allocated: int
    stock_check: str
    failures: list[str]
    log_path: Path
    cpu: CpuUse | None
    deadlocks: int | None = None  # PostgreSQL's count for the database during the phase
    limit_tps: float | None = None  # the database's own ceiling for the same writes

    @property
    def orders_per_s(self) -> float:
        return self.statuses["201"] / self.wall_s if self.wall_s else 0.0


class BenchError(RuntimeError):
    """The benchmark could not set up or run; the message says where."""


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--orders", type=int, default=2000, help="orders to place (measured)")
    parser.add_argument("--clients", default="32",
                        help="concurrent HTTP clients; a list (1,8,32,64) runs each in turn")
    parser.add_argument("--skew", default="uniform",
                        help="SKU popularity: uniform, zipf (hot products), or both as a list")
    parser.add_argument("--limit", action="store_true",
                        help="also measure the database's own ceiling for the same writes")
    parser.add_argument("--limit-seconds", type=int, default=10)
    parser.add_argument("--lines", type=int, default=3, help="lines per order (distinct SKUs)")
    parser.add_argument("--products", type=int, default=50, help="products in the catalogue")
    parser.add_argument("--warmup", type=int, default=100,
                        help="orders placed before measuring (not counted in the figures)")
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("ORDERMESH_BENCH_POSTGRES_URL",
                               "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="a PostgreSQL server URL; the database ordermesh_bench is dropped and recreated")
    parser.add_argument("--seed", type=int, default=1, help="random seed for the order mix")
    parser.add_argument("--payments", action="store_true",
                        help="tax the orders (NL VAT) and authorize each through the built-in "
                        "test gateway, as a webshop with cards does")
    parser.add_argument("--keep", action="store_true",
                        help="keep the databases and server logs after a successful run")
    args = parser.parse_args(argv)
    try:
        clients = [int(c) for c in args.clients.split(",")]
    except ValueError:
        parser.error("--clients takes whole numbers, e.g. 32 or 1,8,32,64")
    skews = args.skew.split(",")
    if set(skews) - {"uniform", "zipf"}:
        parser.error("--skew takes uniform, zipf or both (uniform,zipf)")
    if args.lines > args.products:
        parser.error("--lines cannot exceed --products: the SKUs of an order are distinct")
    if min(args.orders, *clients, args.lines, args.workers) < 1:
        parser.error("--orders, --clients, --lines and --workers must be at least 1")
    databases = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    return Options(args.orders, clients, args.lines, args.products, max(args.warmup, 0),
                   args.workers, databases, args.postgres_url, args.seed, args.keep,
                   args.payments, skews, args.limit, args.limit_seconds)


# --- databases ---------------------------------------------------------------------------


def _driver_url(url: str) -> str:
    """The psycopg 3 form of a plain postgresql:// URL, the driver Ordermesh installs."""
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain):]
    return url


def fresh_postgres(server_url: str, name: str = BENCH_DATABASE) -> str:
    """Drop and create a benchmark database on the server; return its URL."""
    drop_postgres(server_url, name, then_create=True)
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_postgres(server_url: str, name: str = BENCH_DATABASE, then_create: bool = False) -> None:
    engine = create_engine(_driver_url(server_url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            if then_create:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()


# --- the server --------------------------------------------------------------------------


def ordermesh_command() -> str:
    local = ROOT / ".venv" / "bin" / "ordermesh"
    if local.exists():
        return str(local)
    beside = Path(sys.executable).parent / "ordermesh"
    if beside.exists():
        return str(beside)
    found = shutil.which("ordermesh")
    if found is None:
        raise BenchError("the `ordermesh` command was not found; install the project first")
    return found


def run_cli(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run([ordermesh_command(), *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        raise BenchError(f"`ordermesh {' '.join(args)}` failed ({done.returncode}):\n"
                         f"{done.stdout}{done.stderr}")
    return done.stdout


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(could not read {path}: {exc})"


@contextlib.contextmanager
def running_server(env: dict[str, str], workers: int, log_path: Path,
                   command: Sequence[str] = ()) -> Iterator[tuple[str, int]]:
    """`ordermesh serve` (or `command`, which takes the same --host, --port and --workers) in
    its own process group, stopped (the whole group) on the way out.

    Yields the base URL and the process group id.
    """
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [*(command or [ordermesh_command(), "serve"]), "--host", "127.0.0.1",
             "--port", str(port), "--workers", str(workers)],
            env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_healthy(base_url, process, log_path)
            yield base_url, process.pid
        finally:
            stop_group(process)


def wait_healthy(base_url: str, process: subprocess.Popen[bytes], log_path: Path,
                 timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    with httpx.Client(base_url=base_url, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise BenchError(f"the server exited with {process.returncode}:\n"
                                 f"{tail(log_path)}")
            with contextlib.suppress(httpx.TransportError):
                if client.get("/health").status_code == 200:
                    return
            time.sleep(0.2)
    raise BenchError(f"the server did not answer /health within {timeout_s:.0f}s:\n"
                     f"{tail(log_path)}")


def stop_group(process: subprocess.Popen[bytes], grace_s: float = 20.0) -> None:
    """SIGTERM to the server's whole process group; SIGKILL for whatever is left after grace."""
    pgid = process.pid
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace_s)
    while time.monotonic() < deadline and _group_alive(pgid):
        time.sleep(0.1)
    if _group_alive(pgid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --- CPU accounting ----------------------------------------------------------------------


@dataclass(frozen=True)
class CpuSample:
    """CPU seconds used so far, read from /proc (Linux only)."""

    server: float  # the live processes of the Ordermesh server's process group
    database: float  # every PostgreSQL process on the machine, ended ones included
    machine_busy: float  # every process on the machine, all cores together
    machine_total: float  # busy and idle, all cores together


def cpu_sample(server_group: int) -> CpuSample | None:
    proc = Path("/proc")
    try:
        first = (proc / "stat").read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    hz = os.sysconf("SC_CLK_TCK")
    machine = [int(value) for value in first[1:]]
    idle = machine[3] + machine[4]  # idle and iowait
    stats: dict[int, tuple[str, int, int, int, int]] = {}  # name, parent, group, used, reaped
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            # The fields after the command name, which is in parentheses and may hold spaces.
            fields = stat[stat.rindex(")") + 2:].split()
            stats[int(entry.name)] = (
                stat[stat.index("(") + 1:stat.rindex(")")], int(fields[1]), int(fields[2]),
                int(fields[11]) + int(fields[12]),  # utime + stime
                int(fields[13]) + int(fields[14]))  # of its children that ended: cutime + cstime
        except (OSError, ValueError, IndexError):
            continue
    server = sum(used for _, _, group, used, _ in stats.values() if group == server_group)
    return CpuSample(server / hz, postgres_cpu(stats) / hz, (sum(machine) - idle) / hz,
                     sum(machine) / hz)


def postgres_cpu(stats: dict[int, tuple[str, int, int, int, int]]) -> int:
    """Clock ticks used by PostgreSQL on this machine: its postmaster, the processes it runs
    (backends, WAL writer, checkpointer) and those of them that ended (a backend whose client
    went away counts too)."""
    roots = {pid for pid, (name, parent, *_) in stats.items()
             if name == "postgres" and stats.get(parent, ("",))[0] != "postgres"}
    return (sum(stats[pid][3] + stats[pid][4] for pid in roots)
            + sum(used for name, parent, _, used, _ in stats.values() if parent in roots))


@dataclass(frozen=True)
class CpuUse:
    """Cores used on average while the orders were placed."""

    client: float
    server: float
    database: float
    machine: float
    cores: int

    @property
    def other(self) -> float:
        """Everything else on the machine: other programs and the kernel."""
        return max(0.0, self.machine - self.client - self.server - self.database)


def cpu_use(before: CpuSample | None, after: CpuSample | None, client_cpu_s: float,
            wall_s: float) -> CpuUse | None:
    if before is None or after is None or not wall_s:
        return None
    elapsed_total = after.machine_total - before.machine_total
    cores = os.cpu_count() or 1
    machine = (after.machine_busy - before.machine_busy) / elapsed_total * cores
    return CpuUse(client_cpu_s / wall_s, (after.server - before.server) / wall_s,
                  (after.database - before.database) / wall_s, machine, cores)


# --- setup through the API ----------------------------------------------------------------


def expect(response: httpx.Response, *statuses: int) -> Any:
    if response.status_code not in statuses:
        raise BenchError(f"{response.request.method} {response.request.url.path} answered "
                         f"{response.status_code}: {response.text[:1000]}")
    return response.json()


def address(city: str) -> dict[str, str]:
    return {"line1": "Keizersgracht 1", "city": city, "postal_code": "1015 CJ",
            "country": "NL"}


def set_up_catalogue(admin: httpx.Client, products: int,
                     payments: bool = False) -> tuple[str, dict[str, int]]:
    """A channel and its key, the products, two ship-capable warehouses and ample stock; with
    `payments`, Dutch VAT and the test gateway on the channel.

    Returns the channel key and the price of each SKU.
    """
    expect(admin.post("/api/v1/channels", json={"code": CHANNEL, "name": "Webshop"}), 201)
    if payments:
        expect(admin.patch(f"/api/v1/channels/{CHANNEL}", json={"payment_gateway": "test"}), 200)
        for tax_class, rate in (("standard", "0.21"), ("reduced", "0.09")):
            expect(admin.put("/api/v1/tax-rates", json={
                "tax_class": tax_class, "country": "NL", "rate": rate,
                "name": f"VAT {rate}"}), 200)
    issued = expect(admin.post("/api/v1/api-keys", json={
        "name": "bench-webshop", "role": "channel", "channel": CHANNEL}), 201)
    prices: dict[str, int] = {}
    for n in range(1, products + 1):
        sku = f"BENCH-{n:04d}"
        prices[sku] = 500 + 37 * n
        expect(admin.post("/api/v1/products", json={
            "sku": sku, "name": f"Benchmark product {n}", "price_amount": prices[sku],
            "currency": CURRENCY, "category": "benchmark"}), 201)
    for code, priority, lat, lon in LOCATIONS:
        expect(admin.post("/api/v1/locations", json={
            "code": code, "name": f"Warehouse {code[-1]}", "kind": "warehouse",
            "address": address("Amsterdam"), "latitude": lat, "longitude": lon,
            "can_ship": True, "priority": priority}), 201)
    counted_at = datetime.now(UTC).isoformat()
    updates = [{"sku": sku, "location": code, "mode": "absolute", "quantity": STOCK_PER_LEVEL,
                "source_reference": f"bench-count-{sku}-{code}", "counted_at": counted_at}
               for sku in prices for code, *_ in LOCATIONS]
    synced = expect(admin.post("/api/v1/stock-syncs", json={"updates": updates}), 200)
    if synced["applied"] != len(updates):
        raise BenchError(f"the stock sync did not apply every row: {synced}")
    return issued["key"], prices


# --- placing orders ------------------------------------------------------------------------


def pick_skus(rng: random.Random, skus: list[str], lines: int, skew: str) -> list[str]:
    """`lines` distinct SKUs: uniformly, or (zipf) the first ones of the catalogue far more
    often than the rest, as a shop's best sellers are."""
    if skew == "uniform":
        return rng.sample(skus, lines)
    weights = [1 / (rank ** ZIPF_S) for rank in range(1, len(skus) + 1)]
    picked: list[str] = []
    while len(picked) < lines:
        sku = rng.choices(skus, weights)[0]
        if sku not in picked:
            picked.append(sku)
    return picked


def order_body(n: int, run_id: str, seed: int, prices: dict[str, int],
               lines: int, skew: str = "uniform") -> dict[str, Any]:
    """Order number `n`: its SKUs and quantities depend only on the seed and `n`, so every
    run and every database sees the same mix whichever client sends it."""
    rng = random.Random(f"{seed}-{n}")
    skus = pick_skus(rng, sorted(prices), lines, skew)
    return {
        "external_reference": f"bench-{run_id}-{n}",
        "currency": CURRENCY,
        "customer": {"email": f"customer{n}@example.com", "name": f"Customer {n}"},
        "billing_address": address("Utrecht"),
        "shipping_address": address("Utrecht"),
        "payment_token": f"tok_bench_{run_id}_{n}",
        "fulfilment": {"method": "ship"},
        "lines": [{"sku": sku, "quantity": rng.randint(1, MAX_QUANTITY),
                   "unit_price": prices[sku]} for sku in skus],
        "shipping_total": 495,
    }


def place_orders(base_url: str, channel_key: str, prices: dict[str, int], count: int,
                 clients: int, lines: int, seed: int, run_id: str,
                 skew: str = "uniform") -> Outcome:
    """Place `count` orders from `clients` threads, each with its own HTTP connection."""
    outcome = Outcome()
    numbers = iter(range(count))
    numbers_lock = threading.Lock()
    start = threading.Barrier(min(clients, count) + 1)
    stopping = threading.Event()

    def client_loop() -> None:
        headers = {"Authorization": f"Bearer {channel_key}"}
        with httpx.Client(base_url=base_url, headers=headers, timeout=60.0) as client:
            start.wait()
            while not stopping.is_set():
                with numbers_lock:
                    n = next(numbers, None)
                if n is None:
                    return
                body = order_body(n, run_id, seed, prices, lines, skew)
                key = {"Idempotency-Key": str(uuid.uuid4())}
                began = time.perf_counter()
                try:
                    response = client.post("/api/v1/orders", json=body, headers=key)
                except httpx.HTTPError as exc:
                    outcome.failure(type(exc).__name__, None, repr(exc))
                    continue
                latency_ms = (time.perf_counter() - began) * 1000
                if response.status_code == 201:
                    outcome.success(latency_ms, body["lines"], _json_or_none(response))
                else:
                    outcome.failure(str(response.status_code), latency_ms, response.text)

    threads = [threading.Thread(target=client_loop, daemon=True)
               for _ in range(min(clients, count))]
    for thread in threads:
        thread.start()
    start.wait()
    began, cpu_began = time.perf_counter(), time.process_time()
    try:
        for thread in threads:
            thread.join()
    finally:
        stopping.set()  # on an interrupt, the clients stop before the server is stopped
    outcome.wall_s = time.perf_counter() - began
    outcome.client_cpu_s = time.process_time() - cpu_began
    return outcome


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def check_reserved(admin: httpx.Client, ordered: Counter[str], skus: Sequence[str]) -> str:
    """Compare the reserved stock the API reports with the quantity of the orders taken."""
    reserved: Counter[str] = Counter()
    for sku in skus:
        page = expect(admin.get("/api/v1/stock-levels", params={"sku": sku, "limit": 500}), 200)
        for level in page["items"]:
            reserved[sku] += level["reserved"]
    total_reserved, total_ordered = sum(reserved.values()), sum(ordered.values())
    off = sorted(sku for sku in skus if reserved[sku] != ordered[sku])
    if total_reserved == total_ordered and not off:
        return f"ok (reserved {total_reserved} = ordered {total_ordered})"
    return (f"MISMATCH (reserved {total_reserved}, ordered {total_ordered}; "
            f"SKUs off: {', '.join(off[:10]) or 'none'})")


# --- one database ------------------------------------------------------------------------


def deadlocks(url: str) -> int | None:
    """PostgreSQL's count of deadlocks detected in the benchmark database so far."""
    if not url.startswith("postgresql"):
        return None
    engine = create_engine(_driver_url(url))
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(
                "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
            )).scalar_one())
    finally:
        engine.dispose()


def bench_database(database: str, opts: Options, workdir: Path) -> list[Result]:
    env = {**os.environ, "ORDERMESH_LOG_LEVEL": os.environ.get("ORDERMESH_LOG_LEVEL", "WARNING"),
           # one key places every order here: the per-key order limit would cap the run
           "ORDERMESH_RATE_LIMIT_ENABLED": "false"}
    if database == "sqlite":
        env["ORDERMESH_DATABASE_URL"] = f"sqlite:///{workdir / 'ordermesh-bench.db'}"
    else:
        env["ORDERMESH_DATABASE_URL"] = fresh_postgres(opts.postgres_url)
    url = env["ORDERMESH_DATABASE_URL"]
    if opts.payments:
        env["ORDERMESH_TEST_GATEWAY_ENABLED"] = "true"
        env["ORDERMESH_TEST_GATEWAY_URL"] = f"sqlite:///{workdir / f'gateway-{database}.db'}"
    print(f"[{database}] migrating a fresh database", flush=True)
    run_cli(["migrate"], env)
    admin_key = run_cli(["create-key", "--name", "bench", "--role", "admin"],
                        env).strip().splitlines()[-1]
    log_path = workdir / f"server-{database}.log"
    print(f"[{database}] starting `ordermesh serve --workers {opts.workers}` "
          f"(log: {log_path})", flush=True)
    with running_server(env, opts.workers, log_path) as (base_url, server_group), httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {admin_key}"},
            timeout=60.0) as admin:
        channel_key, prices = set_up_catalogue(admin, opts.products, opts.payments)
        run_id = uuid.uuid4().hex[:8]
        ordered: Counter[str] = Counter()
        if opts.warmup:
            print(f"[{database}] warming up with {opts.warmup} orders", flush=True)
            warm = place_orders(base_url, channel_key, prices, opts.warmup, max(opts.clients),
                                opts.lines, opts.seed + 7919, f"{run_id}w")
            ordered.update(warm.ordered)
            if warm.failure_count:
                print(f"[{database}] warm-up had {warm.failure_count} failures: "
                      f"{warm.failures[:3]}", flush=True)
        results = run_phases(database, url, opts, base_url, channel_key, prices, server_group,
                             log_path, run_id, ordered)
        stock_check = check_reserved(admin, ordered, sorted(prices))
    for result in results:
        result.stock_check = stock_check
    if opts.limit:
        measure_limits(database, url, opts, results)
    return results


def run_phases(database: str, db_url: str, opts: Options, base_url: str, key: str,
               prices: dict[str, int], server_group: int, log_path: Path, run_id: str,
               ordered: Counter[str], server: str = "Ordermesh") -> list[Result]:
    """Every phase of `opts` (each SKU mix at each client count) against a running server, with
    its CPU and PostgreSQL's deadlocks; what was ordered is added to `ordered`."""
    results: list[Result] = []
    for skew in opts.skews:
        for clients in opts.clients:
            print(f"[{database}] {server}: {opts.orders} orders from {clients} clients, "
                  f"{skew} SKUs", flush=True)
            locked_before = deadlocks(db_url)
            cpu_before = cpu_sample(server_group)
            run = place_orders(base_url, key, prices, opts.orders, clients, opts.lines,
                               opts.seed, f"{run_id}-{skew}-{clients}", skew)
            cpu_after = cpu_sample(server_group)
            locked_after = deadlocks(db_url)
            ordered.update(run.ordered)
            results.append(Result(
                database, opts.orders, clients, skew, run.wall_s, run.latencies_ms,
                run.failure_count, run.statuses, run.not_allocated, "", run.failures,
                log_path, cpu_use(cpu_before, cpu_after, run.client_cpu_s, run.wall_s),
                None if locked_before is None or locked_after is None
                else locked_after - locked_before))
    return results


def measure_limits(database: str, url: str, opts: Options, results: list[Result]) -> None:
    """The database's own ceiling for the same writes, on the same database, with the server
    stopped: per phase for PostgreSQL (same clients and skew), per skew for SQLite (one
    writer)."""
    from limit import postgres_limit, sqlite_limit

    ceilings: dict[tuple[str, int], float] = {}
    for result in results:
        clients = result.clients if database == "postgresql" else 1
        if (result.skew, clients) not in ceilings:
            print(f"[{database}] the limit: {result.skew} SKUs, {clients} clients", flush=True)
            got = (postgres_limit(url, clients, result.skew, opts.limit_seconds)
                   if database == "postgresql"
                   else sqlite_limit(make_url(url).database or "", result.skew,
                                     opts.limit_seconds))
            ceilings[result.skew, clients] = got["tps"]
        result.limit_tps = ceilings[result.skew, clients]


# --- reporting -----------------------------------------------------------------------------


def report(result: Result) -> None:
    lat = result.latencies_ms
    print(f"\n== {result.database}, {result.skew} SKUs, {result.clients} clients ==")
    print(f"orders            {result.orders}")
    print(f"wall time         {result.wall_s:.2f} s")
    print(f"orders/s          {result.orders_per_s:.1f}")
    print(f"latency p50       {percentile(lat, 50):.1f} ms")
    print(f"latency p95       {percentile(lat, 95):.1f} ms")
    print(f"latency p99       {percentile(lat, 99):.1f} ms")
    print(f"latency max       {max(lat, default=float('nan')):.1f} ms")
    if result.cpu is not None:
        cpu = result.cpu
        print(f"CPU, cores used   {cpu.machine:.2f} of {cpu.cores} busy: "
              f"clients {cpu.client:.2f}, Ordermesh server {cpu.server:.2f}, "
              f"PostgreSQL {cpu.database:.2f}, other {cpu.other:.2f}")
        print(f"server CPU/order  {cpu.server * result.wall_s / result.orders * 1000:.1f} ms")
    print(f"status codes      {dict(sorted(result.statuses.items()))}")
    print(f"errors            {result.errors}")
    print(f"not allocated     {result.not_allocated}")
    print(f"reserved check    {result.stock_check}")
    if result.failures:
        print("failures (first ones):")
        for failure in result.failures:
            print(f"  {failure}")
        print(f"server log tail ({result.log_path}):\n{tail(result.log_path)}")


def summary(results: list[Result]) -> None:
    print("\n| database | skew | clients | orders | orders/s | p50 ms | p95 ms | p99 ms | errors "
          "| deadlocks | server CPU ms/order | database CPU ms/order | limit tx/s | of limit "
          "| reserved |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in results:
        lat = r.latencies_ms
        check = "ok" if r.stock_check.startswith("ok") else "mismatch"
        server_ms = database_ms = "-"
        if r.cpu is not None and r.orders:
            server_ms = f"{r.cpu.server * r.wall_s / r.orders * 1000:.1f}"
            if r.database == "postgresql":
                database_ms = f"{r.cpu.database * r.wall_s / r.orders * 1000:.1f}"
        limit = f"{r.limit_tps:.0f}" if r.limit_tps else "-"
        share = f"{100 * r.orders_per_s / r.limit_tps:.0f} %" if r.limit_tps else "-"
        locks = "-" if r.deadlocks is None else str(r.deadlocks)
        print(f"| {r.database} | {r.skew} | {r.clients} | {r.orders} | {r.orders_per_s:.1f} "
              f"| {percentile(lat, 50):.1f} | {percentile(lat, 95):.1f} "
              f"| {percentile(lat, 99):.1f} | {r.errors} | {locks} | {server_ms} "
              f"| {database_ms} | {limit} | {share} | {check} |")


def healthy(result: Result) -> bool:
    return not result.errors and not result.not_allocated and result.stock_check.startswith("ok")


def _exit_on_sigterm(signum: int, _frame: FrameType | None) -> None:
    """SIGTERM unwinds like Ctrl-C does, so the server is stopped on the way out."""
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    load = os.getloadavg()[0]
    cores = os.cpu_count() or 1
    print(f"load average before the run: {load:.2f} on {cores} cores", flush=True)
    if load > cores / 2:
        print("warning: the machine is already busy; the figures will be lower than it can do",
              flush=True)
    results: list[Result] = []
    failed = False
    for database in opts.databases:
        workdir = Path(tempfile.mkdtemp(prefix=f"ordermesh-bench-{database}-"))
        keep = opts.keep
        try:
            got = bench_database(database, opts, workdir)
        except (KeyboardInterrupt, SystemExit):
            print(f"\n[{database}] interrupted; the server is stopped; kept {workdir}",
                  file=sys.stderr)
            raise
        except (BenchError, httpx.HTTPError, OSError, subprocess.SubprocessError,
                SQLAlchemyError) as exc:
            print(f"[{database}] the benchmark failed: {exc}", file=sys.stderr)
            for log in workdir.glob("server-*.log"):
                print(f"server log tail ({log}):\n{tail(log)}", file=sys.stderr)
            print(f"[{database}] kept {workdir}", file=sys.stderr)
            failed = True
            continue
        results.extend(got)
        for result in got:
            report(result)
            if not healthy(result):
                failed = keep = True
        if keep:
            print(f"[{database}] kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
            if database == "postgresql":
                drop_postgres(opts.postgres_url)
    if results:
        summary(results)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
