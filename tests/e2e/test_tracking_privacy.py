"""The tracking page (/track/{token}) and its JSON carry nothing personal beyond what
docs/security.md lists: the customer's first name, the delivery city, the order number, the
parcels, and for a pickup the store's own address. Not the e-mail, the phone, an address line,
postal code or region, the billing address, the company, the full name, the delivery
instructions, the channel's reference, the payment (token, card, amounts) or an invoice. Checked
at each step of an order's life, for a shipped order, a pickup and a cancelled one, and for the
JSON's shape: a field added to it must be added to the documented list."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from ordermesh.bootstrap import App
from ordermesh.entrypoints.api.app import create_app
from tests.builders import Shop, an_order
from tests.e2e.test_fulfilments import release
from tests.e2e.test_shipping import get, post
from tests.e2e.test_tracking_page import token_of

CUSTOMER = {"email": "mary-jane.vanderberg@example.org", "name": "Mary-Jane van der Berg",
            "phone": "+44 20 7946 0958"}
SHIPPING = {"name": "Mary-Jane van der Berg", "company": "Berg Holdings Ltd",
            "line1": "221B Baker Street", "line2": "Flat 4, Second Floor", "city": "London",
            "postal_code": "NW1 6XE", "region": "Greater London", "country": "GB"}
BILLING = {"name": "M J van der Berg", "company": "Berg Accounts Payable",
           "line1": "10 Downing Street", "line2": "Back office", "city": "Westminster",
           "postal_code": "SW1A 2AA", "country": "GB"}
INSTRUCTIONS = "Ring twice, the key is under the blue mat"
REFERENCE = "SHOP-REF-98765"
# Words of the order that the page must never show (first name and city are allowed).
NEVER = ["mary-jane.vanderberg", "example.org", "van der Berg", "Berg", "7946", "0958", "+44",
         "221B", "Baker", "Flat 4", "Second Floor", "NW1", "6XE", "Greater London", "Holdings",
         "Downing", "Westminster", "SW1A", "Accounts Payable", "Back office", "Ring twice",
         "blue mat", REFERENCE, "tok_", "4242", "visa", "Visa", "INV-"]
# Any e-mail address, phone number or link to one.
LOOKS_PERSONAL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+|mailto:|tel:|\+\d[\d ]{6,}")
# The JSON's shape, as docs/security.md lists it: a new field is a decision, not an accident.
SHAPE = {
    "order_number", "status", "fulfilment_status", "method", "placed_at", "first_name",
    "delivery_city", "promised_on", "timeline[].kind", "timeline[].label", "timeline[].at",
    "timeline[].promised_on", "fulfilments[].method", "fulfilments[].status",
    "fulfilments[].pickup_code", "fulfilments[].ready_at", "fulfilments[].shipment",
    "fulfilments[].shipment.carrier", "fulfilments[].shipment.service",
    "fulfilments[].shipment.tracking_numbers", "fulfilments[].shipment.tracking_url",
    "fulfilments[].shipment.delivers_on", "fulfilments[].shipment.packages[].number",
    "fulfilments[].shipment.packages[].tracking_number",
    "fulfilments[].shipment.packages[].status", "store", "store.name", "store.address.line1",
    "store.address.line2", "store.address.postal_code", "store.address.city",
    "store.address.region", "store.address.country", "timeline", "fulfilments",
    "fulfilments[].shipment.packages", "store.address",
}


@pytest.fixture
def client(ordermesh: App) -> Iterator[TestClient]:
    with TestClient(create_app(ordermesh), raise_server_exceptions=False) as client:
        yield client


def fields(document: Any, path: str = "") -> Iterator[str]:
    """The paths of the JSON's fields: "a.b", lists as "a[].b"."""
    if isinstance(document, dict):
        for key, value in document.items():
            here = f"{path}.{key}" if path else key
            yield here
            yield from fields(value, here)
    elif isinstance(document, list):
        for item in document:
            yield from fields(item, f"{path}[]")


