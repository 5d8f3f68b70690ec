"""`ordermesh simulate`: a retail day carried out through the HTTP API, compressed in time, so
the console's dashboard and analytics have a believable picture to show.

The plan (`simulate_plan`) says who orders what, and when. The steps (`simulate_steps`) are
done as the retailer's channels and staff would do them, through the API of an app run in this
process on the configured database: orders are placed, refused cards paid again, waves
released, picks made (a few come up short), parcels packed, labelled and handed to the courier,
pickups made ready and collected, purchase orders received at goods-in and the buyer's
replenishment sent. The worker's jobs run every half hour of simulated time (hourly at night):
the outbox is relayed, the courier's tracking events come in, orders about to miss a stage's
SLA are flagged, unpaid orders are let go. This
module is the command's entry, the day's set-up and agenda, and the summary.

Time: the steps wait in an agenda in time order. Before each, the process-wide clock
(`ordermesh.domain.events.clock_set_to`) is set to its time, so everything written (orders,
events, fulfilments, payments, the test gateway's and the courier's books) carries the
simulated time. The story runs from 06:00 on the day to 20:00 three days later, and stops
earlier at the real now: nothing is dated in the future. docs/simulator.md tells more.
"""

from __future__ import annotations

import heapq
import warnings
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from ordermesh.adapters.carriers.courier import Courier
from ordermesh.adapters.db import queries
from ordermesh.adapters.payments.test_gateway import TestGateway
from ordermesh.bootstrap import App, bootstrap
from ordermesh.config import Settings
from ordermesh.domain.events import clock_set_to, utcnow
from ordermesh.domain.packing import Item, PackageType, fits
from ordermesh.entrypoints.api.app import create_app
from ordermesh.entrypoints.api.routers.ops import readiness
from ordermesh.entrypoints.demo_data import PACKAGE_TYPES, WAREHOUSE
from ordermesh.entrypoints.simulate_plan import (
    CHANNEL_SHARES,
    MARKETPLACE,
    STORES,
    Catalogue,
    PlannedOrder,
    plan_day,
)
from ordermesh.entrypoints.simulate_steps import ACTOR, TICK, Clock, Steps, Summary
from ordermesh.services import commands as c

with warnings.catch_warnings():  # starlette's note about httpx's successor; httpx works
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

__all__ = ["NotReady", "Run", "Summary", "check_ready", "print_summary", "simulate",
           "summary_table"]

STORY_START, STORY_END = time(6), time(20)
STORY_DAYS = 3  # after the trading day: long enough for its parcels to arrive
DEMO_CHANNELS = frozenset({"web", "mobile", "pos", "call_centre"})


class NotReady(Exception):
    """The database cannot carry a simulated day: it does not answer, is not migrated, or
    holds no demo retailer. The message says what to run."""


def simulate(settings: Settings, orders: int = 200, seed: int = 1, day: date | None = None,
             show: bool = True) -> Summary:
    """Carry out a day of `orders` orders on `day` (default yesterday); raises NotReady."""
    real_now = datetime.now(UTC)
    day = day or real_now.date() - timedelta(days=1)
    if day > real_now.date():
        raise NotReady(f"{day} is in the future: a simulated day must have happened")
    app = bootstrap(settings.model_copy(update={
        "test_gateway_enabled": True, "courier_enabled": True, "worker_release_waves": False}))
    try:
        check_ready(app)
        start = datetime.combine(day, STORY_START, UTC)
        end = min(real_now, datetime.combine(day + timedelta(days=STORY_DAYS), STORY_END, UTC))
        clock = Clock(start)
        with clock_set_to(clock), TestClient(create_app(app)) as client:
            _follow_the_clock(app)
            return Run(app, client, clock, Summary(start, end), seed).day(orders, show)
    finally:
        _dispose(app)


def check_ready(app: App) -> None:
    checks = readiness(app.engine)
    if checks["database"]["status"] != "ok":
        raise NotReady("the database does not answer: check ORDERMESH_DATABASE_URL")
    if checks["migrations"]["status"] != "ok":
        raise NotReady("the database is not migrated: run `ordermesh migrate` and "
                       "`ordermesh demo` first")
    with app.engine.connect() as conn:
        channels = {ch["code"] for ch in queries.list_channels(conn)}
        locations = {loc["code"] for loc in queries.list_locations(conn)}
    if not (channels.issuperset(DEMO_CHANNELS) and locations.issuperset({WAREHOUSE, *STORES})):
        raise NotReady("the database holds no demo retailer: run `ordermesh demo` first")


def _follow_the_clock(app: App) -> None:
    """The built-in test gateway and courier keep their own clocks: give them ours."""
    for simulator in (*app.bus.setup.gateways.values(), *app.bus.shipping.carriers.values()):
        if isinstance(simulator, TestGateway | Courier):
            simulator.clock = utcnow


def _dispose(app: App) -> None:
    for simulator in (*app.bus.setup.gateways.values(), *app.bus.shipping.carriers.values()):
        if isinstance(simulator, TestGateway | Courier):
            simulator.engine.dispose()
    app.engine.dispose()


