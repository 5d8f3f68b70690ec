"""The console's integrations page, on both databases: an admin subscribes a URL (the secret
shown once), reads the delivery log of a receiver that answers 503, replays a delivery and
switches the subscription off and on; an operator reads but changes nothing; the demo mailbox
lists the kept mail newest first, shows one, serves its HTML part only sandboxed, and opens
nothing but the files its folder lists."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from ordermesh.adapters.notify.email import MailboxSender
from ordermesh.adapters.webhooks.sender import WebhookSender, new_secret
from ordermesh.bootstrap import App
from ordermesh.config import Settings
from ordermesh.services import commands as c
from ordermesh.services.bus import MessageBus
from ordermesh.services.handlers.webhooks import WebhookSetup
from tests.builders import Shop
from tests.console import a_user, console_client, notice_after, sign_in, submit
from tests.e2e.conftest import row_counts
from tests.e2e.test_fulfilments import place


class Unavailable(BaseHTTPRequestHandler):
    """A receiver that is down for maintenance: every delivery gets a 503."""

    def do_POST(self) -> None:  # the name http.server calls
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(503)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver(bus: MessageBus) -> Iterator[str]:
    """A local receiver's URL; the bus may post to local addresses for it."""
    bus.webhooks = WebhookSetup(WebhookSender(allow_private=True, timeout=5), new_secret)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Unavailable)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks"
    server.shutdown()
    thread.join(5)


@pytest.fixture
def mailbox(tmp_path: Path) -> Path:
    return tmp_path / "mailbox"


@pytest.fixture
def ordermesh(database_url: str, engine: Engine, bus: MessageBus, mailbox: Path) -> App:
    return App(Settings(database_url=database_url, mailbox_dir=str(mailbox)), engine, bus)


def signed_in(ordermesh: App, bus: MessageBus, role: str) -> TestClient:
    console = console_client(ordermesh)
    sign_in(console, a_user(bus, role))
    return console


def subscriptions(client: TestClient, shop: Shop) -> list[dict[str, Any]]:
    return list(client.get("/api/v1/webhook-subscriptions", headers=shop.headers("admin")).json())


def log_of(client: TestClient, shop: Shop, subscription: str) -> list[dict[str, Any]]:
    return list(client.get(f"/api/v1/webhook-subscriptions/{subscription}/deliveries",
                           headers=shop.headers("admin")).json())


def test_an_admin_subscribes_reads_the_log_replays_and_switches_off(
        client: TestClient, shop: Shop, bus: MessageBus, ordermesh: App, receiver: str) -> None:
    console = signed_in(ordermesh, bus, "admin")
    # when an admin subscribes the receiver to placed orders and fulfilments
    answer = submit(console, "/console/integrations/webhooks", {
        "url": receiver, "event_types": "order.placed, fulfilment.*", "description": "ERP"})
    # then the answering page shows the signing secret, this once
    assert answer.status_code == 201, answer.text
    [made] = subscriptions(client, shop)
    assert made["event_types"] == ["fulfilment.*", "order.placed"] and made["active"]
    secret = answer.text.split('id="secret">')[1].split("<")[0]
    assert secret.startswith("whsec_")
    listed = console.get("/console/integrations").text
    assert receiver in listed and secret not in listed
    # when an order is placed and the receiver answers 503
    place(client, shop, ("TEE-1", 1))
    bus.handle(c.RelayEvents("worker"))
    assert bus.handle(c.SendWebhooks("worker")) == 0
    # then the log shows the delivery, its attempt, the status code and the latency
    page = f"/console/integrations/webhooks/{made['id']}"
    shown = console.get(page).text
    [delivery] = log_of(client, shop, made["id"])
    assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == (
        "pending", 1, 503)
    assert "order.placed" in shown and ">503<" in shown and delivery["event_id"] in shown
    assert f">{delivery['attempts_log'][0]['latency_ms']}<" in shown
    # when the admin replays it: due now, and the next send is a second attempt in the log
    replay = f"{page}/deliveries/{delivery['id']}/replay"
    elsewhere = f"/console/integrations/webhooks/nope/deliveries/{delivery['id']}/replay"
    assert submit(console, elsewhere).status_code == 404
    assert "sent again" in notice_after(console, submit(console, replay))
    assert log_of(client, shop, made["id"])[0]["attempts"] == 0
    bus.handle(c.SendWebhooks("worker"))
    assert len(log_of(client, shop, made["id"])[0]["attempts_log"]) == 2
    # when switched off, a replay is refused; switched on, it is taken again
    assert "Switched off." in notice_after(console, submit(console, f"{page}/active",
                                                           {"active": "false"}))
    assert subscriptions(client, shop)[0]["active"] is False
    assert "notice-error" in notice_after(console, submit(console, replay))
    notice_after(console, submit(console, f"{page}/active", {"active": "true"}))
    assert subscriptions(client, shop)[0]["active"] is True


