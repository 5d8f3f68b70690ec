"""`ordermesh simulate`: a retail day carried out through the HTTP API, compressed in time, so
the console's dashboard and analytics have a believable picture to show.

The plan (`simulate_plan`) says who orders what, and when. Here each step is done as the
retailer's channels and staff would do it, through the API of an app run in this process on
the configured database: orders are placed, refused cards paid again, waves released, picks
made (a few come up short), parcels packed, labelled and handed to the courier, pickups made
ready and collected, purchase orders received at goods-in and the buyer's replenishment sent.
The worker's jobs run every half hour of simulated time (hourly at night): the outbox
is relayed, the courier's tracking events come in, unpaid orders are let go.

Time: the steps wait in an agenda in time order. Before each, the process-wide clock
(`ordermesh.domain.events.clock_set_to`) is set to its time, so everything written (orders,
events, fulfilments, payments, the test gateway's and the courier's books) carries the
simulated time. The story runs from 06:00 on the day to 20:00 three days later, and stops
earlier at the real now: nothing is dated in the future. docs/simulator.md tells more.
"""

from __future__ import annotations

import heapq
import itertools
import random
import uuid
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from rich.console import Console
from rich.progress import Progress, TaskID
from rich.table import Table

from ordermesh.adapters.carriers.courier import Courier
from ordermesh.adapters.db import queries
from ordermesh.adapters.payments.test_gateway import TestGateway
from ordermesh.bootstrap import App, bootstrap
from ordermesh.config import Settings
from ordermesh.domain.events import clock_set_to, utcnow
from ordermesh.domain.packing import Item, PackageType, fits
from ordermesh.entrypoints import worker as jobs
from ordermesh.entrypoints.api.app import create_app
from ordermesh.entrypoints.api.routers.ops import readiness
from ordermesh.entrypoints.demo_data import PACKAGE_TYPES, WAREHOUSE
from ordermesh.entrypoints.simulate_plan import (
    CHANNEL_SHARES,
    COUNTER_HOURS,
    MARKETPLACE,
    STORE_HOURS,
    STORES,
    WAREHOUSE_HOURS,
    Catalogue,
    PlannedOrder,
    before_cutoff,
    order_body,
    plan_day,
    till_body,
    within,
)
from ordermesh.services import commands as c

with warnings.catch_warnings():  # starlette's note about httpx's successor; httpx works
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

ACTOR = "simulator"
STORY_START, STORY_END = time(6), time(20)
STORY_DAYS = 3  # after the trading day: long enough for its parcels to arrive
TICK, NIGHT_TICK = timedelta(minutes=30), timedelta(hours=1)
DEMO_CHANNELS = frozenset({"web", "mobile", "pos", "call_centre"})


class NotReady(Exception):
    """The database cannot carry a simulated day: it does not answer, is not migrated, or
    holds no demo retailer. The message says what to run."""


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Summary:
    start: datetime
    end: datetime
    planned: int = 0
    channels: Counter[str] = field(default_factory=Counter)
    sold_out: int = 0  # orders refused: what they asked for had sold out meanwhile
    till_unfinished: int = 0  # till sales the API placed but did not hand over (a 409)
    declined: int = 0
    paid_again: int = 0
    short_picks: int = 0
    split: int = 0  # orders fulfilled from more than one location
    dispatched: int = 0
    delivered: int = 0
    exceptions: int = 0
    ready: int = 0
    collected: int = 0
    po_sent: int = 0
    po_received: int = 0
    refused_steps: int = 0  # a step refused (409): its order had moved on meanwhile


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


