"""A realistic order history, bulk-loaded into a migrated Ordermesh database.

The network: `--skus` products and `--locations` locations (a fifth warehouses, the rest
stores), one stock level per SKU and location (100,000 x 50 = 5,000,000 rows), four channels.
The history: past orders spread evenly over about two years (the last one just placed), on
four channels, each with 1-5 lines of SKUs drawn with Zipf popularity, for customers who come
back (a few very often), with their allocations, payments and gateway calls, idempotency keys
and the order's events as placement and the later steps write them, all marked relayed. Most
orders are delivered or completed, some cancelled, the last few days' still open.

Rows go in with PostgreSQL's COPY (psycopg `cursor.copy`) or SQLite's executemany in large
transactions, through the tables' own column types (`tables.py`), and `ANALYZE` runs at the
end. `grow()` adds orders to a database already loaded, so one database can be measured at
10,000, 100,000 and 1,000,000 orders in turn.

    .venv/bin/python benchmarks/history.py --url sqlite:////tmp/history.db --orders 100000
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import json
import random
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Table, func, insert, select, text
from sqlalchemy.engine import Engine

from ordermesh.adapters.db import tables as t
from ordermesh.adapters.db.engine import make_engine
from ordermesh.adapters.db.migrate import upgrade

CURRENCY = "GBP"
SPAN = timedelta(days=730)
# (code, name, share of the orders, paid through the test gateway)
CHANNELS = (("web", "Webshop", 0.55, True), ("app", "Mobile app", 0.25, True),
            ("marketplace", "Marketplace", 0.15, False), ("call_centre", "Call centre", 0.05, True))
LINES_PER_ORDER = ((1, 45), (2, 25), (3, 15), (4, 10), (5, 5))
CHUNK_ORDERS = 20_000  # orders per transaction
ZIPF_S = 1.07


def sku(n: int) -> str:
    return f"SKU-{n:07d}"


def email(customer: int) -> str:
    return f"customer{customer}@example.com"


def reference(channel: str, seq: int) -> str:
    return f"{channel[:3].upper()}-{seq:09d}"


@dataclass(frozen=True)
class Shape:
    """What the history looks like; the same shape and seed give the same rows."""

    skus: int = 100_000
    locations: int = 50
    customers: int = 300_000
    span_orders: int = 1_000_000  # the orders two years hold: sets the spacing in time
    seed: int = 1


# --- writing rows fast, through the tables' own column types ----------------------------------


class Writer:
    """Buffers rows per table and writes them with COPY (PostgreSQL) or executemany (SQLite)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect
        self.postgres = engine.dialect.name == "postgresql"
        self.raw = engine.raw_connection()
        cursor = self.raw.cursor()
        if self.postgres:  # a crash loses the last chunk, which a reload rewrites anyway
            cursor.execute("SET synchronous_commit = off")
        else:
            for pragma in ("synchronous=OFF", "cache_size=-1000000", "temp_store=MEMORY"):
                cursor.execute(f"PRAGMA {pragma}")
        cursor.close()
        self.buffers: dict[str, list[tuple[Any, ...]]] = {}
        self.columns: dict[str, list[str]] = {}
        self.converters: dict[str, list[Callable[[Any], Any] | None]] = {}
        self.rows = 0
        self._begin()

    def _begin(self) -> None:
        if not self.postgres:
            self.raw.cursor().execute("BEGIN")

    def add(self, table: Table, row: dict[str, Any]) -> None:
        name = table.name
        if name not in self.columns:
            self.columns[name] = list(row)
            self.converters[name] = [self._converter(table, column) for column in row]
        convert = self.converters[name]
        self.buffers.setdefault(name, []).append(tuple(
            value if fn is None or value is None else fn(value)
            for fn, value in zip(convert, row.values(), strict=True)))

    def _converter(self, table: Table, column: str) -> Callable[[Any], Any] | None:
        kind = table.c[column].type
        if isinstance(kind, JSON):
            return lambda value: json.dumps(value, separators=(",", ":"))
        if self.postgres:
            return None  # psycopg writes dates, times, booleans and numbers itself
        return kind.dialect_impl(self.dialect).bind_processor(self.dialect)

    def flush(self) -> None:
        cursor = self.raw.cursor()
        for name, rows in self.buffers.items():
            if not rows:
                continue
            columns = self.columns[name]
            if self.postgres:
                with cursor.copy(f"COPY {name} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                marks = ", ".join("?" for _ in columns)  # names from tables.py, values bound
                cursor.executemany(
                    f"INSERT INTO {name} ({', '.join(columns)}) VALUES ({marks})",  # noqa: S608
                    rows)
            self.rows += len(rows)
            rows.clear()
        cursor.close()

    def commit(self) -> None:
        self.flush()
        if self.postgres:
            self.raw.commit()
        else:
            self.raw.cursor().execute("COMMIT")
            self._begin()

    def close(self) -> None:
        self.commit()
        if not self.postgres:
            self.raw.cursor().execute("COMMIT")
        self.raw.close()


# --- the network -------------------------------------------------------------------------------


def location_rows(count: int, rng: random.Random, now: datetime) -> list[dict[str, Any]]:
    rows = []
    for n in range(count):
        warehouse = n % 5 == 0
        rows.append({
            "code": f"LOC-{n:03d}", "name": f"Location {n}",
            "kind": "warehouse" if warehouse else "store",
            "address": {"line1": f"{n} High Street", "city": "Somewhere", "postal_code": "AB1 2CD",
                        "country": "GB"},
            "latitude": rng.uniform(50.5, 55.5), "longitude": rng.uniform(-4.5, 1.5),
            "can_ship": warehouse or n % 2 == 1, "can_pickup": not warehouse,
            "priority": 1000 if n == 0 else rng.randint(0, 500),
            "transfer_days": rng.randint(1, 3),
            "daily_order_capacity": None if warehouse else rng.randint(50, 500),
            "shipping_rates": [{"max_km": 100, "amount": 395, "currency": CURRENCY, "days": 1},
                               {"max_km": None, "amount": 695, "currency": CURRENCY, "days": 2}],
            "active": True, "created_at": now, "updated_at": now})
    return rows


def load_network(engine: Engine, shape: Shape) -> None:
    """Channels, the supplier, locations, products and one stock level per SKU and location."""
    rng = random.Random(shape.seed)
    now = datetime.now(UTC)
    locations = location_rows(shape.locations, rng, now)
    with engine.begin() as conn:
        conn.execute(insert(t.channels), [
            {"code": code, "name": name, "active": True, "created_at": now,
             "payment_gateway": "test" if paid else None}
            for code, name, _, paid in CHANNELS])
        conn.execute(insert(t.suppliers), [{
            "code": "SUP", "name": "Supplier", "email": "buy@example.com", "currency": CURRENCY,
            "lead_time_days": 14, "payment_terms_days": 30, "active": True,
            "created_at": now, "updated_at": now}])
        conn.execute(insert(t.locations), locations)
    writer = Writer(engine)
    for n in range(shape.skus):
        writer.add(t.products, {
            "sku": sku(n), "name": f"Product {n}", "category": f"cat-{n % 40}", "gtin": None,
            "price_amount": 200 + (n * 7919) % 19_800, "currency": CURRENCY,
            "tax_class": "standard", "weight_grams": 100 + n % 2000, "fragile": False,
            "preorder": False, "release_date": None, "backorderable": n % 10 == 0,
            "low_stock_threshold": 3, "supplier_code": "SUP", "active": True,
            "created_at": now, "updated_at": now})
    writer.commit()
    codes = [row["code"] for row in locations]
    for n in range(shape.skus):
        for code in codes:
            on_hand = 0 if rng.random() < 0.3 else rng.randint(1, 60)
            writer.add(t.stock_levels, {
                "sku": sku(n), "location_code": code, "on_hand": on_hand,
                "reserved": rng.randint(0, on_hand // 3) if on_hand else 0,
                "safety_stock": rng.randint(0, 2) if on_hand else 0, "updated_at": now})
        if n % 5_000 == 4_999:
            writer.commit()
    writer.close()


# --- the orders --------------------------------------------------------------------------------


class Picker:
    """Random choices with fixed weights, by bisection of the cumulative weights."""

    def __init__(self, rng: random.Random, values: list[Any], weights: Iterable[float]) -> None:
        self.rng, self.values = rng, values
        self.cumulative = list(itertools.accumulate(weights))
        self.total = self.cumulative[-1]

    def __call__(self) -> Any:
        return self.values[bisect.bisect(self.cumulative, self.rng.random() * self.total)]


def status_for(age: timedelta, rng: random.Random) -> str:
    """Old orders are done; the last days' are still on their way."""
    if rng.random() < 0.05:
        return "cancelled"
    if age < timedelta(days=2):
        return rng.choice(("allocated", "allocated", "paid", "fulfilling", "on_hold",
                           "backordered"))
    if age < timedelta(days=6):
        return rng.choice(("fulfilling", "shipped", "shipped", "delivered"))
    return "completed" if rng.random() < 0.25 else "delivered"


BULK_TABLES = (t.orders, t.order_lines, t.allocations, t.payments, t.payment_transactions,
               t.events, t.idempotency_keys)
SENT = {"shipped", "delivered", "completed"}


def order_rows(seq: int, shape: Shape, rng: random.Random, now: datetime,
               pick_channel: Picker, pick_lines: Picker, pick_sku: Picker,
               codes: list[str]) -> Iterator[tuple[Table, dict[str, Any]]]:
    """Order `seq` with everything placing it and taking it further wrote."""
    at = now - SPAN + SPAN * (seq / shape.span_orders)
    at = min(at, now)
    channel, paid = pick_channel()
    status = status_for(now - at, rng)
    order_id = str(uuid.uuid4())
    customer = int(shape.customers * rng.random() ** 2)  # a few customers order very often
    address = {"line1": f"{customer % 900 + 1} Station Road", "city": "Leeds",
               "postal_code": "LS1 4AP", "country": "GB"}
    skus = sorted({pick_sku() for _ in range(pick_lines())})
    lines, lines_total = [], 0
    for line_no, n in enumerate(skus, start=1):
        quantity = 1 if rng.random() < 0.7 else rng.randint(2, 4)
        unit_price = 200 + (n * 7919) % 19_800
        tax = unit_price * quantity // 6
        lines.append((line_no, n, quantity, unit_price, tax))
        lines_total += unit_price * quantity
    shipping = 0 if lines_total > 5_000 else 495
    grand = lines_total + shipping
    ref = reference(channel, seq) if rng.random() < 0.9 else None
    updated = min(at + timedelta(days=3), now) if status in SENT else at
    yield t.orders, {
        "seq": seq, "id": order_id, "channel_code": channel, "external_reference": ref,
        "status": status, "held_from": "allocated" if status == "on_hold" else None,
        "customer_email": email(customer), "customer_name": f"Customer {customer}",
        "customer_phone": None, "billing_address": address, "shipping_address": address,
        "delivery_instructions": None, "packaging": None,
        "tracking_token": uuid.UUID(int=rng.getrandbits(128)).hex,
        "payment_token": f"tok_{seq}" if paid else None, "fulfilment_method": "ship",
        "pickup_location_code": None, "currency": CURRENCY, "lines_total": lines_total,
        "shipping_total": shipping, "grand_total": grand,
        "tax_total": sum(line[4] for line in lines) + shipping // 6, "prices_include_tax": True,
        "shipping_tax": shipping // 6, "shipping_tax_rate": "0.2", "shipping_tax_name": "VAT",
        "hold_reason": "address check" if status == "on_hold" else None,
        "version": 3 if status in SENT else 1, "created_at": at, "updated_at": updated}
    if channel in ("web", "app"):
        yield t.idempotency_keys, {"scope": channel, "key": f"idem-{order_id}",
                                   "request_hash": f"{seq:064x}", "order_id": order_id,
                                   "created_at": at}
    location = codes[rng.randrange(len(codes)) if rng.random() < 0.3 else 0]
    line_status = "cancelled" if status == "cancelled" else (
        "backordered" if status == "backordered" else "reserved")
    allocation_status = {"cancelled": "released", "backordered": None}.get(
        status, "dispatched" if status in SENT else "active")
    for line_no, n, quantity, unit_price, tax in lines:
        line_id = str(uuid.uuid4())
        yield t.order_lines, {
            "id": line_id, "order_seq": seq, "line_no": line_no, "sku": sku(n),
            "quantity": quantity, "unit_price": unit_price, "line_total": unit_price * quantity,
            "tax_amount": tax, "tax_rate": "0.2", "tax_name": "VAT",
            "dispatched": quantity if status in SENT else 0, "returned": 0,
            "cancelled": quantity if status == "cancelled" else 0, "status": line_status}
        if allocation_status is not None:
            yield t.allocations, {
                "order_seq": seq, "line_id": line_id, "sku": sku(n), "location_code": location,
                "quantity": quantity, "source": "stock", "status": allocation_status,
                "ready_on": at.date(), "promised_on": (at + timedelta(days=2)).date(),
                "decision": {"rule": "nearest", "explanation": f"{location} is nearest",
                             "considered": [], "excluded": []},
                "created_at": at,
                "released_at": at + timedelta(hours=3) if status == "cancelled" else None,
                "fulfilment_id": None}
    events = [("order.placed", at, {"number": f"OM-{seq:06d}", "channel": channel,
                                    "lines": [[sku(line[1]), line[2]] for line in lines],
                                    "grand_total": grand}),
              ("order.allocated", at, {"location": location})]
    if paid:
        payment_id = str(uuid.uuid4())
        yield t.payments, {
            "id": payment_id, "order_seq": seq, "gateway": "test", "token": f"tok_{seq}",
            "authorization_reference": f"auth_{seq}", "currency": CURRENCY, "amount": grand,
            "card_brand": "visa", "card_last4": "4242", "card_exp_month": 12,
            "card_exp_year": 2030, "authorized_until": at + timedelta(days=7),
            "expiry_flagged_at": None, "created_at": at}
        calls = [("authorize", at)]
        if status in SENT:
            calls.append(("capture", at + timedelta(days=1)))
        elif status == "cancelled":
            calls.append(("void", at + timedelta(hours=3)))
        for kind, when in calls:
            yield t.payment_transactions, {
                "payment_id": payment_id, "kind": kind, "amount": grand, "currency": CURRENCY,
                "outcome": "succeeded", "idempotency_key": f"{kind}-{payment_id}",
                "reference": None, "final": kind == "capture",
                "gateway_reference": f"gw_{kind}_{seq}", "failure_code": None, "fee": None,
                "actor": "system", "created_at": when, "completed_at": when}
            events.append((f"payment.{kind}d" if kind != "void" else "payment.voided", when,
                           {"payment_id": payment_id, "amount": grand}))
    if status == "cancelled":
        events.append(("order.cancelled", at + timedelta(hours=3), {"reason": "customer"}))
    if status in SENT:
        events.append(("order.shipped", at + timedelta(days=1), {"location": location}))
    if status in ("delivered", "completed"):
        events.append(("order.delivered", at + timedelta(days=3), {}))
    if status == "on_hold":
        events.append(("order.held", at, {"reason": "address check"}))
    for kind, when, data in sorted(events, key=lambda e: e[1]):
        when = min(when, now)
        relayed = when + timedelta(seconds=1)
        yield t.events, {
            "id": str(uuid.uuid4()), "stream": "order", "stream_id": order_id, "type": kind,
            "actor": channel if kind == "order.placed" else "system", "data": data,
            "occurred_at": when, "published_at": relayed, "streamed_at": relayed}


def order_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.coalesce(func.max(t.orders.c.seq), 0))).scalar_one())


