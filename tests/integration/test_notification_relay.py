"""Customer mail from the outbox, on both databases, through a real local SMTP server: the
relay writes one notification per event that tells the customer something, the sender mails
it once (also when a sender died in the middle of a batch, and when the server was away),
and a dispatched parcel's mail carries its tracking link."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from ordermesh.adapters.db import tables as t
from ordermesh.adapters.db.engine import retry_reason
from ordermesh.adapters.db.unit_of_work import SqlUnitOfWork
from ordermesh.adapters.notify.email import Branding, SmtpSender
from ordermesh.adapters.notify.notifier import EmailNotifier
from ordermesh.services import commands as c
from ordermesh.services.bus import MessageBus
from ordermesh.services.handlers.notifications import NotifySetup
from tests.builders import RunningClock, a_shop, place
from tests.integration.test_smtp import Inbox, free_port, smtp_server  # noqa: F401


@pytest.fixture
def clock() -> RunningClock:
    return RunningClock()


@pytest.fixture
def mail(engine: Engine, bus: MessageBus, clock: RunningClock,
         smtp_server: tuple[Inbox, int]) -> Iterator[tuple[MessageBus, Inbox]]:  # noqa: F811
    inbox, port = smtp_server
    notifier = EmailNotifier(SmtpSender("127.0.0.1", port, timeout=5),
                             Branding("Ordermesh Test Shop", "orders@shop.example"))
    mail = MessageBus(lambda: SqlUnitOfWork(engine), retry_reason=retry_reason,
                      setup=bus.setup, shipping=bus.shipping, webhooks=bus.webhooks,
                      notify=NotifySetup(notifier, "https://shop.example", clock=clock))
    shop = a_shop(mail).location("WH-1").product("TEE-1").stock("TEE-1", "WH-1", 20)
    assert shop
    yield mail, inbox


def relay(bus: MessageBus) -> int:
    while bus.handle(c.RelayEvents("worker")):
        pass
    sent: int = bus.handle(c.SendNotifications("worker"))
    return sent


def notifications(engine: Engine) -> list[tuple[str, str, int]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(
            t.notifications.c.kind, t.notifications.c.status, t.notifications.c.attempts)
            .order_by(t.notifications.c.id))]


def test_an_order_placed_is_confirmed_once(mail: tuple[MessageBus, Inbox],
                                           engine: Engine) -> None:
    bus, inbox = mail
    order = place(bus, ("TEE-1", 2))
    assert relay(bus) == 1
    assert notifications(engine) == [("order_confirmed", "sent", 1)]
    [(_, to, message)] = inbox.received
    assert to == ["ann@example.com"] and "OM-" in str(message["Subject"])
    text = message.get_body(preferencelist=("plain",))
    assert text is not None and "https://shop.example/track/" in text.get_content()
    # the relay and the sender again: nothing more
    assert relay(bus) == 0 and len(inbox.received) == 1
    assert order.order_id


def test_a_dispatched_parcel_is_mailed_with_its_tracking_link(mail: tuple[MessageBus, Inbox],
                                                               engine: Engine) -> None:
    bus, inbox = mail
    order = place(bus, ("TEE-1", 1))
    [fulfilment] = bus.handle(c.ReleaseFulfilments("test"))
    bus.handle(c.ChangeFulfilment("test", fulfilment, "start_picking"))
    bus.handle(c.PackFulfilment("test", fulfilment))
    booked = bus.handle(c.BookShipment("test", fulfilment))
    bus.handle(c.DispatchShipment("test", order.order_id, f"fulfilment:{fulfilment}", (),
                                  fulfilment_id=fulfilment))
    relay(bus)
    kinds = [k for k, _, _ in notifications(engine)]
    assert kinds == ["order_confirmed", "dispatched"]
    dispatched = inbox.received[-1][2]
    html = dispatched.get_body(preferencelist=("html",))
    assert html is not None and booked["tracking_url"] in html.get_content()


def test_a_sender_that_died_mid_batch_mails_each_customer_once(
        mail: tuple[MessageBus, Inbox], engine: Engine, clock: RunningClock) -> None:
    bus, inbox = mail
    for _ in range(3):
        place(bus, ("TEE-1", 1))
    while bus.handle(c.RelayEvents("worker")):
        pass
    uow = SqlUnitOfWork(engine)
    with uow:  # a sender takes the batch, then dies before mailing
        taken = uow.notifications.claim_due(clock.now, clock.now + bus.notify.lease, 100)
        uow.commit()
    assert len(taken) == 3
    assert bus.handle(c.SendNotifications("worker")) == 0  # held by the dead sender's lease
    clock.advance(seconds=61)
    assert bus.handle(c.SendNotifications("worker")) == 3
    assert bus.handle(c.SendNotifications("worker")) == 0
    ids = [m["Message-ID"] for _, _, m in inbox.received]
    assert len(ids) == len(set(ids)) == 3


def test_a_server_that_is_away_gets_the_mail_on_a_later_try(
        mail: tuple[MessageBus, Inbox], engine: Engine, clock: RunningClock) -> None:
    bus, inbox = mail
    place(bus, ("TEE-1", 1))
    notifier = bus.notify.notifier
    assert isinstance(notifier, EmailNotifier)
    working = notifier.sender
    notifier.sender = SmtpSender("127.0.0.1", free_port(), timeout=2)  # nobody listens
    assert relay(bus) == 0
    [(kind, status, attempts)] = notifications(engine)
    assert (status, attempts) == ("pending", 1)
    notifier.sender = working
    assert bus.handle(c.SendNotifications("worker")) == 0  # not due yet
    clock.advance(seconds=10)
    assert bus.handle(c.SendNotifications("worker")) == 1
    assert notifications(engine) == [(kind, "sent", 2)] and len(inbox.received) == 1


def test_a_channels_mail_carries_its_brand_and_language(mail: tuple[MessageBus, Inbox],
                                                        engine: Engine) -> None:
    bus, inbox = mail
    bus.handle(c.UpdateChannel("test", "web", {"brand_name": "Kade Online",
                                               "mail_from": "hallo@kade.example",
                                               "locale": "nl_NL"}))
    place(bus, ("TEE-1", 2))
    assert relay(bus) == 1
    [(_, _, message)] = inbox.received
    assert "Kade Online" in str(message["From"]) and "hallo@kade.example" in str(message["From"])
    text = message.get_body(preferencelist=("plain",))
    assert text is not None and "39,98" in text.get_content()  # Dutch: a decimal comma


def test_a_mail_that_cannot_be_composed_holds_up_no_other(mail: tuple[MessageBus, Inbox],
                                                         engine: Engine) -> None:
    bus, inbox = mail
    bus.handle(c.UpdateChannel("test", "web", {"locale": "zz_ZZ"}))  # set behind the API's back
    place(bus, ("TEE-1", 1))
    place(bus, ("TEE-1", 1), channel="pos")
    assert relay(bus) == 1
    assert sorted((status, attempts) for _, status, attempts in notifications(engine)) == [
        ("pending", 1), ("sent", 1)]
    assert len(inbox.received) == 1
