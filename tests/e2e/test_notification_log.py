"""An order's notification log through the API: what the customer was told, and whether it
went out (the demo's mailbox keeps the mail)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from ordermesh.adapters.notify.email import Branding, MailboxSender
from ordermesh.adapters.notify.notifier import EmailNotifier
from ordermesh.services import commands as c
from ordermesh.services.bus import MessageBus
from ordermesh.services.handlers.notifications import NotifySetup
from tests.builders import Shop
from tests.e2e.test_fulfilments import place


def test_the_notification_log_shows_what_the_customer_was_told(
        client: TestClient, shop: Shop, bus: MessageBus, tmp_path: Path) -> None:
    mailbox = MailboxSender(tmp_path / "mailbox")
    bus.notify = NotifySetup(EmailNotifier(mailbox, Branding("Test Shop", "orders@shop.example")))
    order = place(client, shop, ("TEE-1", 1))
    bus.handle(c.RelayEvents("worker"))
    assert bus.handle(c.SendNotifications("worker")) == 1
    log = client.get(f"/api/v1/orders/{order['id']}/notifications",
                     headers=shop.headers("web")).json()
    assert [(n["kind"], n["status"], n["recipient"]) for n in log] == [
        ("order_confirmed", "sent", "ann@example.com")]
    assert log[0]["message_id"] and len(list((tmp_path / "mailbox").glob("*.eml"))) == 1
    other = client.get(f"/api/v1/orders/{order['id']}/notifications",
                       headers=shop.headers("pos"))
    assert other.status_code == 404  # another channel does not see it
