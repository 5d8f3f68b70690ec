"""The customer's tracking page, /track/{token} (HTML) and /track/{token}.json, on both
databases: a shipped order shows its carrier, tracking number, link and expected day and
nothing personal; a click & collect order shows its store, and its pickup code only while it
waits at the counter; an unknown or malformed token is the same 404; the token stays out of
the logs."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select
from sqlalchemy.engine import Engine

from ordermesh.adapters.carriers.courier import Courier
from ordermesh.adapters.db import tables as t
from ordermesh.bootstrap import App
from ordermesh.entrypoints.api import app as api
from ordermesh.entrypoints.api.routers.tracking import (
    TrackingTokenRedactor,
    redact_tracking_tokens,
)
from tests.builders import ADDRESS, Clock, Shop
from tests.e2e.test_fulfilments import act, place, release
from tests.e2e.test_shipping import get, picked, post, webhooks_to

# What an order carries that the page must never show (the builders' customer and address).
PERSONAL = ["ann@example.com", "Vries", "Keizersgracht", ADDRESS["postal_code"], "1015",
            "1234567", "+31", "tok_visa", "neighbours"]


def tracking_app(ordermesh: App) -> FastAPI:
    return api.create_app(ordermesh)


@pytest.fixture
def client(ordermesh: App) -> Iterator[TestClient]:
    with TestClient(tracking_app(ordermesh), raise_server_exceptions=False) as client:
        yield client


def token_of(engine: Engine, order_id: str) -> str:
    with engine.connect() as conn:
        token = conn.execute(select(t.orders.c.tracking_token).where(
            t.orders.c.id == order_id)).scalar_one()
    assert isinstance(token, str) and len(token) >= 20
    return token


def track(client: TestClient, token: str) -> tuple[dict[str, Any], str]:
    """The JSON and the HTML of the page, both checked for their headers."""
    data = client.get(f"/track/{token}.json")
    page = client.get(f"/track/{token}")
    for response, kind in ((data, "application/json"), (page, "text/html")):
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith(kind)
        assert response.headers["cache-control"] == "no-store"
        assert "noindex" in response.headers["x-robots-tag"]
        assert response.headers["referrer-policy"] == "no-referrer"
    assert "default-src 'none'" in page.headers["content-security-policy"]
    return data.json(), page.text


def amounts_of(client: TestClient, shop: Shop, order_id: str) -> set[int]:
    """Every amount of the order and its shipment that is big enough to be recognised."""
    order = get(client, shop, f"/orders/{order_id}")
    totals = order["totals"]
    found = {order["grand_total"], totals["lines"], totals["tax"], totals["shipping"]}
    found |= {ln[k] for ln in order["lines"] for k in ("unit_price", "line_total", "tax_amount")}
    for fulfilment in get(client, shop, "/fulfilments"):
        if fulfilment["order_id"] == order_id and fulfilment["shipment"]:
            found.add(fulfilment["shipment"]["amount"])
    return {a for a in found if a >= 100}


def assert_nothing_personal(body: str, amounts: set[int]) -> None:
    for secret in PERSONAL:  # digits alone only where they stand alone (not in a number)
        pattern = rf"(?<!\d){secret}(?!\d)" if secret.isdigit() else re.escape(secret)
        assert not re.search(pattern, body), secret
    for amount in amounts:
        for written in (str(amount), f"{amount / 100:.2f}", f"{amount / 100:.2f}".replace(".", ",")):
            assert not re.search(rf"(?<![\d.,]){re.escape(written)}(?![\d])", body), written


def kinds(data: dict[str, Any]) -> list[str]:
    return [step["kind"] for step in data["timeline"]]


def test_a_dispatched_order_shows_its_parcel_and_nothing_personal(
        client: TestClient, shop: Shop, engine: Engine, carrier: Courier,
        carrier_clock: Clock) -> None:
    # given an order of 3 T-shirts for Ann de Vries in Amsterdam, picked, packed, labelled
    order, fulfilment = picked(client, shop, ("TEE-1", 3))
    token = token_of(engine, order["id"])
    data, _ = track(client, token)
    assert (data["status"], data["fulfilment_status"]) == ("allocated", "in_progress")
    assert kinds(data) == ["placed", "allocated"] and data["fulfilments"][0]["shipment"] is None
    post(client, shop, f"/fulfilments/{fulfilment}/pack")
    shipment = post(client, shop, f"/fulfilments/{fulfilment}/shipment")
    # when it is dispatched
    post(client, shop, f"/fulfilments/{fulfilment}/dispatch")
    [number] = [p["tracking_number"] for p in get(client, shop, f"/fulfilments/{fulfilment}")
                ["packages"]]
    data, page = track(client, token)
    # then the data names the carrier, the tracking number, its link and the expected day
    assert (data["order_number"], data["status"], data["fulfilment_status"], data["method"]) == (
        order["number"], "shipped", "dispatched", "ship")
    assert (data["first_name"], data["delivery_city"]) == ("Ann", "Amsterdam")
    [sent] = data["fulfilments"]
    assert sent["status"] == "dispatched" and sent["pickup_code"] is None
    assert sent["shipment"] == {
        "carrier": shipment["carrier_name"], "service": "standard",
        "tracking_numbers": [number], "tracking_url": carrier.settings.tracking_url + number,
        "delivers_on": shipment["delivers_on"],
        "packages": [{"number": 1, "tracking_number": number, "status": None}]}
    assert data["promised_on"] is not None
    assert kinds(data) == ["placed", "allocated", "dispatched"]
    assert data["timeline"][1]["promised_on"] == data["promised_on"]
    # and the page says the same, with the link to the carrier's page
    assert "<h1>Order " + order["number"] + "</h1>" in page
    assert number in page and shipment["carrier_name"] in page
    assert f'href="{carrier.settings.tracking_url + number}"' in page
    assert f'<time datetime="{shipment["delivers_on"]}">' in page
    assert page.count("<li><span class=\"step\">") == 3
    # and neither says anything personal, nor any amount
    amounts = amounts_of(client, shop, order["id"])
    assert 1999 in amounts and shipment["amount"] in amounts
    for body in (client.get(f"/track/{token}.json").text, page):
        assert_nothing_personal(body, amounts)
    # when the courier's days pass: out for delivery, then delivered
    carrier_clock.advance(days=4)
    carrier.deliver_webhooks(webhooks_to(client, []))
    data, page = track(client, token)
    assert (data["status"], data["fulfilment_status"]) == ("delivered", "delivered")
    assert kinds(data)[:3] == ["placed", "allocated", "dispatched"]
    assert "out_for_delivery" in kinds(data) and kinds(data)[-1] == "delivered"
    assert data["fulfilments"][0]["shipment"]["packages"][0]["status"] == "delivered"
    assert_nothing_personal(page, amounts)


def test_click_and_collect_shows_the_store_and_the_code_only_once_ready(
        client: TestClient, shop: Shop, engine: Engine) -> None:
    # given an order to collect at the Amsterdam store, picked and packed there
    order = place(client, shop, ("TEE-1", 1), shipping_address=None,
                  fulfilment={"method": "pickup", "location": "ST-AMS"})
    token = token_of(engine, order["id"])
    (fulfilment,) = release(client, shop)
    for action in ("start-picking", "pack"):
        assert act(client, shop, fulfilment, action).status_code == 200
    with engine.connect() as conn:
        code = conn.execute(select(t.fulfilments.c.pickup_code).where(
            t.fulfilments.c.id == fulfilment)).scalar_one()
    shown = re.compile(rf"(?<!\d){code}(?!\d)")
    # then the page names the store and its address, but not the code yet
    data, page = track(client, token)
    assert data["store"] == {"name": "Location ST-AMS", "address": {
        "line1": "Industrieweg 1", "line2": None, "postal_code": None, "city": "Tilburg",
        "region": None, "country": "NL"}}
    assert (data["method"], data["delivery_city"], data["fulfilment_status"]) == (
        "pickup", None, "in_progress")
    assert "Collect from Location ST-AMS" in page and "Industrieweg 1" in page
    assert data["fulfilments"][0]["pickup_code"] is None
    assert not shown.search(page) and not shown.search(client.get(f"/track/{token}.json").text)
    # when the store makes it ready: the code is shown
    assert act(client, shop, fulfilment, "make-ready").status_code == 200
    data, page = track(client, token)
    assert data["fulfilments"][0]["pickup_code"] == code
    assert data["fulfilment_status"] == "ready_for_pickup"
    assert kinds(data) == ["placed", "allocated", "ready_for_pickup"]
    assert f'<strong class="code">{code}</strong>' in page
    # when it is collected with the code: the step is there, the code no longer
    response = client.post(f"/api/v1/fulfilments/{fulfilment}/collect",
                           headers=shop.headers("operator"), json={"pickup_code": code})
    assert response.status_code == 200, response.text
    data, page = track(client, token)
    assert kinds(data) == ["placed", "allocated", "ready_for_pickup", "collected"]
    assert (data["status"], data["fulfilment_status"]) == ("delivered", "delivered")
    assert data["fulfilments"][0]["pickup_code"] is None and not shown.search(page)
    amounts = amounts_of(client, shop, order["id"])
    for body in (client.get(f"/track/{token}.json").text, page):
        assert_nothing_personal(body, amounts)
        assert "Amsterdam" not in body  # the billing city: a pickup has no delivery city


@pytest.mark.parametrize("token", [
    "AAAAAAAAAAAAAAAAAAAAAAAA",  # the shape of a token, but no order's
    "short", "x" * 41, "has space in it 12345", "bad$chars$in$this$tok", "ŧøķëñ-wïth-ünïcödé-1234",
])
def test_an_unknown_or_malformed_token_is_the_same_404(
        client: TestClient, shop: Shop, token: str) -> None:
    place(client, shop, ("TEE-1", 1))  # an order exists: it is not found by another token
    answers: list[Response] = [client.get(f"/track/{token}.json"), client.get(f"/track/{token}")]
    for response in answers:
        assert response.status_code == 404, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["cache-control"] == "no-store"
        assert "noindex" in response.headers["x-robots-tag"]
        assert response.json() == {
            "type": "urn:ordermesh:problem:resource.not_found", "title": "Not found",
            "status": 404, "code": "resource.not_found",
            "detail": "no order is tracked at this address"}


def test_no_api_key_is_needed_and_none_is_looked_at(
        client: TestClient, shop: Shop, engine: Engine) -> None:
    order = place(client, shop, ("TEE-1", 1))
    token = token_of(engine, order["id"])
    response = client.get(f"/track/{token}.json", headers={"Authorization": "Bearer nonsense"})
    assert response.status_code == 200 and response.json()["order_number"] == order["number"]


def test_tokens_are_masked_in_log_records_but_for_a_prefix() -> None:
    token = "Zq3xK9pL2mN8vB4cR7tY1wE5"
    assert redact_tracking_tokens(f'127.0.0.1:1 - "GET /track/{token}.json HTTP/1.1" 200') == (
        '127.0.0.1:1 - "GET /track/Zq3x*** HTTP/1.1" 200')
    assert redact_tracking_tokens(f"GET /track/{token}?a=b") == "GET /track/Zq3x***?a=b"
    assert redact_tracking_tokens("GET /api/v1/orders/OM-000001") == "GET /api/v1/orders/OM-000001"
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1,
                               '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:1", "GET", f"/track/{token}", "1.1", 200), None)
    assert TrackingTokenRedactor().filter(record)
    assert token not in record.getMessage() and "/track/Zq3x***" in record.getMessage()
