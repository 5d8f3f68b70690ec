"""The world the console's access and bad-input tests ask every route about: one of everything a
route takes an id of (an order invoiced, a fulfilment labelled at WH-1, a purchase order and its
bill, a webhook delivery, a mail), a user of each role, and the routes themselves as the app
serves them."""

from __future__ import annotations

from datetime import date
from email.message import EmailMessage
from pathlib import Path

from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.engine import Engine

from ordermesh.adapters.db import tables as t
from ordermesh.adapters.notify.email import MailboxSender
from ordermesh.adapters.webhooks.sender import WebhookSender, new_secret
from ordermesh.bootstrap import App
from ordermesh.entrypoints.api.app import create_app
from ordermesh.services import commands as c
from ordermesh.services.bus import MessageBus
from ordermesh.services.handlers.webhooks import WebhookSetup
from tests.builders import Shop
from tests.console import a_user
from tests.e2e.test_fulfilments import place, release

ROLES = ("anonymous", "admin", "operator", "call_centre", "store_staff", "other_store")
STORE_ROLES = {"store_staff": "WH-1", "other_store": "ST-AMS"}  # the world's work is at WH-1


def console_routes(ordermesh: App) -> dict[str, APIRoute]:
    """Every route the app serves under /console, by "METHOD path"."""
    return {f"{method} {route.path}": route.original_route
            for route in iter_route_contexts(create_app(ordermesh).routes)
            if isinstance(route.original_route, APIRoute) and route.path
            and route.path.startswith("/console")
            for method in (route.methods or ()) if method != "HEAD"}


def a_world(client: TestClient, shop: Shop, bus: MessageBus, engine: Engine,
            mailbox: Path) -> dict[str, str]:
    """One of everything a route takes an id of, all at WH-1; the value of each path
    parameter (and the users of each role: `email:<role>`)."""
    headers = shop.headers("operator")
    client.put("/api/v1/package-types/M", headers=headers, json={
        "name": "Box M", "length_mm": 400, "width_mm": 300, "height_mm": 200,
        "max_weight_grams": 15_000, "tare_grams": 300})
    # a fulfilment at WH-1, packed with its label bought
    place(client, shop, ("TEE-1", 1))
    (fulfilment,) = release(client, shop, "WH-1")
    for step, body in (("start-picking", None), ("pack", None), ("shipment", None)):
        answer = client.post(f"/api/v1/fulfilments/{fulfilment}/{step}", headers=headers,
                             json=body)
        assert answer.status_code in (200, 201), answer.text
    # an order dispatched in full: invoiced and captured
    order = place(client, shop, ("TEE-1", 2))["id"]
    answer = client.post(f"/api/v1/orders/{order}/shipments", headers=headers, json={
        "reference": "PARCEL-1", "lines": [{"line_no": 1, "quantity": 2}]})
    assert answer.status_code == 201, answer.text
    # a purchase order sent and received, and its supplier's bill
    bus.handle(c.CreateSupplier("test", {
        "code": "ACME", "name": "Acme", "email": "orders@acme.example", "currency": "EUR",
        "lead_time_days": 7, "payment_terms_days": 30, "active": True}))
    po = bus.handle(c.CreatePurchaseOrder("test", {
        "supplier": "ACME", "deliver_to": "WH-1",
        "lines": [{"sku": "MUG-1", "quantity": 10, "unit_cost": 450}]}))
    bus.handle(c.SendPurchaseOrder("test", po))
    bus.handle(c.ReceivePurchaseOrder("test", po, {1: 10}))
    bill = bus.handle(c.CreateSupplierBill("test", "B-1", po, date(2026, 3, 1), ((1, 10, 450),)))
    # a webhook subscription with a delivery waiting, and a mail with an HTML part
    bus.webhooks = WebhookSetup(WebhookSender(allow_private=True), new_secret)  # never sent
    subscription = bus.handle(c.CreateWebhookSubscription(
        "test", "http://127.0.0.1:9/hooks", ("order.placed",)))["id"]
    bus.handle(c.RelayEvents("worker"))
    mail = EmailMessage()
    mail["Subject"], mail["To"], mail["From"] = "Order confirmed", "ann@example.com", "shop@x.example"
    mail["Message-ID"] = "<confirmed@shop.example>"
    mail.set_content("Thank you.")
    mail.add_alternative("<p>Thank you.</p>", subtype="html")
    MailboxSender(mailbox).send(mail)
    emails = {role: a_user(bus, role.replace("other_store", "store_staff"),
                           STORE_ROLES.get(role)) for role in ROLES[1:]}
    with engine.connect() as conn:
        first = {table.name: conn.execute(select(table.c[column]).order_by(table.c[column])
                                          ).scalars().first()
                 for table, column in ((t.invoices, "id"), (t.notifications, "id"),
                                       (t.webhook_deliveries, "id"), (t.api_keys, "id"))}
        other = conn.execute(select(t.users.c.id).where(
            t.users.c.email == emails["other_store"])).scalar_one()
    return {"order_id": order, "invoice_id": first["invoices"],
            "notification_id": str(first["notifications"] or 1), "bill_id": bill, "po_id": po,
            "location": "WH-1", "fulfilment_id": fulfilment, "number": "1", "table": "rates",
            "subscription_id": subscription, "delivery_id": str(first["webhook_deliveries"]),
            "name": "confirmed@shop.example.eml", "key_id": first["api_keys"],
            "user_id": other, "step": "accept", "channel": "web",
            **{f"email:{role}": email for role, email in emails.items()}}


def fill(path: str, world: dict[str, str]) -> str:
    """A route's path with the world's ids in it (`code`: a channel's, or WH-1's)."""
    values = {"code": world["channel"] if "/channels/" in path else "WH-1", **world}
    return path.format(**{k: v for k, v in values.items() if ":" not in k})
