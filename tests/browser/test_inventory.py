"""Inventory and purchasing in a browser: an operator looks up a SKU across locations and
writes off two damaged units; a buyer drafts the replenishment proposal, sends the purchase
order and books part of the delivery. Screenshots: inventory, purchasing, purchase-order."""

from __future__ import annotations

from datetime import date

import pytest
from playwright.sync_api import Browser, expect

from ordermesh.services import commands as c
from ordermesh.services.bus import MessageBus
from tests.browser.conftest import screenshot, sign_in_page
from tests.builders import Shop, place
from tests.console import a_user

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def a_supplier_with_an_order_on_its_way(bus: MessageBus) -> str:
    """Acme, which supplies T-shirts and caps; 20 T-shirts ordered for the warehouse."""
    bus.handle(c.CreateSupplier("test", {
        "code": "ACME", "name": "Acme Textiles", "email": "orders@acme.example",
        "currency": "EUR", "lead_time_days": 7, "payment_terms_days": 30, "active": True}))
    for sku in ("TEE-1", "CAP-1"):
        bus.handle(c.UpdateProduct("test", sku, {"supplier_code": "ACME"}))
    po: str = bus.handle(c.CreatePurchaseOrder("test", {
        "supplier": "ACME", "deliver_to": "WH-1", "expected_on": date(2031, 5, 1),
        "lines": [{"sku": "TEE-1", "quantity": 20, "unit_cost": 575}]}))
    bus.handle(c.SendPurchaseOrder("test", po))
    return po


def test_an_operator_writes_off_damaged_stock(browser: Browser, server: str, shop: Shop,
                                              bus: MessageBus) -> None:
    # given T-shirts at the warehouse and a store, one sold, and more on order
    a_supplier_with_an_order_on_its_way(bus)
    place(bus, ("TEE-1", 1))
    bus.handle(c.AdjustStockLevel("test", "TEE-1", "ST-AMS", safety_stock=1))
    # when an operator looks the SKU up
    page, elsewhere = sign_in_page(browser, server, a_user(bus, "operator"))
    page.get_by_role("link", name="Inventory").click()
    page.get_by_label("SKU", exact=True).fill("TEE-1")
    page.get_by_role("button", name="Show stock").click()
    # then each location shows its figures, and what is coming
    levels = page.locator("table.inventory-levels")
    expect(levels.get_by_role("row", name="WH-1")).to_contain_text("10")
    expect(levels.get_by_role("row", name="ST-AMS")).to_contain_text("In stock")
    expect(levels).to_contain_text("PO-000001/1, due 2031-05-01")
    # when two damaged T-shirts are written off at the warehouse
    page.get_by_label("Location").select_option("WH-1")
    page.get_by_label("Adjustment").select_option("delta")
    page.get_by_label("Quantity").fill("-2")
    page.get_by_label("Reason").select_option("damaged")
    page.get_by_label("Note").fill("dropped from the top shelf")
    page.get_by_role("button", name="Adjust stock").click()
    # then the page says so, the figure is down and the ledger names who and why
    expect(page.get_by_role("status")).to_have_text(
        "On hand of TEE-1 at WH-1: 10 → 8 (damaged: dropped from the top shelf).")
    expect(levels.get_by_role("row", name="WH-1")).to_contain_text("8")
    ledger = page.locator("table.inventory-ledger tbody tr").first
    expect(ledger).to_contain_text("damaged: dropped from the top shelf")
    expect(ledger).to_contain_text("user:operator@shop.example")
    screenshot(page, "inventory")
    assert elsewhere == []


def test_a_buyer_drafts_sends_and_receives(browser: Browser, server: str, shop: Shop,
                                           bus: MessageBus) -> None:
    # given 12 of the T-shirts delivered and billed, and caps to be reordered at the warehouse,
    # which has only one left
    po = a_supplier_with_an_order_on_its_way(bus)
    bus.handle(c.ReceivePurchaseOrder("test", po, {1: 12}))
    bus.handle(c.CreateSupplierBill("test", "ACME-3301", po, date(2031, 5, 2), ((1, 12, 575),)))
    bus.handle(c.AdjustStockLevel("test", "CAP-1", "WH-1", reorder_point=5, reorder_quantity=12))
    page, elsewhere = sign_in_page(browser, server, a_user(bus, "operator"))
    # when the buyer opens purchasing, the proposal says what to buy and why
    page.get_by_role("link", name="Purchasing").click()
    proposal = page.locator("table.purchasing-proposal")
    expect(proposal.get_by_role("row", name="CAP-1")).to_contain_text("12")
    expect(page.locator("table.purchasing-orders")).to_contain_text("partially received")
    expect(page.locator("table.purchasing-bills")).to_contain_text("ACME-3301")
    screenshot(page, "purchasing")
    # and drafts it, then opens the draft
    page.get_by_role("button", name="Draft purchase orders").click()
    expect(page.get_by_role("status")).to_contain_text("Drafted PO-000002")
    page.get_by_role("link", name="PO-000002").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("PO-000002 draft")
    # when it is sent, and 5 of the 12 caps arrive
    page.get_by_role("button", name="Send to supplier").click()
    expect(page.get_by_role("status")).to_contain_text("Purchase order sent")
    expect(page.get_by_role("link", name="Purchase order PDF")).to_be_visible()
    page.get_by_label("Arrived now, line 1").fill("5")
    page.get_by_label("Delivery note").fill("DN-2031-17")
    page.get_by_role("button", name="Book receipt").click()
    # then it is partly received, 7 still to come
    expect(page.get_by_role("status")).to_contain_text("Receipt booked")
    expect(page.get_by_role("heading", level=1)).to_contain_text("partially received")
    expect(page.locator("table.purchasing-lines tbody tr").first).to_contain_text("7")
    screenshot(page, "purchase-order")
    assert elsewhere == []
