"""A sale at a store's till, posted by its point of sale: paid (captured at once), invoiced,
handed over, out of the store's stock; posted again, nothing more happens."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from ordermesh.adapters.db import tables as t
from ordermesh.services import commands as c
from ordermesh.services.bus import MessageBus
from tests.builders import Shop
from tests.races import together


def sale(receipt: str, **extra: Any) -> dict[str, Any]:
    return {"store": "ST-AMS", "receipt": receipt, "currency": "EUR",
            "lines": [{"sku": "TEE-1", "quantity": 2, "unit_price": 1999}],
            "payment_token": "tok_visa", **extra}


def test_a_sale_at_the_till_is_paid_handed_over_and_out_of_stock(
        client: TestClient, shop: Shop, bus: MessageBus, engine: Engine) -> None:
    bus.handle(c.UpdateChannel("test", "pos", {"capture_on": "placement",
                                               "invoice_on": "placement"}))
    posted = client.post("/api/v1/pos-sales", headers=shop.headers("pos"), json=sale("R-1"))
    assert posted.status_code == 201, posted.text
    order = posted.json()
    assert (order["status"], order["fulfilment"]["status"]) == ("delivered", "delivered")
    operator = shop.headers("operator")
    levels = {lv["location"]: (lv["on_hand"], lv["reserved"]) for lv in client.get(
        "/api/v1/stock-levels?sku=TEE-1", headers=operator).json()["items"]}
    assert levels["ST-AMS"] == (1, 0)
    (payment,) = client.get(f"/api/v1/orders/{order['id']}/payments", headers=operator).json()
    assert [(x["kind"], x["outcome"]) for x in payment["transactions"]] == [
        ("authorize", "succeeded"), ("capture", "succeeded")]
    invoices = client.get(f"/api/v1/orders/{order['id']}/invoices", headers=operator).json()
    assert [i["reference"] for i in invoices] == ["order"]
    # posted again (the till lost the answer): the same sale, nothing more
    again = client.post("/api/v1/pos-sales", headers=shop.headers("pos"), json=sale("R-1"))
    assert again.status_code == 201 and again.json()["id"] == order["id"]
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.orders)).scalar_one() == 1
    # a walk-in is not mailed
    bus.handle(c.RelayEvents("worker"))
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.notifications)).scalar_one() == 0


def test_a_till_sale_needs_a_store_and_its_stock(client: TestClient, shop: Shop) -> None:
    pos = shop.headers("pos")
    nowhere = client.post("/api/v1/pos-sales", headers=pos, json=sale("R-2", store="WH-1"))
    assert nowhere.status_code == 422 and nowhere.json()["field"] == "store"
    too_many = client.post("/api/v1/pos-sales", headers=pos, json={
        **sale("R-3"), "lines": [{"sku": "TEE-1", "quantity": 50, "unit_price": 1999}]})
    assert too_many.status_code in (409, 422), too_many.text
    assert client.post("/api/v1/pos-sales", headers=shop.headers("operator"),
                       json=sale("R-4")).status_code == 403


def test_a_sale_the_store_cannot_fill_is_refused_before_it_is_paid(
        client: TestClient, shop: Shop, engine: Engine) -> None:
    for lines in ([{"sku": "MUG-1", "quantity": 1, "unit_price": 999}],   # none at the store
                  [{"sku": "TEE-1", "quantity": 5, "unit_price": 1999}]):  # 3 at the store
        refused = client.post("/api/v1/pos-sales", headers=shop.headers("pos"),
                              json={**sale("R-9"), "lines": lines})
        assert refused.status_code == 409, refused.text
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.orders)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(t.payments)).scalar_one() == 0


def test_one_receipt_posted_twice_at_once_is_one_sale(client: TestClient, shop: Shop,
                                                      engine: Engine) -> None:
    results = together([lambda: client.post("/api/v1/pos-sales", headers=shop.headers("pos"),
                                             json=sale("R-7")) for _ in range(2)], ())
    assert [r.status_code for r in results] == [201, 201], [r.text for r in results]
    assert results[0].json()["id"] == results[1].json()["id"]
    # the post that placed it hands it over; the other answers the sale as it stood
    order = client.get(f"/api/v1/orders/{results[0].json()['id']}",
                       headers=shop.headers("operator")).json()
    assert order["status"] in ("delivered", "shipped")
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.orders)).scalar_one() == 1
