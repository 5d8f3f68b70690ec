"""Shipping through the API, on both databases: an order picked, packed into boxes, labelled by
the courier chosen by rate shopping, dispatched (captured and invoiced), followed by the
courier's signed webhooks until delivered; a pickup collected with its code; short picks and
rejections sourced again; a WMS leasing and confirming; a dispatch retried after a crash
captures once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from ordermesh.adapters.carriers import courier as oc
from ordermesh.adapters.carriers.courier import Courier, is_tracking_number
from ordermesh.adapters.db import tables as t
from ordermesh.adapters.payments.test_gateway import TestGateway
from ordermesh.domain.carriers import TrackingEvent
from ordermesh.domain.errors import ConcurrentUpdate, InvalidTransition
from ordermesh.services import commands as c
from ordermesh.services.bus import MessageBus
from ordermesh.services.handlers import payments
from tests.builders import Clock, Shop
from tests.e2e.conftest import row_counts
from tests.e2e.test_fulfilments import place, release
from tests.integration.test_payments import gateway_moves
from tests.pdfs import page_texts, scan
from tests.races import together

BOXES = {"S": (320, 220, 60, 5_000, 100), "M": (400, 300, 200, 15_000, 300)}


@pytest.fixture
def boxes(client: TestClient, shop: Shop) -> None:
    for code, (length, width, height, weight, tare) in BOXES.items():
        response = client.put(f"/api/v1/package-types/{code}", headers=shop.headers("operator"),
                              json={"name": f"Box {code}", "length_mm": length,
                                    "width_mm": width, "height_mm": height,
                                    "max_weight_grams": weight, "tare_grams": tare})
        assert response.status_code == 200, response.text


def get(client: TestClient, shop: Shop, path: str) -> Any:
    response = client.get(f"/api/v1{path}", headers=shop.headers("operator"))
    assert response.status_code == 200, response.text
    return response.json()


def post(client: TestClient, shop: Shop, path: str, body: Any = None, status: int = 200) -> Any:
    response = client.post(f"/api/v1{path}", headers=shop.headers("operator"), json=body)
    assert response.status_code == status, response.text
    return response.json()


def picked(client: TestClient, shop: Shop, *lines: tuple[str, int], **extra: Any
           ) -> tuple[dict[str, Any], str]:
    order = place(client, shop, *lines, **extra)
    (fulfilment,) = release(client, shop)
    post(client, shop, f"/fulfilments/{fulfilment}/start-picking")
    return order, fulfilment


def pdf_text_and_barcodes(pdf: bytes) -> tuple[str, list[str]]:
    return "\n".join(page_texts(pdf)), [text for _, _, text in scan(pdf)]


def webhooks_to(client: TestClient, sent: list[tuple[bytes, dict[str, str]]]
                ) -> Callable[[bytes, dict[str, str]], None]:
    def send(body: bytes, headers: dict[str, str]) -> None:
        sent.append((body, headers))
        response = client.post("/api/v1/carrier-webhooks/courier", content=body,
                               headers=headers)
        assert response.status_code == 204, response.text
    return send


def test_an_order_is_picked_packed_labelled_dispatched_and_followed_until_delivered(
        client: TestClient, shop: Shop, boxes: None, carrier: Courier,
        carrier_clock: Clock) -> None:
    # given an order of 3 T-shirts with packaging instructions, picked at the warehouse
    order, fulfilment = picked(client, shop, ("TEE-1", 3), packaging={
        "gift_wrap": True, "gift_message": "Happy birthday", "name_on_package": "Bo de Vries"})
    # when it is packed: 3 x (300x200x50 mm, 300 g) go in one M box (S holds one layer of 60)
    packed = post(client, shop, f"/fulfilments/{fulfilment}/pack")
    assert packed["status"] == "packed"
    [box] = packed["packages"]
    assert (box["package_type"], box["weight_grams"], box["items"]) == (
        "M", 3 * 300 + 300, [{"sku": "TEE-1", "quantity": 3}])
    # a packed shipment without a label does not leave
    refused = client.post(f"/api/v1/fulfilments/{fulfilment}/dispatch",
                          headers=shop.headers("operator"))
    assert refused.status_code == 409, refused.text
    # when its label is bought: the courier's cheapest service that keeps the promise
    shipment = post(client, shop, f"/fulfilments/{fulfilment}/shipment")
    assert (shipment["carrier"], shipment["service"], shipment["amount"]) == (
        "courier", "standard", 495)  # domestic, 1.2 kg: the band up to 2 kg
    assert shipment["choice"]["quotes"] and "standard" in shipment["choice"]["explanation"]
    # asked again: the same shipment, nothing booked twice
    assert post(client, shop, f"/fulfilments/{fulfilment}/shipment")["id"] == shipment["id"]
    [number] = [p["tracking_number"] for p in get(client, shop, f"/fulfilments/{fulfilment}")
                ["packages"]]
    assert is_tracking_number(number)
    # then the label carries the tracking number as Code 128 and a QR code to the tracking page
    label = client.get(f"/api/v1/fulfilments/{fulfilment}/packages/1/label.pdf",
                       headers=shop.headers("operator"))
    assert label.headers["content-type"] == "application/pdf"
    text, codes = pdf_text_and_barcodes(label.content)
    assert number in codes and carrier.settings.tracking_url + number in codes
    assert "Bo de Vries" in text and "GIFT WRAP" in text
    # and the packing slip its order number, the SKU and the gift message
    slip = client.get(f"/api/v1/fulfilments/{fulfilment}/packing-slip.pdf",
                      headers=shop.headers("operator"))
    text, codes = pdf_text_and_barcodes(slip.content)
    assert order["number"] in codes and "TEE-1" in codes and "Happy birthday" in text
    # when it is dispatched: captured, invoiced, and the order's event names the parcel
    dispatched = post(client, shop, f"/fulfilments/{fulfilment}/dispatch")
    assert (dispatched["status"], dispatched["capture"]["outcome"]) == ("dispatched", "succeeded")
    events = get(client, shop, f"/orders/{order['id']}/events")
    [sent_event] = [e for e in events if e["type"] == "order.dispatched"]
    assert sent_event["data"]["tracking_numbers"] == [number]
    assert get(client, shop, f"/orders/{order['id']}")["fulfilment"]["status"] == "dispatched"
    # when the courier's days pass and it sends its signed webhooks
    sent: list[tuple[bytes, dict[str, str]]] = []
    carrier_clock.advance(days=4)
    assert carrier.deliver_webhooks(webhooks_to(client, sent)) >= 3
    # then the fulfilment and the order are delivered
    assert get(client, shop, f"/fulfilments/{fulfilment}")["status"] == "delivered"
    detail = get(client, shop, f"/orders/{order['id']}")
    assert (detail["status"], detail["fulfilment"]["status"]) == ("delivered", "delivered")
    # and the same webhooks again, in reverse order, change nothing
    seen = get(client, shop, f"/fulfilments/{fulfilment}/tracking")
    send = webhooks_to(client, [])
    for body, headers in reversed(sent):
        send(body, headers)
    assert get(client, shop, f"/fulfilments/{fulfilment}/tracking") == seen
    assert [e["event"] for e in seen][-1] == "delivered" and all(e["applied"] for e in seen)
    # and a late scan with an id of its own is kept, and changes nothing
    first_scan = datetime.fromisoformat(seen[0]["at"])
    late = TrackingEvent("late-1", number, "in_transit", first_scan, "scan found late")
    shop.bus.handle(c.ApplyTracking("test", "courier", (late,)))
    kept = get(client, shop, f"/fulfilments/{fulfilment}/tracking")
    assert [(e["event_id"], e["applied"]) for e in kept if e["event_id"] == "late-1"] == [
        ("late-1", False)]
    assert get(client, shop, f"/fulfilments/{fulfilment}")["status"] == "delivered"
    # and a webhook with a bad signature is refused
    body, headers = sent[0]
    forged = client.post("/api/v1/carrier-webhooks/courier", content=body.replace(
        b"in_transit", b"delivered"), headers=headers)
    assert forged.status_code == 422


def test_several_packages_have_a_tracking_number_each_and_arrive_together(
        client: TestClient, shop: Shop, carrier: Courier, carrier_clock: Clock) -> None:
    order, fulfilment = picked(client, shop, ("TEE-1", 2))
    packed = post(client, shop, f"/fulfilments/{fulfilment}/pack", {"packages": [
        {"items": [{"sku": "TEE-1", "quantity": 1}]},
        {"items": [{"sku": "TEE-1", "quantity": 1}], "weight_grams": 450}]})
    assert [p["weight_grams"] for p in packed["packages"]] == [300, 450]
    post(client, shop, f"/fulfilments/{fulfilment}/shipment", {"service": "express"})
    numbers = [p["tracking_number"] for p in get(client, shop, f"/fulfilments/{fulfilment}")
               ["packages"]]
    assert len(set(numbers)) == 2 and all(is_tracking_number(n) for n in numbers)
    label = client.get(f"/api/v1/fulfilments/{fulfilment}/packages/2/label.pdf",
                       headers=shop.headers("operator"))
    text, codes = pdf_text_and_barcodes(label.content)
    assert numbers[1] in codes and "2 of 2" in text
    post(client, shop, f"/fulfilments/{fulfilment}/dispatch")
    # when every event of the first parcel has come in, and none of the second's
    carrier_clock.advance(days=3)
    shop.bus.handle(c.ApplyTracking("test", "courier", tuple(carrier.track(numbers[0]))))
    # then the shipment is out for delivery, not delivered
    assert get(client, shop, f"/fulfilments/{fulfilment}")["status"] == "out_for_delivery"
    assert get(client, shop, f"/orders/{order['id']}")["status"] == "shipped"
    # and delivered once the second parcel is too (the first's events, sent again, are no news)
    carrier.deliver_webhooks(webhooks_to(client, []))
    assert get(client, shop, f"/fulfilments/{fulfilment}")["status"] == "delivered"
    assert get(client, shop, f"/orders/{order['id']}")["status"] == "delivered"


def test_a_pickup_is_made_ready_and_collected_with_its_code(client: TestClient,
                                                            shop: Shop) -> None:
    order = place(client, shop, ("TEE-1", 1), shipping_address=None,
                  fulfilment={"method": "pickup", "location": "ST-AMS"})
    (fulfilment,) = release(client, shop)
    for action in ("accept", "start-picking", "pack", "make-ready"):
        post(client, shop, f"/fulfilments/{fulfilment}/{action}")
    [ready] = [e for e in get(client, shop, f"/orders/{order['id']}/events")
               if e["type"] == "order.ready_for_pickup"]
    code = ready["data"]["pickup_code"]
    assert len(code) == 6 and code.isdigit()
    assert get(client, shop, f"/orders/{order['id']}")["fulfilment"]["status"] == \
        "ready_for_pickup"
    wrong = str((int(code) + 1) % 1_000_000).zfill(6)
    refused = client.post(f"/api/v1/fulfilments/{fulfilment}/collect",
                          headers=shop.headers("operator"), json={"pickup_code": wrong})
    assert refused.status_code == 422 and refused.json()["field"] == "pickup_code"
    collected = post(client, shop, f"/fulfilments/{fulfilment}/collect", {"pickup_code": code})
    assert (collected["status"], collected["capture"]["outcome"]) == ("collected", "succeeded")
    detail = get(client, shop, f"/orders/{order['id']}")
    assert (detail["status"], detail["fulfilment"]["status"]) == ("delivered", "delivered")
    levels = {lv["location"]: (lv["on_hand"], lv["reserved"]) for lv in get(
        client, shop, "/stock-levels?sku=TEE-1")["items"]}
    assert levels["ST-AMS"] == (2, 0)


def test_a_pickup_not_collected_goes_back_to_stock_and_the_order_is_cancelled(
        client: TestClient, shop: Shop, bus: MessageBus, engine: Engine) -> None:
    order = place(client, shop, ("TEE-1", 1), shipping_address=None,
                  fulfilment={"method": "pickup", "location": "ST-AMS"})
    (fulfilment,) = release(client, shop)
    for action in ("start-picking", "pack", "make-ready"):
        post(client, shop, f"/fulfilments/{fulfilment}/{action}")
    # the worker's job finds nothing due yet
    assert bus.handle(c.ReturnUncollected("test")) == []
    with engine.begin() as conn:  # seven days at the counter
        conn.execute(t.fulfilments.update().values(
            ready_at=datetime.now(UTC) - timedelta(days=8)))
    assert bus.handle(c.ReturnUncollected("test")) == [order["id"]]
    assert get(client, shop, f"/fulfilments/{fulfilment}")["status"] == "returned_to_stock"
    detail = get(client, shop, f"/orders/{order['id']}")
    assert detail["status"] == "cancelled"
    levels = {lv["location"]: (lv["on_hand"], lv["reserved"]) for lv in get(
        client, shop, "/stock-levels?sku=TEE-1")["items"]}
    assert levels["ST-AMS"] == (3, 0)


def test_a_short_pick_lowers_the_count_and_sources_the_rest_elsewhere(
        client: TestClient, shop: Shop) -> None:
    shop.stock("TEE-1", "WH-1", 3)
    order, fulfilment = picked(client, shop, ("TEE-1", 3))
    done = post(client, shop, f"/fulfilments/{fulfilment}/short-pick",
                {"lines": [{"line_no": 1, "found": 1}]})
    assert (done["status"], done["lines"]) == ("picking", [
        {"line_no": 1, "sku": "TEE-1", "quantity": 1}])
    # the warehouse counted 2 fewer than it had (3 -> 1) and reserves the 1 found; the 2
    # missing are reserved at the store
    levels = {lv["location"]: (lv["on_hand"], lv["reserved"]) for lv in get(
        client, shop, "/stock-levels?sku=TEE-1")["items"]}
    assert levels == {"WH-1": (1, 1), "ST-AMS": (3, 2)}
    ledger = get(client, shop, "/stock-movements?sku=TEE-1&location=WH-1")
    reasons = [m["reason"] for m in (ledger["items"] if isinstance(ledger, dict) else ledger)]
    assert "short_pick" in reasons
    # the next wave gives the store its fulfilment of the 2
    (store,) = release(client, shop)
    assert get(client, shop, f"/fulfilments/{store}")["location"] == "ST-AMS"
    line = get(client, shop, f"/orders/{order['id']}")["lines"][0]
    assert sorted((a["location"], a["quantity"]) for a in line["allocations"]
                  if a["status"] == "active") == [("ST-AMS", 2), ("WH-1", 1)]


def test_a_store_that_rejects_a_fulfilment_has_it_sourced_elsewhere(client: TestClient,
                                                                      shop: Shop) -> None:
    # given 2 mugs only the store has, ordered for delivery
    shop.stock("MUG-1", "ST-AMS", 2)
    order = place(client, shop, ("MUG-1", 2))
    (fulfilment,) = release(client, shop)
    assert get(client, shop, f"/fulfilments/{fulfilment}")["location"] == "ST-AMS"
    # when the store rejects it: nobody else has mugs, so the line waits
    rejected = post(client, shop, f"/fulfilments/{fulfilment}/reject",
                    {"reason": "two are damaged"})
    assert rejected["status"] == "cancelled"
    detail = get(client, shop, f"/orders/{order['id']}")
    assert detail["status"] == "backordered"
    assert not [a for a in detail["lines"][0]["allocations"] if a["status"] == "active"]
    levels = {lv["location"]: lv["reserved"] for lv in get(
        client, shop, "/stock-levels?sku=MUG-1")["items"]}
    assert levels == {"ST-AMS": 0}
    # when mugs arrive at the warehouse, they go to the order, and the next wave sends them
    shop.stock("MUG-1", "WH-1", 5)
    line = get(client, shop, f"/orders/{order['id']}")["lines"][0]
    assert [(a["location"], a["quantity"]) for a in line["allocations"]
            if a["status"] == "active"] == [("WH-1", 2)]
    (again,) = release(client, shop)
    post(client, shop, f"/fulfilments/{again}/start-picking")
    post(client, shop, f"/fulfilments/{again}/pack")
    assert post(client, shop, f"/fulfilments/{again}/shipment")["carrier"] == "courier"


def test_a_short_pick_after_a_count_that_found_the_loss_does_not_count_it_twice(
        client: TestClient, shop: Shop) -> None:
    _, fulfilment = picked(client, shop, ("TEE-1", 3))
    shop.stock("TEE-1", "WH-1", 1)  # the count: 1 left of the 3 reserved
    done = post(client, shop, f"/fulfilments/{fulfilment}/short-pick",
                {"lines": [{"line_no": 1, "found": 1}]})
    assert done["lines"][0]["quantity"] == 1
    levels = {lv["location"]: (lv["on_hand"], lv["reserved"]) for lv in get(
        client, shop, "/stock-levels?sku=TEE-1")["items"]}
    assert levels == {"WH-1": (1, 1), "ST-AMS": (3, 2)}


def test_a_label_of_a_shipment_that_will_not_leave_is_cancelled(
        client: TestClient, shop: Shop, bus: MessageBus, carrier: Courier,
        carrier_clock: Clock) -> None:
    carrier_clock.now = datetime.now(UTC).replace(hour=9)  # before the courier's pick-up
    _, fulfilment = picked(client, shop, ("TEE-1", 1))
    post(client, shop, f"/fulfilments/{fulfilment}/pack")
    shipment = post(client, shop, f"/fulfilments/{fulfilment}/shipment")
    post(client, shop, f"/fulfilments/{fulfilment}/cancel", {"reason": "customer called"})
    assert bus.handle(c.CancelLabels("worker")) == 1
    assert bus.handle(c.CancelLabels("worker")) == 0
    assert get(client, shop, f"/fulfilments/{fulfilment}")["shipment"] is None
    with carrier.engine.connect() as conn:
        cancelled = conn.execute(select(oc.shipments.c.cancelled_at).where(
            oc.shipments.c.id == shipment["carrier_shipment_id"])).scalar_one()
    assert cancelled is not None


def test_packages_given_by_hand_must_fit_their_box(client: TestClient, shop: Shop,
                                                   boxes: None) -> None:
    _, fulfilment = picked(client, shop, ("TEE-1", 1))
    for package in ({"items": [{"sku": "TEE-1", "quantity": 1}], "package_type": "S",
                     "weight_grams": 999_999},
                    {"items": [{"sku": "TEE-1", "quantity": 2}]},
                    {"items": [{"sku": "MUG-1", "quantity": 1}]},
                    {"items": [{"sku": "TEE-1", "quantity": 1}], "package_type": "XL"}):
        post(client, shop, f"/fulfilments/{fulfilment}/pack", {"packages": [package]},
             status=422)
    assert get(client, shop, f"/fulfilments/{fulfilment}")["status"] == "picking"


def test_a_shipment_booked_by_hand_is_followed_by_hand(client: TestClient, shop: Shop) -> None:
    order, fulfilment = picked(client, shop, ("TEE-1", 1))
    post(client, shop, f"/fulfilments/{fulfilment}/pack")
    shipment = post(client, shop, f"/fulfilments/{fulfilment}/shipment", {"manual": {
        "carrier_name": "Local Bikes", "tracking_numbers": ["LB-0001"]}})
    assert (shipment["carrier"], shipment["carrier_name"]) == ("manual", "Local Bikes")
    # another shipment by hand with the same number, by another carrier, is its own
    _, other = picked(client, shop, ("TEE-1", 1))
    post(client, shop, f"/fulfilments/{other}/pack")
    post(client, shop, f"/fulfilments/{other}/shipment", {"manual": {
        "carrier_name": "Vans", "tracking_numbers": ["LB-0001"]}})
    # a scan entered before the dispatch is recorded counts once it is
    hours_ago = datetime.now(UTC) - timedelta(hours=3)
    early = post(client, shop, f"/fulfilments/{fulfilment}/tracking", {
        "tracking_number": "LB-0001", "event": "in_transit", "at": hours_ago.isoformat()})
    assert early["status"] == "packed"
    assert post(client, shop, f"/fulfilments/{fulfilment}/dispatch")["status"] == "in_transit"
    done = post(client, shop, f"/fulfilments/{fulfilment}/tracking", {
        "tracking_number": "LB-0001", "event": "delivered",
        "at": (hours_ago + timedelta(hours=2)).isoformat()})
    assert done["status"] == "delivered"
    assert get(client, shop, f"/fulfilments/{other}")["status"] == "packed"
    assert get(client, shop, f"/orders/{order['id']}")["status"] == "delivered"
    wrong = client.post(f"/api/v1/fulfilments/{fulfilment}/tracking",
                        headers=shop.headers("operator"),
                        json={"tracking_number": "XX-0001", "event": "delivered",
                              "at": hours_ago.isoformat()})
    assert wrong.status_code == 422


def test_wms_workers_lease_disjoint_fulfilments_and_confirm_once_per_reference(
        client: TestClient, shop: Shop, bus: MessageBus) -> None:
    for _ in range(6):
        place(client, shop, ("TEE-1", 1))
    made = release(client, shop)
    leased = together([lambda n=n: bus.handle(c.LeaseFulfilments(
        "wms", "WH-1", f"worker-{n}", 300, 2)) for n in range(4)], ConcurrentUpdate)
    taken = [f for r in leased if isinstance(r, list) for f in r]
    assert len(taken) == len(set(taken)) == 6 and set(taken) == set(made)
    # while those leases last, nobody else gets them
    assert post(client, shop, "/wms/leases", {"location": "WH-1", "worker": "w-9"}) == []


def test_a_wms_worker_renews_its_lease_and_confirms_once_per_reference(
        client: TestClient, shop: Shop) -> None:
    for _ in range(3):
        place(client, shop, ("TEE-1", 1))
    release(client, shop)
    mine = post(client, shop, "/wms/leases", {"location": "WH-1", "worker": "w-1", "limit": 2})
    # asking again as the same worker renews its own; another worker gets the rest
    again = post(client, shop, "/wms/leases", {"location": "WH-1", "worker": "w-1", "limit": 2})
    assert [f["id"] for f in again] == [f["id"] for f in mine]
    theirs = post(client, shop, "/wms/leases", {"location": "WH-1", "worker": "w-2"})
    assert len(theirs) == 1 and theirs[0]["id"] not in {f["id"] for f in mine}
    fulfilment = mine[0]["id"]
    path = f"/wms/fulfilments/{fulfilment}/confirmations"
    # another worker's confirmation is refused while the lease lasts
    refused = client.post(f"/api/v1{path}", headers=shop.headers("operator"), json={
        "reference": "PICK-0", "worker": "w-2", "kind": "picking_started"})
    assert (refused.status_code, refused.json()["code"]) == (409, "fulfilment.leased")
    first = post(client, shop, path, {"reference": "PICK-1", "worker": "w-1",
                                      "kind": "picking_started"})
    assert first["status"] == "picking"
    # the same confirmation again is done once; the same reference for something else is not
    assert post(client, shop, path, {"reference": "PICK-1", "worker": "w-1",
                                     "kind": "picking_started"})["status"] == "picking"
    post(client, shop, path, {"reference": "PICK-1", "worker": "w-1", "kind": "packed"},
         status=409)
    post(client, shop, path, {"reference": "PACK-1", "worker": "w-1", "kind": "packed"})
    post(client, shop, path, {"reference": "PACK-1", "worker": "w-1", "kind": "packed"})
    post(client, shop, path, {"reference": "LBL-1", "worker": "w-1", "kind": "labelled"})
    sent = post(client, shop, path, {"reference": "SHIP-1", "worker": "w-1",
                                     "kind": "dispatched"})
    assert sent["status"] == "dispatched" and sent["packages"][0]["tracking_number"]
    assert len(sent["packages"]) == 1


def test_a_dispatch_retried_after_a_crash_before_the_answer_was_kept_captures_once(
        client: TestClient, shop: Shop, gateway: TestGateway, engine: Engine,
        monkeypatch: pytest.MonkeyPatch) -> None:
    order, fulfilment = picked(client, shop, ("TEE-1", 2))
    post(client, shop, f"/fulfilments/{fulfilment}/pack")
    post(client, shop, f"/fulfilments/{fulfilment}/shipment")
    real_record = payments.record
    crashed: list[str] = []

    def crash_once(*args: Any, **kwargs: Any) -> Any:
        if not crashed:  # the gateway has captured; the process dies before the answer is kept
            crashed.append("capture")
            raise RuntimeError("the process died here")
        return real_record(*args, **kwargs)

    monkeypatch.setattr(payments, "record", crash_once)
    first = post(client, shop, f"/fulfilments/{fulfilment}/dispatch")
    assert first["capture"]["outcome"] == "pending" and crashed
    # the dispatch asked again (a client's retry) completes the capture with the same key
    again = post(client, shop, f"/fulfilments/{fulfilment}/dispatch")
    assert again["capture"]["outcome"] == "succeeded"
    assert len(gateway_moves(gateway, "capture")) == 1
    with engine.connect() as conn:
        kinds = conn.execute(select(t.payment_transactions.c.kind, t.payment_transactions.c.outcome)
                             ).all()
    assert sorted(tuple(k) for k in kinds) == [("authorize", "succeeded"),
                                              ("capture", "succeeded")]
    invoices = get(client, shop, f"/orders/{order['id']}/invoices")
    assert len(invoices) == 1


def test_units_in_a_fulfilment_leave_only_with_it(client: TestClient, shop: Shop,
                                                  engine: Engine) -> None:
    order = place(client, shop, ("TEE-1", 2))
    (fulfilment,) = release(client, shop)
    before = row_counts(engine)
    # a shipment dispatched by the order's lines does not take the fulfilment's units
    refused = client.post(f"/api/v1/orders/{order['id']}/shipments",
                          headers=shop.headers("operator"),
                          json={"reference": "S1", "lines": [{"line_no": 1, "quantity": 2}]})
    assert refused.status_code == 422, refused.text
    assert row_counts(engine) == before
    # nor does a stock count that falls below what is reserved move them: the picker settles it
    shop.stock("TEE-1", "WH-1", 1)
    line = get(client, shop, f"/orders/{order['id']}")["lines"][0]
    assert [(a["location"], a["quantity"], a["fulfilment_id"]) for a in line["allocations"]
            if a["status"] == "active"] == [("WH-1", 2, fulfilment)]


def test_one_label_bought_from_four_threads_is_booked_once(client: TestClient, shop: Shop,
                                                           bus: MessageBus, engine: Engine,
                                                           carrier: Courier) -> None:
    _, fulfilment = picked(client, shop, ("TEE-1", 1))
    post(client, shop, f"/fulfilments/{fulfilment}/pack")
    results = together([lambda: bus.handle(c.BookShipment("test", fulfilment))
                        for _ in range(4)], ConcurrentUpdate)
    booked = {r["id"] for r in results if isinstance(r, dict)}
    assert len(booked) == 1, results
    with engine.connect() as conn:
        assert conn.execute(select(t.shipments.c.id)).scalars().all() == list(booked)
    with carrier.engine.connect() as conn:
        assert len(conn.execute(select(oc.shipments.c.id)).all()) == 1


def test_a_webhook_delivered_four_times_at_once_is_applied_once(
        client: TestClient, shop: Shop, engine: Engine, carrier: Courier,
        carrier_clock: Clock) -> None:
    order, fulfilment = picked(client, shop, ("TEE-1", 1))
    post(client, shop, f"/fulfilments/{fulfilment}/pack")
    post(client, shop, f"/fulfilments/{fulfilment}/shipment")
    post(client, shop, f"/fulfilments/{fulfilment}/dispatch")
    carrier_clock.advance(days=5)
    sent: list[tuple[bytes, dict[str, str]]] = []
    carrier.deliver_webhooks(lambda body, headers: sent.append((body, headers)))
    assert sent
    results = together([
        lambda body=body, headers=headers: client.post(
            "/api/v1/carrier-webhooks/courier", content=body, headers=headers).status_code
        for body, headers in sent for _ in range(4)], ConcurrentUpdate)
    assert set(results) == {204}
    with engine.connect() as conn:
        kept = conn.execute(select(t.tracking_events.c.event_id)).scalars().all()
    assert sorted(kept) == sorted({h["webhook-id"] for _, h in sent})
    assert get(client, shop, f"/fulfilments/{fulfilment}")["status"] == "delivered"
    timeline = [e["type"] for e in get(client, shop, f"/orders/{order['id']}/events")]
    assert timeline.count("order.delivered") == 1


def test_a_pickup_from_another_location_is_picked_there_and_collected_at_the_store(
        client: TestClient, shop: Shop) -> None:
    # given mugs only the warehouse has, ordered for collection at the store
    shop.stock("MUG-1", "WH-1", 4)
    order = place(client, shop, ("MUG-1", 2), shipping_address=None,
                  fulfilment={"method": "pickup", "location": "ST-AMS"})
    (fulfilment,) = release(client, shop)
    found = get(client, shop, f"/fulfilments/{fulfilment}")
    assert (found["location"], found["method"]) == ("WH-1", "pickup")
    for action in ("start-picking", "pack", "make-ready"):
        post(client, shop, f"/fulfilments/{fulfilment}/{action}")
    code = next(e["data"]["pickup_code"] for e in get(
        client, shop, f"/orders/{order['id']}/events") if e["type"] == "order.ready_for_pickup")
    post(client, shop, f"/fulfilments/{fulfilment}/collect", {"pickup_code": code})
    assert get(client, shop, f"/orders/{order['id']}")["status"] == "delivered"
    levels = {lv["location"]: (lv["on_hand"], lv["reserved"]) for lv in get(
        client, shop, "/stock-levels?sku=MUG-1")["items"]}
    assert levels["WH-1"] == (2, 0)


def test_the_pick_list_prints_a_barcode_per_sku_with_its_orders(client: TestClient,
                                                                 shop: Shop) -> None:
    shop.stock("MUG-1", "WH-1", 4)
    first = place(client, shop, ("TEE-1", 2), ("MUG-1", 1))
    second = place(client, shop, ("TEE-1", 1))
    release(client, shop)
    pdf = client.get("/api/v1/pick-lists/WH-1.pdf", headers=shop.headers("operator"))
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    text = "\n".join(page_texts(pdf.content))
    assert [value for _, _, value in scan(pdf.content)] == ["MUG-1", "TEE-1"]
    assert first["number"] in text and second["number"] in text
    missing = client.get("/api/v1/pick-lists/NOWHERE.pdf", headers=shop.headers("operator"))
    assert missing.status_code == 404


def test_each_wave_has_its_own_pick_list(client: TestClient, shop: Shop) -> None:
    first = place(client, shop, ("TEE-1", 2))
    one = post(client, shop, "/fulfilments/release")
    second = place(client, shop, ("TEE-1", 1))
    two = post(client, shop, "/fulfilments/release")
    assert one["wave"] != two["wave"]
    picks = {wave: get(client, shop, f"/pick-lists/WH-1?wave={wave}")
             for wave in (one["wave"], two["wave"])}
    assert [(o["order_number"], o["quantity"]) for o in picks[one["wave"]][0]["orders"]] == [
        (first["number"], 2)]
    assert [(o["order_number"], o["quantity"]) for o in picks[two["wave"]][0]["orders"]] == [
        (second["number"], 1)]
    assert get(client, shop, "/pick-lists/WH-1")[0]["quantity"] == 3
    assert get(client, shop, f"/fulfilments/{two['fulfilments'][0]}")["wave"] == two["wave"]


def test_a_short_pick_bars_nothing_for_good(
        client: TestClient, shop: Shop) -> None:
    # given the store has none: 3 picked for at the warehouse, 1 found, the other 2 wait
    shop.stock("TEE-1", "ST-AMS", 0).stock("TEE-1", "WH-1", 3)
    order, fulfilment = picked(client, shop, ("TEE-1", 3))
    post(client, shop, f"/fulfilments/{fulfilment}/short-pick",
         {"lines": [{"line_no": 1, "found": 1}]})
    assert get(client, shop, f"/orders/{order['id']}")["status"] == "backordered"
    # when the warehouse is restocked, it serves the 2 (a short pick bars nothing for good)
    shop.stock("TEE-1", "WH-1", 20)
    line = get(client, shop, f"/orders/{order['id']}")["lines"][0]
    assert sorted((a["location"], a["quantity"]) for a in line["allocations"]
                  if a["status"] == "active") == [("WH-1", 1), ("WH-1", 2)]
    (again,) = release(client, shop)
    assert get(client, shop, f"/fulfilments/{again}")["lines"][0]["quantity"] == 2


def test_a_released_fulfilment_leaves_while_the_rest_of_its_order_waits(
        client: TestClient, shop: Shop) -> None:
    # given 2 ordered, the warehouse's last 2, and the store has none
    shop.stock("TEE-1", "WH-1", 2).stock("TEE-1", "ST-AMS", 0)
    order, fulfilment = picked(client, shop, ("TEE-1", 2))
    # when only 1 is found: the other waits, the order is backordered
    post(client, shop, f"/fulfilments/{fulfilment}/short-pick",
         {"lines": [{"line_no": 1, "found": 1}]})
    assert get(client, shop, f"/orders/{order['id']}")["status"] == "backordered"
    # then the 1 found still leaves
    post(client, shop, f"/fulfilments/{fulfilment}/pack")
    post(client, shop, f"/fulfilments/{fulfilment}/shipment")
    sent = post(client, shop, f"/fulfilments/{fulfilment}/dispatch")
    assert sent["capture"]["amount"] > 0
    detail = get(client, shop, f"/orders/{order['id']}")
    assert (detail["status"], detail["fulfilment"]["status"]) == (
        "fulfilling", "partially_dispatched")
    # and the other, once stock arrives, is served, released and sent: the order is shipped
    shop.stock("TEE-1", "WH-1", 5)
    (rest,) = release(client, shop)
    for step in ("start-picking", "pack", "shipment", "dispatch"):
        post(client, shop, f"/fulfilments/{rest}/{step}")
    detail = get(client, shop, f"/orders/{order['id']}")
    assert (detail["status"], detail["fulfilment"]["status"]) == ("shipped", "dispatched")
    payment = get(client, shop, f"/orders/{order['id']}/payments")[0]
    assert payment["status"] == "captured"


def test_part_of_a_pickup_not_collected_ends_the_order_with_what_was_collected(
        client: TestClient, shop: Shop) -> None:
    # given 5 to collect at the store: 3 from its shelf, 2 sent from the warehouse
    order = place(client, shop, ("TEE-1", 5), shipping_address=None,
                  fulfilment={"method": "pickup", "location": "ST-AMS"})
    store, warehouse = sorted(release(client, shop), key=lambda f: get(
        client, shop, f"/fulfilments/{f}")["location"] != "ST-AMS")
    for fulfilment in (store, warehouse):
        for action in ("start-picking", "pack", "make-ready"):
            post(client, shop, f"/fulfilments/{fulfilment}/{action}")
    codes = [e["data"]["pickup_code"] for e in get(client, shop, f"/orders/{order['id']}/events")
             if e["type"] == "order.ready_for_pickup"]
    post(client, shop, f"/fulfilments/{store}/collect", {"pickup_code": codes[0]})
    # when the rest is never collected
    post(client, shop, f"/fulfilments/{warehouse}/return-to-stock")
    # then the order ends with the 3 collected: delivered, the 2 no longer expected, the rest
    # of the authorization released, the warehouse's units back on its shelf
    detail = get(client, shop, f"/orders/{order['id']}")
    assert (detail["status"], detail["fulfilment"]["status"]) == ("delivered", "delivered")
    assert (detail["lines"][0]["dispatched"], detail["lines"][0]["cancelled"]) == (3, 2)
    payment = get(client, shop, f"/orders/{order['id']}/payments")[0]
    assert [t["kind"] for t in payment["transactions"]] == ["authorize", "capture", "void"]
    levels = {lv["location"]: (lv["on_hand"], lv["reserved"]) for lv in get(
        client, shop, "/stock-levels?sku=TEE-1")["items"]}
    assert levels == {"WH-1": (10, 0), "ST-AMS": (0, 0)}
    # and asking again is refused: it is back already
    post(client, shop, f"/fulfilments/{warehouse}/return-to-stock", status=409)


def test_each_way_out_has_its_own_door(client: TestClient, shop: Shop) -> None:
    _, shipped = picked(client, shop, ("TEE-1", 1))
    post(client, shop, f"/fulfilments/{shipped}/pack")
    post(client, shop, f"/fulfilments/{shipped}/shipment")
    post(client, shop, f"/fulfilments/{shipped}/collect", {"pickup_code": "123456"}, status=409)
    order = place(client, shop, ("TEE-1", 1), shipping_address=None,
                  fulfilment={"method": "pickup", "location": "ST-AMS"})
    (pickup,) = release(client, shop)
    for action in ("start-picking", "pack", "make-ready"):
        post(client, shop, f"/fulfilments/{pickup}/{action}")
    post(client, shop, f"/fulfilments/{pickup}/dispatch", status=409)
    # the order's own dispatch by lines cannot take a fulfilment's reference
    refused = client.post(f"/api/v1/orders/{order['id']}/shipments",
                          headers=shop.headers("operator"), json={
                              "reference": f"fulfilment:{pickup}",
                              "lines": [{"line_no": 1, "quantity": 1}]})
    assert refused.status_code == 422, refused.text


def test_a_held_order_is_not_packed_or_labelled(client: TestClient, shop: Shop) -> None:
    order, fulfilment = picked(client, shop, ("TEE-1", 1))
    post(client, shop, f"/orders/{order['id']}/hold", {"reason": "fraud check"})
    post(client, shop, f"/fulfilments/{fulfilment}/pack", status=409)
    post(client, shop, f"/orders/{order['id']}/release")
    post(client, shop, f"/fulfilments/{fulfilment}/pack")
    post(client, shop, f"/orders/{order['id']}/hold", {"reason": "fraud check"})
    post(client, shop, f"/fulfilments/{fulfilment}/shipment", status=409)


def test_a_label_asked_for_again_otherwise_is_refused(client: TestClient, shop: Shop) -> None:
    _, fulfilment = picked(client, shop, ("TEE-1", 1))
    post(client, shop, f"/fulfilments/{fulfilment}/pack")
    post(client, shop, f"/fulfilments/{fulfilment}/shipment", {"service": "standard"})
    post(client, shop, f"/fulfilments/{fulfilment}/shipment", {"service": "standard"})
    post(client, shop, f"/fulfilments/{fulfilment}/shipment", {"manual": {
        "carrier_name": "Vans", "tracking_numbers": ["V-0001"]}}, status=409)
    post(client, shop, f"/fulfilments/{fulfilment}/shipment", {"service": "express"}, status=409)


def test_odd_packages_and_times_are_refused_quickly(client: TestClient, shop: Shop) -> None:
    _, fulfilment = picked(client, shop, ("TEE-1", 1))
    huge = {"packages": [{"items": [{"sku": "TEE-1", "quantity": 1_000_000}] * 50}]}
    post(client, shop, f"/fulfilments/{fulfilment}/pack", huge, status=422)
    post(client, shop, f"/fulfilments/{fulfilment}/pack")
    post(client, shop, f"/fulfilments/{fulfilment}/shipment", {"manual": {
        "carrier_name": "Vans", "tracking_numbers": ["V-0001"]}})
    post(client, shop, f"/fulfilments/{fulfilment}/dispatch")
    for at in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00",
               (datetime.now(UTC) + timedelta(days=2)).isoformat()):
        post(client, shop, f"/fulfilments/{fulfilment}/tracking", {
            "tracking_number": "V-0001", "event": "exception", "at": at}, status=422)
    # a carrier's event dated ahead is kept, not applied; real scans after it still count
    ahead = TrackingEvent("ahead-1", "V-0001", "exception",
                          datetime.now(UTC) + timedelta(days=30))
    shop.bus.handle(c.ApplyTracking("test", "manual", (ahead,), fulfilment))
    post(client, shop, f"/fulfilments/{fulfilment}/tracking", {
        "tracking_number": "V-0001", "event": "delivered", "at": datetime.now(UTC).isoformat()})
    assert get(client, shop, f"/fulfilments/{fulfilment}")["status"] == "delivered"


def test_the_orders_fulfilment_status_counts_units_sent_without_a_fulfilment(
        client: TestClient, shop: Shop) -> None:
    order = place(client, shop, ("TEE-1", 2))
    post(client, shop, f"/orders/{order['id']}/shipments",
         {"reference": "P1", "lines": [{"line_no": 1, "quantity": 1}]}, status=201)
    assert get(client, shop, f"/orders/{order['id']}")["fulfilment"]["status"] == \
        "partially_dispatched"
    post(client, shop, f"/orders/{order['id']}/shipments",
         {"reference": "P2", "lines": [{"line_no": 1, "quantity": 1}]}, status=201)
    assert get(client, shop, f"/orders/{order['id']}")["fulfilment"]["status"] == "dispatched"
    cancelled = place(client, shop, ("TEE-1", 1))
    post(client, shop, f"/orders/{cancelled['id']}/cancel")
    assert get(client, shop, f"/orders/{cancelled['id']}")["fulfilment"]["status"] == "cancelled"


def test_a_cancel_racing_a_dispatch_one_wins_and_the_stock_agrees(
        client: TestClient, shop: Shop, bus: MessageBus, engine: Engine) -> None:
    for _ in range(3):  # a few rounds: either may win each time
        order, fulfilment = picked(client, shop, ("TEE-1", 1))
        post(client, shop, f"/fulfilments/{fulfilment}/pack")
        post(client, shop, f"/fulfilments/{fulfilment}/shipment")
        results = together([
            lambda o=order, f=fulfilment: bus.handle(c.DispatchShipment(
                "test", o["id"], f"fulfilment:{f}", (), fulfilment_id=f)),
            lambda o=order: bus.handle(c.ChangeOrderStatus("test", o["id"], "cancel")),
        ], (InvalidTransition, ConcurrentUpdate))
        refused = [r for r in results if isinstance(r, Exception)]
        assert len(refused) == 1, results
        status = get(client, shop, f"/orders/{order['id']}")["status"]
        sent = get(client, shop, f"/fulfilments/{fulfilment}")["status"]
        assert (status, sent) in (("shipped", "dispatched"), ("cancelled", "cancelled"))
    with engine.connect() as conn:
        reserved = conn.execute(select(t.stock_levels.c.location_code, t.stock_levels.c.reserved)
                                .where(t.stock_levels.c.sku == "TEE-1")).all()
        held = conn.execute(select(t.allocations.c.location_code,
                                   func.sum(t.allocations.c.quantity))
                            .where(t.allocations.c.sku == "TEE-1",
                                   t.allocations.c.status == "active")
                            .group_by(t.allocations.c.location_code)).all()
    assert {loc: n for loc, n in reserved if n} == dict(held)
