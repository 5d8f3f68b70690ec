"""Ordermesh scaled out on PostgreSQL: several API processes and several workers at once.

For each arrangement (`--configs 1x1,3x3`: API processes x worker processes) the script builds
a fresh PostgreSQL database (`ordermesh_scaleout`), migrates it, starts the API processes
(`ordermesh serve --workers 1`, each on its own port; the client threads are spread over them
round-robin, which is the load balancer here) and the `ordermesh worker` processes, a webhook
receiver on this machine (it verifies every signature and records every `webhook-id`) and one
subscription to every order event. Then it places orders from many client threads and waits
until every order event has been delivered.

Measured: orders/s and latency of placing, events delivered per second end to end (from the
first order placed to the last event received), the lag after the last order, CPU per role,
and the memory (VmHWM = peak RSS, VmRSS = RSS at the end) of every API and worker process.
Checked: every event relayed, exactly one delivery row per (subscription, event), each
delivered; the receiver saw every event id; repeats (the same `webhook-id` received again) are
counted and reported separately, since deliveries are at least once.

    .venv/bin/python benchmarks/scale_out.py --orders 2000 --clients 24 --configs 1x1,3x3
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
from figures import percentile
from place_orders import (
    BenchError,
    _driver_url,
    drop_postgres,
    expect,
    free_port,
    fresh_postgres,
    order_body,
    ordermesh_command,
    run_cli,
    set_up_catalogue,
    stop_group,
    tail,
    wait_healthy,
)
from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from standardwebhooks.webhooks import Webhook

from ordermesh.adapters.db import tables as t

ROOT = Path(__file__).resolve().parents[1]
DATABASE = "ordermesh_scaleout"
EVENT_TYPES = ("order.*",)


@dataclass(frozen=True)
class Arrangement:
    apis: int
    workers: int

    @property
    def label(self) -> str:
        return f"{self.apis} API + {self.workers} worker{'s' if self.workers > 1 else ''}"


@dataclass
class Options:
    orders: int
    clients: int
    lines: int
    products: int
    warmup: int
    arrangements: list[Arrangement]
    postgres_url: str
    relay_seconds: float
    batch: int
    drain_timeout: float
    seed: int
    keep: bool


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--orders", type=int, default=2000, help="orders to place (measured)")
    parser.add_argument("--clients", type=int, default=24, help="concurrent HTTP clients")
    parser.add_argument("--lines", type=int, default=3, help="lines per order (distinct SKUs)")
    parser.add_argument("--products", type=int, default=50, help="products in the catalogue")
    parser.add_argument("--warmup", type=int, default=60,
                        help="orders placed (and delivered) before measuring")
    parser.add_argument("--configs", default="1x1,3x3",
                        help="arrangements to run, API processes x workers, comma-separated")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("ORDERMESH_BENCH_POSTGRES_URL",
                               "postgresql://postgres@127.0.0.1:5432/postgres"),
        help=f"a PostgreSQL server URL; the database {DATABASE} is dropped and recreated")
    parser.add_argument("--relay-seconds", type=float, default=0.5,
                        help="ORDERMESH_WORKER_RELAY_SECONDS of the workers (default of "
                        "Ordermesh: 2)")
    parser.add_argument("--batch", type=int, default=200,
                        help="ORDERMESH_WORKER_BATCH_SIZE of the workers")
    parser.add_argument("--drain-timeout", type=float, default=600.0,
                        help="seconds to wait for every event to be delivered")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true",
                        help="keep the database and the logs after a successful run")
    args = parser.parse_args(argv)
    arrangements = []
    for item in args.configs.split(","):
        try:
            apis, workers = (int(n) for n in item.lower().split("x"))
        except ValueError:
            parser.error(f"--configs: {item!r} is not like 3x3")
        if min(apis, workers) < 1:
            parser.error("--configs: at least one API process and one worker")
        arrangements.append(Arrangement(apis, workers))
    if args.lines > args.products:
        parser.error("--lines cannot exceed --products")
    if min(args.orders, args.clients, args.lines) < 1:
        parser.error("--orders, --clients and --lines must be at least 1")
    return Options(args.orders, args.clients, args.lines, args.products, max(args.warmup, 0),
                   arrangements, args.postgres_url, args.relay_seconds, args.batch,
                   args.drain_timeout, args.seed, args.keep)


# --- the database ----------------------------------------------------------------------------


# --- the webhook receiver ----------------------------------------------------------------------


class Receiver:
    """A threaded HTTP endpoint on 127.0.0.1 that verifies each webhook's signature (Standard
    Webhooks) and records its `webhook-id` and the event id in its body, with the time it came."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.webhook_ids: Counter[str] = Counter()
        self.event_ids: Counter[str] = Counter()
        self.first_seen: dict[str, float] = {}
        self.bad_signatures = 0
        self.mismatched_ids = 0  # a webhook-id that is not the id of the event in the body
        self.verifier: Webhook | None = None
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: the senders keep their connections

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.take({k.lower(): v for k, v in self.headers.items()}, body)
                self.send_response(204)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def take(self, headers: dict[str, str], body: bytes) -> None:
        now = time.perf_counter()
        verifier = self.verifier
        try:
            message = (verifier.verify(body, headers) if verifier is not None
                       else json.loads(body))
        except Exception:  # any refusal of the library is a bad signature
            with self.lock:
                self.bad_signatures += 1
            return
        event_id = str(message["data"]["id"])
        webhook_id = headers.get("webhook-id", "")
        with self.lock:
            self.webhook_ids[webhook_id] += 1
            self.event_ids[event_id] += 1
            self.first_seen.setdefault(event_id, now)
            if webhook_id != event_id:
                self.mismatched_ids += 1

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- processes -----------------------------------------------------------------------------------


