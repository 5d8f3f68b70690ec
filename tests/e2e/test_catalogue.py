"""Products and locations: created and changed by admins, validated on the way in."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.builders import Shop, a_gtin, a_location, a_product


def test_product_with_a_valid_gtin_is_created_and_patched(client: TestClient, shop: Shop
                                                          ) -> None:
    admin = shop.headers("admin")
    created = client.post("/api/v1/products", json=a_product(
        "BOOT-1", gtin=a_gtin(5), preorder=True, release_date="2027-01-15"), headers=admin)
    assert created.status_code == 201, created.text
    assert created.json()["gtin"] == a_gtin(5)
    patched = client.patch("/api/v1/products/BOOT-1", json={"price_amount": 8999,
                                                            "active": False}, headers=admin)
    assert patched.json()["price_amount"] == 8999 and patched.json()["active"] is False
    assert client.get("/api/v1/products/BOOT-1", headers=shop.headers("web")).json()[
        "release_date"] == "2027-01-15"


def test_product_validation(client: TestClient, shop: Shop) -> None:
    admin = shop.headers("admin")
    wrong_check_digit = a_gtin(5)[:-1] + str((int(a_gtin(5)[-1]) + 1) % 10)
    for bad in ({"gtin": wrong_check_digit}, {"price_amount": 19.99}, {"currency": "XYZ"},
                {"weight_grams": -1}, {"sku": "has space"}, {"colour": "red"}):
        response = client.post("/api/v1/products", json={**a_product("X-1"), **bad}, headers=admin)
        assert response.status_code == 422, bad
    duplicate = client.post("/api/v1/products", json=a_product("TEE-1"), headers=admin)
    assert duplicate.status_code == 409
    null_name = client.patch("/api/v1/products/TEE-1", json={"name": None}, headers=admin)
    assert null_name.status_code == 422
    missing = client.patch("/api/v1/products/NOPE", json={"name": "x"}, headers=admin)
    assert missing.status_code == 404


def test_products_page_by_cursor(client: TestClient, shop: Shop) -> None:
    seen: list[str] = []
    url = "/api/v1/products?limit=2"
    while url:
        page = client.get(url, headers=shop.headers("operator")).json()
        seen += [p["sku"] for p in page["items"]]
        url = f"/api/v1/products?limit=2&cursor={page['next_cursor']}" if page["next_cursor"] else ""
    assert seen == ["CAP-1", "MUG-1", "TEE-1"]


def test_locations_are_created_listed_by_priority_and_patched(client: TestClient, shop: Shop
                                                              ) -> None:
    admin = shop.headers("admin")
    store = a_location("ST-UTR", kind="store", priority=300, latitude=52.09, longitude=5.12,
                       can_pickup=True, daily_order_capacity=40)
    assert client.post("/api/v1/locations", json=store, headers=admin).status_code == 201
    codes = [loc["code"] for loc in client.get("/api/v1/locations", headers=admin).json()]
    assert codes == ["ST-UTR", "WH-1", "ST-AMS"]
    patched = client.patch("/api/v1/locations/ST-UTR", json={"can_ship": False,
                                                             "daily_order_capacity": None},
                           headers=admin)
    assert patched.json()["can_ship"] is False and patched.json()["daily_order_capacity"] is None
    for bad in ({"latitude": 91}, {"kind": "depot"},
                {"address": {"line1": "x", "city": "y", "country": "ZZ"}}):
        response = client.post("/api/v1/locations", json={**a_location("L-2"), **bad},
                               headers=admin)
        assert response.status_code == 422, bad


def test_the_interactive_docs_need_no_internet(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert "/static-offline-docs/swagger-ui-bundle.js" in page.text
    assert "cdn." not in page.text
    script = client.get("/static-offline-docs/swagger-ui-bundle.js")
    assert script.status_code == 200 and len(script.content) > 100_000
    assert client.get("/static-offline-docs/swagger-ui.css").status_code == 200
    assert "cdn." not in client.get("/redoc").text
    assert client.get("/openapi.json").json()["info"]["title"] == "Ordermesh"
