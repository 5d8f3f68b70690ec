"""Call-centre order entry in the console, over HTTP on SQLite and PostgreSQL: a returning
customer found by email, lines checked for availability, the order placed in the call-centre
channel with the agent as its actor and its payment authorized; a double submit places one
order, a refusal keeps the form, a declined card is paid again on the same order, and a card
number is never taken."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.engine import Engine

from ordermesh.adapters.db import money_queries as mq
from ordermesh.adapters.db import queries
from ordermesh.adapters.db import tables as t
from ordermesh.bootstrap import App
from ordermesh.services import commands as c
from ordermesh.services.bus import MessageBus
from tests.builders import Shop, place
from tests.console import a_user, console_client, sign_in, submit
from tests.e2e.conftest import row_counts

pytestmark = pytest.mark.db
NEW = "/console/orders/new"
KEY = re.compile(r'name="idempotency_key" value="([^"]+)"')


@pytest.fixture
def agent(ordermesh: App, bus: MessageBus, shop: Shop) -> TestClient:
    """A call-centre agent signed in; the call-centre channel takes cards at the test gateway."""
    bus.handle(c.CreateChannel("test", "call_centre", "Call centre"))
    bus.handle(c.UpdateChannel("test", "call_centre", {"payment_gateway": "test"}))
    client = console_client(ordermesh)
    sign_in(client, a_user(bus, "call_centre"))
    return client


def form(client: TestClient, *lines: tuple[str, int], **fields: Any) -> dict[str, Any]:
    """The order entry form as the agent fills it in, with the key the page was drawn with."""
    key = KEY.search(client.get(NEW).text)
    assert key, "no idempotency key on the form"
    return {"idempotency_key": key.group(1), "email": "bea@example.com", "name": "Bea Jansen",
            "phone": "+31 20 7654321", "bill_line1": "Prinsengracht 2", "bill_city": "Amsterdam",
            "bill_postal_code": "1016 GV", "bill_country": "nl", "method": "ship", "same": "1",
            "payment_token": "tok_visa", "sku": [s for s, _ in lines],
            "quantity": [str(q) for _, q in lines], "action": "place", **fields}


def order_of(engine: Engine, order_id: str) -> dict[str, Any]:
    with engine.connect() as conn:
        order = queries.order_detail(conn, order_id, None)
        assert order is not None
        order["events"] = queries.order_events(conn, order["id"])
        order["payments"] = mq.payments_of(conn, order["seq"])
    return order


def placed_id(answer: Any) -> str:
    assert answer.status_code == 303, answer.text
    location = answer.headers["location"]
    assert location.startswith("/console/orders/")
    return str(location.removeprefix("/console/orders/"))


def test_a_returning_customer_is_found_and_their_order_placed_by_the_agent(
        agent: TestClient, bus: MessageBus, engine: Engine) -> None:
    # given Ann ordered on the web before
    place(bus, ("TEE-1", 1))
    # when the agent looks her up by email
    found = agent.get(f"{NEW}?email=Ann@Example.com")
    # then her name, phone and address from that order fill the form, and the order is listed
    assert found.status_code == 200
    assert 'value="Ann de Vries"' in found.text and 'value="Keizersgracht 1"' in found.text
    assert "OM-000001" in found.text
    # when the agent adds a T-shirt and a backorderable mug (none in stock) and checks them
    checked = submit(agent, NEW, {**form(agent, ("TEE-1", 2), ("MUG-1", 1),
                                         email="ann@example.com"), "action": "check"})
    # then each line says what can be promised
    assert checked.status_code == 200
    assert "In stock" in checked.text and "Backorder" in checked.text
    # when the order is placed
    order_id = placed_id(submit(agent, NEW, form(agent, ("TEE-1", 2), ("MUG-1", 1),
                                                 email="ann@example.com")))
    # then it is a call-centre order, placed by the agent, its card authorized for the total
    order = order_of(engine, order_id)
    assert order["channel_code"] == "call_centre" and order["customer_email"] == "ann@example.com"
    assert [(ln["sku"], ln["quantity"], ln["unit_price"]) for ln in order["lines"]] == [
        ("TEE-1", 2, 1999), ("MUG-1", 1, 1999)]
    placed = next(e for e in order["events"] if e["type"] == "order.placed")
    assert placed["actor"] == "user:call_centre@shop.example"
    (payment,) = order["payments"]
    assert payment["status"] == "authorized" and payment["authorized"] == order["grand_total"]
    # and the audit log names the agent
    with engine.connect() as conn:
        actions = conn.execute(select(t.audit_log.c.action).where(
            t.audit_log.c.actor == "user:call_centre@shop.example")).scalars().all()
    assert "PlaceOrder" in actions


def test_the_same_form_sent_twice_places_one_order(agent: TestClient, engine: Engine) -> None:
    # given a filled-in form
    filled = form(agent, ("TEE-1", 1))
    # when it is submitted twice (a double click)
    first, second = submit(agent, NEW, filled), submit(agent, NEW, filled)
    # then both land on the same order, and only one was placed
    assert placed_id(first) == placed_id(second)
    with engine.connect() as conn:
        count = len(conn.execute(select(t.orders.c.id).where(
            t.orders.c.channel_code == "call_centre")).all())
    assert count == 1


def test_a_refusal_shows_the_form_again_with_the_input_kept(agent: TestClient,
                                                            engine: Engine) -> None:
    # given one cap in stock
    before = row_counts(engine)
    # when the agent orders five
    answer = submit(agent, NEW, form(agent, ("CAP-1", 5), instructions="Ring twice"))
    # then the form comes back saying why, with what was typed, and nothing was written
    assert answer.status_code == 409
    assert "not enough stock for CAP-1" in answer.text and 'role="alert"' in answer.text
    assert 'value="Bea Jansen"' in answer.text and "Ring twice" in answer.text
    assert 'value="CAP-1"' in answer.text and "Out of stock" in answer.text
    assert row_counts(engine) == before


def test_bad_input_is_named_and_nothing_is_written(agent: TestClient, engine: Engine) -> None:
    before = row_counts(engine)
    answer = submit(agent, NEW, form(agent, ("TEE-1", 1), name="", email="not-an-email",
                                     bill_country="Netherlands"))
    assert answer.status_code == 422
    assert "customer name" in answer.text and "customer email" in answer.text
    assert "billing address country" in answer.text
    assert row_counts(engine) == before


def test_a_declined_card_is_paid_again_on_the_same_order(agent: TestClient,
                                                         engine: Engine) -> None:
    # when the card on the order is declined
    refused = submit(agent, NEW, form(agent, ("TEE-1", 1), payment_token="tok_declined"))
    # then the order is placed, on hold, and the form asks for another token
    assert refused.status_code == 402 and "card_declined" in refused.text
    placed_order = re.search(r'name="placed_order" value="([^"]+)"', refused.text)
    assert placed_order
    assert order_of(engine, placed_order.group(1))["status"] == "on_hold"
    # when the agent takes another token
    again = form(agent, ("TEE-1", 1), payment_token="tok_mastercard",
                 placed_order=placed_order.group(1))
    order_id = placed_id(submit(agent, NEW, again))
    # then the same order is authorized and released, and no second order was placed
    order = order_of(engine, order_id)
    assert order_id == placed_order.group(1)
    assert [p["status"] for p in order["payments"]] == ["failed", "authorized"]
    assert order["status"] != "on_hold"
    # and the same form sent again changes nothing
    assert placed_id(submit(agent, NEW, again)) == order_id
    assert len(order_of(engine, order_id)["payments"]) == 2


@pytest.mark.parametrize("card", ["4242 4242 4242 4242", "4242424242424242"])
def test_a_card_number_is_refused_and_never_shown(agent: TestClient, engine: Engine,
                                                  card: str) -> None:
    before = row_counts(engine)
    answer = submit(agent, NEW, form(agent, ("TEE-1", 1), payment_token=card))
    assert answer.status_code == 422
    assert "card number" in answer.text and card not in answer.text
    assert row_counts(engine) == before


def test_a_pickup_order_is_collected_at_the_chosen_store(agent: TestClient,
                                                         engine: Engine) -> None:
    page = agent.get(NEW).text
    assert '<option value="ST-AMS"' in page and '<option value="WH-1"' not in page
    order_id = placed_id(submit(agent, NEW, form(agent, ("TEE-1", 1), method="pickup",
                                                 pickup="ST-AMS")))
    order = order_of(engine, order_id)
    assert (order["fulfilment_method"], order["pickup_location_code"]) == ("pickup", "ST-AMS")
    assert order["shipping_address"] is None


def test_the_live_availability_answers_for_one_line(agent: TestClient) -> None:
    answer = agent.get("/console/availability?sku=TEE-1&qty=2")
    assert answer.status_code == 200 and answer.json()["status"] == "in_stock"
    assert "from" in answer.json()["detail"]
    assert agent.get("/console/availability?sku=CAP-1&qty=3").json()["label"] == "Out of stock"
    assert agent.get("/console/availability?sku=NOPE&qty=1").json()["status"] == "unknown"


def test_store_staff_may_not_place_orders_and_a_post_needs_its_csrf_token(
        ordermesh: App, bus: MessageBus, agent: TestClient, engine: Engine) -> None:
    staff = console_client(ordermesh)
    sign_in(staff, a_user(bus, "store_staff", "ST-AMS"))
    assert staff.get(NEW).status_code == 403
    assert staff.get("/console/availability?sku=TEE-1").status_code == 403
    before = row_counts(engine)
    assert submit(staff, NEW, form(agent, ("TEE-1", 1))).status_code == 403
    # a post without the token is refused before anything runs
    assert agent.post(NEW, data=form(agent, ("TEE-1", 1))).status_code == 403
    assert row_counts(engine) == before
