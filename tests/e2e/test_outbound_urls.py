"""Outbound URLs cannot reach private addresses. The one outbound URL a user gives Ordermesh is
a webhook subscription's (created or changed through the API or the console, by an admin);
every other outbound address (payment gateways, carriers, SMTP, the event stream, the test
gateway's and courier's databases) is operator configuration from the environment.

A host name is judged by every address it resolves to (one private address is enough to
refuse it), when subscribing and again at each sending, and a redirect is never followed. The
DNS answers are faked here by replacing the resolver (`socket.getaddrinfo`): this machine has
no DNS, and a test must not depend on one. tests/integration/test_webhooks.py covers addresses
written as IP literals."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from ordermesh.adapters.db import tables as t
from ordermesh.adapters.db.engine import retry_reason
from ordermesh.adapters.db.unit_of_work import SqlUnitOfWork
from ordermesh.adapters.webhooks.sender import WebhookSender, new_secret
from ordermesh.domain.errors import InvalidInput
from ordermesh.services.bus import MessageBus
from ordermesh.services.handlers.webhooks import WebhookSetup
from tests.builders import Clock, Shop, a_shop, place
from tests.integration.test_webhooks import Receiver, deliveries, relay_and_send, subscribe

PUBLIC = "93.184.216.34"
real_getaddrinfo = socket.getaddrinfo


class FakeDns:
    """Names of this test's choosing resolve to the addresses it says (in turn, when it gives
    several answers); every other name goes to the real resolver."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.answers: dict[str, list[list[str]]] = {}
        monkeypatch.setattr(socket, "getaddrinfo", self.getaddrinfo)

    def add(self, name: str, *answers: list[str]) -> None:
        self.answers[name] = list(answers)

    def getaddrinfo(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in self.answers:
            return real_getaddrinfo(host, port, *args, **kwargs)
        queue = self.answers[host]
        addresses = queue.pop(0) if len(queue) > 1 else queue[0]
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM,
                 socket.IPPROTO_TCP, "", (a, int(port or 0))) for a in addresses]


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> FakeDns:
    return FakeDns(monkeypatch)


@pytest.fixture
def guarded(engine: Engine, bus: MessageBus) -> MessageBus:
    """A bus whose sender keeps to public addresses, as in production."""
    setup = WebhookSetup(WebhookSender(allow_private=False, timeout=5), new_secret,
                         clock=Clock())
    guarded = MessageBus(lambda: SqlUnitOfWork(engine), retry_reason=retry_reason,
                         setup=bus.setup, shipping=bus.shipping, webhooks=setup)
    a_shop(guarded).location("WH-1").product("TEE-1").stock("TEE-1", "WH-1", 50)
    return guarded


def subscriptions(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(t.webhook_subscriptions)
                            ).scalar_one()


@pytest.mark.parametrize("addresses", [
    ["10.0.0.5"], ["127.0.0.1"], ["169.254.169.254"], ["192.168.1.20"], ["100.64.0.9"],
    ["::1"], ["fd00::7"], ["::ffff:169.254.169.254"],
    [PUBLIC, "10.0.0.5"],  # one private address among public ones is enough
], ids=str)
def test_a_host_name_that_resolves_to_a_private_address_is_refused(
        guarded: MessageBus, engine: Engine, dns: FakeDns, addresses: list[str]) -> None:
    dns.add("hooks.shop.test", addresses)
    with pytest.raises(InvalidInput, match="not on the public internet"):
        subscribe(guarded, "https://hooks.shop.test/ordermesh")
    assert subscriptions(engine) == 0


def test_a_host_name_that_resolves_publicly_is_taken(
        guarded: MessageBus, engine: Engine, dns: FakeDns) -> None:
    dns.add("hooks.shop.test", [PUBLIC, "2606:2800:220:1:248:1893:25c8:1946"])
    subscribe(guarded, "https://hooks.shop.test/ordermesh")
    assert subscriptions(engine) == 1


def test_a_name_that_turns_private_after_subscribing_is_refused_at_sending(
        guarded: MessageBus, engine: Engine, dns: FakeDns, receiver: Receiver) -> None:
    # given a subscription whose name was public when it was made
    port = receiver.url.split(":")[2].split("/")[0]
    dns.add("hooks.shop.test", [PUBLIC], ["127.0.0.1"])
    subscribe(guarded, f"http://hooks.shop.test:{port}/hooks", "order.placed")
    # when the name points at this machine by the time an event is sent
    place(guarded, ("TEE-1", 1))
    assert relay_and_send(guarded) == 0
    # then nothing was sent, and the delivery says why
    [delivery] = deliveries(engine)
    assert receiver.received == []
    assert delivery.last_status_code is None and "public internet" in delivery.last_error


