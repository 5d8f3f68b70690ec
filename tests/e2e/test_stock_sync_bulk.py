"""A stock sync sent as one CSV file of up to 100,000 rows at POST /api/v1/stock-syncs: checked
whole first (a bad file is refused naming its lines, nothing written), then applied in batches
with the JSON route's rules: each row once by source_reference, stale rows ignored, unknown SKUs
and locations rejected per row, every change in the ledger, waiting orders served.

The 100,000-row call runs with `-m heavy` (or ORDERMESH_TEST_HEAVY=1)."""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Self

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from ordermesh.adapters.db import tables as t
from ordermesh.adapters.db.engine import retry_reason
from ordermesh.adapters.db.unit_of_work import SqlUnitOfWork
from ordermesh.bootstrap import App
from ordermesh.config import Settings
from ordermesh.domain.errors import ConcurrentUpdate
from ordermesh.entrypoints.api import input_guard
from ordermesh.entrypoints.api.app import create_app
from ordermesh.entrypoints.api.input_guard import MAX_BODY, MAX_STOCK_SYNC_CSV_BODY
from ordermesh.entrypoints.api.stock_csv import BATCH_ROWS, MAX_ERRORS_LISTED
from ordermesh.services import commands as c
from ordermesh.services.bus import MessageBus
from tests.builders import Shop, an_order
from tests.e2e.conftest import row_counts

SYNCS = "/api/v1/stock-syncs"
HEADER = "sku,location,mode,quantity,source_reference,counted_at"
CSV = {"content-type": "text/csv"}


@pytest.fixture(autouse=True)
def heavy_only_when_asked(request: pytest.FixtureRequest) -> None:
    asked = request.config.getoption("markexpr") or ""
    selected = "heavy" in asked and "not heavy" not in asked
    if request.node.get_closest_marker("heavy") and not (
            selected or os.environ.get("ORDERMESH_TEST_HEAVY") == "1"):
        pytest.skip("a heavy run: run it with `pytest -m heavy`")


def moment(seconds: float) -> datetime:
    """Feed times a little before now (a row dated ahead of the clock is refused)."""
    return datetime.now(UTC) - timedelta(hours=1) + timedelta(seconds=seconds)


def csv_of(rows: list[tuple[Any, ...]], header: str = HEADER) -> bytes:
    lines = [header, *(",".join(str(v.isoformat() if isinstance(v, datetime) else v)
                                 for v in r) for r in rows)]
    return ("\n".join(lines) + "\n").encode()


def post_file(client: TestClient, shop: Shop, body: bytes, status: int = 200,
              content_type: str = "text/csv") -> Any:
    response = client.post(SYNCS, content=body, headers={**shop.headers("admin"),
                                                         "content-type": content_type})
    assert response.status_code == status, response.text[:2000]
    return response.json()


def level(engine: Engine, sku: str, location: str) -> dict[str, Any]:
    s = t.stock_levels.c
    with engine.connect() as conn:
        found = conn.execute(select(s.on_hand, s.reserved, s.last_counted_at, s.last_movement_at)
                             .where(s.sku == sku, s.location_code == location)).one()
    return dict(found._mapping)


def movements(engine: Engine, skus: list[str]) -> list[tuple[Any, ...]]:
    m = t.stock_movements.c
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            select(m.sku, m.location_code, m.on_hand_delta, m.reason, m.reference)
            .where(m.sku.in_(skus)).order_by(m.id))]


def network(shop: Shop, skus: int, locations: int) -> tuple[list[str], list[str]]:
    """Products and locations for a large feed; their stock rows do not exist yet."""
    codes = [f"DC-{n:03d}" for n in range(locations)]
    for n, code in enumerate(codes):
        shop.location(code, priority=100 + n)
    names = [f"BULK-{n:05d}" for n in range(skus)]
    for sku in names:
        shop.product(sku)
    return names, codes


