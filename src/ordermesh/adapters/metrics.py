"""Prometheus metrics of the process (in a registry of our own, never the global one) and the
gauges read from the database when /metrics is scraped.

Code anywhere in the process counts into the metrics here, e.g. a webhook sender that gives up:
`WEBHOOK_FAILURES.labels(reason="timeout").inc()`. Keep label values to a small fixed set
(`timeout`, `connection`, `http_4xx`, `http_5xx`, ...): never a URL, an id or an error text."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import column, func, inspect, select, table
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from ordermesh.adapters.db import tables as t

log = logging.getLogger("ordermesh.metrics")

REGISTRY = CollectorRegistry()

WEBHOOK_FAILURES = Counter(
    "ordermesh_webhook_failures", "Webhook deliveries that failed, by reason",
    ["reason"], registry=REGISTRY)

# Delivery rows in these states are counted when the webhook tables exist.
WEBHOOK_DELIVERY_STATES = ("failed", "disabled")
_deliveries = table("webhook_deliveries", column("status"))


class DatabaseCollector:
    """Gauges computed by a query at each scrape: orders by channel and status, the outbox lag
    and the webhook deliveries given up on. When the database cannot be read, only
    `ordermesh_database_up 0` is reported: a scrape must not fail because of it."""

    def __init__(self, engine: Callable[[], Engine], clock: Callable[[], datetime] | None = None
                 ) -> None:
        self.engine = engine
        self.clock = clock or (lambda: datetime.now(UTC))

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("ordermesh_database_up", "1 when the database answered the scrape")
        try:
            families = self._read()
        except SQLAlchemyError as exc:
            log.warning("metrics: the database could not be read: %s", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _read(self) -> list[Metric]:
        o, e = t.orders.c, t.events.c
        with self.engine().connect() as conn:
            orders = conn.execute(select(o.channel_code, o.status, func.count())
                                  .group_by(o.channel_code, o.status)).all()
            pending, oldest = conn.execute(select(func.count(), func.min(e.occurred_at))
                                           .where(e.published_at.is_(None))).one()
            deliveries: dict[str, int] | None = None
            if inspect(conn).has_table("webhook_deliveries"):
                deliveries = dict(conn.execute(
                    select(_deliveries.c.status, func.count())
                    .where(_deliveries.c.status.in_(WEBHOOK_DELIVERY_STATES))
                    .group_by(_deliveries.c.status)).all())
        by_channel = GaugeMetricFamily("ordermesh_orders", "Orders by channel and status",
                                       labels=["channel", "status"])
        for channel, status, count in orders:
            by_channel.add_metric([channel, status], count)
        lag = GaugeMetricFamily("ordermesh_outbox_pending_events",
                                "Events not yet relayed by the worker (published_at is null)")
        lag.add_metric([], pending)
        age = GaugeMetricFamily("ordermesh_outbox_oldest_pending_age_seconds",
                                "Age of the oldest event not yet relayed; 0 when none waits")
        age.add_metric([], max(0.0, (self.clock() - _utc(oldest)).total_seconds())
                       if oldest is not None else 0.0)
        families: list[Metric] = [by_channel, lag, age]
        if deliveries is not None:
            failed = GaugeMetricFamily("ordermesh_webhook_deliveries",
                                       "Webhook deliveries given up on, by status",
                                       labels=["status"])
            for status in WEBHOOK_DELIVERY_STATES:
                failed.add_metric([status], deliveries.get(status, 0))
            families.append(failed)
        return families


def _utc(value: datetime) -> datetime:
    """An aggregate skips the column type: SQLite answers naive UTC, sometimes as text."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
