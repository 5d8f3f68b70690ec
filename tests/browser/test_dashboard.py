"""The dashboard and the analytics page in Chromium: an operator sees today's orders, follows
the navigation by keyboard to the analytics, whose charts are drawn inline (nothing fetched from
elsewhere) and whose CSV downloads. Screenshots: dashboard, analytics."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser

from ordermesh.services.bus import MessageBus
from tests.browser.conftest import screenshot, sign_in_page
from tests.builders import Shop, an_order
from tests.console import a_user

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def test_the_dashboard_and_the_analytics(browser: Browser, server: str, client: TestClient,
                                         shop: Shop, bus: MessageBus) -> None:
    # given a morning's orders from two channels, one card declined
    for channel, sku, quantity, token in (("web", "TEE-1", 2, "tok_visa"),
                                          ("web", "MUG-1", 1, "tok_visa"),
                                          ("pos", "TEE-1", 1, "tok_visa"),
                                          ("pos", "TEE-1", 1, "tok_declined")):
        answer = client.post("/api/v1/orders", headers=shop.headers(channel),
                             json=an_order((sku, quantity), payment_token=token))
        assert answer.status_code == 201, answer.text
    page, elsewhere = sign_in_page(browser, server, a_user(bus, "operator"))
    # the dashboard shows them by channel
    orders_today = page.get_by_role("table", name="Orders and revenue today by channel")
    assert "web" in orders_today.inner_text() and "pos" in orders_today.inner_text()
    screenshot(page, "dashboard")
    # the keyboard reaches the analytics link in the navigation
    for _ in range(15):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "Analytics":
            break
    else:
        pytest.fail("Tab never reached the Analytics link")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{server}/console/analytics")
    # the charts are inline SVG with a title each
    assert page.locator("figure.chart svg").count() >= 3
    assert page.get_by_role("heading", name="Rates").is_visible()
    screenshot(page, "analytics")
    # the sales table downloads as CSV
    with page.expect_download() as download:
        page.get_by_role("table", name="Sales by channel").get_by_role(
            "link", name="Download CSV").click()
    assert download.value.suggested_filename.startswith("sales-")
    assert elsewhere == []
