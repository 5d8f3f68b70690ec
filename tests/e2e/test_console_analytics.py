"""The dashboard and the analytics page of the console, on both databases: today's orders and
revenue by channel, the waiting orders, charts drawn on the server, and every table's CSV the
same as the API's for the same period; store staff see their own queue; roles are kept."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from fastapi.testclient import TestClient

from ordermesh.bootstrap import App
from ordermesh.services import commands as c
from ordermesh.services.bus import MessageBus
from tests.builders import Shop, an_order
from tests.console import a_user, console_client, sign_in

pytestmark = pytest.mark.db


@pytest.fixture
def placed(client: TestClient, shop: Shop) -> Shop:
    """Two T-shirts on the web, one at the till whose card is declined."""
    for channel, quantity, token in (("web", 2, "tok_visa"), ("pos", 1, "tok_declined")):
        answer = client.post("/api/v1/orders", headers=shop.headers(channel),
                             json=an_order(("TEE-1", quantity), payment_token=token))
        assert answer.status_code == 201, answer.text
    return shop


@pytest.fixture
def console(ordermesh: App) -> TestClient:
    return console_client(ordermesh)


def test_the_dashboard_shows_todays_orders_by_channel(console: TestClient, placed: Shop,
                                                      bus: MessageBus) -> None:
    sign_in(console, a_user(bus, "operator"))
    page = console.get("/console")
    assert page.status_code == 200
    text = page.text
    # each channel's orders and revenue today (EUR 19.99 a T-shirt)
    assert "<td>web</td><td class=\"num\">1</td><td class=\"num\">€39.98</td>" in text
    assert "<td>pos</td><td class=\"num\">1</td><td class=\"num\">€19.99</td>" in text
    # the declined card counts as today's payment failure
    assert "Payment failures today: <strong>1</strong>" in text


def test_the_analytics_page_draws_charts_and_its_csv_is_the_apis(
        console: TestClient, client: TestClient, placed: Shop, bus: MessageBus) -> None:
    sign_in(console, a_user(bus, "operator"))
    page = console.get("/console/analytics", params={"sales_by": "sku"})
    assert page.status_code == 200
    # the charts are SVG drawn by the server, each with a title for screen readers
    svgs = [ET.fromstring(part[:part.index("</svg>") + 6])  # noqa: S314 -- our own charts
            for part in ("<svg" + s for s in page.text.split("<svg")[1:])]
    titles = [el.text for svg in svgs for el in svg.iter("{http://www.w3.org/2000/svg}title")]
    assert any(title and title.startswith("Revenue by sku (EUR)") for title in titles), titles
    assert any(title and title.startswith("Rates") for title in titles), titles
    assert "<td>TEE-1</td><td>EUR</td><td class=\"num\">2</td><td class=\"num\">3</td>" in page.text
    # every table downloads as CSV, with the figures the API gives for the same period
    for table, api, params in (("sales", "sales.csv", {"by": "sku"}),
                               ("rates", "rates.csv", {}),
                               ("stage-times", "stage-times.csv", {"by": "channel"})):
        mine = console.get(f"/console/analytics/{table}.csv", params={
            "sales_by": params.get("by", "channel"), "by": params.get("by", "channel")
            if table != "sales" else "channel"})
        theirs = client.get(f"/api/v1/analytics/{api}", params=params,
                            headers=placed.headers("operator"))
        assert mine.status_code == theirs.status_code == 200
        assert mine.headers["content-type"] == "text/csv; charset=utf-8"
        assert mine.text == theirs.text, table


def test_a_period_that_makes_no_sense_is_a_clear_page(console: TestClient,
                                                      bus: MessageBus) -> None:
    sign_in(console, a_user(bus, "admin"))
    for params in ({"since": "2026-02-01", "until": "2026-01-01"}, {"since": "yesterday"}):
        answer = console.get("/console/analytics", params=params)
        assert answer.status_code in (400, 422), params
        assert answer.headers["content-type"].startswith("text/html")


def test_store_staff_see_their_queue_and_no_analytics(console: TestClient, shop: Shop,
                                                      bus: MessageBus) -> None:
    # given a web order to pick at the store (the only location with stock of CAP-1 is WH-1)
    bus.handle(c.PlaceOrder("test", "web", an_order(("TEE-1", 1)), request_hash="h"))
    bus.handle(c.ReleaseFulfilments("test"))
    sign_in(console, a_user(bus, "store_staff", "WH-1"))
    page = console.get("/console")
    assert page.status_code == 200 and "<h1>WH-1</h1>" in page.text
    assert "<td>pending</td><td class=\"num\">1</td>" in page.text
    assert "Orders today" not in page.text
    assert console.get("/console/analytics").status_code == 403
    assert console.get("/console/analytics/sales.csv").status_code == 403
