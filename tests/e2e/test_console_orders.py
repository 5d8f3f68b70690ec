"""The console's orders over HTTP, on SQLite and PostgreSQL: the search by each key with its
filters and pages, the order page with everything known of the order, and each action's effect
in the database — through the same commands as the API, refused to the roles that may not."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.engine import Engine

from ordermesh.adapters.db import tables as t
from ordermesh.adapters.notify.email import Branding, MailboxSender
from ordermesh.adapters.notify.notifier import EmailNotifier
from ordermesh.bootstrap import App
from ordermesh.domain.errors import InvalidInput
from ordermesh.entrypoints.console.orders import minor_units
from ordermesh.services import commands as c
from ordermesh.services.bus import MessageBus
from ordermesh.services.handlers.notifications import NotifySetup
from tests.builders import Shop, place
from tests.console import a_user, console_client, notice_after, sign_in, submit
from tests.e2e.conftest import row_counts
from tests.e2e.test_shipping import boxes, picked, post  # noqa: F401 - boxes is a fixture

pytestmark = pytest.mark.db
NUMBERS = re.compile(r'href="/console/orders/(OM-[0-9]+)"')


@pytest.fixture
def console(ordermesh: App) -> TestClient:
    return console_client(ordermesh)


def signed_in(console: TestClient, bus: MessageBus, role: str = "operator",
              location: str | None = None) -> TestClient:
    sign_in(console, a_user(bus, role, location))
    return console


def number_of(engine: Engine, order_id: str) -> str:
    with engine.connect() as conn:
        seq = conn.execute(select(t.orders.c.seq).where(t.orders.c.id == order_id)).scalar_one()
    return f"OM-{seq:06d}"


def listed(console: TestClient, query: str = "") -> list[str]:
    answer = console.get(f"/console/orders{query}")
    assert answer.status_code == 200, answer.text
    return NUMBERS.findall(answer.text)


def order_row(engine: Engine, order_id: str) -> dict[str, Any]:
    with engine.connect() as conn:
        return dict(conn.execute(select(t.orders).where(t.orders.c.id == order_id)).one()._mapping)


def lines_of(engine: Engine, order_id: str) -> list[dict[str, Any]]:
    o, ol = t.orders.c, t.order_lines.c
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(
            select(t.order_lines).join(t.orders, o.seq == ol.order_seq)
            .where(o.id == order_id).order_by(ol.line_no))]


def transactions(engine: Engine, order_id: str) -> list[tuple[str, int, str]]:
    """(kind, amount, outcome) of every gateway call made for the order, oldest first."""
    o, p, x = t.orders.c, t.payments.c, t.payment_transactions.c
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(  # type: ignore[misc]
            select(x.kind, x.amount, x.outcome).join(t.payments, p.id == x.payment_id)
            .join(t.orders, o.seq == p.order_seq).where(o.id == order_id).order_by(x.id))]


def test_the_search_finds_an_order_by_its_number_email_reference_or_sku(
        console: TestClient, shop: Shop, bus: MessageBus, engine: Engine) -> None:
    # given three orders: different customers, references and products
    ann = place(bus, ("TEE-1", 2), external_reference="WEB-1001").order_id
    bob = place(bus, ("CAP-1", 1), customer={"email": "bob@example.com", "name": "Bob"},
                external_reference="WEB-1002").order_id
    cat = place(bus, ("TEE-1", 1), ("MUG-1", 1), channel="pos",
                customer={"email": "cat@example.com", "name": "Cat"}).order_id
    ann_no, bob_no, cat_no = (number_of(engine, o) for o in (ann, bob, cat))
    signed_in(console, bus)
    # when nothing is searched, every order is listed, newest first
    assert listed(console) == [cat_no, bob_no, ann_no]
    # then each key finds its orders
    assert listed(console, f"?q={bob_no}") == [bob_no]
    assert listed(console, f"?q={int(bob_no[3:])}") == [bob_no]  # the bare number too
    assert listed(console, "?q=BOB%40Example.com") == [bob_no]
    assert listed(console, "?q=WEB-1001") == [ann_no]
    assert listed(console, "?q=TEE-1") == [cat_no, ann_no]
    assert listed(console, "?q=MUG-1") == [cat_no]
    assert listed(console, "?q=nobody%40example.com") == []
    # and a row says what the list promises
    row = console.get(f"/console/orders?q={ann_no}").text
    for shown in ("web", "ann@example.com", "allocated", "authorized", "€39.98", "WEB-1001"):
        assert shown in row


def test_filters_by_status_channel_and_the_day_placed(console: TestClient, shop: Shop,
                                                      bus: MessageBus, engine: Engine) -> None:
    # given an order on the web (held) and one at the till
    web = place(bus, ("TEE-1", 1)).order_id
    bus.handle(c.ChangeOrderStatus("test", web, "hold", reason="fraud check"))
    pos = place(bus, ("TEE-1", 1), channel="pos").order_id
    web_no, pos_no = number_of(engine, web), number_of(engine, pos)
    placed_on = order_row(engine, web)["created_at"].date()
    signed_in(console, bus)
    assert listed(console, "?status=on_hold") == [web_no]
    assert listed(console, "?channel=pos") == [pos_no]
    assert listed(console, "?q=TEE-1&channel=web&status=on_hold") == [web_no]
    assert listed(console, f"?placed_from={placed_on}&placed_to={placed_on}") == [pos_no, web_no]
    assert listed(console, f"?placed_from={placed_on + timedelta(days=1)}") == []
    assert listed(console, "?placed_from=&placed_to=&status=&channel=") == [pos_no, web_no]
    assert listed(console, "?placed_from=0001-01-01&placed_to=9999-12-31") == [pos_no, web_no]
    assert console.get(f"/console/orders?before={2**70}").status_code == 422
    # text that is no key finds nothing, and never fails
    for odd in ("%C2%B2", "hello+world", "OM-", "x" * 320, "%27%3B--", "OM-999999999999999999"):
        assert listed(console, f"?q={odd}") == []
    # a day that is none, or a status or channel that does not exist, is said so
    for query, said in (("?placed_from=2026-02-30", "is not a day"),
                        ("?status=lost", "no such status"), ("?channel=fax", "no such channel")):
        answer = console.get(f"/console/orders{query}")
        assert answer.status_code == 422 and 'role="alert"' in answer.text and said in answer.text


def test_fifty_orders_a_page_with_next_and_previous(console: TestClient, shop: Shop,
                                                    bus: MessageBus, engine: Engine) -> None:
    # given 52 orders
    shop.product("PEN-1").stock("PEN-1", "WH-1", 100)
    numbers = [number_of(engine, place(bus, ("PEN-1", 1)).order_id) for _ in range(52)]
    signed_in(console, bus)
    # then the first page holds the newest 50, and a link to the next
    first = console.get("/console/orders").text
    assert NUMBERS.findall(first) == numbers[::-1][:50]
    assert "Previous page" not in first
    older = re.search(r'href="([^"]+)" rel="next"', first)
    assert older is not None
    second = console.get(older.group(1).replace("&amp;", "&")).text
    assert NUMBERS.findall(second) == numbers[1::-1]
    assert "Next page" not in second
    newer = re.search(r'href="([^"]+)" rel="prev"', second)
    assert newer is not None
    assert NUMBERS.findall(console.get(newer.group(1).replace("&amp;", "&")).text) == \
        numbers[::-1][:50]


def test_the_order_page_shows_why_where_what_was_paid_sent_told_and_every_event(
        console: TestClient, client: TestClient, shop: Shop, bus: MessageBus,
        engine: Engine) -> None:
    # given an order dispatched in full: invoiced and captured
    order = place(bus, ("TEE-1", 2)).order_id
    sent = client.post(f"/api/v1/orders/{order}/shipments", headers=shop.headers("operator"),
                       json={"reference": "PARCEL-1", "lines": [{"line_no": 1, "quantity": 2}]})
    assert sent.status_code == 201, sent.text
    with engine.connect() as conn:
        decision = conn.execute(select(t.allocations.c.decision)).scalar_one()
        invoice_id, invoice_no = conn.execute(select(t.invoices.c.id, t.invoices.c.number)).one()
    signed_in(console, bus, "call_centre")
    number = number_of(engine, order)
    # when the order is opened by its number (or its id)
    page = console.get(f"/console/orders/{number}")
    assert page.status_code == 200
    assert console.get(f"/console/orders/{order}").status_code == 200
    text = page.text
    # then it shows the customer, the delivery, the allocation at WH-1 and the reason for it
    for shown in ("Ann de Vries", "ann@example.com", "Keizersgracht 1",
                  "Leave with the neighbours at number 3", "WH-1", decision["explanation"]):
        assert shown in text, shown
    # and the payment's gateway calls, the invoice with its PDF, and the timeline in words
    assert "capture" in text and "succeeded" in text and "€39.98" in text
    assert f'href="/console/invoices/{invoice_id}.pdf"' in text
    assert "Order placed on web: 1 line(s), total €39.98." in text
    assert f"Invoice {invoice_no} issued: €39.98." in text
    assert text.index("Order placed on web") < text.index("€39.98 captured.")
    # and the PDF is the API's document
    pdf = console.get(f"/console/invoices/{invoice_id}.pdf")
    assert pdf.headers["content-type"] == "application/pdf"
    assert invoice_no in "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    # and what is not there is a 404 page
    assert console.get("/console/orders/OM-999999").status_code == 404
    assert console.get("/console/invoices/INV-0.pdf").status_code == 404


@pytest.mark.usefixtures("boxes")
def test_the_order_page_shows_the_parcels_tracking_number_and_link(
        console: TestClient, client: TestClient, shop: Shop, bus: MessageBus) -> None:
    # given an order packed, labelled by the courier and dispatched
    order, fulfilment = picked(client, shop, ("TEE-1", 1))
    post(client, shop, f"/fulfilments/{fulfilment}/pack")
    shipment = post(client, shop, f"/fulfilments/{fulfilment}/shipment")
    post(client, shop, f"/fulfilments/{fulfilment}/dispatch")
    [number] = [p["tracking_number"] for p in client.get(
        f"/api/v1/fulfilments/{fulfilment}", headers=shop.headers("operator")).json()["packages"]]
    signed_in(console, bus)
    text = console.get(f"/console/orders/{order['number']}").text
    assert number in text and f'href="{shipment["tracking_url"]}"' in text
    assert f"tracking {number}" in text  # the timeline's dispatch names it too


def test_hold_and_release_with_a_reason(console: TestClient, shop: Shop, bus: MessageBus,
                                        engine: Engine) -> None:
    order = place(bus, ("TEE-1", 1)).order_id
    signed_in(console, bus, "call_centre")
    # when an agent holds the order
    page = notice_after(console, submit(console, f"/console/orders/{order}/hold",
                                        {"reason": "customer called"}))
    # then it is held, says so, and the audit log knows who
    assert "Order held." in page and "Put on hold: customer called." in page
    assert (order_row(engine, order)["status"], order_row(engine, order)["hold_reason"]) == (
        "on_hold", "customer called")
    with engine.connect() as conn:
        assert conn.execute(select(t.audit_log.c.actor).where(
            t.audit_log.c.action == "ChangeOrderStatus")).scalar_one() == \
            "user:call_centre@shop.example"
    # and a release returns it where it was
    page = notice_after(console, submit(console, f"/console/orders/{order}/release"))
    assert "Hold released." in page and order_row(engine, order)["status"] == "allocated"
    # no reason is a notice, and one longer than the API takes (500) a 422 page: neither holds
    page = notice_after(console, submit(console, f"/console/orders/{order}/hold",
                                        {"reason": "  "}))
    assert 'role="alert"' in page and order_row(engine, order)["status"] == "allocated"
    answer = submit(console, f"/console/orders/{order}/hold", {"reason": "x" * 501})
    assert answer.status_code == 422 and order_row(engine, order)["status"] == "allocated"


def test_cancel_the_whole_order(console: TestClient, shop: Shop, bus: MessageBus,
                                engine: Engine) -> None:
    order = place(bus, ("TEE-1", 2)).order_id
    signed_in(console, bus)
    page = notice_after(console, submit(console, f"/console/orders/{order}/cancel",
                                        {"reason": "customer changed their mind"}))
    assert "Order cancelled." in page
    assert order_row(engine, order)["status"] == "cancelled"
    # the stock is free again and the authorization released, as the API does it
    with engine.connect() as conn:
        assert conn.execute(select(t.stock_levels.c.reserved).where(
            t.stock_levels.c.sku == "TEE-1", t.stock_levels.c.location_code == "WH-1")
        ).scalar_one() == 0
    assert transactions(engine, order)[-1] == ("void", 3998, "succeeded")
    # and a cancelled order offers no more actions; asking anyway is refused with a notice
    assert "Cancel order" not in page and "Hold order" not in page
    page = notice_after(console, submit(console, f"/console/orders/{order}/hold",
                                        {"reason": "late"}))
    assert 'role="alert"' in page and "cannot hold an order that is cancelled" in page


def test_cancel_units_of_a_paid_line_refunds_them(console: TestClient, shop: Shop,
                                                  bus: MessageBus, engine: Engine) -> None:
    # given 3 T-shirts authorized, and all captured by an operator
    order = place(bus, ("TEE-1", 3), ("CAP-1", 1)).order_id
    signed_in(console, bus)
    page = notice_after(console, submit(console, f"/console/orders/{order}/capture",
                                        {"reference": "console-capture-1", "amount": ""}))
    assert "Payment captured." in page
    assert transactions(engine, order)[-1] == ("capture", 4 * 1999, "succeeded")
    # when 2 of the T-shirts are cancelled
    page = notice_after(console, submit(console, f"/console/orders/{order}/cancel-units", {
        "line_no": "1", "quantity": "2", "reason": "ordered too many"}))
    # then the line has 2 units cancelled, and their price goes back to the card
    assert "Units of line 1 cancelled." in page
    assert [(ln["quantity"], ln["cancelled"]) for ln in lines_of(engine, order)] == [(3, 2), (1, 0)]
    assert transactions(engine, order)[-1] == ("refund", 2 * 1999, "succeeded")
    assert "Line 1: 2 × TEE-1 cancelled (ordered too many)" in page  # noqa: RUF001
    assert "€39.98 refunded" in page
    # and more units than are left is a notice, changing nothing
    page = notice_after(console, submit(console, f"/console/orders/{order}/cancel-units", {
        "line_no": "1", "quantity": "5", "reason": "again"}))
    assert 'role="alert"' in page and lines_of(engine, order)[0]["cancelled"] == 2
    for bad in ("two", "-1", "0"):
        page = notice_after(console, submit(console, f"/console/orders/{order}/cancel-units", {
            "line_no": "1", "quantity": bad, "reason": "again"}))
        assert 'role="alert"' in page and lines_of(engine, order)[0]["cancelled"] == 2


def test_source_a_line_again_elsewhere(console: TestClient, shop: Shop, bus: MessageBus,
                                       engine: Engine) -> None:
    # given a T-shirt allocated at the warehouse (the store has some too)
    order = place(bus, ("TEE-1", 1)).order_id
    signed_in(console, bus)
    assert "Line 1 · TEE-1 · 1 at WH-1" in console.get(f"/console/orders/{order}").text
    # when the operator sources it again: the warehouse cannot send it
    page = notice_after(console, submit(console, f"/console/orders/{order}/resource", {
        "allocation": "1:WH-1", "reason": "damaged in the warehouse"}))
    # then it comes from the store, and the timeline says why it moved
    assert "Line 1 sourced again." in page
    with engine.connect() as conn:
        active = conn.execute(select(t.allocations.c.location_code).where(
            t.allocations.c.status == "active")).scalars().all()
    assert active == ["ST-AMS"]
    assert "Line 1: 1 moved away from WH-1 (damaged in the warehouse)" in page


def test_capture_and_refund_amounts_typed_in_euros(console: TestClient, client: TestClient,
                                                   shop: Shop, bus: MessageBus,
                                                   engine: Engine) -> None:
    # given an order dispatched and so invoiced and captured
    order = place(bus, ("TEE-1", 1)).order_id
    assert client.post(f"/api/v1/orders/{order}/shipments", headers=shop.headers("operator"),
                       json={"reference": "P-1", "lines": [{"line_no": 1, "quantity": 1}]}
                       ).status_code == 201
    signed_in(console, bus)
    # when 5.50 is refunded as a price adjustment
    page = notice_after(console, submit(console, f"/console/orders/{order}/refund", {
        "reference": "console-refund-1", "amount": "5.50", "reason": "late delivery"}))
    # then exactly 550 cents go back, with a credit note
    assert "Refund made." in page
    assert transactions(engine, order)[-1] == ("refund", 550, "succeeded")
    with engine.connect() as conn:
        assert conn.execute(select(t.invoices.c.gross).where(
            t.invoices.c.kind == "credit_note")).scalar_one() == 550
    # and an amount that is no amount of euros is a notice, writing nothing
    before = row_counts(engine)
    for bad in ("5,50", "abc", "1.234", "-1", "0", "0.001", "", "1e3"):
        page = notice_after(console, submit(console, f"/console/orders/{order}/refund", {
            "reference": "console-refund-2", "amount": bad, "reason": "again"}))
        assert 'role="alert"' in page, bad
    assert "is not an amount" in notice_after(console, submit(
        console, f"/console/orders/{order}/refund",
        {"reference": "console-refund-2", "amount": "5,50", "reason": "again"}))
    after = row_counts(engine)
    assert {k: v for k, v in after.items() if k != "user_sessions"} == \
        {k: v for k, v in before.items() if k != "user_sessions"}


def test_a_capture_of_part_of_the_authorization(console: TestClient, shop: Shop,
                                                bus: MessageBus, engine: Engine) -> None:
    order = place(bus, ("TEE-1", 2)).order_id
    signed_in(console, bus, "admin")
    notice_after(console, submit(console, f"/console/orders/{order}/capture", {
        "reference": "console-capture-2", "amount": "10"}))
    assert transactions(engine, order)[-1] == ("capture", 1000, "succeeded")


def test_roles_the_orders_pages_refuse(console: TestClient, shop: Shop, bus: MessageBus,
                                       engine: Engine) -> None:
    order = place(bus, ("TEE-1", 1)).order_id
    # store staff do not see orders at all
    staff = signed_in(console_client_for(console), bus, "store_staff", "ST-AMS")
    assert staff.get("/console/orders").status_code == 403
    assert staff.get(f"/console/orders/{order}").status_code == 403
    assert submit(staff, f"/console/orders/{order}/hold", {"reason": "x"}).status_code == 403
    # a call-centre agent sees them, but neither captures nor refunds nor sources again
    agent = signed_in(console, bus, "call_centre")
    page = agent.get(f"/console/orders/{order}").text
    assert "Capture payment" not in page and "Source elsewhere" not in page
    assert "Hold order" in page
    before = row_counts(engine)
    for action, form in (("capture", {"reference": "c-1"}),
                         ("refund", {"reference": "r-1", "amount": "1", "reason": "x"}),
                         ("resource", {"allocation": "1:WH-1", "reason": "x"})):
        assert submit(agent, f"/console/orders/{order}/{action}", form).status_code == 403
    assert row_counts(engine) == before


def console_client_for(console: TestClient) -> TestClient:
    """A second browser on the same app."""
    return TestClient(console.app, base_url="https://testserver",
                      raise_server_exceptions=False, follow_redirects=False)


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(
        console: TestClient, shop: Shop, bus: MessageBus, engine: Engine) -> None:
    order = place(bus, ("TEE-1", 1)).order_id
    signed_in(console, bus, "admin")
    before = row_counts(engine)
    for action, form in (("hold", {"reason": "x"}), ("cancel", {"reason": "x"}),
                         ("capture", {"reference": "c-1"})):
        assert console.post(f"/console/orders/{order}/{action}", data=form).status_code == 403
        assert console.post(f"/console/orders/{order}/{action}",
                            data={**form, "csrf_token": "forged"}).status_code == 403
    assert row_counts(engine) == before
    assert order_row(engine, order)["status"] == "allocated"


def test_resend_a_notification_queues_it_for_the_worker(
        console: TestClient, shop: Shop, bus: MessageBus, engine: Engine,
        tmp_path: Path) -> None:
    # given the order confirmation, sent
    mailbox = MailboxSender(tmp_path / "mailbox")
    bus.notify = NotifySetup(EmailNotifier(mailbox, Branding("Test Shop", "orders@shop.example")))
    order = place(bus, ("TEE-1", 1)).order_id
    bus.handle(c.RelayEvents("worker"))
    assert bus.handle(c.SendNotifications("worker")) == 1
    with engine.connect() as conn:
        first = conn.execute(select(t.notifications)).one()._mapping
    signed_in(console, bus, "call_centre")
    page = console.get(f"/console/orders/{order}").text
    assert "order confirmed (email)" in page and "sent" in page
    # when the agent resends it
    page = notice_after(console, submit(
        console, f"/console/orders/{order}/notifications/{first['id']}/resend"))
    # then it waits for the worker again, nothing sent inline, and the timeline says who asked
    assert "The notification will be sent again." in page
    assert "The order confirmed email queued to be sent again." in page
    with engine.connect() as conn:
        queued = conn.execute(select(t.notifications)).one()._mapping
    assert (queued["status"], queued["attempts"]) == ("pending", 0)
    # and asked again while it waits, it is not queued twice
    again = notice_after(console, submit(
        console, f"/console/orders/{order}/notifications/{first['id']}/resend"))
    assert "already waiting to be sent" in again
    # and the worker sends the same message once more
    assert bus.handle(c.SendNotifications("worker")) == 1
    with engine.connect() as conn:
        done = conn.execute(select(t.notifications)).one()._mapping
    assert (done["status"], done["message_id"]) == ("sent", first["message_id"])
    assert done["sent_at"] >= first["sent_at"]


@pytest.mark.parametrize(("typed", "currency", "minor"), [
    ("12.50", "EUR", 1250), ("12.5", "EUR", 1250), ("0.01", "EUR", 1), ("7", "EUR", 700),
    ("1500", "JPY", 1500), ("1.234", "BHD", 1234), ("99999999999.99", "EUR", 9999999999999)])
def test_an_amount_typed_in_major_units_is_exact_minor_units(typed: str, currency: str,
                                                             minor: int) -> None:
    assert minor_units(typed, currency) == minor


@pytest.mark.parametrize(("typed", "currency"), [
    ("1.5", "JPY"), ("0.001", "EUR"), ("1,50", "EUR"), ("-2", "EUR"), ("0", "EUR"),
    ("0.00", "EUR"), ("NaN", "EUR"), ("1e2", "EUR"), (" ", "EUR"), ("١٢", "EUR")])
def test_an_amount_that_is_not_exact_is_refused(typed: str, currency: str) -> None:
    with pytest.raises(InvalidInput):
        minor_units(typed, currency)