class Redirecting:
    """An endpoint on 127.0.0.1 that answers every POST with a redirect to `target`."""

    def __init__(self, status: int, target: str) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["content-length"]))
                self.send_response(status)
                self.send_header("Location", target)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.server.shutdown()


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_never_followed(engine: Engine, bus: MessageBus, receiver: Receiver,
                                      status: int) -> None:
    # given an endpoint that redirects to an internal address (the receiver stands for it);
    # private addresses allowed so that the test can serve both on this machine
    setup = WebhookSetup(WebhookSender(allow_private=True, timeout=5), new_secret, clock=Clock())
    hooks = MessageBus(lambda: SqlUnitOfWork(engine), retry_reason=retry_reason,
                       setup=bus.setup, webhooks=setup)
    a_shop(hooks).location("WH-1").product("TEE-1").stock("TEE-1", "WH-1", 5)
    redirecting = Redirecting(status, receiver.url)
    try:
        subscribe(hooks, redirecting.url, "order.placed")
        place(hooks, ("TEE-1", 1))
        # when the event is sent
        assert relay_and_send(hooks) == 0
    finally:
        redirecting.server.shutdown()
    # then the redirect is a failed attempt, and its target got nothing
    [delivery] = deliveries(engine)
    assert (delivery.status, delivery.last_status_code) == ("pending", status)
    assert receiver.received == []


def test_a_name_that_rebinds_between_the_check_and_the_connection_is_not_reached(
        guarded: MessageBus, engine: Engine, dns: FakeDns, receiver: Receiver) -> None:
    port = receiver.url.split(":")[2].split("/")[0]
    # given a name public when subscribing and when checked before the send, and private by
    # the time the connection would look it up again
    dns.add("rebind.shop.test", [PUBLIC], [PUBLIC], ["127.0.0.1"])  # subscribe, check, connect
    subscribe(guarded, f"http://rebind.shop.test:{port}/hooks", "order.placed")
    place(guarded, ("TEE-1", 1))
    # when the event is sent
    assert relay_and_send(guarded) == 0
    # then the connection went nowhere near this machine, and the delivery says why
    [delivery] = deliveries(engine)
    assert receiver.received == []
    assert delivery.last_status_code is None and "public internet" in delivery.last_error


# -- through the API: creating and changing a subscription ---------------------------------

def test_the_api_refuses_private_urls_when_a_subscription_is_made_or_changed(
        client: TestClient, shop: Shop, engine: Engine, dns: FakeDns) -> None:
    admin = shop.headers("admin")
    dns.add("internal.shop.test", ["10.1.2.3"])
    dns.add("hooks.shop.test", [PUBLIC])
    refused = client.post("/api/v1/webhook-subscriptions", headers=admin,
                          json={"url": "https://internal.shop.test/x", "event_types": ["*"]})
    assert refused.status_code == 422 and refused.json()["code"] == "request.invalid"
    made = client.post("/api/v1/webhook-subscriptions", headers=admin,
                       json={"url": "https://hooks.shop.test/x", "event_types": ["*"]})
    assert made.status_code == 201, made.text
    path = f"/api/v1/webhook-subscriptions/{made.json()['id']}"
    for url in ("https://internal.shop.test/x", "http://127.0.0.1:8000/x",
                "http://169.254.169.254/latest/meta-data", "http://[::1]/x"):
        changed = client.patch(path, headers=admin, json={"url": url})
        assert changed.status_code == 422, (url, changed.text)
    assert client.get(path, headers=admin).json()["url"] == "https://hooks.shop.test/x"


# -- a proxy set in the environment ------------------------------------------------------

class RecordingProxy:
    """An HTTP proxy on this machine that answers every request itself (204) and notes the
    URL it was asked to reach."""

    def __init__(self) -> None:
        seen: list[str] = []
        self.seen = seen

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["content-length"]))
                seen.append(self.path)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_a_proxy_set_in_the_environment_carries_the_sends_and_the_rest_is_guarded(
        monkeypatch: pytest.MonkeyPatch, dns: FakeDns) -> None:
    proxy = RecordingProxy()
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
    monkeypatch.setenv("NO_PROXY", "direct.shop.test")
    dns.add("hooks.shop.test", [PUBLIC])
    # a name that turns private between the check and the connection, sent to directly
    dns.add("direct.shop.test", [PUBLIC], ["127.0.0.1"])
    try:
        # given a guarded sender made where the operator set a proxy (the proxy itself is on
        # a private address: it is the operator's, not a subscriber's)
        sender = WebhookSender(allow_private=False, timeout=5)
        # when it sends to a public name, the proxy carries the request
        via_proxy = sender.send("http://hooks.shop.test/ordermesh", new_secret(), "msg_1", "{}",
                                datetime.now(UTC))
        assert via_proxy.status_code == 204, via_proxy
        assert proxy.seen == ["http://hooks.shop.test/ordermesh"]
        # and a name the proxy is not used for connects only to an address found public: not
        # to this machine (where the proxy would have answered)
        direct = sender.send(f"http://direct.shop.test:{proxy.port}/ordermesh", new_secret(),
                             "msg_2", "{}", datetime.now(UTC))
        assert direct.status_code is None and "public internet" in str(direct.error)
        assert proxy.seen == ["http://hooks.shop.test/ordermesh"]
    finally:
        proxy.server.shutdown()