def test_an_operator_reads_but_cannot_change_subscriptions(
        client: TestClient, shop: Shop, bus: MessageBus, ordermesh: App, receiver: str,
        engine: Engine) -> None:
    admin = signed_in(ordermesh, bus, "admin")
    submit(admin, "/console/integrations/webhooks", {"url": receiver,
                                                     "event_types": "order.placed"})
    [made] = subscriptions(client, shop)
    place(client, shop, ("TEE-1", 1))
    bus.handle(c.RelayEvents("worker"))
    [delivery] = log_of(client, shop, made["id"])
    # an operator sees the list and the log, with no form to change them
    operator = signed_in(ordermesh, bus, "operator")
    listed = operator.get("/console/integrations")
    assert listed.status_code == 200 and receiver in listed.text
    assert 'action="/console/integrations/webhooks"' not in listed.text
    assert "Replay" not in operator.get(f"/console/integrations/webhooks/{made['id']}").text
    # and every change they post is refused, changing nothing
    before = row_counts(engine)
    page = f"/console/integrations/webhooks/{made['id']}"
    for url, form in (("/console/integrations/webhooks", {"url": receiver, "event_types": "*"}),
                      (f"{page}/active", {"active": "false"}),
                      (f"{page}/deliveries/{delivery['id']}/replay", {})):
        assert submit(operator, url, form).status_code == 403, url
    assert row_counts(engine) == before and subscriptions(client, shop)[0]["active"]
    # a call-centre agent may not even look
    assert signed_in(ordermesh, bus, "call_centre").get("/console/integrations"
                                                        ).status_code == 403


def test_bad_subscriptions_and_forms_without_the_token_are_refused(
        client: TestClient, shop: Shop, bus: MessageBus, ordermesh: App, engine: Engine,
        receiver: str) -> None:
    admin = signed_in(ordermesh, bus, "admin")
    before = row_counts(engine)
    for form in ({"url": "not a url", "event_types": "*"},
                 {"url": "ftp://example.com/x", "event_types": "*"},
                 {"url": receiver, "event_types": " , "},
                 {"url": receiver, "event_types": "Order Placed!"}):
        assert "notice-error" in notice_after(admin, submit(
            admin, "/console/integrations/webhooks", form)), form
    refused = admin.post("/console/integrations/webhooks", data={
        "url": receiver, "event_types": "*"})
    assert refused.status_code == 403
    assert subscriptions(client, shop) == []
    # (only the audit log counts what was refused)
    assert {k: v for k, v in row_counts(engine).items() if k != "audit_log"} == {
        k: v for k, v in before.items() if k != "audit_log"}
    assert admin.get("/console/integrations/webhooks/nope").status_code == 404


def a_mail(subject: str, text: str, html: str | None = None) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"], mail["To"] = subject, "Ann de Vries <ann@example.com>"
    mail["From"], mail["Date"] = "orders@shop.example", "Tue, 02 Jun 2026 10:00:00 +0000"
    mail["Message-ID"] = f"<{subject.replace(' ', '-')}@shop.example>"
    mail.set_content(text)
    if html is not None:
        mail.add_alternative(html, subtype="html")
    return mail


def test_the_mailbox_lists_and_shows_mail_and_opens_nothing_else(
        shop: Shop, bus: MessageBus, ordermesh: App, mailbox: Path, tmp_path: Path) -> None:
    # given two mails kept, the newer one with an HTML part that carries a script
    kept = MailboxSender(mailbox)
    kept.send(a_mail("Order confirmed", "Thank you for your order."))
    kept.send(a_mail("Your parcel is on its way", "Track it with OC123.",
                     "<p>On its way</p><script>alert('pwned')</script>"))
    older, newer = (mailbox / "Order-confirmed@shop.example.eml",
                    mailbox / "Your-parcel-is-on-its-way@shop.example.eml")
    os.utime(older, (1_700_000_000, 1_700_000_000))
    (tmp_path / "secret.eml").write_text("Subject: not for you\n\nsecret")
    operator = signed_in(ordermesh, bus, "operator")
    # when the operator opens the mailbox: newest first, with recipient and subject
    listed = operator.get("/console/integrations/mailbox").text
    assert listed.index("Your parcel is on its way") < listed.index("Order confirmed")
    assert "ann@example.com" in listed
    # when they open the newer mail: its text, and its HTML only in a sandboxed frame
    shown = operator.get(f"/console/integrations/mailbox/{newer.name}")
    assert shown.status_code == 200 and "Track it with OC123." in shown.text
    assert "alert(" not in shown.text and '<iframe class="mail-html" sandbox=""' in shown.text
    html = operator.get(f"/console/integrations/mailbox/{newer.name}/html")
    assert html.headers["content-security-policy"].startswith("sandbox;")
    assert "script-src" not in html.headers["content-security-policy"]
    assert "<p>On its way</p>" in html.text
    assert operator.get(f"/console/integrations/mailbox/{older.name}/html").status_code == 404
    # then names that are not in the folder's listing are not found, wherever they point
    for name in ("..%2Fsecret.eml", "..%5Csecret.eml", "%2E%2E", "secret.eml",
                 f"..%2Fmailbox%2F{newer.name}", "nothing.eml"):
        answer = operator.get(f"/console/integrations/mailbox/{name}")
        assert answer.status_code == 404, name
        assert "not for you" not in answer.text
