"""Suppliers over HTTP: admins keep them, operators read them, bad input is refused whole."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from tests.builders import Shop
from tests.e2e.conftest import row_counts
from tests.e2e.purchasing import SUPPLIER, add_supplier


@pytest.fixture
def supplier(client: TestClient, shop: Shop) -> dict[str, Any]:
    return add_supplier(client, shop)


def test_suppliers_are_kept_by_admins_and_read_by_operators(
        client: TestClient, shop: Shop, supplier: dict[str, Any]) -> None:
    assert supplier["email"] == "orders@acme.example.com" and supplier["active"] is True
    operator, admin = shop.headers("operator"), shop.headers("admin")
    assert [s["code"] for s in client.get("/api/v1/suppliers", headers=operator).json()] == ["ACME"]
    changed = client.patch("/api/v1/suppliers/ACME", json={"lead_time_days": 10}, headers=admin)
    assert changed.status_code == 200 and changed.json()["lead_time_days"] == 10
    assert client.get("/api/v1/suppliers/ACME", headers=operator).json()["lead_time_days"] == 10
    assert client.post("/api/v1/suppliers", json=SUPPLIER, headers=admin).status_code == 409
    assert client.post("/api/v1/suppliers", json=SUPPLIER, headers=operator).status_code == 403
    assert client.patch("/api/v1/suppliers/ACME", json={"name": "X"},
                        headers=operator).status_code == 403
    assert client.get("/api/v1/suppliers/NOPE", headers=operator).status_code == 404
    assert client.patch("/api/v1/suppliers/NOPE", json={"name": "X"},
                        headers=admin).status_code == 404


@pytest.mark.parametrize("change", [
    {"email": "not-an-email"}, {"currency": "EURO"}, {"currency": "XYZ"},
    {"lead_time_days": -1}, {"payment_terms_days": 1.5}, {"lead_time_days": "7"},
    {"code": "has space"}, {"name": ""}, {"surprise": 1},
])
def test_bad_suppliers_are_refused(client: TestClient, shop: Shop, engine: Engine,
                                   change: dict[str, Any]) -> None:
    before = row_counts(engine)
    response = client.post("/api/v1/suppliers", json={**SUPPLIER, **change},
                           headers=shop.headers("admin"))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert row_counts(engine) == before


def test_bad_supplier_patches_are_refused(client: TestClient, shop: Shop,
                                          supplier: dict[str, Any]) -> None:
    for change in ({"name": None}, {}, {"email": "x@"}, {"lead_time_days": -3}):
        response = client.patch("/api/v1/suppliers/ACME", json=change,
                                headers=shop.headers("admin"))
        assert response.status_code == 422, change
    assert client.get("/api/v1/suppliers/ACME", headers=shop.headers("operator")).json() == supplier
