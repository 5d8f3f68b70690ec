"""Who may do what, on every route of the API: each route (read from the application itself,
so that a new one cannot be forgotten; the console's routes are covered by
tests/e2e/test_console_access.py) is called by each caller, in a shop with a real object behind
every path parameter, and must be allowed (anything but 401, 403 or 404, and no 5xx) or refused
as EXPECTED says: 401 without a key, 403 with a key of the wrong role, 404 for a channel asking
for another channel's order, invoice or cart hold. EXPECTED is the same table as docs/api.md's
"Resources", in data."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.engine import Engine

from ordermesh.adapters.db import tables as t
from ordermesh.bootstrap import App
from ordermesh.config import Settings
from ordermesh.entrypoints.api.app import create_app
from ordermesh.services import commands as c
from tests.builders import Shop, hold, place
from tests.e2e.purchasing import add_supplier, sent_po

ANONYMOUS, CHANNEL, OPERATOR, ADMIN = "anonymous", "channel", "operator", "admin"
ANYONE = frozenset({ANONYMOUS, CHANNEL, OPERATOR, ADMIN})  # no key needed
ANY_KEY = frozenset({CHANNEL, OPERATOR, ADMIN})  # also "channel or operator": admins operate
CHANNELS = frozenset({CHANNEL})
OPERATORS = frozenset({OPERATOR, ADMIN})  # an admin key also acts as an operator
ADMINS = frozenset({ADMIN})
SIGNED = frozenset({"signed"})  # no key: the sender's signature is checked instead
# Path parameters naming what belongs to one channel: another channel's is a 404.
CHANNEL_OWNED = frozenset({"order_id", "invoice_id", "hold_id"})

EXPECTED: dict[str, frozenset[str]] = {
    # orders
    "POST /api/v1/orders": CHANNELS,
    "GET /api/v1/orders": ANY_KEY,
    "GET /api/v1/orders/{order_id}": ANY_KEY,
    "GET /api/v1/orders/{order_id}/events": ANY_KEY,
    "POST /api/v1/orders/{order_id}/cancel": ANY_KEY,
    "POST /api/v1/orders/{order_id}/hold": OPERATORS,
    "POST /api/v1/orders/{order_id}/release": OPERATORS,
    "POST /api/v1/orders/{order_id}/lines/{line_no}/reject": OPERATORS,
    "POST /api/v1/orders/{order_id}/lines/{line_no}/cancel": ANY_KEY,
    "GET /api/v1/orders/{order_id}/notifications": ANY_KEY,
    # money
    "GET /api/v1/orders/{order_id}/payments": ANY_KEY,
    "POST /api/v1/orders/{order_id}/payments": ANY_KEY,
    "POST /api/v1/orders/{order_id}/payments/capture": OPERATORS,
    "POST /api/v1/orders/{order_id}/payments/void": OPERATORS,
    "POST /api/v1/orders/{order_id}/shipments": OPERATORS,
    "POST /api/v1/orders/{order_id}/refunds": OPERATORS,
    "GET /api/v1/orders/{order_id}/invoices": ANY_KEY,
    "GET /api/v1/invoices/{invoice_id}": ANY_KEY,
    "GET /api/v1/invoices/{invoice_id}.pdf": ANY_KEY,
    "GET /api/v1/tax-rates": ANY_KEY,
    "PUT /api/v1/tax-rates": ADMINS,
    "DELETE /api/v1/tax-rates/{tax_class}/{country}": ADMINS,
    "POST /api/v1/payment-webhooks/{gateway}": SIGNED,
    "POST /api/v1/payouts/import": OPERATORS,
    "GET /api/v1/reports/reconciliation": OPERATORS,
    # availability and cart holds
    "GET /api/v1/availability": ANY_KEY,
    "POST /api/v1/availability": ANY_KEY,
    "POST /api/v1/cart-holds": CHANNELS,
    "GET /api/v1/cart-holds/{hold_id}": ANY_KEY,
    "DELETE /api/v1/cart-holds/{hold_id}": ANY_KEY,
    # catalogue, stock, channels and keys
    "POST /api/v1/products": ADMINS,
    "GET /api/v1/products": ANY_KEY,
    "GET /api/v1/products/{sku}": ANY_KEY,
    "PATCH /api/v1/products/{sku}": ADMINS,
    "POST /api/v1/locations": ADMINS,
    "GET /api/v1/locations": ANY_KEY,
    "GET /api/v1/locations/{code}": ANY_KEY,
    "PATCH /api/v1/locations/{code}": ADMINS,
    "GET /api/v1/stock-levels": OPERATORS,
    "PUT /api/v1/stock-levels/{sku}/{location}": ADMINS,
    "GET /api/v1/stock-movements": OPERATORS,
    "POST /api/v1/stock-syncs": ADMINS,
    "POST /api/v1/channels": ADMINS,
    "GET /api/v1/channels": OPERATORS,
    "PATCH /api/v1/channels/{code}": ADMINS,
    "POST /api/v1/api-keys": ADMINS,
    "GET /api/v1/api-keys": ADMINS,
    "DELETE /api/v1/api-keys/{key_id}": ADMINS,
    # purchasing and payables
    "POST /api/v1/suppliers": ADMINS,
    "GET /api/v1/suppliers": OPERATORS,
    "GET /api/v1/suppliers/{code}": OPERATORS,
    "PATCH /api/v1/suppliers/{code}": ADMINS,
    "POST /api/v1/purchase-orders": OPERATORS,
    "GET /api/v1/purchase-orders": OPERATORS,
    "GET /api/v1/purchase-orders/{po_id}": OPERATORS,
    "GET /api/v1/purchase-orders/{po_id}.pdf": OPERATORS,
    "GET /api/v1/purchase-orders/{po_id}.csv": OPERATORS,
    "GET /api/v1/purchase-orders/{po_id}/events": OPERATORS,
    "POST /api/v1/purchase-orders/{po_id}/send": OPERATORS,
    "POST /api/v1/purchase-orders/{po_id}/receipts": OPERATORS,
    "POST /api/v1/purchase-orders/{po_id}/close": OPERATORS,
    "POST /api/v1/purchase-orders/{po_id}/cancel": OPERATORS,
    "POST /api/v1/replenishment-proposals": OPERATORS,
    "POST /api/v1/supplier-bills": OPERATORS,
    "GET /api/v1/supplier-bills": OPERATORS,
    "GET /api/v1/supplier-bills/{bill_id}": OPERATORS,
    "GET /api/v1/supplier-bills/{bill_id}/events": OPERATORS,
    "POST /api/v1/supplier-bills/{bill_id}/approve": OPERATORS,
    "POST /api/v1/supplier-bills/{bill_id}/reject": OPERATORS,
    "POST /api/v1/supplier-bills/{bill_id}/payments": OPERATORS,
    "GET /api/v1/reports/ap-ageing": OPERATORS,
    # fulfilment and shipping
    "POST /api/v1/fulfilments/release": OPERATORS,
    "GET /api/v1/fulfilments": OPERATORS,
    "GET /api/v1/fulfilments/{fulfilment_id}": OPERATORS,
    "POST /api/v1/fulfilments/{fulfilment_id}/{action}": OPERATORS,
    "POST /api/v1/fulfilments/{fulfilment_id}/dispatch": OPERATORS,
    "POST /api/v1/fulfilments/{fulfilment_id}/collect": OPERATORS,
    "POST /api/v1/fulfilments/{fulfilment_id}/reject": OPERATORS,
    "POST /api/v1/fulfilments/{fulfilment_id}/short-pick": OPERATORS,
    "POST /api/v1/fulfilments/{fulfilment_id}/return-to-stock": OPERATORS,
    "POST /api/v1/fulfilments/{fulfilment_id}/pack": OPERATORS,
    "POST /api/v1/fulfilments/{fulfilment_id}/shipment": OPERATORS,
    "GET /api/v1/fulfilments/{fulfilment_id}/packages/{number}/label.pdf": OPERATORS,
    "GET /api/v1/fulfilments/{fulfilment_id}/packing-slip.pdf": OPERATORS,
    "POST /api/v1/fulfilments/{fulfilment_id}/tracking": OPERATORS,
    "GET /api/v1/fulfilments/{fulfilment_id}/tracking": OPERATORS,
    "GET /api/v1/pick-lists/{location}": OPERATORS,
    "GET /api/v1/pick-lists/{location}.pdf": OPERATORS,
    "PUT /api/v1/package-types/{code}": OPERATORS,
    "GET /api/v1/package-types": OPERATORS,
    "POST /api/v1/wms/leases": OPERATORS,
    "POST /api/v1/wms/fulfilments/{fulfilment_id}/confirmations": OPERATORS,
    "POST /api/v1/carrier-webhooks/{carrier}": SIGNED,
    # imports and the till
    "POST /api/v1/order-imports": CHANNELS,
    "POST /api/v1/order-imports.csv": CHANNELS,
    "GET /api/v1/order-import-mappings": ANY_KEY,
    "POST /api/v1/pos-sales": CHANNELS,
    # webhooks
    "POST /api/v1/webhook-subscriptions": ADMINS,
    "GET /api/v1/webhook-subscriptions": ADMINS,
    "GET /api/v1/webhook-subscriptions/{subscription_id}": ADMINS,
    "PATCH /api/v1/webhook-subscriptions/{subscription_id}": ADMINS,
    "GET /api/v1/webhook-subscriptions/{subscription_id}/deliveries": ADMINS,
    "POST /api/v1/webhook-deliveries/{delivery_id}/replay": ADMINS,
    # analytics and SLAs
    "GET /api/v1/analytics/stage-times": OPERATORS,
    "GET /api/v1/analytics/stage-times.csv": OPERATORS,
    "GET /api/v1/analytics/stage-trend": OPERATORS,
    "GET /api/v1/analytics/stage-trend.csv": OPERATORS,
    "GET /api/v1/analytics/rates": OPERATORS,
    "GET /api/v1/analytics/rates.csv": OPERATORS,
    "GET /api/v1/analytics/sales": OPERATORS,
    "GET /api/v1/analytics/sales.csv": OPERATORS,
    "GET /api/v1/analytics/dashboard": OPERATORS,
    "GET /api/v1/analytics/stuck": OPERATORS,
    "GET /api/v1/analytics/stuck.csv": OPERATORS,
    "GET /api/v1/stage-slas": OPERATORS,
    "PUT /api/v1/stage-slas/{channel}/{stage}": ADMINS,
    "DELETE /api/v1/stage-slas/{channel}/{stage}": ADMINS,
    # public: the customer's tracking page (its token is the key), health, docs
    "GET /track/{token}": ANYONE,
    "GET /track/{token}.json": ANYONE,
    "GET /healthz": ANYONE,
    "GET /readyz": ANYONE,
    "GET /metrics": ANYONE,
    "GET /health": ANYONE,
    "GET /openapi.json": ANYONE,
    "GET /docs": ANYONE,
    "GET /docs/oauth2-redirect": ANYONE,
    "GET /redoc": ANYONE,
}
# The body sent to a write (others get {}: only the door is tested): a channel-owned object is
# looked up after the body is validated, and the CSV import reads its media type first.
BODIES: dict[str, dict[str, Any]] = {
    "POST /api/v1/orders/{order_id}/lines/{line_no}/cancel": {"json": {"reason": "asked to"}},
    "POST /api/v1/order-imports.csv": {"content": b"external_reference\n",
                                       "headers": {"content-type": "text/csv"}},
}
# An allowed caller may still be told an object is not found here: the label of a package
# exists only once a carrier booked it, which this shop does not do.
NOT_MADE_HERE = frozenset({"GET /api/v1/fulfilments/{fulfilment_id}/packages/{number}/label.pdf"})


def routes(app: FastAPI) -> list[str]:
    """Every "METHOD /path" the application answers, the console's aside."""
    found = []
    for route in iter_route_contexts(app.routes):
        path, methods = route.path, route.methods
        if not path or not methods or path.startswith("/console"):
            continue
        found += [f"{method} {path}" for method in sorted(methods - {"HEAD"})]
    return found


