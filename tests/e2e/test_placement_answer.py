"""The answer to `POST /api/v1/orders` is the order as it was written, without reading it back:
for every kind of order it equals what `GET /api/v1/orders/{id}` answers right after."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from ordermesh.bootstrap import App
from ordermesh.domain.events import utcnow
from ordermesh.services.bus import MessageBus
from tests.builders import Shop, an_order, hold
from tests.e2e.purchasing import add_supplier, sent_po

NO_CARD = {"payment_token": None}
PICKUP = {"fulfilment": {"method": "pickup", "location": "ST-AMS"}, "shipping_address": None}


def with_cart_hold(bus: MessageBus) -> dict[str, Any]:
    return an_order(("TEE-1", 2), cart_hold=hold(bus, ("TEE-1", 2)), **NO_CARD)


# Each kind: the body, given the bus (some make what the body names first).
KINDS: dict[str, Callable[[MessageBus], dict[str, Any]]] = {
    "from one warehouse, with a reference and a gift message": lambda bus: an_order(
        ("TEE-1", 2), external_reference="W-1001", shipping_total=495,
        packaging={"gift_wrap": True, "gift_message": "Gefeliciteerd, Zoë!"}, **NO_CARD),
    "split over a warehouse and a store": lambda bus: an_order(("TEE-1", 12), **NO_CARD),
    "several lines, one short of stock and backordered": lambda bus: an_order(
        ("TEE-1", 1), ("MUG-1", 2), ("CAP-1", 1), **NO_CARD),
    "only backordered": lambda bus: an_order(("MUG-1", 3), **NO_CARD),
    "backordered against an incoming purchase order": lambda bus: an_order(
        ("JUG-1", 2), **NO_CARD),
    "pre-ordered before its release": lambda bus: an_order(("PRE-1", 2), **NO_CARD),
    "collected in the store, from its shelves": lambda bus: an_order(
        ("TEE-1", 2), **PICKUP, **NO_CARD),
    "collected in the store, partly sent over from the warehouse": lambda bus: an_order(
        ("TEE-1", 5), **PICKUP, **NO_CARD),
    "from a warehouse with a daily capacity": lambda bus: an_order(("HAT-1", 1), **NO_CARD),
    "converting a cart hold": with_cart_hold,
    "with a Unicode customer": lambda bus: an_order(
        ("CAP-1", 1), customer={"email": "zoe@example.com", "name": "Zoë Ærøskøbing 山田",
                                "phone": None}, delivery_instructions="Bij de buren — nr. 3",
        **NO_CARD),
    # the gateway's answer comes after the commit: this one is read back
    "paid by card through the gateway": lambda bus: an_order(("TEE-1", 1)),
}


# What some kinds must come to, so each is the kind it says.
SHAPES: dict[str, dict[str, list[tuple[Any, ...]]]] = {
    "split over a warehouse and a store": {"allocations": [
        ("TEE-1", "ST-AMS", 2, "stock"), ("TEE-1", "WH-1", 10, "stock")]},
    "several lines, one short of stock and backordered": {
        "allocations": [("CAP-1", "WH-1", 1, "stock"), ("TEE-1", "WH-1", 1, "stock")],
        "waits": [("MUG-1", None, 2, "backorder")]},
    "backordered against an incoming purchase order": {
        "allocations": [], "waits": [("JUG-1", None, 2, "backorder")]},
    "pre-ordered before its release": {"allocations": [],
                                       "waits": [("PRE-1", None, 2, "preorder")]},
    "collected in the store, partly sent over from the warehouse": {"allocations": [
        ("TEE-1", "ST-AMS", 3, "stock"), ("TEE-1", "WH-1", 2, "transfer")]},
    "from a warehouse with a daily capacity": {"allocations": [
        ("HAT-1", "WH-CAP", 1, "stock")]},
}


@pytest.fixture
def sql(ordermesh: App) -> Iterator[list[str]]:
    """The statements sent to the database while the test runs."""
    sent: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    event.listen(ordermesh.engine, "before_cursor_execute", seen)
    yield sent
    event.remove(ordermesh.engine, "before_cursor_execute", seen)


@pytest.fixture
def taxed_shop(client: TestClient, shop: Shop, bus: MessageBus) -> Shop:
    """The test shop, with VAT added on top of prices, invoices on placement, a pre-order
    product, a warehouse with a daily capacity and one that sends stock to the store."""
    admin = shop.headers("admin")
    for tax_class, rate, name in (("standard", "0.21", "VAT 21%"), ("reduced", "0.09", "VAT 9%")):
        assert client.put("/api/v1/tax-rates", headers=admin, json={
            "tax_class": tax_class, "country": "NL", "rate": rate, "name": name}).status_code == 200
    assert client.patch("/api/v1/channels/web", headers=admin, json={
        "prices_include_tax": False, "invoice_on": "placement",
        "cart_hold_minutes": 30}).status_code == 200
    assert client.patch("/api/v1/locations/WH-1", headers=admin,
                        json={"transfer_days": 2}).status_code == 200
    release = utcnow().date() + timedelta(days=30)
    shop.product("PRE-1", preorder=True, release_date=release, tax_class="reduced")
    shop.location("WH-CAP", priority=10, daily_order_capacity=5)
    shop.product("HAT-1").stock("HAT-1", "WH-CAP", 4)
    add_supplier(client, shop)
    shop.product("JUG-1", backorderable=True, supplier="ACME")
    sent_po(client, shop, ("JUG-1", 5, 350))
    return shop


@pytest.mark.parametrize("kind", KINDS)
def test_the_answer_to_a_placement_is_what_reading_the_order_answers(
        client: TestClient, taxed_shop: Shop, bus: MessageBus, sql: list[str], kind: str
) -> None:
    body = KINDS[kind](bus)
    sql.clear()
    placed = client.post("/api/v1/orders", json=body, headers=taxed_shop.headers("web"))
    assert placed.status_code == 201, placed.text
    placing = list(sql)
    read = client.get(f"/api/v1/orders/{placed.json()['id']}", headers=taxed_shop.headers("web"))
    assert read.status_code == 200
    assert placed.json() == read.json()
    # and unless a gateway answered after the commit, the order was not read to answer
    read_back = any("FROM order_lines" in statement for statement in placing)
    assert read_back == (body["payment_token"] is not None), placing
    # and each line went in with the status it ends with: none was written twice
    assert not [s for s in placing if s.lstrip().startswith("UPDATE order_lines")], placing
    # and so did the order, unless the gateway's answer changed it after the commit
    updated = any(s.lstrip().startswith("UPDATE orders ") for s in placing)
    assert updated == (body["payment_token"] is not None), placing
    # and incoming supply was read only for an order with something stock could not fill
    order = placed.json()
    waits = [wait for line in order["lines"] for wait in line["waits"]]
    supply_read = any("FROM purchase_order_lines" in statement for statement in placing)
    assert supply_read == bool(waits), placing
    if kind == "backordered against an incoming purchase order":  # and promised from it
        assert "PO-" in waits[0]["decision"]["explanation"], waits
    # and the kind really is one (the comparison is only as good as its orders)
    if kind in SHAPES:
        assert SHAPES[kind] == {key: sorted(parts(order, key)) for key in SHAPES[kind]}
    assert order["totals"]["prices_include_tax"] is False
    invoices = client.get(f"/api/v1/orders/{order['id']}/invoices",
                          headers=taxed_shop.headers("operator"))
    assert invoices.status_code == 200 and len(invoices.json()) == 1, invoices.text


def parts(order: dict[str, Any], key: str) -> list[tuple[Any, ...]]:
    """(sku, location, quantity, source or kind) of each allocation or wait of the order."""
    return [(ln["sku"], part.get("location"), part["quantity"], part.get("source") or
             part.get("kind")) for ln in order["lines"] for part in ln[key]]
