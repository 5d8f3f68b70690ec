"""Process analytics for operators: how long orders spend in each stage, the process rates,
sales and the dashboard. Each list also answers as CSV at its `.csv` twin path.

`since` and `until` are ISO dates of whole UTC days, both included; the default is the 30 days
ending today. Definitions of every figure: docs/analytics.md."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response
from sqlalchemy.engine import Connection

from ordermesh.adapters.db import analytics_queries as q
from ordermesh.domain import analytics as a
from ordermesh.domain.events import utcnow
from ordermesh.entrypoints.api.deps import Conn, OperatorKey
from ordermesh.entrypoints.api.schemas.analytics import (
    DashboardOut,
    RatesOut,
    SalesOut,
    StageTimesOut,
    StageTrendOut,
)
from ordermesh.entrypoints.api.schemas.common import BusinessDate
from ordermesh.entrypoints.csv_export import to_csv

router = APIRouter(prefix="/api/v1/analytics", tags=["analytics"])

Since = Annotated[BusinessDate | None, Query(
    description="First UTC day included (ISO date). Default: 29 days before `until`")]
Until = Annotated[BusinessDate | None, Query(
    description="Last UTC day included (ISO date). Default: today")]
StageBy = Annotated[Literal["channel", "location"], Query(description="Group by")]
SalesBy = Annotated[Literal["channel", "day", "sku"], Query(description="Group by")]

CSV: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {}},
                                              "description": "CSV with a header row"}}
STAGE_COLUMNS = ["stage", "count", "p50_minutes", "p90_minutes"]
RATE_COLUMNS = ["name", "numerator", "denominator", "excluded", "percent"]
SALES_COLUMNS = ["group", "currency", "orders", "units", "revenue"]


def period_of(since: date | None, until: date | None) -> a.Period:
    return a.reporting_period(since, until, utcnow().date())


def _minutes(duration: timedelta | None) -> float | None:
    shown = a.minutes_shown(duration)
    return None if shown is None else float(shown)  # already rounded: the float carries it


def _stages(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**{k: v for k, v in row.items() if k not in ("p50", "p90")},
             "p50_minutes": _minutes(row["p50"]), "p90_minutes": _minutes(row["p90"])}
            for row in rows]


def stage_rows(conn: Connection, period: a.Period, by: str) -> list[dict[str, Any]]:
    return _stages(q.stage_times(conn, period.start, period.end, by))


def trend_rows(conn: Connection, period: a.Period) -> list[dict[str, Any]]:
    return _stages(q.stage_trend(conn, period.start, period.end))


def rate_rows(conn: Connection, period: a.Period) -> list[dict[str, Any]]:
    found = []
    for row in q.rates(conn, period.start, period.end):
        percent = a.Rate(row["numerator"], row["denominator"], row["excluded"]).percent(2)
        found.append({**row, "percent": None if percent is None else float(percent)})
    return found


def _csv(name: str, period: a.Period, rows: list[dict[str, Any]], columns: list[str]
         ) -> Response:
    filename = f"{name}-{period.first.isoformat()}-{period.last.isoformat()}.csv"
    return Response(to_csv(rows, columns), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _span(period: a.Period) -> dict[str, date]:
    return {"since": period.first, "until": period.last}


@router.get("/stage-times", response_model=StageTimesOut)
def stage_times(principal: OperatorKey, conn: Conn, since: Since = None, until: Until = None,
                by: StageBy = "channel") -> dict[str, Any]:
    """Per channel (or location) and stage: how many orders placed in the period completed the
    stage, and its nearest-rank p50 and p90 in minutes."""
    period = period_of(since, until)
    return {**_span(period), "by": by, "items": stage_rows(conn, period, by)}


@router.get("/stage-times.csv", response_class=Response, responses=CSV)
def stage_times_csv(principal: OperatorKey, conn: Conn, since: Since = None,
                    until: Until = None, by: StageBy = "channel") -> Response:
    """`/stage-times` as CSV: group, stage, count, p50_minutes, p90_minutes."""
    period = period_of(since, until)
    return _csv(f"stage-times-by-{by}", period, stage_rows(conn, period, by),
                ["group", *STAGE_COLUMNS])


@router.get("/stage-trend", response_model=StageTrendOut)
def stage_trend(principal: OperatorKey, conn: Conn, since: Since = None,
                until: Until = None) -> dict[str, Any]:
    """Per UTC day of placement (every day of the period) and stage: count, p50 and p90."""
    period = period_of(since, until)
    return {**_span(period), "items": trend_rows(conn, period)}


@router.get("/stage-trend.csv", response_class=Response, responses=CSV)
def stage_trend_csv(principal: OperatorKey, conn: Conn, since: Since = None,
                    until: Until = None) -> Response:
    """`/stage-trend` as CSV: day, stage, count, p50_minutes, p90_minutes."""
    period = period_of(since, until)
    return _csv("stage-trend", period, trend_rows(conn, period), ["day", *STAGE_COLUMNS])


@router.get("/rates", response_model=RatesOut)
def rates(principal: OperatorKey, conn: Conn, since: Since = None,
          until: Until = None) -> dict[str, Any]:
    """Fill, split-shipment, backorder, cancellation and on-time delivery rates of the orders
    placed in the period; payment and webhook failure rates of the calls made in it."""
    period = period_of(since, until)
    return {**_span(period), "items": rate_rows(conn, period)}


@router.get("/rates.csv", response_class=Response, responses=CSV)
def rates_csv(principal: OperatorKey, conn: Conn, since: Since = None,
              until: Until = None) -> Response:
    """`/rates` as CSV: name, numerator, denominator, excluded, percent."""
    period = period_of(since, until)
    return _csv("rates", period, rate_rows(conn, period), RATE_COLUMNS)


def sales_rows(conn: Connection, period: a.Period, by: str) -> list[dict[str, Any]]:
    return q.sales(conn, period.start, period.end, by)


@router.get("/sales", response_model=SalesOut)
def sales(principal: OperatorKey, conn: Conn, since: Since = None, until: Until = None,
          by: SalesBy = "channel") -> dict[str, Any]:
    """Orders, units and revenue (minor units) per channel, UTC day or SKU, and per currency:
    amounts in different currencies are never added up."""
    period = period_of(since, until)
    return {**_span(period), "by": by, "items": sales_rows(conn, period, by)}


@router.get("/sales.csv", response_class=Response, responses=CSV)
def sales_csv(principal: OperatorKey, conn: Conn, since: Since = None, until: Until = None,
              by: SalesBy = "channel") -> Response:
    """`/sales` as CSV: group, currency, orders, units, revenue."""
    period = period_of(since, until)
    return _csv(f"sales-by-{by}", period, sales_rows(conn, period, by), SALES_COLUMNS)


@router.get("/dashboard", response_model=DashboardOut)
def dashboard(principal: OperatorKey, conn: Conn) -> dict[str, Any]:
    """Now: today's (UTC) sales by channel, orders waiting per stage, lines waiting for
    supply, today's failed payment calls, and how far the outbox and webhooks lag behind."""
    return q.dashboard(conn, utcnow())

