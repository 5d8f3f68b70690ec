"""What it costs to get an order out of the door, step by step, in process (the message bus,
no HTTP): a wave released for N orders, then for each fulfilment the pick, the pack (boxes
chosen from package types), the label (rate shopping with the built-in courier), the dispatch
(stock out, invoice, capture through the built-in test gateway) and one carrier webhook
applied; plus the time to render a label and a packing slip. Milliseconds per fulfilment,
p50/p95, on a fresh migrated database (SQLite file, or PostgreSQL with --database-url).

    .venv/bin/python benchmarks/dispatch.py --orders 200
    .venv/bin/python benchmarks/dispatch.py --orders 200 \\
        --database-url postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))

from figures import percentile
from tests.builders import Clock, a_shop, place

from ordermesh.adapters.carriers.courier import Courier, CourierSettings
from ordermesh.adapters.db.engine import make_engine, normalise_url, retry_reason
from ordermesh.adapters.db.migrate import upgrade
from ordermesh.adapters.db.unit_of_work import SqlUnitOfWork
from ordermesh.adapters.documents.labels import (
    LabelDocument,
    PackingSlipDocument,
    PackingSlipLine,
    PostalAddress,
    render_label_pdf,
    render_packing_slip_pdf,
)
from ordermesh.adapters.payments.test_gateway import TestGateway, TestGatewaySettings
from ordermesh.domain.invoicing import Party
from ordermesh.services import commands as c
from ordermesh.services.bus import MessageBus
from ordermesh.services.handlers.payments import MoneySetup
from ordermesh.services.handlers.shipping import ShippingSetup

STEPS = ("pick", "pack", "label", "dispatch", "webhook")


def database(url: str | None, folder: Path) -> tuple[str, Callable[[], None]]:
    """A fresh database: a SQLite file, or a new database on the PostgreSQL server."""
    if url is None:
        return f"sqlite:///{folder / 'bench.db'}", lambda: None
    name = f"ordermesh_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(normalise_url(url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return make_url(normalise_url(url)).set(database=name).render_as_string(
        hide_password=False), drop


def timed(timings: dict[str, list[float]], step: str, run: Callable[[], Any]) -> Any:
    started = time.perf_counter()
    result = run()
    timings[step].append((time.perf_counter() - started) * 1000)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--database-url", default=None)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url, drop = database(opts.database_url, Path(folder))
        engine = make_engine(url, pool_size=5)
        upgrade(engine)
        clock = Clock(datetime.now(UTC).replace(hour=9))
        courier = Courier(CourierSettings(database_url=f"sqlite:///{folder}/courier.db"),
                          clock=clock)
        gateway = TestGateway(TestGatewaySettings(
            database_url=f"sqlite:///{folder}/gateway.db", async_seconds=0))
        seller = Party("Bench Shop", {"line1": "1 Market Street", "country": "NL"})
        bus = MessageBus(lambda: SqlUnitOfWork(engine), retry_reason=retry_reason,
                         setup=MoneySetup({"test": gateway}, seller),
                         shipping=ShippingSetup({"courier": courier}, clock=clock))
        shop = a_shop(bus).location("WH-1")
        shop.product("TEE-1").stock("TEE-1", "WH-1", opts.orders * 3)
        for code, dims, weight, tare in (("S", (320, 220, 60), 5_000, 100),
                                         ("M", (400, 300, 200), 15_000, 300)):
            bus.handle(c.PutPackageType("bench", code, f"Box {code}", *dims, weight, tare))
        orders = [place(bus, ("TEE-1", 2)).order_id for _ in range(opts.orders)]
        timings: dict[str, list[float]] = {step: [] for step in STEPS}
        started = time.perf_counter()
        fulfilments = bus.handle(c.ReleaseFulfilments("bench", limit=opts.orders))
        wave_ms = (time.perf_counter() - started) * 1000
        for order_id, fulfilment in zip(orders, fulfilments, strict=True):
            timed(timings, "pick", lambda f=fulfilment: bus.handle(
                c.ChangeFulfilment("bench", f, "start_picking")))
            timed(timings, "pack", lambda f=fulfilment: bus.handle(c.PackFulfilment("bench", f)))
            timed(timings, "label", lambda f=fulfilment: bus.handle(c.BookShipment("bench", f)))
            timed(timings, "dispatch", lambda o=order_id, f=fulfilment: bus.handle(
                c.DispatchShipment("bench", o, f"fulfilment:{f}", (), fulfilment_id=f)))
        clock.advance(hours=10)  # picked up: one in-transit scan per parcel
        with courier.engine.connect() as conn:
            numbers = list(conn.execute(text(
                "SELECT tracking_number FROM courier_parcels")).scalars())
        for number in numbers:
            events = tuple(courier.track(number))
            timed(timings, "webhook", lambda e=events: bus.handle(
                c.ApplyTracking("bench", "courier", e)))
        label_ms, slip_ms = documents(timings_runs=50)
        engine.dispose()
        courier.engine.dispose()
        drop()
    where = "PostgreSQL" if opts.database_url else "SQLite"
    print(f"{where}, {opts.orders} orders of 2 units; wave released in {wave_ms:.0f} ms "
          f"({wave_ms / opts.orders:.2f} ms per fulfilment)")
    print("| step | p50 ms | p95 ms |")
    print("| --- | ---: | ---: |")
    for step in STEPS:
        print(f"| {step} | {percentile(timings[step], 50):.2f} | "
              f"{percentile(timings[step], 95):.2f} |")
    print(f"| render label (4x6 PDF) | {percentile(label_ms, 50):.2f} | "
          f"{percentile(label_ms, 95):.2f} |")
    print(f"| render packing slip | {percentile(slip_ms, 50):.2f} | "
          f"{percentile(slip_ms, 95):.2f} |")


def documents(timings_runs: int) -> tuple[list[float], list[float]]:
    address = PostalAddress("Ann de Vries", ("Keizersgracht 1", "1015 CJ Amsterdam"), "NL")
    label = LabelDocument(address, address, "courier", "standard", 1200, 1, 2, "OC12345678903",
                          "https://courier.example/track/OC12345678903", "OM-000001",
                          ("FRAGILE",), "Ring twice")
    slip = PackingSlipDocument("Bench Shop", "OM-000001", address, tuple(
        PackingSlipLine(f"SKU-{n}", f"Article {n}", 2) for n in range(8)),
        datetime.now(UTC).date() - timedelta(days=1), gift_message="Enjoy")
    label_ms, slip_ms = [], []
    for _ in range(timings_runs):
        started = time.perf_counter()
        render_label_pdf(label)
        label_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        render_packing_slip_pdf(slip)
        slip_ms.append((time.perf_counter() - started) * 1000)
    return label_ms, slip_ms


if __name__ == "__main__":
    main()
