"""The console and the tracking page in a real browser: Debian's Chromium driven headless by
Playwright, against the app served by uvicorn on a free port (SQLite). Screenshots of the main
pages are written to docs/screenshots/ by these tests."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Route, sync_playwright

from tests.console import PASSWORD
from tests.e2e.conftest import server, shop  # noqa: F401 - fixtures used by the browser tests

CHROMIUM = next((path for path in (shutil.which("chromium"), shutil.which("chromium-browser"),
                                   "/usr/bin/chromium") if path and os.path.exists(path)), None)
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium for one module's tests. Not for the whole session: Playwright's sync API runs
    an event loop in this thread while it is open, and later tests that start their own
    (asyncio.run, as the event stream tests do) would find it running."""
    if CHROMIUM is None:
        reason = "no chromium here (.ci/run installs Debian's package)"
        if os.environ.get("ORDERMESH_TEST_REQUIRE_BROWSER") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        browser.close()


def new_page(browser: Browser, width: int = 1280) -> tuple[Page, list[str]]:
    """A page in a fresh context; every request to another host is refused and listed."""
    context = browser.new_context(viewport={"width": width, "height": 900},
                                  accept_downloads=True)
    elsewhere: list[str] = []

    def only_here(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    context.route("**/*", only_here)
    return context.new_page(), elsewhere


def sign_in_page(browser: Browser, base_url: str, email: str,
                 password: str = PASSWORD) -> tuple[Page, list[str]]:
    """A browser signed in to the console as this user, on the dashboard."""
    page, elsewhere = new_page(browser)
    page.goto(f"{base_url}/console")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base_url}/console")
    return page, elsewhere


def screenshot(page: Page, name: str) -> None:
    """A full-page screenshot for docs/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