def grow(engine: Engine, target: int, shape: Shape, progress: bool = True) -> float:
    """Add orders until the database holds `target`; then ANALYZE. Returns the seconds taken."""
    started = time.perf_counter()
    first = order_count(engine) + 1
    rng = random.Random(f"{shape.seed}-{first}")
    now = datetime.now(UTC)
    codes = [f"LOC-{n:03d}" for n in range(0, shape.locations, 5)]  # the warehouses
    pick_channel = Picker(rng, [(code, paid) for code, _, _, paid in CHANNELS],
                          [share for _, _, share, _ in CHANNELS])
    pick_lines = Picker(rng, [n for n, _ in LINES_PER_ORDER], [w for _, w in LINES_PER_ORDER])
    pick_sku = Picker(rng, list(range(shape.skus)),
                      (1 / (rank + 1) ** ZIPF_S for rank in range(shape.skus)))
    # Adding more than there is: the secondary indexes are built once afterwards, which is
    # much faster than keeping them up to date row by row.
    rebuilt = [index for table in BULK_TABLES for index in table.indexes
               if target - first + 1 > first] if target >= first else []
    with engine.begin() as conn:
        for index in rebuilt:
            index.drop(conn)
    writer = Writer(engine)
    try:
        for seq in range(first, target + 1):
            for table, row in order_rows(seq, shape, rng, now, pick_channel, pick_lines,
                                         pick_sku, codes):
                writer.add(table, row)
            if seq % CHUNK_ORDERS == 0:
                writer.commit()
                if progress:
                    print(f"    {seq:,} orders ({time.perf_counter() - started:.0f} s)",
                          flush=True)
    finally:
        writer.close()
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL maintenance_work_mem = '512MB'"))
        for index in rebuilt:
            index.create(conn)
        if engine.dialect.name == "postgresql":  # the ids COPY gave explicitly
            conn.execute(text("SELECT setval(pg_get_serial_sequence('orders', 'seq'), "
                              "(SELECT max(seq) FROM orders))"))
    analyze(engine)
    return time.perf_counter() - started


