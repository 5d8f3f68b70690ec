"""Process analytics through HTTP, on both databases: an operator reads the sales, rates, stage
times and dashboard of the orders placed today, the same lists as CSV, and is told 422 for a
period or grouping that makes no sense; callers without an operator key are refused."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ordermesh.domain.events import utcnow
from tests.builders import Shop, an_order

BASE = "/api/v1/analytics"


def place(client: TestClient, shop: Shop, channel: str, quantity: int, token: str) -> None:
    response = client.post("/api/v1/orders", headers=shop.headers(channel),
                           json=an_order(("TEE-1", quantity), payment_token=token))
    assert response.status_code == 201, response.text


def read(client: TestClient, shop: Shop, path: str, **params: Any) -> Any:
    response = client.get(f"{BASE}/{path}", headers=shop.headers("operator"), params=params)
    assert response.status_code == 200, response.text
    return response.json()


def read_csv(client: TestClient, shop: Shop, path: str, **params: Any) -> list[list[str]]:
    response = client.get(f"{BASE}/{path}", headers=shop.headers("operator"), params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"].startswith("attachment; filename=")
    return list(csv.reader(io.StringIO(response.text)))


@pytest.fixture
def placed(client: TestClient, shop: Shop) -> Shop:
    """Two T-shirts on the web (card authorized), one at the till (card declined)."""
    place(client, shop, "web", 2, "tok_visa")
    place(client, shop, "pos", 1, "tok_declined")
    return shop


def test_sales_of_the_last_30_days_by_channel_and_as_csv_by_sku(client: TestClient,
                                                                  placed: Shop) -> None:
    # When the operator asks for the sales of the default period (the 30 days ending today)
    sales = read(client, placed, "sales")
    today = utcnow().date()
    # Then the period is named, and each channel's orders, units and revenue (19.99 each)
    assert (sales["since"], sales["until"], sales["by"]) == (
        (today - timedelta(days=29)).isoformat(), today.isoformat(), "channel")
    assert sales["items"] == [
        {"group": "pos", "currency": "EUR", "orders": 1, "units": 1, "revenue": 1999},
        {"group": "web", "currency": "EUR", "orders": 1, "units": 2, "revenue": 3998}]
    # And the CSV twin by SKU has a header row and the same figures
    assert read_csv(client, placed, "sales.csv", by="sku") == [
        ["group", "currency", "orders", "units", "revenue"], ["TEE-1", "EUR", "2", "3", "5997"]]
    assert read(client, placed, "sales", by="day")["items"] == [
        {"group": today.isoformat(), "currency": "EUR", "orders": 2, "units": 3,
         "revenue": 5997}]


def test_rates_count_the_declined_card(client: TestClient, placed: Shop) -> None:
    rates = {r["name"]: r for r in read(client, placed, "rates")["items"]}
    # Every unit was allocated at placement; one authorization of two was declined
    assert rates["fill_rate"] == {
        "name": "fill_rate", "numerator": 3, "denominator": 3, "excluded": 0, "percent": 100.0}
    assert (rates["payment_failure_rate"]["numerator"],
            rates["payment_failure_rate"]["denominator"],
            rates["payment_failure_rate"]["percent"]) == (1, 2, 50.0)
    assert rates["cancellation_rate"]["percent"] == 0.0
    assert rates["on_time_delivery_rate"]["percent"] is None  # nothing delivered yet: 0 of 0
    assert read_csv(client, placed, "rates.csv")[0] == [
        "name", "numerator", "denominator", "excluded", "percent"]


def test_stage_times_and_trend_show_the_allocations_made_at_placement(
        client: TestClient, placed: Shop) -> None:
    stages = read(client, placed, "stage-times")["items"]
    allocated = [s for s in stages if s["stage"] == "placed_to_allocated"]
    assert [(s["group"], s["count"]) for s in allocated] == [("pos", 1), ("web", 1)]
    assert all(s["p50_minutes"] is not None and s["p50_minutes"] >= 0 for s in allocated)
    assert {s["count"] for s in stages if s["stage"] != "placed_to_allocated"} == {0}
    # By location: no fulfilment released yet, so no location has worked on them
    assert read(client, placed, "stage-times", by="location")["items"] == []
    # The trend has every day of the period, each with the four stages
    today = utcnow().date()
    trend = read(client, placed, "stage-trend", since=(today - timedelta(days=2)).isoformat())
    assert len(trend["items"]) == 3 * 4
    assert [(i["day"], i["count"]) for i in trend["items"]
            if i["stage"] == "placed_to_allocated"][-1] == (today.isoformat(), 2)
    assert read_csv(client, placed, "stage-times.csv", by="location") == [
        ["group", "stage", "count", "p50_minutes", "p90_minutes"]]
    assert read_csv(client, placed, "stage-trend.csv")[0][0] == "day"


def test_the_dashboard_shows_today(client: TestClient, placed: Shop) -> None:
    board = read(client, placed, "dashboard")
    assert board["day"] == utcnow().date().isoformat()
    assert [(r["group"], r["orders"], r["revenue"]) for r in board["orders_today"]] == [
        ("pos", 1, 1999), ("web", 1, 3998)]
    # The web order waits to be sent; the declined card put the till's order on hold
    assert board["waiting"] == {"placed_not_allocated": 0, "allocated_not_dispatched": 1,
                                "dispatched_not_delivered": 0,
                                "ready_for_pickup_not_collected": 0, "on_hold": 1}
    assert board["payment_failures_today"] == {"total": 1, "by_kind": {"authorize": 1}}
    assert board["open_backorders"] == {"orders": 0, "lines": 0, "units": 0}
    # No worker ran: the events of both orders wait in the outbox
    assert board["outbox"]["unpublished"] > 0 and board["outbox"]["oldest_age_seconds"] >= 0
    assert board["webhooks"] == {"pending": 0, "failed": 0, "oldest_pending_age_seconds": None}


@pytest.mark.parametrize("path, params", [
    ("sales", {"since": "2026-03-02", "until": "2026-03-01"}),  # since after until
    ("sales.csv", {"since": "2024-01-01", "until": "2025-01-01"}),  # 367 days
    ("sales", {"by": "location"}),
    ("stage-times", {"by": "sku"}),
    ("stage-times.csv", {"by": "sku"}),
    ("rates", {"since": "yesterday"}),
    ("stage-trend", {"until": "9999-12-31"}),  # off the business calendar
])
def test_a_bad_period_or_grouping_is_a_422_problem(client: TestClient, shop: Shop, path: str,
                                                   params: dict[str, str]) -> None:
    response = client.get(f"{BASE}/{path}", headers=shop.headers("operator"), params=params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "request.invalid"


@pytest.mark.parametrize("path", ["stage-times", "stage-trend.csv", "rates", "sales.csv",
                                  "dashboard"])
def test_only_operators_and_admins_read_analytics(client: TestClient, shop: Shop,
                                                  path: str) -> None:
    assert client.get(f"{BASE}/{path}").status_code == 401
    channel = client.get(f"{BASE}/{path}", headers=shop.headers("web"))
    assert channel.status_code == 403
    assert channel.headers["content-type"] == "application/problem+json"
    assert client.get(f"{BASE}/{path}", headers=shop.headers("admin")).status_code == 200