def test_the_matrix_names_every_route_and_only_those() -> None:
    app = create_app(App(Settings(database_url="sqlite://"), None, None))  # type: ignore[arg-type]
    answered = routes(app)
    assert len(answered) == len(set(answered))
    missing = sorted(set(answered) - set(EXPECTED))
    assert not missing, f"say who may call these in EXPECTED and docs/api.md: {missing}"
    assert not sorted(set(EXPECTED) - set(answered)), "EXPECTED names routes that are gone"
    spec = app.openapi()["paths"]
    documented = {f"{m.upper()} {p}" for p, ops in spec.items() for m in ops}
    assert documented <= set(answered)  # the OpenAPI document hides no route from this test


# -- the shop ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Caller:
    name: str
    role: str
    key: str | None
    foreign: bool = False  # asking for channel B's objects with channel A's key


@dataclass
class World:
    """A real object for every path parameter; channel A is the webshop, B the shop floor."""

    own: dict[str, str]
    foreign: dict[str, str]
    codes: dict[str, str]  # {code} by the resource before it


def ship(client: TestClient, shop: Shop, order_id: str) -> str:
    """Dispatch the order's one unit; the id of the invoice that made."""
    shipped = client.post(f"/api/v1/orders/{order_id}/shipments", headers=shop.headers(OPERATOR),
                          json={"reference": f"P-{order_id}", "lines": [{"line_no": 1,
                                                                         "quantity": 1}]})
    assert shipped.status_code == 201, shipped.text
    invoices = client.get(f"/api/v1/orders/{order_id}/invoices", headers=shop.headers(OPERATOR))
    return str(invoices.json()[0]["id"])


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def a_world(client: TestClient, shop: Shop, engine: Engine) -> World:
    bus, operator, admin = shop.bus, shop.headers(OPERATOR), shop.headers(ADMIN)
    # orders of each channel, dispatched and invoiced, and cart holds of each
    a_order = str(place(bus, ("TEE-1", 1), channel="web").order_id)
    b_order = str(place(bus, ("TEE-1", 1), channel="pos").order_id)
    a_invoice, b_invoice = ship(client, shop, a_order), ship(client, shop, b_order)
    for channel in ("web", "pos"):
        bus.handle(c.UpdateChannel("test", channel, {"cart_hold_minutes": 15}))
    a_hold, b_hold = hold(bus, ("CAP-1", 1), channel="web"), hold(bus, ("TEE-1", 1), channel="pos")
    # a fulfilment released to the warehouse
    place(bus, ("TEE-1", 1), channel="web")
    [fulfilment] = ok(client.post("/api/v1/fulfilments/release", headers=operator))["fulfilments"]
    # purchasing: a supplier, a sent purchase order and a bill for it
    supplier = add_supplier(client, shop)["code"]
    po = sent_po(client, shop, ("MUG-1", 10, 450))
    bill = ok(client.post("/api/v1/supplier-bills", headers=operator, json={
        "number": "B-1", "purchase_order": po["number"], "bill_date": "2026-03-01",
        "lines": [{"line_no": 1, "quantity": 10, "unit_cost": 450}]}), 201)
    # settings: a tax rate, an SLA, a package type, a spare key and a webhook subscription
    ok(client.put("/api/v1/tax-rates", headers=admin, json={
        "tax_class": "standard", "country": "NL", "rate": "0.21", "name": "VAT 21%"}))
    ok(client.put("/api/v1/stage-slas/web/dispatch", headers=admin, json={"minutes": 60}))
    ok(client.put("/api/v1/package-types/BOX-S", headers=operator, json={
        "name": "Box S", "length_mm": 300, "width_mm": 200, "height_mm": 100,
        "max_weight_grams": 5000, "tare_grams": 100}))
    spare = bus.handle(c.CreateApiKey("test", "spare", "operator")).id
    subscription = ok(client.post("/api/v1/webhook-subscriptions", headers=admin, json={
        "url": "https://93.184.216.34/hooks", "event_types": ["*"]}), 201)["id"]
    while bus.handle(c.RelayEvents("worker")):
        pass
    with engine.connect() as conn:
        delivery = conn.execute(select(t.webhook_deliveries.c.id).limit(1)).scalar_one()
        token = conn.execute(select(t.orders.c.tracking_token).where(
            t.orders.c.id == a_order)).scalar_one()
    shared = {"line_no": "1", "fulfilment_id": fulfilment, "action": "accept", "number": "1",
              "po_id": po["id"], "bill_id": bill["id"], "sku": "TEE-1", "location": "WH-1",
              "key_id": spare, "tax_class": "standard", "country": "NL", "channel": "web",
              "stage": "dispatch", "gateway": "test", "carrier": "courier",
              "subscription_id": subscription, "delivery_id": str(delivery), "token": token}
    return World(own={**shared, "order_id": a_order, "invoice_id": a_invoice, "hold_id": a_hold},
                 foreign={**shared, "order_id": b_order, "invoice_id": b_invoice,
                          "hold_id": b_hold},
                 codes={"locations": "WH-1", "suppliers": supplier, "channels": "web",
                        "package-types": "BOX-S"})


