"""The call-centre agent places an order in a browser: finds the customer by email, adds two
lines and sees what can be promised for each (live as they type, and with the button), chooses
delivery, enters a payment token and lands on the order's page. Screenshot: order-entry."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from ordermesh.services import commands as c
from ordermesh.services.bus import MessageBus
from tests.browser.conftest import screenshot, sign_in_page
from tests.builders import Shop, place
from tests.console import a_user

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def test_the_call_centre_agent_places_an_order(browser: Browser, server: str, shop: Shop,
                                               bus: MessageBus) -> None:
    # given a call centre taking cards at the test gateway, and Ann, who ordered on the web
    bus.handle(c.CreateChannel("test", "call_centre", "Call centre"))
    bus.handle(c.UpdateChannel("test", "call_centre", {"payment_gateway": "test"}))
    place(bus, ("TEE-1", 1))
    # when an agent signs in and opens a new order
    page, elsewhere = sign_in_page(browser, server, a_user(bus, "call_centre"))
    page.get_by_role("link", name="New order").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("New call-centre order")
    # and finds Ann by her email
    page.get_by_label("Email").fill("ann@example.com")
    page.get_by_role("button", name="Find customer").click()
    # then her details from her last order fill the form
    expect(page.get_by_label("Name", exact=True)).to_have_value("Ann de Vries")
    expect(page.get_by_label("Street and number").first).to_have_value("Keizersgracht 1")
    expect(page.get_by_role("table").first).to_contain_text("OM-000001")
    # when two lines are typed, each says what can be promised as it is typed
    page.get_by_label("SKU, line 1", exact=True).fill("TEE-1")
    page.get_by_label("Quantity, line 1", exact=True).fill("2")
    page.get_by_label("SKU, line 2", exact=True).fill("MUG-1")
    lines = page.locator("table.entry-lines tbody tr")
    expect(lines.nth(0).locator("[data-availability]")).to_contain_text("In stock")
    expect(lines.nth(1).locator("[data-availability]")).to_contain_text("Backorder")
    # and the button asks the same question of the server
    page.get_by_role("button", name="Check availability").click()
    expect(lines.nth(0)).to_contain_text("Product TEE-1")
    expect(lines.nth(0).locator("[data-availability]")).to_contain_text("In stock")
    expect(lines.nth(1).locator("[data-availability]")).to_contain_text("Backorder")
    # when delivery to her address is chosen and a payment token entered
    page.get_by_label("Deliver to an address").check()
    expect(page.get_by_label("Deliver to the billing address")).to_be_checked()
    page.get_by_label("Payment token").fill("tok_visa")
    screenshot(page, "order-entry")
    page.get_by_role("button", name="Place order").click()
    # then the agent lands on the order's page, the order placed and paid
    page.wait_for_url(f"{server}/console/orders/**")
    expect(page.get_by_role("heading", level=1)).to_have_text("Order OM-000002")
    expect(page.get_by_role("status")).to_contain_text("Order OM-000002 placed for ann@example.com")
    expect(page.get_by_role("status")).to_contain_text("the payment is authorized")
    assert elsewhere == []
