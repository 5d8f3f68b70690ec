"""The world of the crash tests: `ordermesh serve` and `ordermesh worker` as real processes on
one database, killed with SIGKILL and started again while clients place, dispatch and refund
orders over HTTP; and the books read straight from the databases afterwards.

Clients behave as real ones do: a request that got no answer (the server died under it) is
sent again, the same request with the same Idempotency-Key or reference, until it is answered.
A step of a fulfilment whose answer was lost is not sent blindly again: the client reads the
fulfilment first and carries on from where it is (a dispatch is the exception, as it is
answered again with its capture)."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from queue import Empty, Queue
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.builders import an_order
from tests.integration.test_worker_cli import ORDERMESH, environment

FINAL = {"dispatched", "in_transit", "out_for_delivery", "delivered", "exception",
         "returned_to_sender", "cancelled"}


@dataclass(frozen=True)
class Size:
    clients: int  # clients placing orders (beside one warehouse and one refunding client)
    kills: int  # times the server, the worker or both are killed (each of the three once first)
    pause: tuple[float, float]  # seconds of load before each kill (at random between), and after


class Processes:
    """The API server and the worker, each in a process group of its own, logging to files
    of the test's folder (appended across restarts)."""

    def __init__(self, database_url: str, folder: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.folder = folder
        self.gateway_url = f"sqlite:///{folder / 'gateway.db'}"
        shared = {"test_gateway_enabled": "true", "test_gateway_url": self.gateway_url,
                  "courier_enabled": "true", "courier_url": f"sqlite:///{folder / 'courier.db'}",
                  "mailbox_dir": str(folder / "mailbox"), "log_level": "WARNING",
                  "webhook_allow_private": "true"}  # the consumer is on this machine
        self.server_env = environment(database_url, **shared, db_pool_size="8",
                                      rate_limit_enabled="false")
        self.worker_env = environment(
            database_url, **shared, db_pool_size="4", worker_relay_seconds="0.2",
            worker_batch_size="50", worker_lease_seconds="2", worker_release_waves="false",
            worker_shipping_jobs_seconds="1", worker_payment_jobs_seconds="5",
            worker_jeopardy_seconds="5", worker_expire_cart_holds_seconds="5")
        self.server: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.kills: Counter[str] = Counter()

    def _start(self, command: list[str], env: dict[str, str], log: str) -> subprocess.Popen[bytes]:
        with (self.folder / log).open("ab") as out:
            return subprocess.Popen(command, env=env, cwd=self.folder, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)

    def start_server(self) -> None:
        self.server = self._start([ORDERMESH, "serve", "--port", str(self.port)],
                                  self.server_env, "server.log")

    def start_worker(self) -> None:
        self.worker = self._start([ORDERMESH, "worker"], self.worker_env, "worker.log")

    def wait_healthy(self, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert self.server is not None and self.server.poll() is None, self.log("server")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"the server did not start: {self.log('server')}")

    @staticmethod
    def _kill(process: subprocess.Popen[bytes] | None) -> None:
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)  # its process group: nothing survives it
            process.wait(10)

    def kill(self, which: str) -> None:
        """SIGKILL `server`, `worker` or `both`, and start them again at once."""
        if which in ("server", "both"):
            self._kill(self.server)
            self.kills["server"] += 1
        if which in ("worker", "both"):
            self._kill(self.worker)
            self.kills["worker"] += 1
        if which in ("server", "both"):
            self.start_server()
        if which in ("worker", "both"):
            self.start_worker()

    @staticmethod
    def _stop(process: subprocess.Popen[bytes] | None) -> int | None:
        if process is None or process.poll() is not None:
            return None
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
            raise AssertionError("did not stop on SIGTERM") from None

    def stop_server(self) -> int | None:
        return self._stop(self.server)

    def stop_worker(self) -> int | None:
        return self._stop(self.worker)

    def close(self) -> None:
        """Whatever still runs (a failed test) is killed."""
        self._kill(self.server)
        self._kill(self.worker)

    def log(self, name: str) -> str:
        path = self.folder / f"{name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""


class Receiver:
    """A webhook consumer on 127.0.0.1: every message is checked with the Standard Webhooks
    library as it comes (its timestamp must be fresh) and kept: (webhook-id, body, verified).
    It always answers 200."""

    def __init__(self) -> None:
        self.received: list[tuple[str, bytes, bool]] = []
        self.secret = ""  # the subscription's, once it is made
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    Webhook(receiver.secret).verify(body, headers)
                    verified = True
                except WebhookVerificationError:
                    verified = False
                receiver.received.append((headers.get("webhook-id", ""), body, verified))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- the clients --------------------------------------------------------------------------------


