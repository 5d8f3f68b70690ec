"""Races on one order through HTTP, on SQLite and PostgreSQL: half the clients do one thing and
half another, at once: cancel and dispatch, cancel and capture, hold and dispatch, cancel a line
and start picking it, and refunds of all that was captured. One wins, every other client gets a
409 problem (a refund beyond what is left: 422, as when asked one after the other), and the
order, its fulfilment, its payment and the stock agree after. (At full size: `pytest -m heavy`.)
The rules two of these races found missing are shown without a race at the end."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from ordermesh.adapters.payments.test_gateway import TestGateway
from ordermesh.domain.payments import GatewayUnavailable
from ordermesh.services import commands as c
from tests.builders import Shop, an_order
from tests.e2e.race_api import (  # noqa: F401 (fixtures)
    SIZES,
    Api,
    Request,
    Size,
    api_under_race,
    assert_books_agree,
    heavy_only_when_asked,
    outcome,
    outcomes,
    report,
)


def one_box(api: Api) -> None:
    api.call("PUT", "/package-types/M", {"name": "Box M", "length_mm": 400, "width_mm": 300,
                                          "height_mm": 200, "max_weight_grams": 15_000,
                                          "tare_grams": 300})


def released(api: Api, sku: str) -> tuple[dict[str, Any], str]:
    """An order of 2 units of `sku`, authorized, with its fulfilment released to WH-1."""
    api.shop.product(sku).stock(sku, "WH-1", 5)
    order = api.place((sku, 2))
    [fulfilment] = api.post("/fulfilments/release", {"location": "WH-1"})["fulfilments"]
    return order, fulfilment


def labelled(api: Api, sku: str) -> tuple[dict[str, Any], str]:
    """An order whose fulfilment is picked, packed and has its label: ready to leave."""
    order, fulfilment = released(api, sku)
    for step in ("start-picking", "pack", "shipment"):
        api.post(f"/fulfilments/{fulfilment}/{step}")
    return order, fulfilment


def conflict(api: Api, size: Size, one: Request, other: Request
             ) -> tuple[list[httpx.Response], list[httpx.Response]]:
    """Half the clients send one request and half the other, all at once."""
    responses = api.at_once([one, other] * (size.clients // 2))
    return responses[0::2], responses[1::2]


def post(path: str, body: Any = None) -> Request:
    return ("POST", path, body, "operator", {})


def payment(api: Api, order: dict[str, Any]) -> dict[str, Any]:
    [found] = api.get(f"/orders/{order['id']}/payments")
    return dict(found)


def level(api: Api, sku: str) -> tuple[int, int]:
    [found] = api.get(f"/stock-levels?sku={sku}&location=WH-1")["items"]
    return found["on_hand"], found["reserved"]


@pytest.mark.parametrize("size", SIZES)
def test_cancel_racing_dispatch_one_wins_and_the_order_agrees(api: Api, engine: Engine,
                                                              size: Size) -> None:
    started, seen, wins, half = time.monotonic(), Counter[str](), Counter[str](), size.clients // 2
    one_box(api)
    for n in range(size.rounds):
        # given an order of 2 units, packed and labelled
        sku = f"SHIP-{n}"
        order, fulfilment = labelled(api, sku)
        # when half the clients cancel it and half dispatch it, at once
        cancels, dispatches = conflict(api, size, post(f"/orders/{order['id']}/cancel"),
                                       post(f"/fulfilments/{fulfilment}/dispatch"))
        seen += outcomes(cancels + dispatches)
        now, money = api.get(f"/orders/{order['id']}"), payment(api, order)
        sent = api.get(f"/fulfilments/{fulfilment}")["status"]
        wins["cancel" if now["status"] == "cancelled" else "dispatch"] += 1
        if now["status"] == "cancelled":
            # then either the cancel won: nothing left, the stock and the card are released
            assert outcomes(cancels) == {"200": 1, "409 order.invalid_transition": half - 1}
            assert outcomes(dispatches) == {"409 order.invalid_transition": half}
            assert (sent, now["lines"][0]["dispatched"]) == ("cancelled", 0)
            assert (money["status"], money["captured"], level(api, sku)) == ("voided", 0, (5, 0))
        else:
            # or the dispatch did, answered alike to all who asked, and captured once
            assert outcomes(dispatches) == {"200": half}
            assert len({str(r.json()["capture"]) for r in dispatches}) == 1
            assert outcomes(cancels) == {"409 order.invalid_transition": half}
            assert (now["status"], sent, now["lines"][0]["dispatched"]) == (
                "shipped", "dispatched", 2)
            assert (money["captured"], level(api, sku)) == (order["totals"]["grand"], (3, 0))
            assert [x["kind"] for x in money["transactions"]].count("capture") == 1
    assert_books_agree(engine)
    report(api, engine, "cancel vs dispatch", size, seen, started, wins)


@pytest.mark.parametrize("size", SIZES)
def test_cancel_racing_capture_never_keeps_money_of_a_cancelled_order_unflagged(
        api: Api, engine: Engine, size: Size) -> None:
    started, seen, wins, half = time.monotonic(), Counter[str](), Counter[str](), size.clients // 2
    for n in range(size.rounds):
        # given an order whose card is authorized
        sku = f"PAY-{n}"
        api.shop.product(sku).stock(sku, "WH-1", 5)
        order = api.place((sku, 2))
        # when half the clients cancel it and half capture its payment by hand, at once
        cancels, captures = conflict(api, size, post(f"/orders/{order['id']}/cancel"),
                                     post(f"/orders/{order['id']}/payments/capture",
                                          {"reference": "by-hand"}))
        seen += outcomes(cancels + captures)
        now, money = api.get(f"/orders/{order['id']}"), payment(api, order)
        timeline = [e["type"] for e in api.get(f"/orders/{order['id']}/events")]
        if outcomes(captures) == {"409 order.invalid_transition": half}:
            # then either the cancel came first: nothing is captured, the card is released
            wins["cancel"] += 1
            assert outcomes(cancels) == {"200": 1, "409 order.invalid_transition": half - 1}
            assert (now["status"], money["status"], money["captured"]) == (
                "cancelled", "voided", 0)
        else:
            # or the capture did, once for all who asked; a cancel while it waited for the
            # gateway was refused, and one after it cancelled a paid order, flagged for a refund
            assert outcomes(captures) == {"200": half}
            assert [x["kind"] for x in money["transactions"]].count("capture") == 1
            assert (money["status"], money["captured"]) == ("captured", order["totals"]["grand"])
            cancelled = now["status"] == "cancelled"
            wins["capture, then a cancel" if cancelled else "capture"] += 1
            assert outcomes(cancels) == Counter({"200": int(cancelled),
                                                 "409 order.invalid_transition": half - cancelled})
            assert ("payment.refund_needed" in timeline) == cancelled
            assert timeline.count("payment.captured") == 1
            if cancelled:
                assert timeline.index("payment.captured") < timeline.index("order.cancelled")
        assert level(api, sku) == (5, 0 if now["status"] == "cancelled" else 2)
    assert_books_agree(engine)
    report(api, engine, "cancel vs capture", size, seen, started, wins)


@pytest.mark.parametrize("size", SIZES)
def test_hold_racing_dispatch_one_wins(api: Api, engine: Engine, size: Size) -> None:
    started, seen, wins, half = time.monotonic(), Counter[str](), Counter[str](), size.clients // 2
    one_box(api)
    for n in range(size.rounds):
        # given an order of 2 units, packed and labelled
        sku = f"HOLD-{n}"
        order, fulfilment = labelled(api, sku)
        # when half the clients hold it (a fraud check) and half dispatch it, at once
        holds, dispatches = conflict(api, size, post(f"/orders/{order['id']}/hold",
                                                     {"reason": "fraud check"}),
                                     post(f"/fulfilments/{fulfilment}/dispatch"))
        seen += outcomes(holds + dispatches)
        now, money = api.get(f"/orders/{order['id']}"), payment(api, order)
        sent = api.get(f"/fulfilments/{fulfilment}")["status"]
        wins["hold" if now["status"] == "on_hold" else "dispatch"] += 1
        if now["status"] == "on_hold":
            # then either the hold won: the parcel stays, its stock reserved, nothing captured
            assert outcomes(holds) == {"200": 1, "409 order.invalid_transition": half - 1}
            assert outcomes(dispatches) == {"409 order.invalid_transition": half}
            assert (sent, money["status"], level(api, sku)) == ("packed", "authorized", (5, 2))
        else:
            # or the dispatch did, and the order can no longer be held
            assert outcomes(dispatches) == {"200": half}
            assert outcomes(holds) == {"409 order.invalid_transition": half}
            assert (now["status"], sent, level(api, sku)) == ("shipped", "dispatched", (3, 0))
            assert money["captured"] == order["totals"]["grand"]
    assert_books_agree(engine)
    report(api, engine, "hold vs dispatch", size, seen, started, wins)


@pytest.mark.parametrize("size", SIZES)
def test_refunds_racing_never_give_back_more_than_was_captured(api: Api, engine: Engine,
                                                              size: Size) -> None:
    started, seen = time.monotonic(), Counter[str]()
    one_box(api)
    for n in range(size.rounds):
        # given an order dispatched and captured in full
        order, fulfilment = labelled(api, f"REFUND-{n}")
        api.post(f"/fulfilments/{fulfilment}/dispatch")
        grand, path = order["totals"]["grand"], f"/orders/{order['id']}/refunds"
        # when every client refunds 10.00 with one reference, at once
        same = api.at_once([post(path, {"reference": "R-part", "reason": "late",
                                        "amount": 1000})] * size.clients)
        # then it is refunded once, and all are answered alike
        assert outcomes(same) == {"201": size.clients}
        assert len({str(r.json()) for r in same}) == 1
        # when every client then refunds all the rest, each with a reference of its own
        rest = api.at_once([post(path, {"reference": f"R-{i}", "reason": "goodwill",
                                        "amount": grand - 1000}) for i in range(size.clients)])
        # then one refund is made; the others are refused, as nothing is left to refund
        assert outcomes(rest) == {"201": 1, "422 request.invalid": size.clients - 1}
        money = payment(api, order)
        assert (money["status"], money["captured"], money["refunded"]) == (
            "refunded", grand, grand)
        assert [x["kind"] for x in money["transactions"]].count("refund") == 2
        notes = [i for i in api.get(f"/orders/{order['id']}/invoices")
                 if i["kind"] == "credit_note"]
        assert sorted(i["gross"] for i in notes) == sorted([1000, grand - 1000])
        seen += outcomes(same + rest)
    assert_books_agree(engine)
    report(api, engine, "refunds", size, seen, started)


@pytest.mark.parametrize("size", SIZES)
def test_cancel_line_racing_pick_one_wins(api: Api, engine: Engine, size: Size) -> None:
    started, seen, wins, half = time.monotonic(), Counter[str](), Counter[str](), size.clients // 2
    for n in range(size.rounds):
        # given an order of 2 units released to the warehouse, not picked yet
        sku = f"LINE-{n}"
        order, fulfilment = released(api, sku)
        # when half the clients cancel its line and half start picking it, at once
        cancels, picks = conflict(api, size, post(f"/orders/{order['id']}/lines/1/cancel",
                                                  {"reason": "changed my mind"}),
                                  post(f"/fulfilments/{fulfilment}/start-picking"))
        seen += outcomes(cancels + picks)
        now, money = api.get(f"/orders/{order['id']}"), payment(api, order)
        picking = api.get(f"/fulfilments/{fulfilment}")["status"]
        wins["cancel line" if now["status"] == "cancelled" else "pick"] += 1
        if now["status"] == "cancelled":
            # then either the cancel won: the line, the order and the fulfilment are cancelled
            assert outcomes(cancels) == {"200": 1, "409 order.invalid_transition": half - 1}
            assert outcomes(picks) == {"409 order.invalid_transition": half}
            assert (picking, now["lines"][0]["cancelled"]) == ("cancelled", 2)
            assert (money["status"], level(api, sku)) == ("voided", (5, 0))
        else:
            # or the picker did, and units in hand are not cancelled
            assert outcomes(picks) == {"200": 1, "409 order.invalid_transition": half - 1}
            assert outcomes(cancels) == {"409 order.line_not_cancellable": half}
            assert (now["status"], picking, now["lines"][0]["cancelled"]) == (
                "allocated", "picking", 0)
            assert (money["status"], level(api, sku)) == ("authorized", (5, 2))
    assert_books_agree(engine)
    report(api, engine, "cancel line vs pick", size, seen, started, wins)


# -- what the races found, shown without a race -----------------------------------------------


def timing_out(*_: Any, **__: Any) -> Any:
    raise GatewayUnavailable("timed out before reaching the gateway")


def test_an_order_is_not_cancelled_while_its_capture_waits_for_the_gateway(
        client: TestClient, shop: Shop, gateway: TestGateway,
        monkeypatch: pytest.MonkeyPatch) -> None:
    operator = shop.headers("operator")
    order = client.post("/api/v1/orders", json=an_order(("TEE-1", 1)),
                        headers=shop.headers("web")).json()
    capture = f"/api/v1/orders/{order['id']}/payments/capture"
    # given a capture by hand whose call timed out: it may have taken all that was authorized
    monkeypatch.setattr(gateway, "capture", timing_out)
    assert client.post(capture, json={"reference": "by-hand"},
                       headers=operator).json()["outcome"] == "pending"
    monkeypatch.undo()
    # when the order is cancelled, then it is refused: the gateway has not answered yet
    cancel = client.post(f"/api/v1/orders/{order['id']}/cancel", headers=operator)
    assert outcome(cancel) == "409 order.invalid_transition", cancel.text
    # when the capture is asked again and answered, the order is paid; cancelled then, its
    # timeline says the money taken needs a refund
    assert client.post(capture, json={"reference": "by-hand"},
                       headers=operator).json()["outcome"] == "succeeded"
    assert client.post(f"/api/v1/orders/{order['id']}/cancel",
                       headers=operator).json()["status"] == "cancelled"
    timeline = client.get(f"/api/v1/orders/{order['id']}/events", headers=operator).json()
    [needed] = [e for e in timeline if e["type"] == "payment.refund_needed"]
    assert needed["data"]["reason"] == "the cancelled order was paid"


def test_a_cancelled_order_is_not_captured_before_its_authorization_is_released(
        client: TestClient, shop: Shop) -> None:
    operator = shop.headers("operator")
    order = client.post("/api/v1/orders", json=an_order(("TEE-1", 1)),
                        headers=shop.headers("web")).json()
    # given an order cancelled, its authorization not released yet (the cancel's second step)
    shop.bus.handle(c.ChangeOrderStatus("test", order["id"], "cancel"))
    # when its payment is captured, then it is refused and nothing is asked of the gateway
    refused = client.post(f"/api/v1/orders/{order['id']}/payments/capture",
                          json={"reference": "by-hand"}, headers=operator)
    assert outcome(refused) == "409 order.invalid_transition", refused.text
    [found] = client.get(f"/api/v1/orders/{order['id']}/payments", headers=operator).json()
    assert (found["status"], found["captured"]) == ("authorized", 0)
