"""The dashboard and the process analytics: stage times, where orders get stuck, rates and
sales, with charts drawn on the server and every table exported as CSV. The figures are the
API's (`/api/v1/analytics/...`): the same queries, the same definitions (docs/analytics.md)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from babel.numbers import get_currency_precision
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from ordermesh.adapters.db import analytics_queries, jeopardy_queries
from ordermesh.domain import analytics as a
from ordermesh.domain.events import utcnow
from ordermesh.entrypoints.api.deps import Db, read_connection
from ordermesh.entrypoints.api.routers import analytics as figures
from ordermesh.entrypoints.console import charts
from ordermesh.entrypoints.console.rendering import page
from ordermesh.entrypoints.console.session import User, need
from ordermesh.entrypoints.csv_export import to_csv

router = APIRouter(prefix="/console", include_in_schema=False)

Day = Annotated[date | None, Query()]
StageBy = Literal["channel", "location"]
SalesBy = Literal["channel", "day", "sku"]
STUCK_COLUMNS = ["number", "channel", "stage", "reason", "started_at", "due_at",
                 "sla_minutes", "minutes", "overdue"]
TABLES = ("stage-times", "stage-trend", "stuck", "rates", "sales")


@router.get("", response_class=HTMLResponse)
def dashboard(request: Request, db: Db, user: Annotated[User, need("dashboard")]) -> HTMLResponse:
    """Where things stand now; store staff see their own location's queue."""
    with read_connection(db) as conn:
        if user.location is not None:
            queue = analytics_queries.open_fulfilments(conn, user.location)
            return page(request, user, "dashboard_store.html", queue=queue)
        now = utcnow()
        board = analytics_queries.dashboard(conn, now)
        flagged = jeopardy_queries.open_jeopardies(conn, limit=10, now=now)
        counts = jeopardy_queries.jeopardy_counts(conn)
    return page(request, user, "dashboard.html", board=board, flagged=flagged,
                jeopardy=counts, in_jeopardy=sum(c["count"] for c in counts))


@router.get("/analytics", response_class=HTMLResponse)
def analytics(request: Request, db: Db, user: Annotated[User, need("analytics")],
              since: Day = None, until: Day = None, by: StageBy = "channel",
              sales_by: SalesBy = "channel") -> HTMLResponse:
    period = figures.period_of(since, until)
    with read_connection(db) as conn:
        stages = figures.stage_rows(conn, period, by)
        trend = figures.trend_rows(conn, period)
        stuck = jeopardy_queries.stuck(conn, utcnow(), limit=50)
        rates = figures.rate_rows(conn, period)
        sales = figures.sales_rows(conn, period, sales_by)
    return page(request, user, "analytics.html", period=period, by=by, sales_by=sales_by,
                stages=stages, trend=trend, stuck=stuck, rates=rates, sales=sales,
                query=f"since={period.first}&until={period.last}&by={by}&sales_by={sales_by}",
                charts={"stages": _stage_chart(stages, by), "trend": _trend_chart(trend, period),
                        "rates": _rate_chart(rates), "sales": _sales_chart(sales, sales_by)})


@router.get("/analytics/{table}.csv", response_class=Response)
def analytics_csv(table: Literal["stage-times", "stage-trend", "stuck", "rates", "sales"],
                  db: Db, user: Annotated[User, need("analytics")], since: Day = None,
                  until: Day = None, by: StageBy = "channel",
                  sales_by: SalesBy = "channel") -> Response:
    """Each table of the page as CSV, for the same period and grouping."""
    period = figures.period_of(since, until)
    with read_connection(db) as conn:
        rows, columns = _table(conn, table, period, by, sales_by)
    name = f"{table}-{period.first}-{period.last}.csv"
    return Response(to_csv(rows, columns), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _table(conn: Any, table: str, period: a.Period, by: str,
           sales_by: str) -> tuple[list[dict[str, Any]], list[str]]:
    if table == "stage-times":
        return figures.stage_rows(conn, period, by), ["group", *figures.STAGE_COLUMNS]
    if table == "stage-trend":
        return figures.trend_rows(conn, period), ["day", *figures.STAGE_COLUMNS]
    if table == "stuck":
        return jeopardy_queries.stuck(conn, utcnow(), limit=10_000), STUCK_COLUMNS
    if table == "rates":
        return figures.rate_rows(conn, period), figures.RATE_COLUMNS
    return figures.sales_rows(conn, period, sales_by), figures.SALES_COLUMNS


def _hours(minutes: float | None) -> Decimal | None:
    return None if minutes is None else (Decimal(str(minutes)) / 60).quantize(Decimal("0.1"))


def _stage_chart(rows: list[dict[str, Any]], by: str) -> str | None:
    """Median hours in each stage, one bar per channel (or location)."""
    stages = [s.name for s in a.STAGES]
    groups = sorted({str(r["group"]) for r in rows})
    if not groups:
        return None
    p50 = {(str(r["group"]), r["stage"]): _hours(r["p50_minutes"]) for r in rows}
    series = {g: [p50.get((g, s)) for s in stages] for g in groups}
    return charts.bar_chart(f"Median hours in each stage, by {by}",
                            [s.replace("_", " ") for s in stages], series, "hours")


def _trend_chart(rows: list[dict[str, Any]], period: a.Period) -> str | None:
    """Median hours per stage, per day of placement."""
    if not any(r["count"] for r in rows):
        return None
    p50 = {(date.fromisoformat(str(r["day"])), r["stage"]): _hours(r["p50_minutes"])
           for r in rows}
    series = {s.name.replace("_", " "): [p50.get((d, s.name)) for d in period.days]
              for s in a.STAGES}
    return charts.line_chart("Median hours in each stage, by day placed", period.days, series,
                             "hours")


def _rate_chart(rows: list[dict[str, Any]]) -> str | None:
    shown = [r for r in rows if r["percent"] is not None]
    if not shown:
        return None
    return charts.bar_chart("Rates", [r["name"].replace("_", " ") for r in shown],
                            {"percent": [r["percent"] for r in shown]}, "%")


def _sales_chart(rows: list[dict[str, Any]], by: str) -> str | None:
    """Revenue of the currency with most orders (currencies are never added up)."""
    if not rows:
        return None
    orders: dict[str, int] = {}
    for r in rows:
        orders[r["currency"]] = orders.get(r["currency"], 0) + r["orders"]
    currency = max(sorted(orders), key=lambda c: orders[c])
    mine = [r for r in rows if r["currency"] == currency][:30]
    exponent = get_currency_precision(currency)
    return charts.bar_chart(f"Revenue by {by} ({currency})", [str(r["group"]) for r in mine],
                            {currency: [Decimal(r["revenue"]).scaleb(-exponent) for r in mine]},
                            currency)