@dataclass
class Process:
    role: str  # "api" or "worker"
    popen: subprocess.Popen[bytes]
    log_path: Path


def start(role: str, args: list[str], env: dict[str, str], log_path: Path) -> Process:
    log = log_path.open("w")
    try:
        popen = subprocess.Popen([ordermesh_command(), *args], env=env, cwd=ROOT, stdout=log,
                                 stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        log.close()  # the child holds its own copy
    return Process(role, popen, log_path)


def proc_status(pid: int) -> dict[str, int]:
    """VmHWM and VmRSS of a process in KiB, from /proc (Linux only); empty if gone."""
    found: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                found[key] = int(value.split()[0])
    return found


def cpu_seconds(pids: Sequence[int]) -> float:
    """CPU seconds (user + system) used so far by the live processes among `pids`."""
    hz, used = os.sysconf("SC_CLK_TCK"), 0
    for pid in pids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = Path(f"/proc/{pid}/stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            used += int(fields[11]) + int(fields[12])
    return used / hz


def database_backends() -> list[int]:
    """The PostgreSQL backends connected to the benchmark database (by their process title)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if DATABASE.encode() in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
    return pids


# --- placing orders ------------------------------------------------------------------------------


@dataclass
class Placed:
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    per_api: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    started: float = 0.0
    wall_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


def place(base_urls: list[str], channel_key: str, prices: dict[str, int], count: int,
          clients: int, lines: int, seed: int, run_id: str) -> Placed:
    """`count` orders from `clients` threads; client i talks to API process i mod N."""
    placed = Placed()
    numbers = iter(range(count))
    numbers_lock = threading.Lock()
    threads_count = min(clients, count)
    barrier = threading.Barrier(threads_count + 1)

    def client_loop(i: int) -> None:
        base_url = base_urls[i % len(base_urls)]
        headers = {"Authorization": f"Bearer {channel_key}"}
        with httpx.Client(base_url=base_url, headers=headers, timeout=120.0) as client:
            barrier.wait()
            while True:
                with numbers_lock:
                    n = next(numbers, None)
                if n is None:
                    return
                body = order_body(n, run_id, seed, prices, lines)
                began = time.perf_counter()
                try:
                    answer = client.post("/api/v1/orders", json=body,
                                         headers={"Idempotency-Key": str(uuid.uuid4())})
                except httpx.HTTPError as exc:
                    with placed.lock:
                        placed.statuses[type(exc).__name__] += 1
                        placed.failures.append(repr(exc)[:300])
                    continue
                latency_ms = (time.perf_counter() - began) * 1000
                with placed.lock:
                    placed.latencies_ms.append(latency_ms)
                    placed.statuses[str(answer.status_code)] += 1
                    placed.per_api[base_url] += 1
                    if answer.status_code != 201 and len(placed.failures) < 10:
                        placed.failures.append(f"{answer.status_code}: {answer.text[:300]}")

    threads = [threading.Thread(target=client_loop, args=(i,), daemon=True)
               for i in range(threads_count)]
    for thread in threads:
        thread.start()
    barrier.wait()
    placed.started = time.perf_counter()
    for thread in threads:
        thread.join()
    placed.wall_s = time.perf_counter() - placed.started
    return placed


# --- checking the outbox ---------------------------------------------------------------------------


def order_event_ids(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(select(t.events.c.id).where(
            t.events.c.type.like("order.%"))).scalars())


def outbox_state(engine: Engine) -> dict[str, int]:
    e, d, a = t.events, t.webhook_deliveries, t.webhook_attempts
    with engine.connect() as conn:
        def one(query: Any) -> int:
            return int(conn.execute(query).scalar_one())

        return {
            "events": one(select(func.count()).select_from(e)),
            "unrelayed": one(select(func.count()).select_from(e)
                             .where(e.c.published_at.is_(None))),
            "order_events": one(select(func.count()).select_from(e)
                                .where(e.c.type.like("order.%"))),
            "deliveries": one(select(func.count()).select_from(d)),
            "delivered": one(select(func.count()).select_from(d)
                             .where(d.c.status == "delivered")),
            "failed": one(select(func.count()).select_from(d).where(d.c.status == "failed")),
            "attempts": one(select(func.count()).select_from(a)),
            "duplicate_delivery_rows": one(select(func.count()).select_from(
                select(d.c.subscription_id, d.c.event_id).group_by(
                    d.c.subscription_id, d.c.event_id).having(func.count() > 1).subquery())),
            "deliveries_without_event": one(select(func.count()).select_from(d).where(
                ~d.c.event_id.in_(select(e.c.id)))),
        }


def wait_drained(engine: Engine, receiver: Receiver, processes: list[Process],
                 timeout_s: float) -> bool:
    """Until every event is relayed and every order event delivered and received."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = outbox_state(engine)
        if (not state["unrelayed"] and state["delivered"] == state["order_events"]
                == state["deliveries"]):
            expected = order_event_ids(engine)
            with receiver.lock:
                if expected <= set(receiver.event_ids):
                    return True
        for process in processes:
            if process.popen.poll() is not None:
                raise BenchError(f"{process.role} exited with {process.popen.returncode}:\n"
                                 f"{tail(process.log_path)}")
        time.sleep(0.1)
    return False


# --- one arrangement -------------------------------------------------------------------------------


@dataclass
class Memory:
    role: str
    pid: int
    peak_kib: int
    end_kib: int


@dataclass
class Result:
    arrangement: Arrangement
    orders: int
    clients: int
    placed: Placed
    events: int  # order events of the measured orders
    drained: bool
    delivered_s: float  # first order placed -> last of these events received
    lag_s: float  # last order answered -> last event received
    state: dict[str, int]
    missing: int  # order events the receiver never saw
    repeats: int  # receipts of a webhook-id beyond the first
    bad_signatures: int
    mismatched_ids: int
    memory: list[Memory]
    cpu: dict[str, float]  # cores used on average over the measured window, per role
    load_before: float
    workdir: Path

    @property
    def orders_per_s(self) -> float:
        return self.placed.statuses["201"] / self.placed.wall_s if self.placed.wall_s else 0.0

    @property
    def events_per_s(self) -> float:
        return self.events / self.delivered_s if self.delivered_s else 0.0

    @property
    def healthy(self) -> bool:
        s = self.state
        return (self.drained and self.placed.statuses["201"] == self.orders
                and not self.missing and not self.bad_signatures and not self.mismatched_ids
                and not s["unrelayed"] and not s["duplicate_delivery_rows"]
                and not s["deliveries_without_event"] and not s["failed"]
                and s["deliveries"] == s["delivered"] == s["order_events"])


def environment(database_url: str, workdir: Path, opts: Options) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERMESH_")}
    return env | {
        "ORDERMESH_DATABASE_URL": database_url,
        "ORDERMESH_LOG_LEVEL": os.environ.get("ORDERMESH_LOG_LEVEL", "WARNING"),
        "ORDERMESH_RATE_LIMIT_ENABLED": "false",  # one key places every order
        "ORDERMESH_WEBHOOK_ALLOW_PRIVATE": "true",  # the receiver is on 127.0.0.1
        "ORDERMESH_MAILBOX_DIR": str(workdir / "mailbox"),
        "ORDERMESH_WORKER_RELAY_SECONDS": str(opts.relay_seconds),
        "ORDERMESH_WORKER_BATCH_SIZE": str(opts.batch),
        # only the outbox is measured: the other jobs run once at start, then rarely
        "ORDERMESH_WORKER_RELEASE_WAVES": "false",
        "ORDERMESH_WORKER_SHIPPING_JOBS_SECONDS": "3600",
        "ORDERMESH_WORKER_PAYMENT_JOBS_SECONDS": "3600",
        "ORDERMESH_WORKER_IMPORT_PAYOUTS_SECONDS": "3600",
        "ORDERMESH_WORKER_EXPIRE_CART_HOLDS_SECONDS": "3600",
        "ORDERMESH_WORKER_JEOPARDY_SECONDS": "3600",
    }


@contextlib.contextmanager
def running(processes: list[Process]) -> Iterator[None]:
    try:
        yield
    finally:
        for process in processes:
            stop_group(process.popen)


def bench(arrangement: Arrangement, opts: Options, workdir: Path) -> Result:
    name = f"{arrangement.apis}x{arrangement.workers}"
    database_url = fresh_postgres(opts.postgres_url, DATABASE)
    env = environment(database_url, workdir, opts)
    print(f"[{name}] migrating a fresh database {DATABASE}", flush=True)
    run_cli(["migrate"], env)
    admin_key = run_cli(["create-key", "--name", "bench", "--role", "admin"],
                        env).strip().splitlines()[-1]
    engine = create_engine(_driver_url(database_url), pool_size=2)
    receiver = Receiver()
    processes: list[Process] = []
    try:
        with running(processes):
            base_urls = []
            for i in range(arrangement.apis):
                port = free_port()
                process = start("api", ["serve", "--host", "127.0.0.1", "--port", str(port),
                                        "--workers", "1"], env, workdir / f"api-{i + 1}.log")
                processes.append(process)
                base_urls.append(f"http://127.0.0.1:{port}")
            for url, process in zip(base_urls, processes, strict=True):
                wait_healthy(url, process.popen, process.log_path)
            print(f"[{name}] {arrangement.apis} API process(es) up: {', '.join(base_urls)}",
                  flush=True)
            with httpx.Client(base_url=base_urls[0], timeout=120.0,
                              headers={"Authorization": f"Bearer {admin_key}"}) as admin:
                channel_key, prices = set_up_catalogue(admin, opts.products)
                made = expect(admin.post("/api/v1/webhook-subscriptions", json={
                    "url": receiver.url, "event_types": list(EVENT_TYPES)}), 201)
            receiver.verifier = Webhook(made["secret"])
            for i in range(arrangement.workers):
                processes.append(start("worker", ["worker"], env,
                                       workdir / f"worker-{i + 1}.log"))
            run_id = uuid.uuid4().hex[:8]
            if opts.warmup:
                print(f"[{name}] warming up with {opts.warmup} orders", flush=True)
                place(base_urls, channel_key, prices, opts.warmup, opts.clients, opts.lines,
                      opts.seed + 7919, f"{run_id}w")
            if not wait_drained(engine, receiver, processes, opts.drain_timeout):
                raise BenchError("the warm-up's events were not all delivered in time")
            before = order_event_ids(engine)
            pids = {role: [p.popen.pid for p in processes if p.role == role]
                    for role in ("api", "worker")}
            backends = database_backends()
            load_before = os.getloadavg()[0]
            cpu_before = {"api": cpu_seconds(pids["api"]),
                          "worker": cpu_seconds(pids["worker"]),
                          "database": cpu_seconds(backends)}
            print(f"[{name}] placing {opts.orders} orders from {opts.clients} clients "
                  f"(load average {load_before:.2f})", flush=True)
            placed = place(base_urls, channel_key, prices, opts.orders, opts.clients,
                           opts.lines, opts.seed, run_id)
            answered = placed.started + placed.wall_s
            print(f"[{name}] placed in {placed.wall_s:.1f} s; waiting for every event",
                  flush=True)
            drained = wait_drained(engine, receiver, processes, opts.drain_timeout)
            window = time.perf_counter() - placed.started
            backends = sorted(set(backends) | set(database_backends()))
            cpu = {"api": (cpu_seconds(pids["api"]) - cpu_before["api"]) / window,
                   "worker": (cpu_seconds(pids["worker"]) - cpu_before["worker"]) / window,
                   "database": (cpu_seconds(backends) - cpu_before["database"]) / window}
            memory = [Memory(p.role, p.popen.pid, s.get("VmHWM", 0), s.get("VmRSS", 0))
                      for p in processes for s in [proc_status(p.popen.pid)]]
            expected = order_event_ids(engine)
            measured = expected - before
            state = outbox_state(engine)
            with receiver.lock:
                seen = dict(receiver.first_seen)
                repeats = sum(n - 1 for n in receiver.webhook_ids.values())
                bad, mismatched = receiver.bad_signatures, receiver.mismatched_ids
            missing = len(expected - set(seen))
            last = max((seen[e] for e in measured if e in seen), default=time.perf_counter())
    finally:
        receiver.close()
        engine.dispose()
    return Result(arrangement, opts.orders, opts.clients, placed, len(measured), drained,
                  last - placed.started, max(0.0, last - answered), state, missing, repeats,
                  bad, mismatched, memory, cpu, load_before, workdir)


# --- reporting ----------------------------------------------------------------------------------


def mib(kib: int) -> str:
    return f"{kib / 1024:.0f}"


def report(r: Result) -> None:
    lat = r.placed.latencies_ms
    print(f"\n== {r.arrangement.label} ==")
    print(f"orders placed       {r.placed.statuses['201']} of {r.orders} "
          f"({dict(sorted(r.placed.statuses.items()))}), {r.clients} clients")
    print(f"orders per API      {dict(sorted(r.placed.per_api.items()))}")
    print(f"placing             {r.placed.wall_s:.2f} s, {r.orders_per_s:.1f} orders/s, "
          f"p50 {percentile(lat, 50):.0f} ms, p95 {percentile(lat, 95):.0f} ms, "
          f"p99 {percentile(lat, 99):.0f} ms")
    print(f"events delivered    {r.events} order events in {r.delivered_s:.2f} s from the first "
          f"order: {r.events_per_s:.1f} events/s end to end; lag after the last order "
          f"{r.lag_s:.2f} s")
    print(f"CPU (cores)         API {r.cpu['api']:.2f}, workers {r.cpu['worker']:.2f}, "
          f"PostgreSQL backends {r.cpu['database']:.2f}")
    print(f"outbox              {r.state}")
    print(f"receiver            missing {r.missing}, repeated webhook-ids {r.repeats}, "
          f"bad signatures {r.bad_signatures}, webhook-id != event id {r.mismatched_ids}")
    for m in r.memory:
        print(f"memory {m.role:<7} pid {m.pid:<7} peak {mib(m.peak_kib)} MiB, "
              f"end {mib(m.end_kib)} MiB")
    print(f"verdict             {'ok' if r.healthy else 'FAILED'}")
    for failure in r.placed.failures[:5]:
        print(f"  {failure}")


def summary(results: list[Result]) -> None:
    print("\n| arrangement | orders | clients | orders/s | p50 ms | p95 ms | p99 ms "
          "| events | events/s end to end | lag s | duplicate rows | missing | repeats "
          "| API RSS peak/end MiB | worker RSS peak/end MiB | load before |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---:|")
    for r in results:
        lat = r.placed.latencies_ms
        rss = {role: ", ".join(f"{mib(m.peak_kib)}/{mib(m.end_kib)}" for m in r.memory
                               if m.role == role) for role in ("api", "worker")}
        print(f"| {r.arrangement.label} | {r.orders} | {r.clients} | {r.orders_per_s:.1f} "
              f"| {percentile(lat, 50):.0f} | {percentile(lat, 95):.0f} "
              f"| {percentile(lat, 99):.0f} | {r.events} | {r.events_per_s:.1f} "
              f"| {r.lag_s:.2f} | {r.state['duplicate_delivery_rows']} | {r.missing} "
              f"| {r.repeats} | {rss['api']} | {rss['worker']} | {r.load_before:.2f} |")


def _exit_on_sigterm(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    cores = os.cpu_count() or 1
    print(f"load average before the run: {os.getloadavg()[0]:.2f} on {cores} cores", flush=True)
    results: list[Result] = []
    failed = False
    for arrangement in opts.arrangements:
        workdir = Path(tempfile.mkdtemp(prefix="ordermesh-scaleout-"))
        try:
            result = bench(arrangement, opts, workdir)
        except (BenchError, httpx.HTTPError, OSError, subprocess.SubprocessError,
                SQLAlchemyError) as exc:
            print(f"[{arrangement.label}] the benchmark failed: {exc}", file=sys.stderr)
            for log in sorted(workdir.glob("*.log")):
                print(f"log tail ({log}):\n{tail(log, 20)}", file=sys.stderr)
            print(f"kept {workdir}", file=sys.stderr)
            failed = True
            continue
        results.append(result)
        report(result)
        if not result.healthy or opts.keep:
            failed = failed or not result.healthy
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if not failed and not opts.keep:
        drop_postgres(opts.postgres_url, DATABASE)
    if results:
        summary(results)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
