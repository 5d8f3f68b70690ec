"""The fulfilment queue, integrations and settings in a browser: a store's staff see only their
own location's queue and send a parcel from it (pick, pack, book, download the label, dispatch);
every form field on these pages has an accessible name and the keyboard reaches each with a
visible outline. Screenshots: fulfilment-queue, integrations, settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page
from sqlalchemy.engine import Engine

from ordermesh.adapters.notify.email import MailboxSender
from ordermesh.bootstrap import App
from ordermesh.config import Settings
from ordermesh.services import commands as c
from ordermesh.services import jeopardy_commands as jc
from ordermesh.services.bus import MessageBus
from tests.browser.conftest import screenshot, sign_in_page
from tests.builders import Shop
from tests.console import a_user
from tests.e2e.test_console_integrations import a_mail
from tests.e2e.test_fulfilments import place, release

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

# Every visible form control without a label or an aria-label: their names.
UNLABELLED = """() => Array.from(document.querySelectorAll('input, select, textarea'))
  .filter(el => el.type !== 'hidden' && el.offsetParent !== null)
  .filter(el => !(el.labels && el.labels.length > 0) && !el.getAttribute('aria-label'))
  .map(el => el.name || el.id || el.outerHTML)"""
CONTROLS = """() => Array.from(document.querySelectorAll('input, select, textarea'))
  .filter(el => el.type !== 'hidden' && el.offsetParent !== null).map(el => el.id)"""
FOCUSED = """() => { const el = document.activeElement, style = getComputedStyle(el);
  return [el.id, el.tagName, style.outlineStyle, parseFloat(style.outlineWidth)]; }"""


@pytest.fixture
def ordermesh(database_url: str, engine: Engine, bus: MessageBus, tmp_path: Path) -> App:
    """The app, with a mailbox folder of this test's own."""
    return App(Settings(database_url=database_url, mailbox_dir=str(tmp_path / "mailbox")),
               engine, bus)


@pytest.fixture
def busy(shop: Shop, client: TestClient) -> dict[str, str]:
    """Orders at both locations, released: two deliveries of a bag only the store has, a click
    & collect at the store, and a delivery from the warehouse. Their numbers by name."""
    shop.product("BAG-1").stock("BAG-1", "ST-AMS", 5)
    numbers = {"store": place(client, shop, ("BAG-1", 1))["number"],
               "store_next": place(client, shop, ("BAG-1", 2))["number"],
               "pickup": place(client, shop, ("TEE-1", 1), shipping_address=None, fulfilment={
                   "method": "pickup", "location": "ST-AMS"})["number"],
               "warehouse": place(client, shop, ("TEE-1", 2))["number"]}
    release(client, shop)
    return numbers


def test_store_staff_see_only_their_location_and_dispatch_a_fulfilment_downloading_a_label(
        browser: Browser, server: str, bus: MessageBus, busy: dict[str, str]) -> None:
    # given a store's staff member, signed in
    page, elsewhere = sign_in_page(browser, server, a_user(bus, "store_staff", "ST-AMS"))
    # when they open the fulfilment queue: their own location's, with no other to choose
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Fulfilment").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Fulfilment at ST-AMS"
    assert page.get_by_label("Location").count() == 0
    main = page.get_by_role("main")
    for mine in ("store", "store_next", "pickup"):
        assert main.get_by_role("link", name=busy[mine]).count() == 1
    assert busy["warehouse"] not in main.inner_text()
    # when they pick, pack and book the first bag's shipment
    main.get_by_role("link", name=busy["store"]).click()
    page.get_by_role("button", name="Start picking").click()
    assert page.get_by_role("status").inner_text() == "Picking started."
    page.get_by_label("Package type").select_option("")
    page.get_by_role("button", name="Pack").click()
    assert page.get_by_role("status").inner_text() == "Packed."
    page.get_by_label("Carrier").select_option("courier")
    page.get_by_role("button", name="Book the shipment and make the label").click()
    assert page.get_by_role("status").inner_text().startswith("Label bought")
    # then the label downloads as a PDF
    with page.expect_download() as download:
        page.get_by_role("link", name="Label of package 1 (PDF)").click()
    label = Path(download.value.path()).read_bytes()
    assert label.startswith(b"%PDF")
    # when they dispatch it: it leaves, and the queue lists it as sent today
    page.get_by_role("button", name="Dispatch").click()
    assert page.get_by_role("status").inner_text() == "Dispatched."
    page.get_by_role("link", name="Back to the queue at ST-AMS").click()
    sent = page.get_by_role("table", name="Sent or collected at ST-AMS today (UTC), newest first")
    assert busy["store"] in sent.inner_text()
    to_pick = page.get_by_role("table", name="To pick: released or accepted at ST-AMS, oldest first")
    assert busy["store"] not in to_pick.inner_text() and busy["store_next"] in to_pick.inner_text()
    screenshot(page, "fulfilment-queue")
    # and another location's queue stays closed to them, even asked for by address
    answer = page.goto(f"{server}/console/fulfilment?location=WH-1")
    assert answer is not None and answer.status == 403
    assert elsewhere == []


def labelled_and_reachable(page: Page) -> None:
    """Every visible control has an accessible name, and Tab reaches each, outlined."""
    assert page.evaluate(UNLABELLED) == []
    controls = set(page.evaluate(CONTROLS))
    assert controls
    reached: set[str] = set()
    page.locator("body").focus()
    for _ in range(300):
        page.keyboard.press("Tab")
        element_id, tag, outline, width = page.evaluate(FOCUSED)
        if tag == "BODY":
            break
        assert outline not in ("none", "hidden") and width > 0, (element_id, tag)
        reached.add(element_id)
        if controls <= reached:
            break
    assert controls <= reached, controls - reached


def test_pages_have_labelled_form_fields_and_keyboard_focus(
        browser: Browser, server: str, bus: MessageBus, busy: dict[str, str], shop: Shop,
        client: TestClient, tmp_path: Path) -> None:
    # given a subscription with deliveries waiting, a kept mail, a tax rate and SLAs
    client.post("/api/v1/webhook-subscriptions", headers=shop.headers("admin"), json={
        "url": "https://93.184.216.34/hooks/ordermesh", "event_types": ["order.*", "fulfilment.*"],
        "description": "ERP"})
    bus.handle(c.RelayEvents("worker"))
    MailboxSender(tmp_path / "mailbox").send(a_mail("Your order is confirmed", "Thank you."))
    bus.handle(c.PutTaxRate("test", "standard", "NL", None, "0.21", "BTW 21%"))
    bus.handle(jc.PutStageSla("test", "web", "dispatch", 720))
    bus.handle(jc.PutStageSla("test", "*", "delivery", 2880))
    page, elsewhere = sign_in_page(browser, server, a_user(bus, "admin"))
    # the fulfilment page of a fulfilment being picked: pack and short-pick forms
    page.goto(f"{server}/console/fulfilment?location=WH-1")
    labelled_and_reachable(page)
    page.get_by_role("link", name=busy["warehouse"]).click()
    page.get_by_role("button", name="Start picking").click()
    labelled_and_reachable(page)
    # the integrations page
    page.get_by_role("navigation", name="Console").get_by_role("link",
                                                              name="Integrations").click()
    screenshot(page, "integrations")
    labelled_and_reachable(page)
    # the settings pages
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Settings").click()
    screenshot(page, "settings")
    labelled_and_reachable(page)
    for path in ("/console/settings/channels/web", "/console/settings/locations/ST-AMS",
                 "/console/settings/users"):
        page.goto(f"{server}{path}")
        labelled_and_reachable(page)
    assert elsewhere == []