@dataclass
class Tally:
    """What the clients saw, shared between their threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    answers: Counter[str] = field(default_factory=Counter)  # "POST /orders 201"
    resent: int = 0  # requests that got no answer at first (then sent again, or re-read)
    placed: dict[str, str] = field(default_factory=dict)  # idempotency key -> order id
    replayed_after_loss: int = 0  # orders answered from their key after an answer was lost
    refused: list[str] = field(default_factory=list)  # keys refused for want of stock
    unexpected: list[str] = field(default_factory=list)  # answers no client should get
    dispatched: dict[str, dict[str, Any]] = field(default_factory=dict)  # fulfilment -> capture
    refunds: dict[str, int] = field(default_factory=dict)  # refund reference -> amount

    def saw(self, what: str) -> None:
        with self.lock:
            self.answers[what] += 1

    def wrong(self, what: str) -> None:
        with self.lock:
            self.unexpected.append(what)


class Client:
    """One client's connection; `send` tries again, the same request, until it is answered."""

    PATIENCE = 120.0  # seconds a request is sent again for, at most

    def __init__(self, url: str, tally: Tally, key: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=60,
                                 headers={"Authorization": f"Bearer {key}"})
        self.tally = tally

    def send(self, method: str, path: str, body: Any = None,
             headers: dict[str, str] | None = None) -> tuple[httpx.Response, bool]:
        """The answer, and whether it came only after the request was sent again."""
        resent, give_up = False, time.monotonic() + self.PATIENCE
        while True:
            try:
                response = self.http.request(method, f"/api/v1{path}", json=body,
                                             headers=headers or {})
            except httpx.TransportError as exc:
                self._hung(exc, method, path)
                if time.monotonic() > give_up:
                    raise
                if not resent:
                    with self.tally.lock:
                        self.tally.resent += 1
                resent = True
                time.sleep(0.2)
                continue
            route = path.split("?")[0]
            self.tally.saw(f"{method} {_shape(route)} {response.status_code}")
            if response.status_code >= 500:
                self.tally.wrong(f"{method} {path}: {response.status_code} {response.text[:300]}")
            return response, resent

    def once(self, method: str, path: str, body: Any = None) -> httpx.Response | None:
        """One try: None when no answer came (the caller reads the state and decides)."""
        try:
            response = self.http.request(method, f"/api/v1{path}", json=body)
        except httpx.TransportError as exc:
            self._hung(exc, method, path)
            with self.tally.lock:
                self.tally.resent += 1
            time.sleep(0.2)
            return None
        self.tally.saw(f"{method} {_shape(path.split('?')[0])} {response.status_code}")
        if response.status_code >= 500:
            self.tally.wrong(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response

    def _hung(self, exc: httpx.TransportError, method: str, path: str) -> None:
        """A killed server resets its connections at once: a request that waits out its
        timeout met a server that hangs, which no client should."""
        if isinstance(exc, httpx.TimeoutException):
            self.tally.wrong(f"{method} {path}: no answer in {self.http.timeout.read} s")

    def close(self) -> None:
        self.http.close()


def _shape(route: str) -> str:
    """/fulfilments/<id>/pack -> /fulfilments/{id}/pack, for counting answers by route."""
    parts = route.strip("/").split("/")
    return "/" + "/".join("{id}" if len(p) == 36 or p.startswith("OM-") else p for p in parts)


SKUS = ("TEE-1", "MUG-1", "CAP-1", "LAST-1")  # LAST-1, the rarest, runs out


def place_orders(client: Client, tally: Tally, stop: threading.Event, rng: random.Random,
                 name: str) -> None:
    """Orders of one or two products, each with an Idempotency-Key of its own, sent again
    with that key until answered."""
    n = 0
    while not stop.is_set():
        n += 1
        key = f"{name}-{n}"
        skus = set(rng.choices(SKUS, weights=(6, 3, 3, 1), k=rng.choice((1, 1, 2))))
        body = an_order(*[(sku, rng.randint(1, 3)) for sku in skus])
        response, resent = client.send("POST", "/orders", body, {"Idempotency-Key": key})
        if response.status_code == 201:
            with tally.lock:
                tally.placed[key] = response.json()["id"]
                if resent and response.headers.get("Idempotent-Replayed") == "true":
                    tally.replayed_after_loss += 1
        elif response.status_code == 409 and response.json().get("code") == "stock.insufficient":
            with tally.lock:
                tally.refused.append(key)
        else:
            tally.wrong(f"order {key}: {response.status_code} {response.text[:300]}")


NEXT_STEP = {"pending": "start-picking", "picking": "pack"}


def work_the_warehouse(client: Client, tally: Tally, stop: threading.Event,
                       refundable: Queue[tuple[str, int]]) -> None:
    """Release waves at WH-1 and take every fulfilment through picking, packing, its label
    and its dispatch; each dispatched order's capture goes to the refunding client."""
    while not stop.is_set():
        response, _ = client.send("POST", "/fulfilments/release", {"location": "WH-1"})
        if response.status_code != 200:
            tally.wrong(f"release: {response.status_code} {response.text[:300]}")
        open_: list[dict[str, Any]] = []
        for status in ("pending", "picking", "packed"):
            listed, _ = client.send("GET", f"/fulfilments?location=WH-1&status={status}&limit=20")
            open_ += listed.json() if listed.status_code == 200 else []
        if not open_:
            time.sleep(0.2)
        for fulfilment in open_:
            if stop.is_set():
                return
            _take_out(client, tally, fulfilment["id"], refundable)


def _take_out(client: Client, tally: Tally, fulfilment_id: str,
              refundable: Queue[tuple[str, int]]) -> None:
    path = f"/fulfilments/{fulfilment_id}"
    while True:
        state, _ = client.send("GET", path)
        status = state.json()["status"]
        if status in FINAL:
            return
        if status in NEXT_STEP:
            step = NEXT_STEP[status]
        elif state.json()["shipment"] is None:
            step = "shipment"
        else:
            break
        answer = client.once("POST", f"{path}/{step}")
        if answer is not None and answer.status_code != 200:
            tally.wrong(f"{step} {fulfilment_id}: {answer.status_code} {answer.text[:300]}")
            return
    # a dispatch is asked again until answered: it answers the one capture it made
    dispatched, _ = client.send("POST", f"{path}/dispatch")
    if dispatched.status_code != 200:
        tally.wrong(f"dispatch {fulfilment_id}: {dispatched.status_code} {dispatched.text[:300]}")
        return
    capture = dispatched.json()["capture"]
    with tally.lock:
        tally.dispatched[fulfilment_id] = capture
    if capture is not None and capture["outcome"] == "succeeded":
        refundable.put((dispatched.json()["order_id"], capture["amount"]))


def refund_orders(client: Client, tally: Tally, stop: threading.Event, rng: random.Random,
                  refundable: Queue[tuple[str, int]]) -> None:
    """Part of each dispatched order refunded with a reference of its own; every other order
    then the rest, with another. Each is sent again with its reference until answered."""
    while not stop.is_set():
        try:
            order_id, captured = refundable.get(timeout=0.2)
        except Empty:
            continue
        first = rng.randint(100, 1500)
        amounts = [first] + ([captured - first] if rng.random() < 0.5 else [])
        for n, amount in enumerate(amounts, 1):
            reference = f"R{n}-{order_id}"
            body = {"reference": reference, "reason": "goodwill", "amount": amount}
            response, _ = client.send("POST", f"/orders/{order_id}/refunds", body)
            outcome = response.json().get("outcome") if response.status_code == 201 else None
            if outcome != "succeeded":
                tally.wrong(f"refund {reference}: {response.status_code} {response.text[:300]}")
                break
            with tally.lock:
                tally.refunds[reference] = amount


def _thread(tally: Tally, work: Callable[..., None], *args: Any) -> threading.Thread:
    """A client's thread; a client that fails is one of the test's failures, not a silent
    end of its load."""
    def run() -> None:
        try:
            work(*args)
        except Exception as exc:
            tally.wrong(f"{work.__name__} stopped: {exc!r}")

    return threading.Thread(target=run, name=work.__name__)


def run_load(processes: Processes, keys: dict[str, str], size: Size,
             rng: random.Random) -> Tally:
    """The clients run while the server, the worker or both are killed `size.kills` times, a
    random moment apart (measured from when the server answers again); then the clients
    finish what they are doing and stop."""
    tally, stop = Tally(), threading.Event()
    refundable: Queue[tuple[str, int]] = Queue()
    clients = [Client(processes.url, tally, keys["web"]) for _ in range(size.clients)]
    warehouse = Client(processes.url, tally, keys["operator"])
    service = Client(processes.url, tally, keys["operator"])
    threads = [_thread(tally, place_orders, c, tally, stop, random.Random(rng.random()), f"k{i}")
               for i, c in enumerate(clients)]
    threads.append(_thread(tally, work_the_warehouse, warehouse, tally, stop, refundable))
    threads.append(_thread(tally, refund_orders, service, tally, stop,
                           random.Random(rng.random()), refundable))
    for thread in threads:
        thread.start()
    try:
        kinds = ["server", "worker", "both"]  # each at least once, in a random order
        rng.shuffle(kinds)
        for which in (kinds + [rng.choice(kinds) for _ in range(size.kills)])[:size.kills]:
            time.sleep(rng.uniform(*size.pause))
            processes.kill(which)
            processes.wait_healthy()
        time.sleep(rng.uniform(*size.pause))
    finally:
        stop.set()
        for thread in threads:
            thread.join(120)
        for client in [*clients, warehouse, service]:
            client.close()
    assert not any(thread.is_alive() for thread in threads), "a client did not finish"
    return tally