def place(client: TestClient, shop: Shop, **change: Any) -> dict[str, Any]:
    body = an_order(("TEE-1", 1), **{
        "customer": CUSTOMER, "shipping_address": SHIPPING, "billing_address": BILLING,
        "delivery_instructions": INSTRUCTIONS, "external_reference": REFERENCE,
        "payment_token": "tok_visa_4242", **change})
    placed = client.post("/api/v1/orders", json=body, headers=shop.headers("web"))
    assert placed.status_code == 201, placed.text
    return dict(placed.json())


def shown(client: TestClient, token: str) -> tuple[dict[str, Any], str]:
    data, page = client.get(f"/track/{token}.json"), client.get(f"/track/{token}")
    assert data.status_code == page.status_code == 200, (data.text, page.text)
    return data.json(), page.text


def assert_private(client: TestClient, shop: Shop, order: dict[str, Any], token: str) -> None:
    data, page = shown(client, token)
    assert set(fields(data)) <= SHAPE, set(fields(data)) - SHAPE
    totals = get(client, shop, f"/orders/{order['id']}")["totals"]
    amounts = {str(a) for a in (totals["grand"], totals["lines"], totals["tax"]) if a >= 100}
    for body in (client.get(f"/track/{token}.json").text, page):
        for word in NEVER:
            assert word not in body, word
        assert not LOOKS_PERSONAL.search(body), LOOKS_PERSONAL.search(body)
        for amount in amounts:
            assert not re.search(rf"(?<![\d.,]){amount}(?!\d)", body), amount
            assert f"{int(amount) / 100:.2f}" not in body
    assert (data["first_name"], data["delivery_city"]) in (("Mary-Jane", "London"),
                                                          ("Mary-Jane", None))


def test_a_shipped_order_shows_no_personal_data_at_any_step(
        client: TestClient, shop: Shop, engine: Engine) -> None:
    # given an order from a customer with every personal field filled in, paid by card
    order = place(client, shop)
    token = token_of(engine, order["id"])
    assert get(client, shop, f"/orders/{order['id']}/payments")[0]["card"]["last4"] == "4242"
    # then, placed, picked, packed, booked, dispatched: nothing personal is shown
    assert_private(client, shop, order, token)
    (fulfilment,) = release(client, shop)
    for step in ("start-picking", "pack", "shipment", "dispatch"):
        post(client, shop, f"/fulfilments/{fulfilment}/{step}")
        assert_private(client, shop, order, token)
    # and what is shown is the first name, the city and the parcel
    data, page = shown(client, token)
    assert data["first_name"] == "Mary-Jane" and data["delivery_city"] == "London"
    assert "Hello Mary-Jane," in page and "Delivery to London." in page
    assert data["fulfilments"][0]["shipment"]["tracking_numbers"]


def test_a_pickup_shows_the_stores_address_and_not_the_customers(
        client: TestClient, shop: Shop, engine: Engine) -> None:
    order = place(client, shop, shipping_address=None,
                  fulfilment={"method": "pickup", "location": "ST-AMS"})
    token = token_of(engine, order["id"])
    assert_private(client, shop, order, token)
    data, _ = shown(client, token)
    assert data["delivery_city"] is None
    assert data["store"]["address"]["line1"] == "Industrieweg 1"  # the store's own


def test_a_cancelled_order_shows_no_personal_data(
        client: TestClient, shop: Shop, engine: Engine) -> None:
    order = place(client, shop)
    cancelled = client.post(f"/api/v1/orders/{order['id']}/cancel", headers=shop.headers("web"))
    assert cancelled.status_code == 200, cancelled.text
    assert_private(client, shop, order, token_of(engine, order["id"]))
    assert shown(client, token_of(engine, order["id"]))[0]["status"] == "cancelled"


@pytest.mark.parametrize("name", [
    "mary-jane.vanderberg@example.org",  # a marketplace that sends the e-mail as the name
    "+44 20 7946 0958",  # ... or the phone number
    "4479460958 Berg",
])
def test_a_name_that_is_really_contact_data_is_not_shown(
        client: TestClient, shop: Shop, engine: Engine, name: str) -> None:
    order = place(client, shop, customer={**CUSTOMER, "name": name})
    data, page = shown(client, token_of(engine, order["id"]))
    assert data["first_name"] is None
    assert "Hello" not in page
    for body in (str(data), page):
        assert not LOOKS_PERSONAL.search(body) and "7946" not in body
