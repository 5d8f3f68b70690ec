"""Every GET endpoint of the OpenAPI schema that takes no path parameter answers a shop with
some data without a server error: what a query returns and the model that answers it agree.
(The package types' list once answered 500: its query returned a column its model refused.)"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.builders import Shop
from tests.e2e.purchasing import add_supplier, sent_po
from tests.e2e.test_fulfilments import place, release

BOX = {"name": "Medium box", "length_mm": 400, "width_mm": 300, "height_mm": 200,
       "max_weight_grams": 15_000, "tare_grams": 300}


def put_box(client: TestClient, shop: Shop, code: str, **changes: Any) -> dict[str, Any]:
    response = client.put(f"/api/v1/package-types/{code}", headers=shop.headers("operator"),
                          json={**BOX, **changes})
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_package_types_are_listed_as_they_were_put(client: TestClient, shop: Shop) -> None:
    # given two boxes put, one of them put again smaller and retired
    put_box(client, shop, "M")
    put_box(client, shop, "L", length_mm=600)
    retired = put_box(client, shop, "M", height_mm=150, active=False)
    # when they are listed
    listed = client.get("/api/v1/package-types", headers=shop.headers("operator"))
    # then each is listed as stored, with when it was last put
    assert listed.status_code == 200, listed.text
    boxes = listed.json()
    assert [(b["code"], b["length_mm"], b["height_mm"], b["active"]) for b in boxes] == [
        ("L", 600, 200, True), ("M", 400, 150, False)]
    assert boxes[1] == retired
    assert datetime.fromisoformat(retired["updated_at"]) <= datetime.now(UTC)


@pytest.fixture
def busy_shop(client: TestClient, shop: Shop) -> Shop:
    """The shop with a box, a supplier and a purchase order on its way, an order released to
    the warehouse, and a sale at the store's till."""
    put_box(client, shop, "M")
    add_supplier(client, shop)
    sent_po(client, shop, ("MUG-1", 20, 350))
    place(client, shop, ("TEE-1", 2))
    release(client, shop)
    sold = client.post("/api/v1/pos-sales", headers=shop.headers("pos"), json={
        "store": "ST-AMS", "receipt": "R-1", "currency": "EUR",
        "lines": [{"sku": "TEE-1", "quantity": 1, "unit_price": 1999}]})
    assert sold.status_code == 201, sold.text
    return shop


def required_values() -> dict[str, str]:
    """A value for each query parameter some endpoint requires."""
    return {"sku": "TEE-1", "since": datetime.now(UTC).date().isoformat()}


def test_every_get_endpoint_without_path_parameters_answers_without_a_server_error(
        client: TestClient, busy_shop: Shop) -> None:
    # given the endpoints the schema lists, each with the query parameters it requires
    paths = client.get("/openapi.json").json()["paths"]
    listed = sorted(path for path, operations in paths.items()
                    if "get" in operations and "{" not in path)
    assert "/api/v1/package-types" in listed and len(listed) > 20
    values, failures = required_values(), []
    for path in listed:
        required = [p["name"] for p in paths[path]["get"].get("parameters", [])
                    if p.get("required") and p["in"] == "query"]
        assert set(required) <= set(values), f"{path} requires {required}: give an example"
        # when an admin asks each of them
        response = client.get(path, headers=busy_shop.headers("admin"),
                              params={name: values[name] for name in required})
        answered = response.status_code < 500 and (
            response.status_code == 200 or not path.startswith("/api/v1/"))
        if not answered:
            failures.append((path, response.status_code, response.text[:300]))
    # then none answers with a server error, and every API list answers an admin
    assert failures == []