class Run(Steps):
    """One simulated day: its set-up, the agenda of steps carried out in time order, and the
    parcels counted at the end."""

    def day(self, orders: int, show: bool) -> Summary:
        self._open()
        try:
            plan = plan_day(self.clock.now.date(), orders, self._catalogue(), self.seed)
            self.summary.planned = len(plan)
            self._schedule(plan)
            self._carry_out(len(plan), show)
            self._count_parcels()
        finally:
            for key_id in self.issued:
                self.app.bus.handle(c.RevokeApiKey(ACTOR, key_id))
        return self.summary

    # -- setting up --------------------------------------------------------------------------

    def _open(self) -> None:
        """Keys of its own (revoked at the end), and the marketplace channel the demo lacks."""
        admin = self.app.bus.handle(c.CreateApiKey(ACTOR, "Simulator (admin)", "admin"))
        self.keys["admin"], self.issued = admin.key, [admin.id]
        if MARKETPLACE not in {ch["code"] for ch in self.call("GET", "/channels", "admin")}:
            self.call("POST", "/channels", "admin", {"code": MARKETPLACE, "name": "bol.com"})
        wanted = [(ch, {"role": "channel", "channel": ch}) for ch in CHANNEL_SHARES]
        for name, body in [*wanted, ("operator", {"role": "operator"})]:
            issued = self.call("POST", "/api-keys", "admin", {"name": f"Simulator ({name})",
                                                              **body})
            self.keys[name] = issued["key"]
            self.issued.append(issued["id"])
        self.kinds = {loc["code"]: loc["kind"] for loc in self.call("GET", "/locations",
                                                                    "operator")}

    def _catalogue(self) -> Catalogue:
        """What is on offer now: released articles in stock somewhere or taken on backorder;
        and what is on each store's shelves. (A till hands its sale over packed, so articles
        that fit none of the demo's boxes are left off the tills' shelves.)"""
        available: Counter[str] = Counter()
        shelves: dict[str, dict[str, int]] = {store: {} for store in STORES}
        for level in self.pages("/stock-levels", 500):
            available[level["sku"]] += max(0, level["available"])
            if level["location"] in shelves and level["available"] > 0:
                shelves[level["location"]][level["sku"]] = level["available"]
        products = [p for p in self.pages("/products", 200) if p["active"] and not p["preorder"]
                    and (available[p["sku"]] > 0 or p["backorderable"])]
        boxes = [PackageType(code, *sizes) for code, _, *sizes in PACKAGE_TYPES]
        boxed = {p["sku"] for p in products if any(fits([Item(
            p["sku"], p["length_mm"], p["width_mm"], p["height_mm"], p["weight_grams"])], box)
            for box in boxes)}
        return Catalogue({p["sku"]: p["price_amount"] for p in products},
                         {s: {k: n for k, n in units.items() if k in boxed}
                          for s, units in shelves.items()},
                         dict(available))

    def _schedule(self, plan: list[PlannedOrder]) -> None:
        first = self.clock.now.date()
        self.at(self.clock.now, self.tick)
        for n in range(STORY_DAYS + 1):
            morning = datetime.combine(first + timedelta(days=n), time(0), UTC)
            self.at(morning.replace(hour=7, minute=30), self.goods_in)
            for hour in range(7, 22):
                self.at(morning.replace(hour=hour), self.wave)
            self.at(morning.replace(hour=20, minute=30), self.buy)
        for order in plan:
            self.at(order.at, self.place, order)
        self.at(self.summary.end, self.tick)  # the last news of the courier

    # -- carrying it out ---------------------------------------------------------------------

    def _carry_out(self, planned: int, show: bool) -> None:
        start, span = self.summary.start, self.summary.end - self.summary.start
        with Progress(disable=not show) as progress:
            self.progress = progress
            self.placing = progress.add_task("orders placed", total=planned)
            timeline = progress.add_task("simulated time", total=max(1, span // TICK))
            while self.agenda:
                when, _, step, args = heapq.heappop(self.agenda)
                self.clock.now = when
                step(*args)
                progress.update(timeline, completed=(when - start) // TICK)

    def _count_parcels(self) -> None:
        self.summary.split = sum(len(where) > 1 for where in self.locations.values())
        for fulfilment_id in self.shipped:
            path = f"/fulfilments/{fulfilment_id}"
            if self.call("GET", path, "operator")["status"] == "delivered":
                self.summary.delivered += 1
            if any(e["event"] == "exception"
                   for e in self.call("GET", f"{path}/tracking", "operator")):
                self.summary.exceptions += 1


def summary_table(summary: Summary) -> Table:
    table = Table(title=f"Simulated day {summary.start:%Y-%m-%d}")
    table.add_column("what")
    table.add_column("count", justify="right")
    for channel, count in sorted(summary.channels.items(), key=lambda kv: -kv[1]):
        table.add_row(f"orders: {channel}", str(count))
    rows = [("orders planned", summary.planned),
            ("orders refused: sold out", summary.sold_out),
            ("till sales not handed over", summary.till_unfinished),
            ("payments declined", summary.declined),
            ("  of which paid with another card", summary.paid_again),
            ("short picks", summary.short_picks),
            ("orders split over locations", summary.split),
            ("parcels dispatched", summary.dispatched),
            ("parcels delivered", summary.delivered),
            ("parcels with a carrier exception", summary.exceptions),
            ("pickups collected", summary.collected),
            ("pickups not collected", summary.ready - summary.collected),
            ("purchase orders sent", summary.po_sent),
            ("purchase orders received", summary.po_received),
            ("steps refused (the order had moved on)", summary.refused_steps)]
    for label, value in rows:
        table.add_row(label, str(value))
    hours = (summary.end - summary.start) / timedelta(hours=1)
    table.add_row("simulated time (UTC)", f"{summary.start:%Y-%m-%d %H:%M} to "
                                          f"{summary.end:%Y-%m-%d %H:%M} ({hours:.0f} h)")
    return table


def print_summary(summary: Summary) -> None:
    Console().print(summary_table(summary))
