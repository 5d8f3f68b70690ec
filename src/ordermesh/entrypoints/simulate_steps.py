"""The steps of a simulated day, each done through the HTTP API as the retailer's channels and
staff would do it: orders placed and refused cards paid again, waves released, picks (a few
short), packing, labels and hand-over to the courier, pickups made ready and collected, goods-in
and the buyer, and the worker's jobs on their tick.

`Steps` holds what the steps share: the agenda they put their next step on, the API keys they
call with, and the `Summary` they count into. `simulate.Run` sets the day up on top of it and
carries the agenda out (see the docstring of `ordermesh.entrypoints.simulate`).
"""

from __future__ import annotations

import heapq
import itertools
import random
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from rich.progress import Progress, TaskID

from ordermesh.bootstrap import App
from ordermesh.entrypoints import worker as jobs
from ordermesh.entrypoints.simulate_plan import (
    COUNTER_HOURS,
    STORE_HOURS,
    WAREHOUSE_HOURS,
    PlannedOrder,
    before_cutoff,
    order_body,
    till_body,
    within,
)

if TYPE_CHECKING:  # imported for its type only: simulate.py imports it, quietly
    from fastapi.testclient import TestClient

ACTOR = "simulator"
TICK, NIGHT_TICK = timedelta(minutes=30), timedelta(hours=1)


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


class Steps:
    """The steps of one simulated day, and what they share: the agenda, the keys it calls with,
    and what happened so far."""

    progress: Progress  # set while the agenda is carried out
    placing: TaskID

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

    # -- the agenda --------------------------------------------------------------------------

    def at(self, when: datetime, step: Callable[..., None], *args: Any) -> None:
        """Do `step` at `when`, unless that is past the end of the story."""
        if when <= self.summary.end:
            heapq.heappush(self.agenda, (max(when, self.clock.now), next(self.counter), step,
                                         args))

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
        """The worker's jobs: shipping (the courier's webhooks), the jeopardy check and the
        outbox every tick, the money jobs on the hour."""
        for job in (jobs.settle_payments, jobs.ship, jobs.flag_jeopardy, jobs.relay):
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