def analyze(engine: Engine) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))


def build(url: str, orders: int, shape: Shape) -> tuple[Engine, float, float]:
    """Migrate a fresh database at `url`, load the network and `orders` orders.

    Returns the engine and the seconds the network and the orders took."""
    engine = make_engine(url)
    upgrade(engine)
    started = time.perf_counter()
    load_network(engine, shape)
    network_s = time.perf_counter() - started
    return engine, network_s, grow(engine, orders, shape)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True,
                        help="a fresh database (an empty SQLite file or PostgreSQL database)")
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--skus", type=int, default=100_000)
    parser.add_argument("--locations", type=int, default=50)
    parser.add_argument("--customers", type=int, default=300_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--grow", action="store_true",
                        help="add orders to a database history.py already loaded")
    opts = parser.parse_args()
    shape = Shape(opts.skus, opts.locations, opts.customers, max(opts.orders, 1_000_000),
                  opts.seed)
    if opts.grow:
        engine = make_engine(opts.url)
        seconds = grow(engine, opts.orders, shape)
        print(f"grown to {opts.orders:,} orders in {seconds:.0f} s")
        return
    engine, network_s, orders_s = build(opts.url, opts.orders, shape)
    print(f"network ({opts.skus:,} SKUs x {opts.locations} locations) in {network_s:.0f} s; "
          f"{opts.orders:,} orders in {orders_s:.0f} s")


if __name__ == "__main__":
    main()