class Run:
    """One simulated day in progress: the agenda of steps, the keys it calls with, and what
    happened so far."""

    def __init__(self, app: App, client: TestClient, clock: Clock, summary: Summary,
                 seed: int) -> None:
        self.app, self.client, self.clock, self.summary = app, client, clock, summary
        self.seed, self.rng = seed, random.Random(seed * 7919 + 1)  # the steps' own delays
        self.agenda: list[tuple[datetime, int, Callable[..., None], tuple[Any, ...]]] = []
        self.counter = itertools.count()
        self.keys: dict[str, str] = {}
        self.issued: list[str] = []
        self.orders: dict[str, PlannedOrder] = {}  # by order id
        self.short_picked: set[str] = set()
        self.shipped: list[str] = []
        self.locations: dict[str, set[str]] = {}  # where each order's fulfilments are done
        self.kinds: dict[str, str] = {}
        self.status = 0  # of the last answer
        self.problem: dict[str, Any] = {}  # the last refusal's body
        self.reference = f"SIM-{clock.now:%Y%m%d}-{uuid.uuid4().hex[:6]}"

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

    # -- the agenda --------------------------------------------------------------------------

    def at(self, when: datetime, step: Callable[..., None], *args: Any) -> None:
        """Do `step` at `when`, unless that is past the end of the story."""
        if when <= self.summary.end:
            heapq.heappush(self.agenda, (max(when, self.clock.now), next(self.counter), step,
                                         args))

    def _carry_out(self, planned: int, show: bool) -> None:
        start, span = self.summary.start, self.summary.end - self.summary.start
        with Progress(disable=not show) as progress:
            self.progress = progress
            self.placing: TaskID = progress.add_task("orders placed", total=planned)
            timeline = progress.add_task("simulated time", total=max(1, span // TICK))
            while self.agenda:
                when, _, step, args = heapq.heappop(self.agenda)
                self.clock.now = when
                step(*args)
                progress.update(timeline, completed=(when - start) // TICK)

    def minutes(self, low: int, high: int) -> datetime:
        return self.clock.now + timedelta(minutes=self.rng.randint(low, high))

    def hours(self, location: str) -> tuple[int, int]:
        return WAREHOUSE_HOURS if self.kinds.get(location) == "warehouse" else STORE_HOURS

    # -- the API -----------------------------------------------------------------------------

    def call(self, method: str, path: str, who: str, body: Any = None,
             headers: dict[str, str] | None = None, params: dict[str, Any] | None = None,
             refusals: tuple[int, ...] = (409,)) -> Any:
        """The answer's JSON, or None when the step was refused because its order had moved
        on (409: held, cancelled, sold out). Anything else unexpected stops the run."""
        response = self.client.request(method, f"/api/v1{path}", json=body, params=params,
                                       headers={"Authorization": f"Bearer {self.keys[who]}",
                                                **(headers or {})})
        self.status = response.status_code
        if response.status_code in refusals:
            self.problem = response.json() if response.content else {}
            return None
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path} answered {response.status_code}: "
                               f"{response.text[:500]}")
        return response.json() if response.content else None

    def pages(self, path: str, limit: int, **params: Any) -> Iterator[dict[str, Any]]:
        cursor = None
        while True:
            page = self.call("GET", path, "operator", params={
                **params, "limit": limit, **({"cursor": cursor} if cursor else {})})
            yield from page["items"]
            cursor = page["next_cursor"]
            if not cursor:
                return

    def refused(self) -> None:
        self.summary.refused_steps += 1

    # -- the steps ---------------------------------------------------------------------------

    def tick(self) -> None:
        """The worker's jobs: shipping (the courier's webhooks) and the outbox every tick, the
        money jobs on the hour."""
        for job in (jobs.settle_payments, jobs.ship, jobs.relay):
            if job is not jobs.settle_payments or self.clock.now.minute == 0:
                job(self.app)
        night = not 6 <= self.clock.now.hour < 23
        self.at(self.clock.now + (NIGHT_TICK if night else TICK), self.tick)

    def place(self, order: PlannedOrder) -> None:
        """The order is placed (a till posts its sale). A customer told that an article sold
        out meanwhile orders the rest, if anything is left."""
        self.progress.advance(self.placing)
        self.problem = {}
        placed = self._submit(order, 0) if order.lines else None
        for attempt in range(1, len(order.lines)):
            sold_out = set(self.problem.get("skus") or self.problem.get("missing") or ())
            if placed is not None or not sold_out:
                break
            order = replace(order, lines=tuple(ln for ln in order.lines if ln[0] not in sold_out))
            placed = self._submit(order, attempt) if order.lines else None
        if placed is None and self.problem.get("action") == "hand_over":
            self.summary.till_unfinished += 1  # placed and paid, but not handed over
            return
        if placed is None:
            self.summary.sold_out += 1
            return
        self.summary.channels[order.channel] += 1
        self.orders[placed["id"]] = order
        if placed["status"] == "on_hold" and placed.get("hold_reason") == "payment_failed":
            self.summary.declined += 1
            if order.retry_token and order.retry_after:
                self.at(self.clock.now + order.retry_after, self.pay_again, placed["id"])

    def _submit(self, order: PlannedOrder, attempt: int) -> Any:
        reference = f"{self.reference}-{order.n:05d}" + (f"-{attempt}" if attempt else "")
        if order.channel == "pos":
            return self.call("POST", "/pos-sales", "pos", till_body(order, reference))
        headers = {"Idempotency-Key": reference,
                   **({"X-Agent": order.agent} if order.agent else {})}
        return self.call("POST", "/orders", order.channel, order_body(order, reference), headers)

    def pay_again(self, order_id: str) -> None:
        """The customer whose card was refused pays with another one."""
        order = self.orders[order_id]
        paid = self.call("POST", f"/orders/{order_id}/payments", order.channel,
                         {"token": order.retry_token})
        if paid is not None and paid["outcome"] == "succeeded":
            self.summary.paid_again += 1

    def wave(self) -> None:
        released = self.call("POST", "/fulfilments/release", "operator")
        for fulfilment_id in released["fulfilments"] if released else ():
            fulfilment = self.call("GET", f"/fulfilments/{fulfilment_id}", "operator")
            self.locations.setdefault(fulfilment["order_id"], set()).add(fulfilment["location"])
            where = self.hours(fulfilment["location"])
            self.at(within(where, self.minutes(15, 90)), self.pick, fulfilment)

    def pick(self, fulfilment: dict[str, Any]) -> None:
        """Picked; the first pick of an order planned to come up short finds one unit fewer
        than reserved on its first line (the rest is sourced again)."""
        path = f"/fulfilments/{fulfilment['id']}"
        if self.call("POST", f"{path}/start-picking", "operator") is None:
            return self.refused()
        order_id = fulfilment["order_id"]
        order = self.orders.get(order_id)
        if order is not None and order.short_pick and order_id not in self.short_picked:
            self.short_picked.add(order_id)
            line = fulfilment["lines"][0]
            fulfilment = self.call("POST", f"{path}/short-pick", "operator", {"lines": [
                {"line_no": line["line_no"], "found": line["quantity"] - 1}]})
            if fulfilment is None:
                return self.refused()
            self.summary.short_picks += 1
            if fulfilment["status"] == "cancelled":  # nothing found at all
                return None
        self.at(within(self.hours(fulfilment["location"]), self.minutes(5, 30)), self.pack,
                fulfilment)
        return None

    def pack(self, fulfilment: dict[str, Any]) -> None:
        """Packed into the boxes chosen for it; an article too long for every box (trekking
        poles) is sent in its own packaging, a parcel per line."""
        path = f"/fulfilments/{fulfilment['id']}/pack"
        packed = self.call("POST", path, "operator", refusals=(409, 422))
        if packed is None and self.status == 422:
            packed = self.call("POST", path, "operator", {"packages": [
                {"items": [{"sku": ln["sku"], "quantity": ln["quantity"]}]}
                for ln in fulfilment["lines"]]})
        if packed is None:
            return self.refused()
        if fulfilment["method"] == "ship":
            self.at(before_cutoff(self.minutes(5, 40)), self.send, fulfilment)
            return None
        order = self.orders.get(fulfilment["order_id"])
        if order is not None and order.store not in (None, fulfilment["location"]):
            # picked elsewhere: it travels with the store's transfer, there tomorrow
            tomorrow = self.clock.now.replace(hour=11, minute=0) + timedelta(days=1)
            self.at(tomorrow + timedelta(minutes=self.rng.randint(0, 120)), self.make_ready,
                    fulfilment)
        else:
            self.at(within(STORE_HOURS, self.minutes(5, 20)), self.make_ready, fulfilment)
        return None

    def send(self, fulfilment: dict[str, Any]) -> None:
        """The label is bought from the courier, and the parcel handed over."""
        path = f"/fulfilments/{fulfilment['id']}"
        if self.call("POST", f"{path}/shipment", "operator") is None or \
                self.call("POST", f"{path}/dispatch", "operator") is None:
            return self.refused()
        self.summary.dispatched += 1
        self.shipped.append(fulfilment["id"])
        return None

    def make_ready(self, fulfilment: dict[str, Any]) -> None:
        order_id = fulfilment["order_id"]
        if self.call("POST", f"/fulfilments/{fulfilment['id']}/make-ready", "operator") is None:
            return self.refused()
        order = self.orders.get(order_id)
        if order is None:  # not one of this day's (a till sale the API left unfinished)
            return None
        self.summary.ready += 1
        if order.collected_after is None:
            return None  # nobody comes: it waits at the counter until the worker returns it
        code = next(e["data"]["pickup_code"] for e in self.call(
            "GET", f"/orders/{order_id}/events", "operator")
            if e["type"] == "order.ready_for_pickup"
            and e["data"].get("fulfilment_id") == fulfilment["id"])
        self.at(within(COUNTER_HOURS, self.clock.now + order.collected_after), self.collect,
                fulfilment, code)
        return None

    def collect(self, fulfilment: dict[str, Any], code: str) -> None:
        if self.call("POST", f"/fulfilments/{fulfilment['id']}/collect", "operator",
                     {"pickup_code": code}) is None:
            return self.refused()
        self.summary.collected += 1
        return None

    def goods_in(self) -> None:
        """Goods-in receives every purchase order sent, in full. (A supplier's lead time is
        days or weeks; the simulator has its deliveries arrive the next morning, so the
        buying loop closes within the story.)"""
        for status in ("sent", "partially_received"):
            for po in list(self.pages("/purchase-orders", 200, status=status)):
                detail = self.call("GET", f"/purchase-orders/{po['id']}", "operator")
                lines = [{"line_no": ln["line_no"], "quantity": ln["outstanding"]}
                         for ln in detail["lines"] if ln["outstanding"] > 0]
                if lines and self.call("POST", f"/purchase-orders/{po['id']}/receipts",
                                       "operator", {"lines": lines, "reference":
                                                    f"DN-{po['number']}"}) is not None:
                    self.summary.po_received += 1

    def buy(self) -> None:
        """The buyer drafts what the replenishment proposal asks for, and sends it."""
        proposal = self.call("POST", "/replenishment-proposals", "operator",
                             {"create_drafts": True})
        for supplier in proposal["suppliers"] if proposal else ():
            po = supplier["purchase_order"]
            if po and self.call("POST", f"/purchase-orders/{po['id']}/send",
                                "operator") is not None:
                self.summary.po_sent += 1

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
