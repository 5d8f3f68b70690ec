"""The floor's server: the leanest HTTP service in Python that places an order.

A bare ASGI application (no framework, no validation, no domain) run by uvicorn as Ordermesh
is (uvloop, httptools, worker processes): it reads `POST /api/v1/orders`'s JSON body and makes
the placement's writes of benchmarks/limit.py (`placement_writes`) on a thread of its own
connection, as Ordermesh's endpoints run on a thread pool; SQLite writers take turns as
Ordermesh's do (`WriterTurns`). It answers 201 with the order's number and `allocated`, or 409
when a stock row has too little. Started by benchmarks/floor.py with the database in
ORDERMESH_FLOOR_DATABASE_URL.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import psycopg
from limit import SQLITE_PRAGMAS, placement_writes
from sqlalchemy.engine import make_url

from ordermesh.adapters.db.engine import WriterTurns

URL = make_url(os.environ["ORDERMESH_FLOOR_DATABASE_URL"])
THREADS = 10  # as Ordermesh's connection pool
_threads = ThreadPoolExecutor(THREADS)
_local = threading.local()
_turns = WriterTurns(URL.database or "") if URL.get_backend_name() == "sqlite" else None


def _connection() -> Any:
    conn = getattr(_local, "conn", None)
    if conn is None:
        if _turns is not None:
            conn = sqlite3.connect(URL.database or "", isolation_level=None,
                                   check_same_thread=False)
            for pragma in SQLITE_PRAGMAS:
                conn.execute(f"PRAGMA {pragma}")
        else:
            conn = psycopg.connect(URL.set(drivername="postgresql").render_as_string(
                hide_password=False), autocommit=True)
        _local.conn, _local.turn = conn, {}
    return conn


def _place(lines: list[tuple[str, int]], key: str) -> int | None:
    conn = _connection()
    if _turns is None:
        return placement_writes(conn, lines, key, mark="%s")
    _turns.take(_local.turn)
    try:
        return placement_writes(conn, lines, key)
    finally:
        _turns.give_back(_local.turn)


async def _answer(send: Any, status: int, body: dict[str, Any]) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": f"{message['type']}.complete"})
            if message["type"] == "lifespan.shutdown":
                return
    if scope["path"] == "/health":
        await _answer(send, 200, {"status": "ok"})
        return
    body, more = bytearray(), True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    order = json.loads(body)
    lines = sorted((line["sku"], int(line["quantity"])) for line in order["lines"])
    key = dict(scope["headers"]).get(b"idempotency-key", b"").decode()
    seq = await asyncio.get_running_loop().run_in_executor(_threads, _place, lines, key)
    if seq is None:
        await _answer(send, 409, {"status": "refused"})
    else:
        await _answer(send, 201, {"number": seq, "status": "allocated"})
