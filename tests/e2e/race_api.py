"""What the race tests share: the API under race, clients released together, and the books
checked after. Each race runs at a reduced size in the suite (16 clients, one round, uvicorn in a
thread) and at full size when asked for (`pytest -m heavy`: 64 clients, 5 rounds, two uvicorn
worker processes on the same database); docs/reliability.md has the figures of a heavy run."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from ordermesh.adapters.db import tables as t
from tests.builders import Shop, an_order
from tests.races import together


@dataclass(frozen=True)
class Size:
    clients: int
    rounds: int


SIZES = [pytest.param(Size(16, 1), id="16-clients"),
         pytest.param(Size(64, 5), id="64-clients", marks=pytest.mark.heavy)]


@pytest.fixture(autouse=True)
def heavy_only_when_asked(request: pytest.FixtureRequest) -> None:
    """A heavy race takes minutes: it runs when asked for (`-m heavy`, or ORDERMESH_TEST_HEAVY=1
    like the other heavy tests), not in the suite."""
    asked = request.config.getoption("markexpr") or ""
    selected = "heavy" in asked and "not heavy" not in asked
    if request.node.get_closest_marker("heavy") and not (
            selected or os.environ.get("ORDERMESH_TEST_HEAVY") == "1"):
        pytest.skip("a heavy race: run it with `pytest -m heavy`")


@pytest.fixture(name="api")
def api_under_race(request: pytest.FixtureRequest, shop: Shop, database_url: str,
                   tmp_path: Path) -> Iterator[Api]:
    """The API under race, with the shop set up: uvicorn in a thread for the suite; for a heavy
    race two uvicorn worker processes on the same database, test gateway and courier."""
    with ExitStack() as stack:
        if request.node.get_closest_marker("heavy") is None:
            url = request.getfixturevalue("server")
        else:
            url = stack.enter_context(two_workers(database_url, tmp_path))
        api = Api(url, stack.enter_context(httpx.Client(base_url=url, timeout=120)), shop)
        stack.callback(api.close)
        yield api


@contextmanager
def two_workers(database_url: str, folder: Path) -> Iterator[str]:
    """`uvicorn --workers 2` on the test's database, with the test gateway and the courier
    keeping their books in the test's folder (as the fixtures' own instances do); its log must
    hold no traceback when it stops."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "ORDERMESH_DATABASE_URL": database_url, "ORDERMESH_DB_POOL_SIZE": "8",
           "ORDERMESH_TEST_GATEWAY_ENABLED": "true",
           "ORDERMESH_TEST_GATEWAY_URL": f"sqlite:///{folder / 'gateway.db'}",
           "ORDERMESH_COURIER_ENABLED": "true",
           "ORDERMESH_COURIER_URL": f"sqlite:///{folder / 'courier.db'}",
           "ORDERMESH_LOG_LEVEL": "WARNING"}
    log_path = folder / "server.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "ordermesh.entrypoints.api.asgi:app", "--host",
             "127.0.0.1", "--port", str(port), "--workers", "2", "--log-level", "warning"],
            env=env, cwd=folder, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(url, process, log_path)
            yield url
        finally:
            process.terminate()  # uvicorn's supervisor stops its workers
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)  # the session it was started in
                process.wait(10)
    assert "Traceback" not in log_path.read_text(), log_path.read_text()[-4000:]


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, log_path.read_text()
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"the workers did not start: {log_path.read_text()}")


Request = tuple[str, str, Any, str, dict[str, str]]  # method, path, body, who, headers