def url(route: str, world: World, foreign: bool) -> str:
    path = route.split(" ", 1)[1]
    values = world.foreign if foreign else world.own

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "code":
            return world.codes[path[:match.start()].rstrip("/").rsplit("/", 1)[-1]]
        return values[name]

    return re.sub(r"\{(\w+)\}", value, path)


# -- the calls ---------------------------------------------------------------------------------

def expected(route: str, caller: Caller) -> str:
    """"allowed", "401", "403", "404" or "signed"."""
    who = EXPECTED[route]
    if who == SIGNED:
        return "signed"
    if caller.role not in who:
        return "401" if caller.role == ANONYMOUS else "403"
    if caller.foreign and CHANNEL_OWNED & set(re.findall(r"\{(\w+)\}", route)):
        return "404"
    return "allowed"


def judged(route: str, expectation: str, status: int, body: str) -> str | None:
    """What is wrong with the answer, or None."""
    if status >= 500:
        return f"{status}: {body[:200]}"
    if expectation == "allowed":
        refused = {401, 403} if route in NOT_MADE_HERE else {401, 403, 404}
        return f"refused with {status}: {body[:200]}" if status in refused else None
    if expectation == "signed":  # no key is asked for; an unsigned body is refused for that
        return None if 400 <= status < 500 and "signature" in body else f"{status}: {body[:200]}"
    code = {"401": "auth.unauthenticated", "403": "auth.forbidden",
            "404": "resource.not_found"}[expectation]
    return None if str(status) == expectation and code in body else f"{status}: {body[:200]}"


