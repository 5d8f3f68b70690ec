"""Inventory in the console, over HTTP on SQLite and PostgreSQL: a SKU across locations with
what is coming, stock adjusted by a count or by a change with a reason written to the ledger
under the user's name, and store staff kept to their own location."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from ordermesh.adapters.db import queries
from ordermesh.bootstrap import App
from ordermesh.services import commands as c
from ordermesh.services.bus import MessageBus
from tests.builders import Shop
from tests.console import a_user, console_client, csrf_of, notice_after, sign_in, submit
from tests.e2e.conftest import row_counts
from tests.races import together

pytestmark = pytest.mark.db
ADJUST = "/console/inventory/adjust"


def signed_in(ordermesh: App, bus: MessageBus, role: str, location: str | None = None
              ) -> TestClient:
    client = console_client(ordermesh)
    sign_in(client, a_user(bus, role, location))
    return client


def stock(engine: Engine, sku: str, location: str) -> tuple[int, list[dict[str, Any]]]:
    """On hand, and the ledger rows newest first."""
    with engine.connect() as conn:
        levels = queries.list_stock_levels(conn, sku, location, None, 1)
        moves = queries.list_stock_movements(conn, sku, location, None, 50)
    return (levels[0]["on_hand"] if levels else 0), moves


def adjustment(location: str = "WH-1", **fields: str) -> dict[str, str]:
    return {"sku": "TEE-1", "location": location, "mode": "count", "quantity": "12",
            "reason": "count", "note": "", **fields}


def test_a_sku_across_locations_with_incoming_supply(ordermesh: App, bus: MessageBus,
                                                     shop: Shop) -> None:
    # given 20 T-shirts ordered from a supplier for the warehouse, sent
    bus.handle(c.CreateSupplier("test", {
        "code": "ACME", "name": "Acme", "email": "a@acme.example", "currency": "EUR",
        "lead_time_days": 7, "payment_terms_days": 30, "active": True}))
    po = bus.handle(c.CreatePurchaseOrder("test", {
        "supplier": "ACME", "deliver_to": "WH-1", "expected_on": date(2031, 5, 1),
        "lines": [{"sku": "TEE-1", "quantity": 20, "unit_cost": 500}]}))
    bus.handle(c.SendPurchaseOrder("test", po))
    operator = signed_in(ordermesh, bus, "operator")
    # when the operator looks up the SKU
    page = operator.get("/console/inventory?sku=TEE-1")
    # then each location shows its figures, what is coming and its status
    assert page.status_code == 200
    text = " ".join(page.text.split())
    assert '<th scope="row">WH-1</th> <td class="num">10</td>' in text
    assert '<th scope="row">ST-AMS</th> <td class="num">3</td>' in text
    assert "20 on" in text and "PO-000001</a>/1, due 2031-05-01" in text
    assert "In stock" in text
    # and an unknown SKU says so
    assert "There is no product with SKU NOPE" in operator.get("/console/inventory?sku=NOPE").text


def test_a_count_and_a_change_are_written_to_the_ledger(ordermesh: App, bus: MessageBus,
                                                        shop: Shop, engine: Engine) -> None:
    operator = signed_in(ordermesh, bus, "operator")
    # when the operator counts 12 T-shirts at the warehouse
    answer = submit(operator, ADJUST, adjustment(note="aisle 4"))
    # then on hand is 12 and the ledger says why and who
    assert "On hand of TEE-1 at WH-1: 10 → 12 (stock count: aisle 4)" in notice_after(operator,
                                                                                       answer)
    on_hand, moves = stock(engine, "TEE-1", "WH-1")
    assert on_hand == 12
    assert (moves[0]["on_hand_delta"], moves[0]["reason"], moves[0]["reference"],
            moves[0]["actor"]) == (2, "adjustment", "stock count: aisle 4",
                                   "user:operator@shop.example")
    # when two are found damaged
    answer = submit(operator, ADJUST, adjustment(mode="delta", quantity="-2", reason="damaged"))
    # then on hand drops by two, and the ledger page lists both, newest first
    assert "On hand of TEE-1 at WH-1: 12 → 10 (damaged)." in notice_after(operator, answer)
    on_hand, moves = stock(engine, "TEE-1", "WH-1")
    assert on_hand == 10 and moves[0]["on_hand_delta"] == -2 and moves[0]["reference"] == "damaged"
    page = operator.get("/console/inventory?sku=TEE-1").text
    assert page.index("damaged") < page.index("stock count: aisle 4")
    assert "user:operator@shop.example" in page


@pytest.mark.parametrize(("fields", "says"), [
    ({"quantity": "lots"}, "whole number"),
    ({"mode": "delta", "quantity": "-11"}, "cannot go below 0"),
    ({"mode": "delta", "quantity": "0"}, "nothing changed"),
    ({"mode": "delta", "quantity": "9999999999"}, "less than or equal to 1000000000"),
    ({"quantity": "-1"}, "A count cannot be below 0"),
    ({"reason": "whim"}, "a reason from the lists"),
    ({"quantity": "10"}, "nothing changed"),
    ({"location": "NOWHERE"}, "NOWHERE"),
])
def test_bad_adjustments_change_nothing(ordermesh: App, bus: MessageBus, shop: Shop,
                                        engine: Engine, fields: dict[str, str], says: str) -> None:
    operator = signed_in(ordermesh, bus, "operator")
    before = row_counts(engine)
    answer = submit(operator, ADJUST, adjustment(**fields))
    assert says in notice_after(operator, answer)
    assert row_counts(engine) == before


def test_a_change_is_sent_as_a_change_so_concurrent_ones_are_all_kept(
        ordermesh: App, bus: MessageBus, shop: Shop, engine: Engine) -> None:
    # given six operators, each with the inventory page open
    clerks = [signed_in_as(ordermesh, bus, f"clerk{n}@shop.example") for n in range(6)]
    tokens = [csrf_of(clerk) for clerk in clerks]
    # when each saves "change by +1" at the same moment
    answers = together([
        (lambda clerk=clerk, token=token: clerk.post(ADJUST, data={
            **adjustment(mode="delta", quantity="+1", reason="found"), "csrf_token": token}))
        for clerk, token in zip(clerks, tokens, strict=True)], ())
    # then on hand went up by exactly six, each clerk told the figure their change made
    notices = [notice_after(clerk, answer) for clerk, answer in zip(clerks, answers, strict=True)]
    assert sorted(n for n in range(11, 17) for text in notices if f"→ {n} (found)" in text) == [
        11, 12, 13, 14, 15, 16]
    # and each change is in the ledger
    on_hand, moves = stock(engine, "TEE-1", "WH-1")
    assert on_hand == 16
    assert [m["on_hand_delta"] for m in moves[:6]] == [1] * 6
    # and they were applied as movements, not as counts made from a figure read earlier
    with engine.connect() as conn:
        (level,) = queries.list_stock_levels(conn, "TEE-1", "WH-1", None, 1)
    assert level["last_movement_at"] is not None
    assert level["last_counted_at"] < level["last_movement_at"]


def signed_in_as(ordermesh: App, bus: MessageBus, email: str) -> TestClient:
    client = console_client(ordermesh)
    sign_in(client, a_user(bus, "operator", email=email))
    return client


def test_store_staff_see_and_adjust_their_own_location_only(ordermesh: App, bus: MessageBus,
                                                            shop: Shop, engine: Engine) -> None:
    staff = signed_in(ordermesh, bus, "store_staff", "ST-AMS")
    # the SKU page shows their store's row and not the warehouse's
    text = " ".join(staff.get("/console/inventory?sku=TEE-1").text.split())
    assert '<th scope="row">ST-AMS</th>' in text and '<th scope="row">WH-1</th>' not in text
    assert '<option value="WH-1">' not in text
    # adjusting the warehouse is refused and changes nothing
    before = row_counts(engine)
    assert submit(staff, ADJUST, adjustment("WH-1")).status_code == 403
    assert row_counts(engine) == before and stock(engine, "TEE-1", "WH-1")[0] == 10
    # their own store they may count
    notice_after(staff, submit(staff, ADJUST, adjustment("ST-AMS", quantity="2", reason="lost")))
    on_hand, moves = stock(engine, "TEE-1", "ST-AMS")
    assert on_hand == 2 and moves[0]["actor"] == "user:store_staff.st-ams@shop.example"
    # and the ledger they see holds only their store's movements
    ledger = staff.get("/console/inventory").text
    assert "ST-AMS" in ledger and "<td>WH-1</td>" not in ledger


def test_the_call_centre_may_look_but_not_adjust_and_a_post_needs_its_token(
        ordermesh: App, bus: MessageBus, shop: Shop, engine: Engine) -> None:
    agent = signed_in(ordermesh, bus, "call_centre")
    operator = signed_in(ordermesh, bus, "operator")
    page = agent.get("/console/inventory?sku=TEE-1")
    assert page.status_code == 200 and "Adjust stock" not in page.text
    before = row_counts(engine)
    assert submit(agent, ADJUST, adjustment()).status_code == 403
    assert operator.post(ADJUST, data=adjustment()).status_code == 403
    assert row_counts(engine) == before


def test_the_ledger_pages_back_in_time(ordermesh: App, bus: MessageBus, shop: Shop) -> None:
    # given 51 movements: the shop's 3 and 48 counts
    for n in range(48):
        bus.handle(c.AdjustStockLevel("test", "MUG-1", "WH-1", n + 1, reference=f"count {n + 1}"))
    operator = signed_in(ordermesh, bus, "operator")
    # when the ledger is opened, it shows the newest 50 and a way back
    first = operator.get("/console/inventory").text
    assert first.count("<tr><td>") == 50 and "count 48" in first
    older = re.search(r'<a href="(/console/inventory\?before=\d+)">Older movements</a>', first)
    assert older
    # and the older page holds the first movement only
    second = operator.get(older.group(1)).text
    assert second.count("<tr><td>") == 1 and "count 48" not in second
