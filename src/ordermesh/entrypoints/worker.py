"""The worker: timed jobs on a fixed schedule, in their own process (`ordermesh worker`) or in
a background thread of the API server (`ordermesh serve --with-worker`).

A job is a name, an interval and a function that does one run and says what it did. Each job
runs once at start, then every `every` seconds measured from the start of its previous run
(a run longer than the interval is followed straight away by the next). A failing run is
logged and retried at the next tick: one bad run must not stop the others. A stop request
lets the run in hand finish (each batch is a transaction of its own) and ends the loop.

More jobs (the outbox relay, jeopardy checks) join `schedule()` as they arrive.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from ordermesh.adapters.carriers.courier import Courier
from ordermesh.adapters.payments.test_gateway import TestGateway
from ordermesh.bootstrap import App, bootstrap
from ordermesh.config import Settings
from ordermesh.domain.events import utcnow
from ordermesh.entrypoints.observability import configure_logging
from ordermesh.services import commands as c
from ordermesh.services.jeopardy_commands import FlagJeopardies

log = logging.getLogger("ordermesh.worker")
ACTOR = "worker"


@dataclass(frozen=True)
class Job:
    name: str
    every: float  # seconds between the starts of two runs
    run: Callable[[App], str]  # one run; answers what it did, for the log


def expire_cart_holds(app: App) -> str:
    """Expire every due hold, one batch per transaction, until a batch comes back short."""
    batch, total = app.settings.worker_batch_size, 0
    while True:
        expired: int = app.bus.handle(c.ExpireCartHolds(ACTOR, limit=batch))
        total += expired
        if expired < batch:
            return f"expired {total} cart hold(s)"


def settle_payments(app: App) -> str:
    """The money jobs: ask again for answers that never came, give the stock of orders whose
    payment failed back after their channel's time, flag (and renew) authorizations about to
    lapse. The built-in test gateway's own day runs here too: its asynchronous answers are
    sent as signed webhooks, and what is due is paid out."""
    batch = app.settings.worker_batch_size
    answered = app.bus.handle(c.RecoverPayments(ACTOR, older_than_seconds=60, limit=batch))
    released = app.bus.handle(c.ReleaseUnpaidOrders(ACTOR, limit=batch))
    flagged = app.bus.handle(c.FlagExpiringAuthorizations(ACTOR, within_hours=24, limit=batch))
    summary = (f"{answered} late answer(s), {len(released)} unpaid order(s) released, "
               f"{len(flagged)} authorization(s) about to lapse")
    test = app.bus.setup.gateways.get("test")
    if isinstance(test, TestGateway):
        def deliver(body: bytes, headers: dict[str, str]) -> None:
            app.bus.handle(c.ApplyGatewayNotice("gateway:test", "test", body, headers))

        sent = test.deliver_webhooks(deliver)
        payouts = test.settle(utcnow().date())
        summary += f"; test gateway: {sent} webhook(s), {len(payouts)} payout(s)"
    return summary


def ship(app: App) -> str:
    """The shipping jobs: release a wave of fulfilments (when the worker releases them), ask
    carriers without webhooks where their parcels are, put pickups left at the counter past
    their time back on the shelf (releasing what was authorized for them), cancel labels of
    shipments that will not leave. The built-in
    courier's own day runs here too: its tracking events are sent as signed webhooks."""
    batch = app.settings.worker_batch_size
    released = (app.bus.handle(c.ReleaseFulfilments(ACTOR, limit=batch, wave=str(uuid.uuid4())))
                if app.settings.worker_release_waves else [])
    polled = app.bus.handle(c.PollCarriers(ACTOR, limit=batch))
    returned = app.bus.handle(c.ReturnUncollected(ACTOR, limit=batch))
    labels = app.bus.handle(c.CancelLabels(ACTOR, limit=batch))
    summary = (f"{len(released)} fulfilment(s) released, {polled} polled move(s), "
               f"{len(returned)} uncollected order(s) cancelled, {labels} label(s) cancelled")
    courier = app.bus.shipping.carriers.get("courier")
    if isinstance(courier, Courier) and courier.webhooks:
        def deliver(body: bytes, headers: dict[str, str]) -> None:
            app.bus.handle(c.ApplyCarrierWebhook("carrier:courier", "courier", body, headers))

        summary += f"; courier: {courier.deliver_webhooks(deliver)} webhook(s)"
    return summary