@pytest.fixture
def callers(shop: Shop) -> list[Caller]:
    return [Caller("anonymous", ANONYMOUS, None),
            Caller("channel A on its own", CHANNEL, shop.keys["web"]),
            Caller("channel A on channel B's", CHANNEL, shop.keys["web"], foreign=True),
            Caller("operator", OPERATOR, shop.keys["operator"]),
            Caller("admin", ADMIN, shop.keys["admin"])]


@pytest.fixture
def client(ordermesh: App) -> Iterator[TestClient]:
    with TestClient(create_app(ordermesh), raise_server_exceptions=False) as client:
        yield client


def test_every_route_answers_every_caller_as_the_matrix_says(
        client: TestClient, shop: Shop, engine: Engine, callers: list[Caller]) -> None:
    # given a shop with an object behind every path parameter
    world = a_world(client, shop, engine)
    wrong: list[str] = []
    signed: dict[str, set[int]] = {}
    # when each caller calls each route
    for route in routes(client.app):  # type: ignore[arg-type]
        method = route.split(" ", 1)[0]
        for caller in callers:
            sent = BODIES.get(route, {"json": {}} if method in ("POST", "PUT", "PATCH") else {})
            headers = {**sent.get("headers", {}),
                       **({"Authorization": f"Bearer {caller.key}"} if caller.key else {})}
            answer = client.request(method, url(route, world, caller.foreign), headers=headers,
                                    json=sent.get("json"), content=sent.get("content"))
            expectation = expected(route, caller)
            problem = judged(route, expectation, answer.status_code, answer.text)
            if problem:
                wrong.append(f"{route} as {caller.name}: expected {expectation}, got {problem}")
            if expectation == "signed":
                signed.setdefault(route, set()).add(answer.status_code)
    # then every answer is what the matrix says, and a key changes nothing for a signed route
    assert wrong == [], "\n".join(wrong)
    assert all(len(statuses) == 1 for statuses in signed.values()), signed
