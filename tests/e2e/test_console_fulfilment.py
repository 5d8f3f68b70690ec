"""The console's fulfilment queue, on both databases: an operator releases a wave, picks, packs,
books the courier's label and dispatches; a store's staff work their own location only (another
location's queue, fulfilments, actions and documents are refused and nothing changes); a pickup
is handed over only against its code; short picks; bad input and forms without the CSRF token
change nothing."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from ordermesh.bootstrap import App
from ordermesh.services.bus import MessageBus
from tests.builders import Shop
from tests.console import a_user, console_client, notice_after, sign_in, submit
from tests.e2e.conftest import row_counts
from tests.e2e.test_fulfilments import place, release
from tests.pdfs import page_texts


@pytest.fixture
def two_locations(shop: Shop) -> Shop:
    """The shop, with a bag only the store (ST-AMS) has: a delivery of it ships from there."""
    shop.product("BAG-1").stock("BAG-1", "ST-AMS", 5)
    return shop


def api(client: TestClient, shop: Shop, path: str) -> Any:
    answer = client.get(f"/api/v1{path}", headers=shop.headers("operator"))
    assert answer.status_code == 200, answer.text
    return answer.json()


def status_of(client: TestClient, shop: Shop, fulfilment: str) -> str:
    return str(api(client, shop, f"/fulfilments/{fulfilment}")["status"])


def at(client: TestClient, shop: Shop, location: str) -> str:
    """The one open fulfilment released at a location."""
    (found,) = api(client, shop, f"/fulfilments?location={location}")
    return str(found["id"])


def test_an_operator_releases_picks_packs_labels_and_dispatches(
        client: TestClient, two_locations: Shop, bus: MessageBus, ordermesh: App) -> None:
    # given an order of 2 T-shirts from the warehouse, and a box to pack into
    shop = two_locations
    order = place(client, shop, ("TEE-1", 2))
    client.put("/api/v1/package-types/M", headers=shop.headers("operator"), json={
        "name": "Box M", "length_mm": 400, "width_mm": 300, "height_mm": 200,
        "max_weight_grams": 15_000, "tare_grams": 300})
    console = console_client(ordermesh)
    sign_in(console, a_user(bus, "operator"))
    # when the operator releases a wave at the warehouse
    answer = submit(console, "/console/fulfilment/release", {"location": "WH-1"})
    # then the wave's pick list names the units and the order
    shown = notice_after(console, answer)
    assert "Released 1 fulfilment." in shown and "TEE-1" in shown and order["number"] in shown
    fulfilment = at(client, shop, "WH-1")
    queue = console.get("/console/fulfilment?location=WH-1").text
    assert f'href="/console/fulfilment/{fulfilment}"' in queue
    pdf = console.get("/console/fulfilment/pick-list/WH-1.pdf")
    assert pdf.content.startswith(b"%PDF") and "TEE-1" in page_texts(pdf.content)[0]
    # when they start picking and pack into box M
    page = f"/console/fulfilment/{fulfilment}"
    assert "Picking started." in notice_after(console, submit(console, f"{page}/start-picking"))
    assert "Packed." in notice_after(console, submit(console, f"{page}/pack",
                                                      {"package_type": "M"}))
    [box] = api(client, shop, f"/fulfilments/{fulfilment}")["packages"]
    assert (box["package_type"], box["items"]) == ("M", [{"sku": "TEE-1", "quantity": 2}])
    # and book the courier's label
    shown = notice_after(console, submit(console, f"{page}/shipment", {"carrier": "courier"}))
    assert "Label bought" in shown
    found = api(client, shop, f"/fulfilments/{fulfilment}")
    assert found["shipment"]["carrier"] == "courier"
    number = found["packages"][0]["tracking_number"]
    assert number in shown
    label = console.get(f"{page}/packages/1/label.pdf")
    assert label.headers["content-type"] == "application/pdf"
    assert label.content.startswith(b"%PDF")
    assert console.get(f"{page}/packing-slip.pdf").content.startswith(b"%PDF")
    # and dispatch it
    assert "Dispatched." in notice_after(console, submit(console, f"{page}/dispatch"))
    # then it left, its payment was captured, and the queue lists it as dispatched today
    assert status_of(client, shop, fulfilment) == "dispatched"
    assert api(client, shop, f"/orders/{order['id']}")["status"] == "shipped"
    queue = console.get("/console/fulfilment?location=WH-1").text
    sent = queue[queue.index("Dispatched today"):]
    assert order["number"] in sent
    # and a step it is past is refused with a notice saying why
    shown = notice_after(console, submit(console, f"{page}/start-picking"))
    assert "notice-error" in shown and "dispatched" in shown


def test_store_staff_see_and_work_only_their_own_location(
        client: TestClient, two_locations: Shop, bus: MessageBus, ordermesh: App, engine: Engine) -> None:
    # given a delivery from the warehouse and one from the store, both released
    shop = two_locations
    warehouse_order = place(client, shop, ("TEE-1", 1))
    store_order = place(client, shop, ("BAG-1", 1))
    release(client, shop)
    theirs, ours = at(client, shop, "WH-1"), at(client, shop, "ST-AMS")
    console = console_client(ordermesh)
    sign_in(console, a_user(bus, "store_staff", "ST-AMS"))
    # when the store's staff open the queue: their own, with no choice of location
    queue = console.get("/console/fulfilment")
    assert queue.status_code == 200
    assert store_order["number"] in queue.text and warehouse_order["number"] not in queue.text
    assert 'name="location"' in queue.text and '<select id="location"' not in queue.text
    # then another location's queue, pick list and fulfilment are refused
    assert console.get("/console/fulfilment?location=WH-1").status_code == 403
    assert console.get("/console/fulfilment/pick-list?location=WH-1").status_code == 403
    assert console.get("/console/fulfilment/pick-list/WH-1.pdf").status_code == 403
    assert console.get(f"/console/fulfilment/{theirs}").status_code == 404
    assert console.get(f"/console/fulfilment/{theirs}/packing-slip.pdf").status_code == 404
    assert console.get(f"/console/fulfilment/{theirs}/packages/1/label.pdf").status_code == 404
    # and every action on the warehouse's fulfilment is refused, changing nothing
    before = row_counts(engine)
    for action, form in (("accept", {}), ("start-picking", {}), ("pack", {}),
                         ("shipment", {}), ("dispatch", {}), ("make-ready", {}),
                         ("short-pick", {"line_no": "1", "found": "0"}),
                         ("collect", {"pickup_code": "123456"}), ("return-to-stock", {}),
                         ("reject", {"reason": "not ours"})):
        answer = submit(console, f"/console/fulfilment/{theirs}/{action}", form)
        assert answer.status_code == 404, (action, answer.text)
    assert submit(console, "/console/fulfilment/release", {"location": "WH-1"}
                  ).status_code == 403
    assert row_counts(engine) == before and status_of(client, shop, theirs) == "pending"
    # while their own fulfilment moves, and their own pick list prints
    assert console.get("/console/fulfilment/pick-list/ST-AMS.pdf").content.startswith(b"%PDF")
    notice_after(console, submit(console, f"/console/fulfilment/{ours}/start-picking"))
    assert status_of(client, shop, ours) == "picking"


def test_a_pickup_is_handed_over_only_against_its_code(
        client: TestClient, two_locations: Shop, bus: MessageBus, ordermesh: App, engine: Engine) -> None:
    # given a click & collect order at the store, ready at the counter
    shop = two_locations
    order = place(client, shop, ("TEE-1", 1), shipping_address=None,
                  fulfilment={"method": "pickup", "location": "ST-AMS"})
    release(client, shop)
    fulfilment = at(client, shop, "ST-AMS")
    console = console_client(ordermesh)
    sign_in(console, a_user(bus, "store_staff", "ST-AMS"))
    page = f"/console/fulfilment/{fulfilment}"
    for step in ("accept", "start-picking", "pack", "make-ready"):
        assert "notice-ok" in notice_after(console, submit(console, f"{page}/{step}")), step
    assert status_of(client, shop, fulfilment) == "ready_for_pickup"
    code = next(e["data"]["pickup_code"] for e in api(client, shop, f"/orders/{order['id']}/events")
                if e["type"] == "order.ready_for_pickup")
    assert code not in console.get(page).text  # the customer brings it; the page never tells
    # when the customer shows a wrong code, or none that is a code at all
    before = row_counts(engine)
    for wrong in (str((int(code) + 1) % 1_000_000).zfill(6), "abc"):
        shown = notice_after(console, submit(console, f"{page}/collect", {"pickup_code": wrong}))
        assert "notice-error" in shown, wrong
    # then nothing was handed over
    assert row_counts(engine) == before and status_of(client, shop, fulfilment) == \
        "ready_for_pickup"
    # and with the right code it is
    shown = notice_after(console, submit(console, f"{page}/collect", {"pickup_code": code}))
    assert "Handed over to the customer." in shown
    assert status_of(client, shop, fulfilment) == "collected"


def test_a_pickup_not_collected_goes_back_to_stock(client: TestClient, two_locations: Shop,
                                                   bus: MessageBus, ordermesh: App) -> None:
    shop = two_locations
    order = place(client, shop, ("TEE-1", 1), shipping_address=None,
                  fulfilment={"method": "pickup", "location": "ST-AMS"})
    release(client, shop)
    fulfilment = at(client, shop, "ST-AMS")
    console = console_client(ordermesh)
    sign_in(console, a_user(bus, "operator"))
    page = f"/console/fulfilment/{fulfilment}"
    for step in ("start-picking", "pack", "make-ready"):
        notice_after(console, submit(console, f"{page}/{step}"))
    shown = notice_after(console, submit(console, f"{page}/return-to-stock"))
    assert "back on the shelf" in shown
    assert status_of(client, shop, fulfilment) == "returned_to_stock"
    assert api(client, shop, f"/orders/{order['id']}")["status"] == "cancelled"


def test_a_short_pick_keeps_what_was_found_and_bad_counts_are_refused(
        client: TestClient, two_locations: Shop, bus: MessageBus, ordermesh: App, engine: Engine) -> None:
    shop = two_locations
    place(client, shop, ("TEE-1", 3))
    release(client, shop)
    fulfilment = at(client, shop, "WH-1")
    console = console_client(ordermesh)
    sign_in(console, a_user(bus, "operator"))
    page = f"/console/fulfilment/{fulfilment}"
    notice_after(console, submit(console, f"{page}/start-picking"))
    assert 'for="found-1"' in console.get(page).text
    # bad counts: not a number, more than the line, a line that is not there
    before = row_counts(engine)
    for line_no, found in (("1", "lots"), ("1", "-1"), ("1", "3"), ("9", "1")):
        shown = notice_after(console, submit(console, f"{page}/short-pick",
                                             {"line_no": line_no, "found": found}))
        assert "notice-error" in shown, (line_no, found)
    assert row_counts(engine) == before
    # one found of three
    shown = notice_after(console, submit(console, f"{page}/short-pick",
                                         {"line_no": "1", "found": "1"}))
    assert "Short pick recorded" in shown
    assert api(client, shop, f"/fulfilments/{fulfilment}")["lines"] == [
        {"line_no": 1, "sku": "TEE-1", "quantity": 1}]


def test_who_may_use_the_queue_and_forms_without_the_token(
        client: TestClient, two_locations: Shop, bus: MessageBus, ordermesh: App, engine: Engine) -> None:
    shop = two_locations
    place(client, shop, ("TEE-1", 1))
    release(client, shop)
    fulfilment = at(client, shop, "WH-1")
    console = console_client(ordermesh)
    sign_in(console, a_user(bus, "call_centre"))
    assert console.get("/console/fulfilment").status_code == 403
    assert submit(console, f"/console/fulfilment/{fulfilment}/start-picking").status_code == 403
    console.cookies.clear()
    sign_in(console, a_user(bus, "admin"))
    before = row_counts(engine)
    refused = console.post(f"/console/fulfilment/{fulfilment}/start-picking")
    assert refused.status_code == 403 and row_counts(engine) == before
    assert status_of(client, shop, fulfilment) == "pending"
    # an unknown fulfilment or location is a page saying so, not a crash
    assert console.get("/console/fulfilment/nope").status_code == 404
    assert console.get("/console/fulfilment?location=NOWHERE").status_code == 404
    assert submit(console, "/console/fulfilment/nope/dispatch").status_code == 404
