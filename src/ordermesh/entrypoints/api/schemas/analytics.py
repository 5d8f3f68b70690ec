"""Analytics answers: stage times, trends, rates, sales and the dashboard."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field


class Period(BaseModel):
    since: date = Field(description="First UTC day included")
    until: date = Field(description="Last UTC day included")


class StageFiguresOut(BaseModel):
    group: str = Field(description="The channel, or the location")
    stage: str = Field(description="placed_to_allocated, allocated_to_dispatched, "
                                   "dispatched_to_delivered or placed_to_delivered")
    count: int = Field(description="Stages completed")
    p50_minutes: float | None = Field(description="Nearest-rank median, minutes, one decimal")
    p90_minutes: float | None = Field(description="Nearest-rank 90th percentile, minutes")


class StageTimesOut(Period):
    by: str
    items: list[StageFiguresOut]


class StageDayOut(BaseModel):
    day: date = Field(description="UTC day the orders were placed")
    stage: str
    count: int
    p50_minutes: float | None
    p90_minutes: float | None


class StageTrendOut(Period):
    items: list[StageDayOut]


class RateOut(BaseModel):
    name: str
    numerator: int
    denominator: int
    excluded: int = Field(description="Cases left out of the denominator on purpose "
                                      "(docs/analytics.md says which, per rate)")
    percent: float | None = Field(description="numerator / denominator x 100, two decimals "
                                              "rounded half up; null when the denominator is 0")


class RatesOut(Period):
    items: list[RateOut]


class SalesRowOut(BaseModel):
    group: str = Field(description="The channel, the UTC day (ISO date) or the SKU")
    currency: str
    orders: int
    units: int
    revenue: int = Field(description="Minor units of `currency`: the lines' totals")


class SalesOut(Period):
    by: str
    items: list[SalesRowOut]


class WaitingOut(BaseModel):
    placed_not_allocated: int
    allocated_not_dispatched: int
    dispatched_not_delivered: int
    ready_for_pickup_not_collected: int
    on_hold: int


class WaitsOut(BaseModel):
    orders: int
    lines: int
    units: int


class PaymentFailuresOut(BaseModel):
    total: int
    by_kind: dict[str, int] = Field(description="authorize, capture, void, refund")


class OutboxOut(BaseModel):
    unpublished: int = Field(description="Events not yet relayed by the worker")
    oldest_age_seconds: int | None


class WebhookLagOut(BaseModel):
    pending: int
    failed: int = Field(description="Deliveries given up on (not replayed)")
    oldest_pending_age_seconds: int | None


class DashboardOut(BaseModel):
    now: datetime
    day: date = Field(description="Today, in UTC")
    orders_today: list[SalesRowOut] = Field(description="Today's sales by channel and currency")
    orders_yesterday: list[SalesRowOut] = Field(
        description="Yesterday's (UTC) sales by channel and currency, to compare with")
    waiting: WaitingOut = Field(description="Orders waiting now, per stage")
    open_backorders: WaitsOut
    open_preorders: WaitsOut
    payment_failures_today: PaymentFailuresOut
    outbox: OutboxOut
    webhooks: WebhookLagOut
