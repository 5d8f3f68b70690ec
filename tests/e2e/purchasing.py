"""Requests the purchasing stories share: a supplier, purchase orders, receipts, stock levels."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.builders import Shop

SUPPLIER = {"code": "ACME", "name": "Acme Ceramics & Co", "email": "Orders@Acme.example.com",
            "currency": "EUR", "lead_time_days": 7, "payment_terms_days": 30}


def add_supplier(client: TestClient, shop: Shop) -> dict[str, Any]:
    response = client.post("/api/v1/suppliers", json=SUPPLIER, headers=shop.headers("admin"))
    assert response.status_code == 201, response.text
    return dict(response.json())


def draft(client: TestClient, shop: Shop, *lines: tuple[str, int, int], deliver_to: str = "WH-1",
          **extra: Any) -> Any:
    """Lines are (sku, quantity, unit cost in cents)."""
    body = {"supplier": "ACME", "deliver_to": deliver_to,
            "lines": [{"sku": s, "quantity": q, "unit_cost": u} for s, q, u in lines], **extra}
    return client.post("/api/v1/purchase-orders", json=body, headers=shop.headers("operator"))


def sent_po(client: TestClient, shop: Shop, *lines: tuple[str, int, int],
            deliver_to: str = "WH-1") -> dict[str, Any]:
    created = draft(client, shop, *lines, deliver_to=deliver_to)
    assert created.status_code == 201, created.text
    response = client.post(f"/api/v1/purchase-orders/{created.json()['id']}/send",
                           headers=shop.headers("operator"))
    assert response.status_code == 200, response.text
    return dict(response.json())


def receive(client: TestClient, shop: Shop, po: dict[str, Any], *lines: tuple[int, int],
            **extra: Any) -> Any:
    body = {"lines": [{"line_no": n, "quantity": q} for n, q in lines], **extra}
    return client.post(f"/api/v1/purchase-orders/{po['id']}/receipts", json=body,
                       headers=shop.headers("operator"))


def level(client: TestClient, shop: Shop, sku: str, location: str) -> dict[str, Any]:
    items = client.get(f"/api/v1/stock-levels?sku={sku}&location={location}",
                       headers=shop.headers("operator")).json()["items"]
    return dict(items[0]) if items else {"on_hand": 0, "reserved": 0}
