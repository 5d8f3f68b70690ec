"""The tracking page in a real browser: Debian's Chromium, driven headless by Playwright, against
the app served by uvicorn on a free port (SQLite). The page shows its heading and timeline,
asks nothing of any other host, fits a 375 px wide phone without scrolling sideways, and the
keyboard reaches the carrier's link with a visible focus outline. The token stays out of the
server's logs but for its first characters."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page
from sqlalchemy.engine import Engine

from ordermesh.bootstrap import App
from tests.browser.conftest import new_page
from tests.builders import Shop
from tests.e2e.test_shipping import picked, post
from tests.e2e.test_tracking_page import token_of, tracking_app

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def client(ordermesh: App) -> Iterator[TestClient]:
    with TestClient(tracking_app(ordermesh), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def dispatched_token(client: TestClient, shop: Shop, engine: Engine) -> str:
    """The token of an order picked, packed, labelled by the courier and dispatched."""
    order, fulfilment = picked(client, shop, ("TEE-1", 2))
    for step in ("pack", "shipment", "dispatch"):
        post(client, shop, f"/fulfilments/{fulfilment}/{step}")
    return token_of(engine, order["id"])


def open_page(browser: Browser, url: str, width: int = 375) -> tuple[Page, list[str]]:
    """The page at `url` in a phone-sized window, loaded; every request to another host is
    refused and named in the list."""
    page, elsewhere = new_page(browser, width)
    response = page.goto(url)
    assert response is not None and response.status == 200
    page.wait_for_load_state("networkidle")
    return page, elsewhere


def test_the_page_in_a_browser(browser: Browser, server: str, dispatched_token: str,
                               caplog: pytest.LogCaptureFixture,
                               capfd: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    page, elsewhere = open_page(browser, f"{server}/track/{dispatched_token}")
    # the heading and every step of the timeline are visible, in an ordered list
    assert page.locator("html").get_attribute("lang") == "en"
    heading = page.get_by_role("heading", level=1)
    assert heading.is_visible() and heading.inner_text().startswith("Order OM-")
    steps = page.locator("ol.timeline > li")
    assert steps.count() == 3
    for i, label in enumerate(("Order placed", "Confirmed", "Dispatched")):
        assert steps.nth(i).is_visible() and steps.nth(i).inner_text().startswith(label)
        assert steps.nth(i).locator("time").first.get_attribute("datetime")
    assert page.get_by_text("Status: On its way").is_visible()
    # nothing was asked of another host (no font, script, image or style from anywhere)
    assert elsewhere == []
    # at 375 px wide nothing scrolls sideways
    widths = page.evaluate("[document.documentElement.scrollWidth, "
                           "document.documentElement.clientWidth, window.innerWidth]")
    assert widths[0] <= widths[1] <= 375, widths
    # the keyboard reaches the carrier's link, and its focus is plain to see
    link = page.locator("a.track")
    assert link.get_attribute("href", timeout=1000) is not None
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('track')"):
            break
    else:
        pytest.fail("Tab never reached the tracking link")
    outline = page.evaluate("(() => { const s = getComputedStyle(document.activeElement);"
                            " return [s.outlineStyle, parseFloat(s.outlineWidth)]; })()")
    assert outline[0] not in ("none", "hidden") and outline[1] >= 2, outline
    assert link.is_visible() and link.bounding_box() is not None
    page.context.close()
    # and the server's logs name the request by the token's first characters only
    out, err = capfd.readouterr()
    logged = "\n".join([*(r.getMessage() for r in caplog.records
                          if r.name.startswith(("uvicorn", "ordermesh"))), out, err])
    assert f"/track/{dispatched_token[:4]}***" in logged  # the access log ran
    assert dispatched_token not in logged and dispatched_token[4:] not in logged


def test_the_page_of_an_unknown_token_loads_nothing_else(browser: Browser, server: str,
                                                        dispatched_token: str) -> None:
    page, _ = new_page(browser)
    context = page.context
    response = page.goto(f"{server}/track/{'A' * 24}")
    assert response is not None and response.status == 404
    assert response.headers["content-type"] == "application/problem+json"
    context.close()