def full_sync(client: TestClient, engine: Engine, shop: Shop, skus: int, locations: int) -> None:
    """One count for every SKU at every location in one file, applied; the same file again
    changes nothing."""
    names, codes = network(shop, skus, locations)
    at = moment(0)
    rows = [(sku, code, "absolute", (n * 7 + k) % 500, f"count-{sku}-{code}", at)
            for n, sku in enumerate(names) for k, code in enumerate(codes)]
    random.Random(1).shuffle(rows)  # the file's order is not the order rows are applied in
    body = csv_of(rows)
    before = row_counts(engine)
    done = post_file(client, shop, body)
    total = skus * locations
    changed = sum(1 for r in rows if r[3])
    assert done == {"rows": total, "applied": total, "duplicate": 0, "stale": 0, "rejected": 0,
                    "transactions": -(-total // BATCH_ROWS), "results": []}
    after = row_counts(engine)
    assert after["stock_levels"] - before["stock_levels"] == total
    assert after["stock_sync_refs"] - before["stock_sync_refs"] == total
    assert after["stock_movements"] - before["stock_movements"] == changed  # counts of 0: none
    for sku, code, _, quantity, _, _ in rows[:20]:
        assert level(engine, sku, code)["on_hand"] == quantity
        assert level(engine, sku, code)["last_counted_at"] == at
    again = post_file(client, shop, body)
    assert (again["applied"], again["duplicate"], again["results"]) == (0, total, [])
    assert row_counts(engine) == after
    assert level(engine, *rows[0][:2])["on_hand"] == rows[0][3]


def test_a_file_of_5000_rows_is_applied_once(client: TestClient, engine: Engine,
                                             shop: Shop) -> None:
    full_sync(client, engine, shop, skus=100, locations=50)


@pytest.mark.heavy
def test_a_file_of_100000_rows_is_applied_once(client: TestClient, engine: Engine,
                                               shop: Shop) -> None:
    full_sync(client, engine, shop, skus=1000, locations=100)


def test_a_file_follows_the_rules_of_the_json_route_row_for_row(
        client: TestClient, engine: Engine, shop: Shop) -> None:
    """The same feed for two sets of SKUs, one sent as JSON, one as a file: every row has the
    same outcome, and stock, time marks and ledger end the same."""
    kinds = ["A", "B"]  # A: JSON, B: CSV
    for kind in kinds:
        for n in range(4):
            shop.product(f"{kind}-{n}")
    rng = random.Random(7)
    earlier = []  # a first feed, so that some rows of the second are stale or seen before
    for n in range(4):
        for location in ("WH-1", "ST-AMS"):
            earlier.append((n, location, "absolute", rng.randint(0, 50), f"first-{n}-{location}",
                            moment(1000)))
    feed = list(earlier[:3])  # sent again: duplicates
    for k in range(120):
        n, location = rng.randrange(5), rng.choice(["WH-1", "ST-AMS", "NOWHERE"])
        mode = rng.choice(["absolute", "delta", "delta"])
        quantity = rng.randint(-1, 40) if mode == "absolute" else rng.randint(-30, 30)
        feed.append((n, location, mode, quantity, f"row-{k}", moment(rng.randint(0, 2000))))
    feed.append((0, "WH-1", "delta", 1, "ahead", datetime.now(UTC) + timedelta(hours=1)))
    outcomes = {}
    for kind in kinds:
        def named(r: tuple[Any, ...], kind: str = kind) -> tuple[Any, ...]:
            # SKU 4 is not in the catalogue: those rows are rejected
            return (f"{kind}-{r[0]}", r[1], r[2], r[3], f"{kind}-{r[4]}", r[5])

        first, second = [named(r) for r in earlier], [named(r) for r in feed]
        if kind == "A":
            for rows in (first, second):
                response = client.post(SYNCS, headers=shop.headers("admin"), json={"updates": [
                    dict(zip(HEADER.split(","), (*r[:5], r[5].isoformat()), strict=True))
                    for r in rows]})
                assert response.status_code == 200, response.text
            outcomes[kind] = {r["source_reference"][2:]: (r["outcome"], r["reason"])
                              for r in response.json()["results"]}
        else:
            post_file(client, shop, csv_of(first))
            done = post_file(client, shop, csv_of(second))
            listed = {r["source_reference"][2:]: (r["outcome"], r["reason"])
                      for r in done["results"]}
            assert all(r["line"] == 2 + next(i for i, s in enumerate(second) if s[4] == r[
                "source_reference"]) for r in done["results"])
            json_counts = {o: sum(1 for v in outcomes["A"].values() if v[0] == o)
                           for o in ("applied", "duplicate", "stale", "rejected")}
            assert {o: done[o] for o in json_counts} == json_counts
            assert json_counts["stale"] and json_counts["rejected"] and json_counts["duplicate"]
            assert listed == {ref: v for ref, v in outcomes["A"].items()
                              if v[0] in ("stale", "rejected")}
    for n in range(4):
        for location in ("WH-1", "ST-AMS"):
            assert level(engine, f"A-{n}", location) == level(engine, f"B-{n}", location)
    ledger = {kind: [(r[0][2:], r[1], r[2], r[3], r[4][2:])
                     for r in movements(engine, [f"{kind}-{n}" for n in range(4)])]
              for kind in kinds}
    assert sorted(ledger["A"]) == sorted(ledger["B"]) and len(ledger["A"]) > 20


class FailingStockSync(SqlUnitOfWork):
    """The real unit of work, which fails with `error()` for any batch holding SKU
    BULK-00060."""

    def __init__(self, engine: Engine, error: Callable[[], Exception]) -> None:
        super().__init__(engine)
        self.error = error

    def __enter__(self) -> Self:
        super().__enter__()
        remember = self.stock_sync.remember

        def failing(seen: Any, now: datetime) -> None:
            if any(s.sku == "BULK-00060" for s in seen):
                raise self.error()
            remember(seen, now)

        self.stock_sync.remember = failing  # type: ignore[method-assign]
        return self


def busy() -> Exception:
    return OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked"))


def connection_lost() -> Exception:
    return OperationalError("INSERT", {}, sqlite3.OperationalError("server closed the "
                                                                  "connection"),
                            connection_invalidated=True)


def a_conflict() -> Exception:  # stock rows that stayed contended through every retry
    return ConcurrentUpdate("stock of BULK-00060 changed meanwhile")


def a_bug() -> Exception:
    return RuntimeError("a fault in Ordermesh")


@pytest.mark.parametrize(("error", "status", "code"), [
    (busy, 503, "service.busy"), (connection_lost, 503, "service.unavailable"),
    (a_conflict, 409, "concurrency.conflict"), (a_bug, 500, "server.error")],
    ids=["busy", "connection lost", "a conflict", "a fault"])
def test_a_file_cut_short_is_finished_by_sending_it_again(
        client: TestClient, engine: Engine, shop: Shop, database_url: str,
        error: Callable[[], Exception], status: int, code: str) -> None:
    names, codes = network(shop, skus=100, locations=50)
    at = datetime.now(UTC)
    body = csv_of([(sku, where, "absolute", 5, f"count-{sku}-{where}", at)
                   for sku in names for where in codes])
    failing = MessageBus(lambda: FailingStockSync(engine, error), retry_reason=retry_reason,
                         attempts=2)
    with TestClient(create_app(App(Settings(database_url=database_url), engine, failing)),
                    raise_server_exceptions=False) as cut_short:
        refused = post_file(cut_short, shop, body, status=status)  # the second batch of three
    # the answer says what the first batch applied, whatever stopped the second
    assert refused["code"] == code
    assert (refused["rows_committed"], refused["transactions_committed"]) == (BATCH_ROWS, 1)
    assert "send the same file again" in refused["detail"]
    assert row_counts(engine)["stock_sync_refs"] == BATCH_ROWS
    done = post_file(client, shop, body)
    assert (done["duplicate"], done["applied"]) == (BATCH_ROWS, 5000 - BATCH_ROWS)
    assert row_counts(engine)["stock_sync_refs"] == 5000
    assert level(engine, "BULK-00099", "DC-049")["on_hand"] == 5


def test_stock_arriving_in_a_file_goes_to_the_waiting_orders(
        client: TestClient, engine: Engine, shop: Shop) -> None:
    # given two orders for mugs, which are backorderable and out of stock everywhere
    placed = [client.post("/api/v1/orders", json=an_order(("MUG-1", qty)),
                          headers=shop.headers("web")).json() for qty in (2, 3)]
    assert [o["status"] for o in placed] == ["backordered", "backordered"]
    first, second = placed
    # when a file counts enough mugs for the first
    done = post_file(client, shop, csv_of([
        ("MUG-1", "WH-1", "absolute", 4, "mug-count-1", datetime.now(UTC)),
        ("TEE-1", "WH-1", "delta", 1, "tee-receipt-1", datetime.now(UTC))]))
    assert done["applied"] == 2
    # then the first-placed order gets them, and the second keeps waiting
    operator = shop.headers("operator")
    now_first = client.get(f"/api/v1/orders/{first['id']}", headers=operator).json()
    assert now_first["status"] == "allocated"
    events = client.get(f"/api/v1/orders/{first['id']}/events", headers=operator).json()
    assert [e["type"] for e in events if e["type"].startswith("order.")] == [
        "order.placed", "order.backordered", "order.allocated"]
    assert client.get(f"/api/v1/orders/{second['id']}", headers=operator).json()[
        "status"] == "backordered"
    # (the two units left go to it already: its line is partly allocated)
    assert (level(engine, "MUG-1", "WH-1")["on_hand"], level(engine, "MUG-1", "WH-1")[
        "reserved"]) == (4, 4)


def test_a_count_below_what_is_reserved_moves_the_allocation(
        client: TestClient, engine: Engine, shop: Shop) -> None:
    order = client.post("/api/v1/orders", json=an_order(("TEE-1", 8)),
                        headers=shop.headers("web")).json()
    assert level(engine, "TEE-1", "WH-1")["reserved"] == 8  # WH-1 holds 10, ST-AMS 3
    done = post_file(client, shop, csv_of([
        ("TEE-1", "WH-1", "absolute", 5, "cycle-count-1", datetime.now(UTC))]))
    assert done["applied"] == 1
    assert (level(engine, "TEE-1", "WH-1")["on_hand"],
            level(engine, "TEE-1", "WH-1")["reserved"]) == (5, 5)
    (line,) = client.get(f"/api/v1/orders/{order['id']}",
                         headers=shop.headers("operator")).json()["lines"]
    assert [(a["location"], a["quantity"], a["status"]) for a in line["allocations"]] == [
        ("WH-1", 8, "moved"), ("WH-1", 5, "active"), ("ST-AMS", 3, "active")]
    assert level(engine, "TEE-1", "ST-AMS")["reserved"] == 3


BAD_FILES = {
    "unknown column": (b"sku,location,mode,quantity,source_reference,counted_at,colour\n"
                       b"TEE-1,WH-1,delta,1,r-1,2026-01-01T00:00:00Z,red\n", [(1, None)]),
    "missing column": (b"sku,location,mode,quantity,counted_at\n"
                       b"TEE-1,WH-1,delta,1,2026-01-01T00:00:00Z\n", [(1, "source_reference")]),
    "bad number": (HEADER.encode() + b"\nTEE-1,WH-1,delta,1,r-1,2026-01-01T00:00:00Z\n"
                   b"TEE-1,WH-1,delta,1.5,r-2,2026-01-01T00:00:00Z\n"
                   b"TEE-1,WH-1,delta,ten,r-3,2026-01-01T00:00:00Z\n",
                   [(3, "quantity"), (4, "quantity")]),
    "too large a number": (HEADER.encode() + b"\nTEE-1,WH-1,absolute,1000000001,r-1,"
                           b"2026-01-01T00:00:00Z\n", [(2, "quantity")]),
    "unknown mode": (HEADER.encode() + b"\nTEE-1,WH-1,set,1,r-1,2026-01-01T00:00:00Z\n",
                     [(2, "mode")]),
    "duplicate reference": (HEADER.encode() + b"\nTEE-1,WH-1,delta,1,r-1,2026-01-01T00:00:00Z\n"
                            b"TEE-1,ST-AMS,delta,1,r-2,2026-01-01T00:00:00Z\n"
                            b"CAP-1,WH-1,delta,1,r-1,2026-01-01T00:01:00Z\n",
                            [(4, "source_reference")]),
    "time without offset": (HEADER.encode() + b"\nTEE-1,WH-1,delta,1,r-1,2026-01-01T00:00:00\n"
                            b"TEE-1,WH-1,delta,1,r-2,1767225600\n", [(2, "counted_at"),
                                                                    (3, "counted_at")]),
    "bad codes and reference": (HEADER.encode() + b"\nTEE 1,-WH,delta,1,,2026-01-01T00:00:00Z\n",
                                [(2, "sku"), (2, "location"), (2, "source_reference")]),
    "fields missing": (HEADER.encode() + b"\nTEE-1,WH-1,delta,1,r-1\n", [(2, None)]),
    "bad quoting": (HEADER.encode() + b'\nTEE-1,WH-1,delta,1,"r-1"x,2026-01-01T00:00:00Z\n',
                    [(2, None)]),
    "empty": (b"\n", [(1, None)]),
    "only a header": (HEADER.encode() + b"\n\n", [(2, None)]),
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_a_bad_file_is_refused_naming_its_lines_and_nothing_is_written(
        client: TestClient, engine: Engine, shop: Shop, name: str) -> None:
    body, where = BAD_FILES[name]
    before = row_counts(engine)
    refused = post_file(client, shop, body, status=422)
    assert refused["code"] == "request.invalid" and "nothing was applied" in refused["detail"]
    assert refused["error_count"] == len(where)
    assert [(e["line"], e["column"]) for e in refused["errors"]] == where
    assert row_counts(engine) == before


def test_the_file_may_be_larger_than_other_bodies_but_not_without_bound(
        client: TestClient, engine: Engine, shop: Shop) -> None:
    before = row_counts(engine)
    # a file over the 2 MiB of every other body is read: here every row's mode is wrong
    rows = b"".join(b"TEE-1,WH-1,set,1,r-%07d,2026-01-01T00:00:00Z\n" % n for n in range(60_000))
    body = HEADER.encode() + b"\n" + rows
    assert MAX_BODY < len(body) < MAX_STOCK_SYNC_CSV_BODY
    refused = post_file(client, shop, body, status=422)
    assert refused["error_count"] == 60_000 and len(refused["errors"]) == MAX_ERRORS_LISTED
    assert refused["errors"][0] == {"line": 2, "column": "mode",
                                    "msg": "give absolute (a count) or delta (a movement)"}
    # ... but not as JSON, and not beyond 32 MiB
    padded = b'{"updates": [], "x": "' + b"x" * (MAX_BODY + 1) + b'"}'
    post_file(client, shop, padded, status=413, content_type="application/json")
    post_file(client, shop, body * (MAX_STOCK_SYNC_CSV_BODY // len(body) + 1), status=413)
    # a file of more rows than a call takes is refused whole
    many = HEADER.encode() + b"\n" + b"".join(
        b"TEE-1,WH-1,delta,1,r-%07d,2026-01-01T00:00:00Z\n" % n for n in range(100_001))
    too_many = post_file(client, shop, many, status=422)
    assert too_many["errors"] == [{"line": 100_002, "column": None,
                                   "msg": "a file holds at most 100000 rows"}]
    assert row_counts(engine) == before


def test_other_bodies_are_refused(client: TestClient, engine: Engine, shop: Shop) -> None:
    before = row_counts(engine)
    valid = csv_of([("TEE-1", "WH-1", "delta", 1, "r-1", moment(0))])
    post_file(client, shop, valid, status=415, content_type="application/xml")
    post_file(client, shop, valid.replace(b"r-1", b"r-\xff"), status=400)
    post_file(client, shop, valid.replace(b"r-1", b"4111 1111 1111 1111"), status=422)
    assert client.post(SYNCS, content=valid, headers=CSV).status_code == 401
    # without credentials a file gets no more room than any other body: the server does not
    # read 32 MiB from whoever asks
    big = valid + b"\n" * (MAX_BODY + 1)
    assert client.post(SYNCS, content=big, headers=CSV).status_code == 413
    assert client.post(SYNCS, content=valid, headers={**shop.headers("operator"),
                                                      **CSV}).status_code == 403
    assert row_counts(engine) == before


def test_a_barcode_sku_is_no_card_number_but_a_card_anywhere_else_is_refused(
        client: TestClient, engine: Engine, shop: Shop) -> None:
    barcode = "4000000000006"  # a valid GTIN-13 that also passes the card checksum
    shop.product(barcode)
    now = datetime.now(UTC)
    done = post_file(client, shop, csv_of([(barcode, "WH-1", "absolute", 7, "r-1", now)]))
    assert done["applied"] == 1 and level(engine, barcode, "WH-1")["on_hand"] == 7
    before = row_counts(engine)
    refused = post_file(client, shop, csv_of([
        (barcode, "WH-1", "absolute", 8, "r-2", now),
        ("TEE-1", "WH-1", "delta", 1, "card 4111 1111 1111 1111", now)]), status=422)
    assert (refused["code"], refused["locations"]) == (
        "request.card_data_refused", ["line 3, source_reference"])
    assert "4111" not in str(refused)
    assert row_counts(engine) == before
    # a file that starts with blank lines has its header where the reader finds it: the
    # barcode column is still known, and the card's line is counted from the top
    blank_first = b"\n\r\n" + csv_of([(barcode, "WH-1", "absolute", 9, "r-3", now)])
    assert post_file(client, shop, blank_first)["applied"] == 1
    refused = post_file(client, shop, b"\n\n" + csv_of([
        ("TEE-1", "WH-1", "delta", 1, "card 4111 1111 1111 1111", now)]), status=422)
    assert refused["locations"] == ["line 4, source_reference"]
    assert level(engine, barcode, "WH-1")["on_hand"] == 9


def test_a_file_with_a_byte_order_mark_and_crlf_lines_is_read(
        client: TestClient, engine: Engine, shop: Shop) -> None:
    now = datetime.now(UTC)  # after the shop's own count
    body = b"\xef\xbb\xbf" + csv_of([("CAP-1", "WH-1", "absolute", 4, "r-1", now),
                                     ("CAP-1", "WH-1", "delta", -1, "r-2", now)],
                                    header="SKU, Location ,mode,quantity,source_reference,"
                                           "counted_at").replace(b"\n", b"\r\n")
    done = post_file(client, shop, body)
    assert (done["applied"], done["rows"]) == (2, 2)
    assert level(engine, "CAP-1", "WH-1")["on_hand"] == 3


def test_the_json_route_still_lists_every_row(client: TestClient, shop: Shop) -> None:
    bus = shop.bus
    bus.handle(c.AdjustStockLevel("test", "CAP-1", "WH-1", 1, None))
    response = client.post(SYNCS, headers=shop.headers("admin"), json={"updates": [
        {"sku": "CAP-1", "location": "WH-1", "mode": "delta", "quantity": 2,
         "source_reference": "j-1", "counted_at": datetime.now(UTC).isoformat()},
        {"sku": "NOPE", "location": "WH-1", "mode": "delta", "quantity": 2,
         "source_reference": "j-2", "counted_at": moment(0).isoformat()}]})
    assert response.status_code == 200
    assert response.json() == {"applied": 1, "duplicate": 0, "stale": 0, "rejected": 1, "results": [
        {"source_reference": "j-1", "outcome": "applied", "on_hand_delta": 2, "reason": None},
        {"source_reference": "j-2", "outcome": "rejected", "on_hand_delta": 0,
         "reason": "unknown sku"}]}
    malformed = client.post(SYNCS, headers={**shop.headers("admin"),
                                            "content-type": "application/json"}, content=b"{")
    assert malformed.status_code == 422 and malformed.json()["errors"][0]["type"] == "json_invalid"


def test_a_large_file_is_scanned_for_card_numbers_beside_the_event_loop(
        client: TestClient, shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    # (a 100,000-row file takes the scan a good part of a second: the event loop serves the
    # other requests meanwhile)
    scans: list[tuple[int, bool]] = []
    scan = input_guard.inspect_body

    def watched(body: bytes, **how: Any) -> Any:
        try:
            asyncio.get_running_loop()
            on_loop = True
        except RuntimeError:
            on_loop = False
        scans.append((len(body), on_loop))
        return scan(body, **how)

    monkeypatch.setattr(input_guard, "inspect_body", watched)
    names, codes = network(shop, skus=100, locations=50)
    at = datetime.now(UTC)
    big = csv_of([(sku, where, "absolute", 3, f"scan-{sku}-{where}", at)
                  for sku in names for where in codes])
    assert len(big) > input_guard.SCAN_ON_LOOP
    assert post_file(client, shop, big)["applied"] == 5000
    small = csv_of([(names[0], codes[0], "absolute", 4, "scan-small", at)])
    assert post_file(client, shop, small)["applied"] == 1
    assert scans == [(len(big), False), (len(small), True)]
