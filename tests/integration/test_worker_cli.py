"""`ordermesh worker` and `ordermesh serve --with-worker` as real processes on a SQLite file:
a due hold is expired, the schedule is logged, and SIGTERM stops them cleanly."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from ordermesh.adapters.db import tables as t
from ordermesh.adapters.db.engine import make_engine, retry_reason
from ordermesh.adapters.db.unit_of_work import SqlUnitOfWork
from ordermesh.domain.events import utcnow
from ordermesh.services import commands as c
from ordermesh.services.bus import MessageBus
from tests.builders import a_shop, hold

ORDERMESH = str(Path(sys.executable).parent / "ordermesh")


@pytest.fixture
def sqlite_file(sqlite_template: Path, tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    path = tmp_path / "ordermesh.db"
    shutil.copyfile(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    yield f"sqlite:///{path}", engine
    engine.dispose()


def a_due_hold(engine: Engine) -> str:
    bus = MessageBus(lambda: SqlUnitOfWork(engine), retry_reason=retry_reason)
    a_shop(bus).location("WH-1").product("TEE-1").stock("TEE-1", "WH-1", 5)
    bus.handle(c.UpdateChannel("test", "web", {"cart_hold_minutes": 15}))
    hold_id = hold(bus, ("TEE-1", 2))
    with engine.begin() as conn:  # as if 15 minutes had passed
        conn.execute(update(t.cart_holds).values(expires_at=utcnow() - timedelta(seconds=1)))
    return hold_id


def environment(url: str, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERMESH_")}
    return env | {"ORDERMESH_DATABASE_URL": url} | {
        f"ORDERMESH_{k.upper()}": v for k, v in settings.items()}


def status_and_reserved(engine: Engine) -> tuple[str, int]:
    with engine.connect() as conn:
        status = conn.execute(select(t.cart_holds.c.status)).scalar_one()
        reserved = conn.execute(select(t.stock_levels.c.reserved)).scalar_one()
    return status, reserved


def test_worker_once_expires_a_due_hold(sqlite_file: tuple[str, Engine], tmp_path: Path
                                        ) -> None:
    url, engine = sqlite_file
    a_due_hold(engine)
    done = subprocess.run([ORDERMESH, "worker", "--once"], env=environment(url), cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "expire cart holds: expired 1 cart hold(s)" in done.stderr
    assert status_and_reserved(engine) == ("expired", 0)


class Log:
    """A running process's log (stderr), read as far as needed."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        assert process.stderr is not None
        self.process, self.stream, self.text = process, process.stderr, ""

    def wait_for(self, text: str, seconds: float = 20) -> None:
        deadline = time.monotonic() + seconds
        while text not in self.text and time.monotonic() < deadline:
            line = self.stream.readline()
            if not line and self.process.poll() is not None:
                break
            self.text += line
        assert text in self.text, self.text

    def stop(self) -> str:
        """SIGTERM, then everything it logged until it exited."""
        self.process.send_signal(signal.SIGTERM)
        _, rest = self.process.communicate(timeout=20)
        self.text += rest or ""
        return self.text


def test_worker_runs_on_its_schedule_and_stops_on_sigterm(sqlite_file: tuple[str, Engine],
                                                          tmp_path: Path) -> None:
    url, engine = sqlite_file
    env = environment(url, worker_expire_cart_holds_seconds="0.2")
    with subprocess.Popen([ORDERMESH, "worker"], env=env, cwd=tmp_path, text=True,
                          stderr=subprocess.PIPE) as process:
        log = Log(process)
        log.wait_for("worker started: expire cart holds every 0.2s")
        log.wait_for("expire cart holds: expired 0 cart hold(s)")
        # a hold falling due while the worker runs is expired at its next tick
        a_due_hold(engine)
        log.wait_for("expire cart holds: expired 1 cart hold(s)")
        assert "worker stopped" in log.stop()
    assert process.returncode == 0
    assert status_and_reserved(engine) == ("expired", 0)


def test_serve_with_worker_expires_holds_and_stops_on_sigterm(
        sqlite_file: tuple[str, Engine], tmp_path: Path) -> None:
    url, engine = sqlite_file
    a_due_hold(engine)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = environment(url, worker_expire_cart_holds_seconds="0.2")
    command = [ORDERMESH, "serve", "--port", str(port), "--with-worker"]
    with subprocess.Popen(command, env=env, cwd=tmp_path, text=True,
                          stderr=subprocess.PIPE) as process:
        log = Log(process)
        log.wait_for("expire cart holds: expired 1 cart hold(s)")
        log.wait_for("Uvicorn running")
        assert httpx.get(f"http://127.0.0.1:{port}/health").json() == {"status": "ok"}
        text = log.stop()
    assert process.returncode == 0, text
    assert "worker stopped" in text
    assert status_and_reserved(engine) == ("expired", 0)