@dataclass
class Api:
    """The shop's API over HTTP: requests of the test's own, checked as they go."""

    url: str
    http: httpx.Client
    shop: Shop
    raced: float = 0.0  # seconds spent in races, from their release to their last answer
    clients: list[httpx.Client] = field(default_factory=list)  # one per racing client

    def call(self, method: str, path: str, body: Any = None, who: str = "operator",
             status: int = 200, headers: dict[str, str] | None = None) -> Any:
        response = self.http.request(method, f"/api/v1{path}", json=body,
                                     headers=self.shop.headers(who) | (headers or {}))
        assert response.status_code == status, response.text
        return response.json()

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        return self.call("POST", path, body, **kwargs)

    def get(self, path: str) -> Any:
        return self.call("GET", path)

    def place(self, *lines: tuple[str, int], **extra: Any) -> dict[str, Any]:
        return dict(self.post("/orders", an_order(*lines, **extra), who="web", status=201))

    def at_once(self, requests: list[Request]) -> list[httpx.Response]:
        """Send the requests (method, path, body, who, headers), each from a client of its own
        with its connection open, released together."""
        while len(self.clients) < len(requests):
            self.clients.append(httpx.Client(base_url=self.url, timeout=120))
        for http in self.clients:
            http.get("/health")  # each connection open before the race
        clients = self.clients[:len(requests)]
        jobs = [partial(http.request, method, f"/api/v1{path}", json=body,
                        headers=self.shop.headers(who) | headers)
                for http, (method, path, body, who, headers) in zip(clients, requests,
                                                                     strict=True)]
        started = time.monotonic()
        answers = list(together(jobs, ()))
        self.raced += time.monotonic() - started
        return answers

    def close(self) -> None:
        for http in self.clients:
            http.close()


def outcome(response: httpx.Response) -> str:
    """`201`, or `409 stock.insufficient`: every refusal is problem+json with a code."""
    if response.status_code < 400:
        return str(response.status_code)
    assert response.headers["content-type"] == "application/problem+json", response.text
    return f"{response.status_code} {response.json()['code']}"


def outcomes(responses: list[httpx.Response]) -> Counter[str]:
    seen = Counter(outcome(r) for r in responses)
    assert all(r.status_code < 500 for r in responses), seen
    return seen


def order_request(body: dict[str, Any], **headers: str) -> Request:
    return ("POST", "/orders", body, "web", headers)


# -- the books --------------------------------------------------------------------------------


def sums(engine: Engine, query: Any) -> dict[tuple[str, str], int]:
    with engine.connect() as conn:
        return {(sku, loc): int(total) for sku, loc, total in conn.execute(query) if total}


def assert_books_agree(engine: Engine) -> None:
    """Every stock row: reserved is what its active allocations hold and what the ledger's
    movements add up to; on hand is the ledger's sum; nothing is available below zero."""
    a, m = t.allocations.c, t.stock_movements.c
    allocated = sums(engine, select(a.sku, a.location_code, func.sum(a.quantity))
                     .where(a.status == "active").group_by(a.sku, a.location_code))
    ledger_reserved = sums(engine, select(m.sku, m.location_code, func.sum(m.reserved_delta))
                           .group_by(m.sku, m.location_code))
    ledger_on_hand = sums(engine, select(m.sku, m.location_code, func.sum(m.on_hand_delta))
                          .group_by(m.sku, m.location_code))
    with engine.connect() as conn:
        levels = conn.execute(select(t.stock_levels)).all()
    assert {(lv.sku, lv.location_code): lv.reserved for lv in levels if lv.reserved} == allocated
    assert ledger_reserved == allocated
    assert {(lv.sku, lv.location_code): lv.on_hand for lv in levels if lv.on_hand} == \
        ledger_on_hand
    assert all(lv.on_hand - lv.reserved - lv.safety_stock >= 0 for lv in levels)


def available(engine: Engine, sku: str) -> int:
    s = t.stock_levels.c
    with engine.connect() as conn:
        return int(conn.execute(select(func.sum(s.on_hand - s.reserved - s.safety_stock))
                                .where(s.sku == sku)).scalar_one())


def report(api: Api, engine: Engine, name: str, size: Size, seen: Counter[str],
           started: float, wins: Counter[str] | None = None) -> None:
    """The figures of a run, for docs/reliability.md (shown with `-s`): the answers, which side
    won how many rounds, the time racing (of the whole test's, set-up rounds included)."""
    won = f", rounds won: {dict(sorted(wins.items()))}" if wins else ""
    print(f"\nrace {name} on {engine.dialect.name}: {size.clients} clients x {size.rounds} "
          f"rounds, {dict(sorted(seen.items()))}{won}, raced {api.raced:.1f} s "
          f"(of {time.monotonic() - started:.1f} s)")