def relay(app: App) -> str:
    """The outbox: relay every event not relayed yet (in batches, one transaction each) to
    webhook deliveries and customer notifications, then send what is due, and publish to the
    event stream when one is set up."""
    batch, relayed = app.settings.worker_batch_size, 0
    while True:
        done: int = app.bus.handle(c.RelayEvents(ACTOR, limit=batch))
        relayed += done
        if done < batch:
            break
    sent = app.bus.handle(c.SendWebhooks(ACTOR, limit=batch))
    mailed = app.bus.handle(c.SendNotifications(ACTOR, limit=batch))
    streamed = app.bus.handle(c.StreamEvents(ACTOR, limit=batch))
    if not (relayed or sent or mailed or streamed):
        return ""  # every two seconds: only what happened is worth a line
    return (f"{relayed} event(s) relayed, {sent} webhook(s) delivered, {mailed} "
            f"notification(s) sent, {streamed} event(s) streamed")


def import_payouts(app: App) -> str:
    """Fetch every gateway's payouts of the last two weeks (each is stored once)."""
    since = utcnow().date() - timedelta(days=14)
    counts = [f"{name}: {len(app.bus.handle(c.ImportPayouts(ACTOR, name, since)))}"
              for name in app.bus.setup.gateways]
    return "payouts imported: " + ", ".join(counts)


def flag_jeopardy(app: App) -> str:
    """Flag the orders at risk of missing a stage's SLA (each once, with its event), and clear
    the flags of those that moved on. Said in the log only when something was flagged."""
    run = app.bus.handle(FlagJeopardies(ACTOR))
    if not run.flagged:
        return ""
    return f"{len(run.flagged)} order stage(s) in jeopardy flagged, {run.cleared} cleared"


def schedule(settings: Settings) -> list[Job]:
    return [Job("expire cart holds", settings.worker_expire_cart_holds_seconds,
                expire_cart_holds),
            Job("settle payments", settings.worker_payment_jobs_seconds, settle_payments),
            Job("import payouts", settings.worker_import_payouts_seconds, import_payouts),
            Job("ship", settings.worker_shipping_jobs_seconds, ship),
            Job("relay", settings.worker_relay_seconds, relay),
            Job("flag jeopardy", settings.worker_jeopardy_seconds, flag_jeopardy)]


class Worker:
    def __init__(self, app: App, jobs: list[Job],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.app, self.jobs, self.clock = app, jobs, clock
        self.stopping = threading.Event()

    def stop(self) -> None:
        self.stopping.set()

    def run_once(self) -> bool:
        """Every job once; True if all of them succeeded."""
        return all([self._run(job) for job in self.jobs])

    def run_forever(self) -> None:
        log.info("worker started: %s", "; ".join(
            f"{job.name} every {job.every:g}s" for job in self.jobs))
        due = {job.name: self.clock() for job in self.jobs}
        while not self.stopping.is_set():
            for job in self.jobs:
                if due[job.name] <= self.clock() and not self.stopping.is_set():
                    due[job.name] = self.clock() + job.every
                    self._run(job)
            self.stopping.wait(max(0.0, min(due.values()) - self.clock()))
        log.info("worker stopped")

    def _run(self, job: Job) -> bool:
        started = self.clock()
        try:
            summary = job.run(self.app)
        except Exception:
            log.exception("%s failed; it runs again in %gs", job.name, job.every)
            return False
        # a frequent job answers "" when it found nothing to do: logged at debug level only
        log.log(logging.INFO if summary else logging.DEBUG, "%s: %s (%.0f ms)", job.name,
                summary or "nothing to do", (self.clock() - started) * 1000)
        return True


@contextmanager
def stop_on_signals(worker: Worker) -> Iterator[None]:
    """SIGTERM and SIGINT ask the worker to stop after the run in hand. The previous handlers
    come back afterwards. (uvicorn, running inside this, restores these handlers when it
    shuts down and raises the signal again, so it reaches the worker too.)"""
    previous = {sig: signal.signal(sig, lambda *_: worker.stop())
                for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def in_background(worker: Worker) -> Iterator[threading.Thread]:
    """Run the worker in a daemon thread for the duration of the block, then stop it."""
    thread = threading.Thread(target=worker.run_forever, name="ordermesh-worker", daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        worker.stop()
        thread.join(timeout=60)


def run_worker(once: bool = False) -> bool:
    """`ordermesh worker`: the jobs until SIGTERM or SIGINT, or each once with `once`.
    Answers whether every run succeeded (only `once` can say no)."""
    app = bootstrap()
    configure_logging(app.settings.log_level, json=app.settings.log_json)
    worker = Worker(app, schedule(app.settings))
    try:
        if once:
            return worker.run_once()
        with stop_on_signals(worker):
            worker.run_forever()
        return True
    finally:
        app.engine.dispose()
