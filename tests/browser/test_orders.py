"""The orders pages in a browser: an operator signs in, finds an order by its customer's
e-mail and reads its timeline; an order paid up front loses a line's units and the page shows
the refund. Screenshots: orders-list, order-detail."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, expect

from ordermesh.adapters.notify.email import Branding, MailboxSender
from ordermesh.adapters.notify.notifier import EmailNotifier
from ordermesh.services import commands as c
from ordermesh.services.bus import MessageBus
from ordermesh.services.handlers.notifications import NotifySetup
from tests.browser.conftest import screenshot, sign_in_page
from tests.builders import ADDRESS, Shop, place
from tests.console import a_user
from tests.e2e.test_shipping import boxes, picked, post  # noqa: F401 - boxes is a fixture

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

CUSTOMERS = (("Bram Jansen", "bram@example.com", "Utrecht", (("TEE-1", 1), ("CAP-1", 1))),
             ("Chloé Martin", "chloe@example.com", "Rotterdam", (("TEE-1", 2),)),
             ("Daan Visser", "daan@example.com", "Haarlem", (("MUG-1", 1),)))


@pytest.mark.usefixtures("boxes")
def test_find_an_order_and_read_its_timeline(browser: Browser, server: str, client: TestClient,
                                             shop: Shop, bus: MessageBus,
                                             tmp_path: Path) -> None:
    # given a few orders, one of them picked, packed, labelled and on its way, its customer told
    bus.notify = NotifySetup(EmailNotifier(MailboxSender(tmp_path / "mailbox"),
                                           Branding("Test Shop", "orders@shop.example")))
    order, fulfilment = picked(client, shop, ("TEE-1", 2))
    post(client, shop, f"/fulfilments/{fulfilment}/pack")
    post(client, shop, f"/fulfilments/{fulfilment}/shipment")
    post(client, shop, f"/fulfilments/{fulfilment}/dispatch")
    for name, email, city, lines in CUSTOMERS:
        place(bus, *lines, customer={"email": email, "name": name},
              shipping_address={**ADDRESS, "name": name, "city": city})
    held = place(bus, ("TEE-1", 1), customer={"email": "eva@example.com", "name": "Eva Smit"})
    bus.handle(c.ChangeOrderStatus("test", held.order_id, "hold", reason="address check"))
    bus.handle(c.RelayEvents("worker"))
    bus.handle(c.SendNotifications("worker"))
    # when an operator signs in and opens the orders
    page, elsewhere = sign_in_page(browser, server, a_user(bus, "operator"))
    page.get_by_role("link", name="Orders", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Orders")
    expect(page.locator("table.orders-list tbody tr")).to_have_count(5)
    screenshot(page, "orders-list")
    # and searches for the customer's e-mail address
    page.get_by_label("Search").fill("ann@example.com")
    page.get_by_role("button", name="Search orders").click()
    rows = page.locator("table.orders-list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("shipped")
    # then the order opens, with where it was sent from and why
    page.get_by_role("link", name=order["number"]).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Order {order['number']}")
    expect(page.get_by_role("table", name="Where each line's units come from")).to_contain_text(
        "WH-1")
    # and its parcel, with the tracking number and a link to follow it
    tracking = page.get_by_role("table", name="What each location sends or hands over")
    expect(tracking).to_contain_text("dispatched")
    expect(page.get_by_role("link", name="Track the parcel at")).to_be_visible()
    # and its timeline, oldest first, in words
    steps = page.locator("ol.timeline li")
    expect(steps.first).to_contain_text("Order placed on web: 1 line(s), total €39.98.")
    expect(steps.first).to_contain_text("api_key:web")
    expect(page.locator("ol.timeline")).to_contain_text("captured.")
    expect(page.locator("ol.timeline")).to_contain_text("Dispatched")
    expect(page.get_by_role("link", name="(PDF)")).to_have_count(1)
    told = page.get_by_role("table", name="What the customer was told")
    expect(told).to_contain_text("order confirmed (email)")
    expect(told.get_by_role("button", name="Resend the dispatched email")).to_be_visible()
    screenshot(page, "order-detail")
    assert elsewhere == []


def test_cancel_a_line_and_see_the_refund(browser: Browser, server: str, shop: Shop,
                                          bus: MessageBus) -> None:
    # given an order of 3 T-shirts and a cap, authorized
    placed = place(bus, ("TEE-1", 3), ("CAP-1", 1))
    page, elsewhere = sign_in_page(browser, server, a_user(bus, "operator"))
    page.goto(f"{server}/console/orders/{placed.order_id}")
    # when the operator captures the payment in full
    page.get_by_role("button", name="Capture payment").click()
    expect(page.get_by_role("status")).to_have_text("Payment captured.")
    # and cancels 2 of the T-shirts at the customer's request
    page.get_by_label("Line to cancel").select_option("1")
    page.get_by_label("Units to cancel").fill("2")
    page.get_by_label("Reason for cancelling units").fill("customer asked by phone")
    page.get_by_role("button", name="Cancel units").click()
    # then the page says so, the line shows 2 units cancelled
    expect(page.get_by_role("status")).to_have_text("Units of line 1 cancelled.")
    line = page.get_by_role("table", name="What was ordered").locator("tbody tr").first
    expect(line.locator("td").nth(4)).to_have_text("2")
    # and the payment shows the refund of their price, done
    refund = page.locator("tr.txn-refund")
    expect(refund).to_have_count(1)
    expect(refund).to_contain_text("€39.98")
    expect(refund).to_contain_text("succeeded")
    expect(page.locator("ol.timeline")).to_contain_text(
        "Line 1: 2 × TEE-1 cancelled (customer asked by phone)")  # noqa: RUF001
    assert elsewhere == []
