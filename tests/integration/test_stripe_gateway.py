"""The Stripe adapter, on the official SDK, against localstripe and against Stripe's wire format.

localstripe (a Stripe-compatible server from PyPI) runs as a subprocess for this module. Against
it: authorization with `pm_card_visa`, a refusal (`pm_card_chargeCustomerFail`, which
localstripe declines when charging; its `pm_card_visa_chargeDeclined` only fails attaching), an
unknown payment method, full and partial capture, a second capture without multicapture, void,
partial and several refunds, status, and webhooks that localstripe delivers itself, signed with
the endpoint's secret.

localstripe ignores `Idempotency-Key`. The idempotency tests therefore put Stripe's documented
rule in front of it (an SDK http client that answers a repeated key with the first answer, and
other parameters under the same key with an `idempotency_error`) and check on localstripe, by
listing, that one PaymentIntent, capture or refund was made; what they verify of the adapter is
that a retry sends the same key with the same parameters.

localstripe does not implement multicapture, the card details and capture deadline on charges,
the card errors' decline codes, payouts' balance transactions, or the parameters real Stripe
needs for server-side confirmation. Those are tested with an SDK http client answering recorded
JSON shaped like Stripe's documented objects (API reference: PaymentIntent, Charge, Payout,
BalanceTransaction, Event, errors). Webhook signatures there are made with the SDK's own
`stripe.WebhookSignature.generate_signature_header` (t=..., v1=HMAC-SHA256 of "t.body").
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from uuid import uuid4

import httpx
import pytest
import stripe

from ordermesh.adapters.payments.stripe_gateway import StripeGateway
from ordermesh.domain.errors import IdempotencyKeyReused, InvalidInput
from ordermesh.domain.money import Money
from ordermesh.domain.payments import Card, GatewayUnavailable, Kind, Outcome, PayoutItem

pytestmark = pytest.mark.xdist_group("localstripe")  # one localstripe per worker, not per test

API_KEY = "sk_test_ordermesh"
SECRET = "whsec_ordermesh_test"
EUR = "EUR"


def key() -> str:
    return f"key-{uuid4()}"


# -- localstripe ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def localstripe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a localstripe started for this module. It is a dev dependency: a
    localstripe that is missing or cannot start fails the tests, never skips them."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    logfile = tmp_path_factory.mktemp("localstripe") / "localstripe.log"
    with logfile.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "localstripe", "--port", str(port), "--from-scratch"],
            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                pytest.fail(f"localstripe could not start: {_tail(logfile)}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"localstripe did not listen within 30 s: {_tail(logfile)}")
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-2000:]


@pytest.fixture
def gateway(localstripe: str) -> StripeGateway:
    return StripeGateway(API_KEY, SECRET, api_base=localstripe)


@pytest.fixture
def server(localstripe: str) -> stripe.StripeClient:
    """The SDK on localstripe, to look at what the adapter did."""
    return stripe.StripeClient(API_KEY, base_addresses={"api": localstripe}, max_network_retries=0)


def authorized(gateway: StripeGateway, amount: int = 1000) -> str:
    answer = gateway.authorize("pm_card_visa", Money(amount, EUR), key(), f"ORD-{uuid4()}")
    assert answer.outcome is Outcome.SUCCEEDED
    assert answer.reference is not None
    return answer.reference


def test_authorize_with_a_test_card(gateway: StripeGateway, server: stripe.StripeClient) -> None:
    before = datetime.now(UTC)
    answer = gateway.authorize("pm_card_visa", Money(1250, EUR), key(), "ORD-2026-1")

    assert answer.outcome is Outcome.SUCCEEDED
    assert answer.failure is None
    assert answer.card == Card(brand="visa", last4="4242", exp_month=12, exp_year=2030)
    assert answer.authorized_until is not None
    # localstripe gives no capture_before: Stripe's 7 days from the charge
    assert before + timedelta(days=7) - timedelta(seconds=2) <= answer.authorized_until
    assert answer.authorized_until <= datetime.now(UTC) + timedelta(days=7)
    assert answer.reference is not None and answer.reference.startswith("pi_")
    intent = server.v1.payment_intents.retrieve(answer.reference)
    assert intent.status == "requires_capture"
    assert intent.capture_method == "manual"
    assert (intent.amount, intent.currency) == (1250, "eur")
    assert intent.metadata["reference"] == "ORD-2026-1"


def test_a_declined_card_fails_with_the_reason(gateway: StripeGateway,
                                               server: stripe.StripeClient) -> None:
    answer = gateway.authorize("pm_card_chargeCustomerFail", Money(1000, EUR), key(), "ORD-D")

    assert answer.outcome is Outcome.FAILED
    assert answer.failure == "card_declined"
    assert answer.card is None
    assert answer.reference is not None
    assert server.v1.payment_intents.retrieve(answer.reference).status == "requires_payment_method"
    status = gateway.status(answer.reference)
    assert (status.outcome, status.failure) == (Outcome.FAILED, "card_declined")


def test_an_unknown_payment_method_is_an_invalid_request(gateway: StripeGateway) -> None:
    answer = gateway.authorize("pm_does_not_exist", Money(1000, EUR), key(), "ORD-X")

    assert (answer.outcome, answer.failure, answer.reference) == (Outcome.FAILED, "invalid_request",
                                                                  None)


def test_capture_in_full(gateway: StripeGateway, server: stripe.StripeClient) -> None:
    authorization = authorized(gateway)

    answer = gateway.capture(authorization, Money(1000, EUR), key(), final=True)

    intent = server.v1.payment_intents.retrieve(authorization)
    assert answer.outcome is Outcome.SUCCEEDED
    assert answer.reference is not None and answer.reference.startswith("ch_")
    charge = server.v1.charges.retrieve(answer.reference)
    assert answer.reference == charge.id
    assert intent.status == "succeeded"
    assert charge.captured is True
    assert charge.payment_intent == authorization
    assert gateway.status(authorization).outcome is Outcome.SUCCEEDED


def test_a_partial_capture_without_multicapture_releases_the_rest(
        gateway: StripeGateway, server: stripe.StripeClient) -> None:
    authorization = authorized(gateway)

    first = gateway.capture(authorization, Money(400, EUR), key(), final=False)
    second = gateway.capture(authorization, Money(600, EUR), key(), final=True)

    assert first.outcome is Outcome.SUCCEEDED
    assert first.reference is not None
    charge = server.v1.charges.retrieve(first.reference)
    assert charge.captured is True
    assert charge.amount_refunded == 600  # the remainder went back to the card
    assert (second.outcome, second.failure) == (Outcome.FAILED, "multicapture_unavailable")


def test_void_releases_the_authorization(gateway: StripeGateway,
                                         server: stripe.StripeClient) -> None:
    authorization = authorized(gateway)

    answer = gateway.void(authorization, key())

    assert (answer.outcome, answer.reference) == (Outcome.SUCCEEDED, authorization)
    assert server.v1.payment_intents.retrieve(authorization).status == "canceled"
    again = gateway.void(authorization, key())  # a new key: a second void, refused
    assert again.outcome is Outcome.FAILED
    # Stripe refuses it (payment_intent_unexpected_state); localstripe answers the canceled
    # PaymentIntent: failed either way
    assert gateway.capture(authorization, Money(1000, EUR), key(), final=True).outcome is (
        Outcome.FAILED)


def test_partial_and_several_refunds(gateway: StripeGateway, server: stripe.StripeClient) -> None:
    authorization = authorized(gateway)
    gateway.capture(authorization, Money(1000, EUR), key(), final=True)

    first = gateway.refund(authorization, Money(300, EUR), key())
    second = gateway.refund(authorization, Money(200, EUR), key())

    assert first.outcome is second.outcome is Outcome.SUCCEEDED
    assert first.reference is not None and first.reference.startswith("re_")
    assert second.reference is not None and second.reference != first.reference
    refunds = server.v1.refunds.list({"payment_intent": authorization, "limit": 100})
    assert {r.id: r.amount for r in refunds.data} == {first.reference: 300,
                                                       second.reference: 200}


def test_status_of_an_unknown_authorization(gateway: StripeGateway) -> None:
    answer = gateway.status("pi_unknown")

    assert (answer.outcome, answer.failure) == (Outcome.FAILED, "invalid_request")


# -- idempotency: Stripe's rule in front of localstripe ---------------------------------------


class StripeIdempotency(stripe.HTTPClient):
    """Stripe's idempotency for a server without it: the first answer to a POST with an
    Idempotency-Key is the answer to every later POST with that key; the same key with other
    parameters is answered with Stripe's idempotency_error."""

    name = "stripe-idempotency"

    def __init__(self) -> None:
        super().__init__()
        self._inner = stripe.new_default_http_client()
        self._answers: dict[str, tuple[tuple[str, Any], tuple[Any, int, Mapping[str, str]]]] = {}
        self.posts: list[tuple[str, str | None]] = []

    def request(self, method: str, url: str, headers: Mapping[str, str] | None,
                post_data: Any = None, *, _usage: list[str] | None = None,
                ) -> tuple[Any, int, Mapping[str, str]]:
        idempotency_key = (headers or {}).get("Idempotency-Key")
        if method.lower() != "post" or idempotency_key is None:
            return self._inner.request(method, url, headers, post_data)
        self.posts.append((urlsplit(url).path, idempotency_key))
        if idempotency_key in self._answers:
            sent, answer = self._answers[idempotency_key]
            if sent != (url, post_data):
                error = {"error": {"type": "idempotency_error",
                                   "message": "Keys for idempotent requests can only be used with "
                                              "the same parameters they were first used with."}}
                return json.dumps(error), 400, {}
            return answer
        answer = self._inner.request(method, url, headers, post_data)
        self._answers[idempotency_key] = ((url, post_data), answer)
        return answer


@pytest.fixture
def replaying(localstripe: str) -> tuple[StripeGateway, StripeIdempotency]:
    client = StripeIdempotency()
    return StripeGateway(API_KEY, SECRET, api_base=localstripe, http_client=client), client


def intents_for(server: stripe.StripeClient, reference: str) -> list[str]:
    found = server.v1.payment_intents.list({"limit": 100})
    return [i.id for i in found.auto_paging_iter() if i.metadata["reference"] == reference]


def test_a_retried_authorization_makes_one_payment_intent(
        replaying: tuple[StripeGateway, StripeIdempotency], server: stripe.StripeClient) -> None:
    gateway, client = replaying
    reference, k = f"ORD-{uuid4()}", key()

    first = gateway.authorize("pm_card_visa", Money(1000, EUR), k, reference)
    retry = gateway.authorize("pm_card_visa", Money(1000, EUR), k, reference)

    assert first == retry
    assert intents_for(server, reference) == [first.reference]
    assert client.posts == [("/v1/payment_intents", k), ("/v1/payment_intents", k)]
    other = gateway.authorize("pm_card_visa", Money(1000, EUR), key(), reference)
    assert sorted(intents_for(server, reference)) == sorted([first.reference, other.reference])


def test_a_retried_capture_and_refund_move_money_once(
        replaying: tuple[StripeGateway, StripeIdempotency], server: stripe.StripeClient) -> None:
    gateway, _ = replaying
    authorization = authorized(gateway)
    capture_key, refund_key = key(), key()

    captures = [gateway.capture(authorization, Money(1000, EUR), capture_key, final=True)
                for _ in range(2)]
    refunds = [gateway.refund(authorization, Money(250, EUR), refund_key) for _ in range(2)]

    assert captures[0] == captures[1] and captures[0].outcome is Outcome.SUCCEEDED
    assert refunds[0] == refunds[1] and refunds[0].outcome is Outcome.SUCCEEDED
    listed = server.v1.refunds.list({"payment_intent": authorization, "limit": 100}).data
    assert [(r.id, r.amount) for r in listed] == [(refunds[0].reference, 250)]


def test_a_key_reused_with_other_parameters_is_refused(
        replaying: tuple[StripeGateway, StripeIdempotency]) -> None:
    gateway, _ = replaying
    authorization = authorized(gateway)
    gateway.capture(authorization, Money(1000, EUR), k := key(), final=True)
    gateway.refund(authorization, Money(100, EUR), k2 := key())

    with pytest.raises(IdempotencyKeyReused):
        gateway.refund(authorization, Money(200, EUR), k2)
    assert k != k2


# -- webhooks delivered by localstripe --------------------------------------------------------


@dataclass
class Delivered:
    body: bytes
    headers: dict[str, str]


@pytest.fixture
def webhook_endpoint(localstripe: str) -> Iterator[list[Delivered]]:
    """An HTTP endpoint localstripe delivers its events to, signed with SECRET."""
    received: list[Delivered] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(Delivered(body, dict(self.headers.items())))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    endpoint = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=endpoint.serve_forever, daemon=True)
    thread.start()
    hook = f"ordermesh-{uuid4().hex}"
    events = ["payment_intent.succeeded", "payment_intent.payment_failed"]
    httpx.post(f"{localstripe}/_config/webhooks/{hook}",
               json={"url": f"http://127.0.0.1:{endpoint.server_port}/",
                     "secret": SECRET, "events": events}).raise_for_status()
    yield received
    # localstripe cannot unregister a hook: point it at nothing that answers
    httpx.post(f"{localstripe}/_config/webhooks/{hook}",
               json={"url": "http://127.0.0.1:9/", "secret": SECRET, "events": ["none"]})
    endpoint.shutdown()
    endpoint.server_close()


def wait_for(received: list[Delivered], found: Callable[[Delivered], bool]) -> Delivered:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        for delivered in list(received):
            if found(delivered):
                return delivered
        time.sleep(0.1)
    raise AssertionError("localstripe delivered no such webhook")


def about(authorization: str | None, event_type: str) -> Callable[[Delivered], bool]:
    def found(d: Delivered) -> bool:
        event = json.loads(d.body)
        return bool(event["type"] == event_type and event["data"]["object"]["id"] == authorization)
    return found


def test_webhooks_delivered_by_localstripe_are_verified_and_read(
        gateway: StripeGateway, webhook_endpoint: list[Delivered]) -> None:
    authorization = authorized(gateway)
    capture = gateway.capture(authorization, Money(1000, EUR), key(), final=True)
    declined = gateway.authorize("pm_card_chargeCustomerFail", Money(700, EUR), key(), "ORD-W")

    succeeded = wait_for(webhook_endpoint, about(authorization, "payment_intent.succeeded"))
    failed = wait_for(webhook_endpoint, about(declined.reference, "payment_intent.payment_failed"))

    notice = gateway.parse_webhook(succeeded.body, succeeded.headers)
    assert notice.id == json.loads(succeeded.body)["id"]
    assert (notice.kind, notice.authorization, notice.amount) == (Kind.CAPTURE, authorization, 1000)
    assert (notice.answer.outcome, notice.answer.reference) == (Outcome.SUCCEEDED, capture.reference)
    notice = gateway.parse_webhook(failed.body, failed.headers)
    assert (notice.kind, notice.authorization) == (Kind.AUTHORIZE, declined.reference)
    assert (notice.answer.outcome, notice.answer.failure) == (Outcome.FAILED, "card_declined")
    tampered = succeeded.body.replace(b'"amount": 1000', b'"amount": 1')
    assert tampered != succeeded.body
    with pytest.raises(InvalidInput):
        gateway.parse_webhook(tampered, succeeded.headers)


# -- Stripe's wire format: recorded objects ---------------------------------------------------


@dataclass
class Sent:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]


Answer = tuple[int, dict[str, Any]] | Exception


class Recorded(stripe.HTTPClient):
    """Answers the SDK's requests with recorded Stripe JSON, by method and path, in order."""

    name = "recorded"

    def __init__(self, routes: dict[tuple[str, str], list[Answer]]) -> None:
        super().__init__()
        self.routes = routes
        self.sent: list[Sent] = []

    def request(self, method: str, url: str, headers: Mapping[str, str] | None,
                post_data: Any = None, *, _usage: list[str] | None = None,
                ) -> tuple[str, int, Mapping[str, str]]:
        parts = urlsplit(url)
        params = dict(parse_qsl(parts.query)) | dict(parse_qsl(post_data or ""))
        self.sent.append(Sent(method.upper(), parts.path, params, dict(headers or {})))
        answer = self.routes[(method.upper(), parts.path)].pop(0)
        if isinstance(answer, Exception):
            raise answer
        status, body = answer
        return json.dumps(body), status, {"Request-Id": "req_recorded"}


NOW = 1_767_225_600  # 2026-01-01T00:00:00Z
CAPTURE_BEFORE = NOW + 6 * 86_400 + 3_600
PI = "pi_3QrEcOrDeD0001"
CH = "ch_3QrEcOrDeD0001"


def charge_object(*, multicapture: str | None = "available", captured: bool = False,
                  amount_captured: int = 0) -> dict[str, Any]:
    card: dict[str, Any] = {
        "brand": "visa", "last4": "4242", "exp_month": 8, "exp_year": 2031, "funding": "credit",
        "country": "US", "capture_before": CAPTURE_BEFORE,
        "checks": {"cvc_check": "pass", "address_line1_check": None,
                   "address_postal_code_check": None},
        "network": "visa",
    }
    if multicapture is not None:
        card["multicapture"] = {"status": multicapture}
    return {
        "id": CH, "object": "charge", "amount": 1000, "amount_captured": amount_captured,
        "amount_refunded": 0, "balance_transaction": None, "captured": captured,
        "created": NOW, "currency": "eur", "livemode": False, "metadata": {"reference": "ORD-1"},
        "outcome": {"network_status": "approved_by_network", "type": "authorized"},
        "paid": True, "payment_intent": PI, "payment_method": "pm_1QrEcOrDeD",
        "payment_method_details": {"type": "card", "card": card},
        "refunded": False, "status": "succeeded",
    }


def intent_object(status: str, *, amount_capturable: int = 1000, amount_received: int = 0,
                  latest_charge: Any = None, last_payment_error: Any = None) -> dict[str, Any]:
    return {
        "id": PI, "object": "payment_intent", "amount": 1000,
        "amount_capturable": amount_capturable, "amount_received": amount_received,
        "capture_method": "manual", "confirmation_method": "automatic", "created": NOW,
        "currency": "eur", "customer": None, "last_payment_error": last_payment_error,
        "latest_charge": latest_charge, "livemode": False, "metadata": {"reference": "ORD-1"},
        "next_action": None, "payment_method": "pm_1QrEcOrDeD",
        "payment_method_types": ["card"], "status": status,
    }


def on_stripe(routes: dict[tuple[str, str], list[Answer]]) -> tuple[StripeGateway, Recorded]:
    client = Recorded(routes)
    return StripeGateway(API_KEY, SECRET, http_client=client), client


def test_authorize_sends_what_stripe_needs_and_reads_the_charge() -> None:
    gateway, client = on_stripe({("POST", "/v1/payment_intents"): [
        (200, intent_object("requires_capture", latest_charge=charge_object()))]})

    answer = gateway.authorize("pm_card_visa", Money(1000, EUR), "key-auth-1", "ORD-1")

    (sent,) = client.sent
    assert sent.headers["Idempotency-Key"] == "key-auth-1"
    assert sent.params == {
        "amount": "1000", "currency": "eur", "capture_method": "manual", "confirm": "true",
        "payment_method": "pm_card_visa", "metadata[reference]": "ORD-1",
        "automatic_payment_methods[enabled]": "true",
        "automatic_payment_methods[allow_redirects]": "never",
        "payment_method_options[card][request_multicapture]": "if_available",
        "expand[0]": "latest_charge",
    }
    assert answer.outcome is Outcome.SUCCEEDED
    assert answer.reference == PI
    assert answer.card == Card(brand="visa", last4="4242", exp_month=8, exp_year=2031)
    assert answer.authorized_until == datetime.fromtimestamp(CAPTURE_BEFORE, UTC)


def test_authorize_waiting_for_the_customer_is_pending() -> None:
    gateway, _ = on_stripe({("POST", "/v1/payment_intents"): [
        (200, intent_object("requires_action", amount_capturable=0))]})

    answer = gateway.authorize("pm_card_authenticationRequired", Money(1000, EUR), key(), "ORD-1")

    assert (answer.outcome, answer.reference) == (Outcome.PENDING, PI)


@pytest.mark.parametrize(("code", "decline_code", "failure"), [
    ("card_declined", "insufficient_funds", "insufficient_funds"),
    ("card_declined", "generic_decline", "card_declined"),
    ("expired_card", "expired_card", "expired_card"),
    ("incorrect_cvc", None, "incorrect_cvc"),
])
def test_card_errors_fail_with_stripes_reason(code: str, decline_code: str | None,
                                              failure: str) -> None:
    error = {"error": {
        "type": "card_error", "code": code, "decline_code": decline_code, "charge": CH,
        "message": "Your card was declined.", "doc_url": f"https://stripe.com/docs/error-codes/{code}",
        "payment_intent": intent_object("requires_payment_method", amount_capturable=0,
                                        last_payment_error={"type": "card_error", "code": code}),
    }}
    gateway, client = on_stripe({("POST", "/v1/payment_intents"): [(402, error)]})

    answer = gateway.authorize("pm_card_visa_chargeDeclined", Money(1000, EUR), key(), "ORD-1")

    assert (answer.outcome, answer.failure, answer.reference) == (Outcome.FAILED, failure, PI)
    assert answer.card is None
    assert len(client.sent) == 1  # the error names the PaymentIntent: nothing more is asked


@pytest.mark.parametrize("answer", [
    stripe.APIConnectionError("timed out"),
    (500, {"error": {"type": "api_error", "message": "Something went wrong."}}),
    (429, {"error": {"type": "invalid_request_error", "code": "rate_limit",
                     "message": "Too many requests."}}),
    (409, {"error": {"type": "invalid_request_error", "code": "idempotency_key_in_use",
                     "message": "There is currently another in-progress request."}}),
    (401, {"error": {"type": "invalid_request_error", "message": "Invalid API Key provided."}}),
], ids=["network", "5xx", "rate-limited", "key-in-flight", "bad-api-key"])
def test_no_answer_raises_gateway_unavailable_and_the_sdk_does_not_retry(answer: Answer) -> None:
    gateway, client = on_stripe({("POST", "/v1/payment_intents"): [answer, answer]})

    with pytest.raises(GatewayUnavailable):
        gateway.authorize("pm_card_visa", Money(1000, EUR), key(), "ORD-1")
    assert len(client.sent) == 1


def test_stripe_idempotency_error_is_a_reused_key() -> None:
    gateway, _ = on_stripe({("POST", f"/v1/payment_intents/{PI}/cancel"): [
        (400, {"error": {"type": "idempotency_error",
                         "message": "Keys for idempotent requests can only be used with the same "
                                    "parameters they were first used with."}})]})

    with pytest.raises(IdempotencyKeyReused):
        gateway.void(PI, key())


def test_multicapture_captures_several_times_then_finally() -> None:
    authorized_intent = intent_object("requires_capture", latest_charge=charge_object())
    after_first = intent_object("requires_capture", amount_capturable=600, amount_received=400,
                                latest_charge=charge_object(captured=True, amount_captured=400))
    after_last = intent_object("succeeded", amount_capturable=0, amount_received=1000,
                               latest_charge=charge_object(captured=True, amount_captured=1000))
    gateway, client = on_stripe({
        ("GET", f"/v1/payment_intents/{PI}"): [(200, authorized_intent), (200, after_first)],
        ("POST", f"/v1/payment_intents/{PI}/capture"): [(200, after_first), (200, after_last)],
    })

    first = gateway.capture(PI, Money(400, EUR), "key-cap-1", final=False)
    last = gateway.capture(PI, Money(600, EUR), "key-cap-2", final=True)

    assert (first.outcome, first.reference) == (Outcome.SUCCEEDED, CH)
    assert (last.outcome, last.reference) == (Outcome.SUCCEEDED, CH)
    captures = [s for s in client.sent if s.method == "POST"]
    assert captures[0].params == {"amount_to_capture": "400", "final_capture": "false",
                                  "expand[0]": "latest_charge"}
    assert captures[0].headers["Idempotency-Key"] == "key-cap-1"
    assert captures[1].params == {"amount_to_capture": "600", "expand[0]": "latest_charge"}
    assert captures[1].headers["Idempotency-Key"] == "key-cap-2"


def test_without_multicapture_stripe_captures_once() -> None:
    unavailable = charge_object(multicapture="unavailable")
    captured = intent_object("succeeded", amount_capturable=0, amount_received=400,
                             latest_charge=charge_object(multicapture="unavailable", captured=True,
                                                         amount_captured=400))
    gateway, client = on_stripe({
        ("GET", f"/v1/payment_intents/{PI}"): [
            (200, intent_object("requires_capture", latest_charge=unavailable)), (200, captured)],
        ("POST", f"/v1/payment_intents/{PI}/capture"): [
            (200, captured),
            (400, {"error": {"type": "invalid_request_error",
                             "code": "payment_intent_unexpected_state",
                             "message": "This PaymentIntent could not be captured because it "
                                        "has a status of succeeded."}})],
    })

    first = gateway.capture(PI, Money(400, EUR), key(), final=False)
    second = gateway.capture(PI, Money(600, EUR), key(), final=False)

    assert "final_capture" not in client.sent[1].params  # not asked of a charge without it
    assert (first.outcome, first.reference) == (Outcome.SUCCEEDED, CH)
    assert (second.outcome, second.failure) == (Outcome.FAILED, "multicapture_unavailable")


def test_refund_pending_at_stripe_is_pending() -> None:
    refund = {"id": "re_3QrEcOrDeD0001", "object": "refund", "amount": 300, "charge": CH,
              "created": NOW, "currency": "eur", "payment_intent": PI, "status": "pending",
              "metadata": {}, "reason": None}
    gateway, client = on_stripe({("POST", "/v1/refunds"): [(200, refund)]})

    answer = gateway.refund(PI, Money(300, EUR), "key-ref-1")

    assert (answer.outcome, answer.reference) == (Outcome.PENDING, "re_3QrEcOrDeD0001")
    assert client.sent[0].params == {"payment_intent": PI, "amount": "300"}
    assert client.sent[0].headers["Idempotency-Key"] == "key-ref-1"


def test_a_refused_refund_fails_with_stripes_code() -> None:
    gateway, _ = on_stripe({("POST", "/v1/refunds"): [
        (400, {"error": {"type": "invalid_request_error", "code": "charge_already_refunded",
                         "message": "Charge ch_3QrEcOrDeD0001 has already been refunded."}})]})

    answer = gateway.refund(PI, Money(300, EUR), key())

    assert (answer.outcome, answer.failure, answer.reference) == (
        Outcome.FAILED, "charge_already_refunded", None)


def balance_transaction(txn: str, type_: str, amount: int, fee: int, source: str | None,
                        ) -> dict[str, Any]:
    return {"id": txn, "object": "balance_transaction", "amount": amount, "fee": fee,
            "net": amount - fee, "currency": "eur", "type": type_, "source": source,
            "reporting_category": type_, "status": "available", "created": NOW,
            "available_on": NOW, "fee_details": [] if not fee else [
                {"amount": fee, "currency": "eur", "type": "stripe_fee",
                 "description": "Stripe processing fees", "application": None}]}


def test_payouts_are_read_with_their_balance_transactions() -> None:
    arrival = NOW + 2 * 86_400
    items = [
        balance_transaction("txn_1", "charge", 1000, 59, CH),
        balance_transaction("txn_2", "charge", 2500, 103, "ch_3QrEcOrDeD0002"),
        balance_transaction("txn_3", "refund", -300, 0, "re_3QrEcOrDeD0001"),
        balance_transaction("txn_4", "stripe_fee", -150, 0, None),
        balance_transaction("txn_5", "adjustment", -20, 0, "du_3QrEcOrDeD0001"),
    ]
    payout_amount = sum(t["net"] for t in items)
    items.append(balance_transaction("txn_6", "payout", -payout_amount, 0, "po_1QrEcOrDeD"))
    payout = {"id": "po_1QrEcOrDeD", "object": "payout", "amount": payout_amount,
              "arrival_date": arrival, "automatic": True, "currency": "eur", "status": "paid",
              "balance_transaction": "txn_6", "method": "standard", "type": "bank_account",
              "created": NOW, "livemode": False}
    manual = payout | {"id": "po_1QrEcMaNuAl", "automatic": False, "amount": 5000}
    gateway, client = on_stripe({
        ("GET", "/v1/payouts"): [(200, {"object": "list", "url": "/v1/payouts", "has_more": False,
                                        "data": [payout, manual]})],
        ("GET", "/v1/balance_transactions"): [(200, {
            "object": "list", "url": "/v1/balance_transactions", "has_more": False,
            "data": items})],
    })

    (paid, unitemized) = gateway.payouts(date(2026, 1, 1))

    assert client.sent[0].params == {"status": "paid", "arrival_date[gte]": str(NOW),
                                     "limit": "100"}
    assert client.sent[1].params == {"payout": "po_1QrEcOrDeD", "limit": "100"}
    assert len(client.sent) == 2  # a manual payout is not itemized by Stripe
    assert (paid.id, paid.currency, paid.amount) == ("po_1QrEcOrDeD", "EUR", payout_amount)
    assert paid.arrival_date == date(2026, 1, 3)
    assert paid.items == (
        PayoutItem("capture", CH, 1000, 59),
        PayoutItem("capture", "ch_3QrEcOrDeD0002", 2500, 103),
        PayoutItem("refund", "re_3QrEcOrDeD0001", -300, 0),
        PayoutItem("fee", "txn_4", -150, 0),
        PayoutItem("adjustment", "du_3QrEcOrDeD0001", -20, 0),
    )
    assert sum(i.net for i in paid.items) == paid.amount
    assert (unitemized.id, unitemized.items) == ("po_1QrEcMaNuAl", ())


def test_payouts_without_an_answer_raise_gateway_unavailable() -> None:
    gateway, _ = on_stripe({("GET", "/v1/payouts"): [stripe.APIConnectionError("reset")]})

    with pytest.raises(GatewayUnavailable):
        gateway.payouts(date(2026, 1, 1))


# -- webhooks: Stripe's events, signed as Stripe signs them -----------------------------------


def event(type_: str, obj: dict[str, Any]) -> bytes:
    return json.dumps({
        "id": f"evt_{uuid4().hex[:24]}", "object": "event", "api_version": "2026-10-28.endive",
        "created": int(time.time()), "livemode": False, "pending_webhooks": 1,
        "request": {"id": "req_recorded", "idempotency_key": "key-1"}, "type": type_,
        "data": {"object": obj},
    }).encode()


def signed(body: bytes, secret: str = SECRET, at: int | None = None) -> dict[str, str]:
    header = stripe.WebhookSignature.generate_signature_header(body.decode(), secret, timestamp=at)
    return {"Content-Type": "application/json", "Stripe-Signature": header}


def test_an_authorization_confirmed_later_is_read() -> None:
    gateway = StripeGateway(API_KEY, SECRET)
    intent = intent_object("requires_capture", latest_charge=charge_object())
    body = event("payment_intent.amount_capturable_updated", intent)

    notice = gateway.parse_webhook(body, {"stripe-signature": signed(body)["Stripe-Signature"]})

    assert notice.id == json.loads(body)["id"]
    assert (notice.kind, notice.authorization, notice.amount) == (Kind.AUTHORIZE, PI, 1000)
    assert (notice.answer.outcome, notice.answer.reference) == (Outcome.SUCCEEDED, PI)
    assert notice.answer.authorized_until == datetime.fromtimestamp(CAPTURE_BEFORE, UTC)


@pytest.mark.parametrize(("type_", "obj", "kind", "outcome", "reference", "failure", "amount"), [
    ("payment_intent.payment_failed",
     intent_object("requires_payment_method", amount_capturable=0, latest_charge=CH,
                   last_payment_error={"type": "card_error", "code": "card_declined",
                                       "decline_code": "insufficient_funds"}),
     Kind.AUTHORIZE, Outcome.FAILED, PI, "insufficient_funds", 1000),
    ("payment_intent.succeeded",
     intent_object("succeeded", amount_capturable=0, amount_received=800, latest_charge=CH),
     Kind.CAPTURE, Outcome.SUCCEEDED, CH, None, 800),
    ("payment_intent.canceled",
     intent_object("canceled", amount_capturable=0, latest_charge=CH),
     Kind.VOID, Outcome.SUCCEEDED, PI, None, 1000),
    ("charge.refunded",
     charge_object(captured=True, amount_captured=1000) | {
         "amount_refunded": 500, "refunded": False,
         "refunds": {"object": "list", "has_more": False, "url": f"/v1/charges/{CH}/refunds",
                     "data": [{"id": "re_2", "object": "refund", "amount": 200, "created": NOW + 9,
                               "payment_intent": PI, "status": "succeeded"},
                              {"id": "re_1", "object": "refund", "amount": 300, "created": NOW,
                               "payment_intent": PI, "status": "succeeded"}]}},
     Kind.REFUND, Outcome.SUCCEEDED, "re_2", None, 500),
    ("refund.failed",
     {"id": "re_3", "object": "refund", "amount": 300, "charge": CH, "created": NOW,
      "currency": "eur", "payment_intent": PI, "status": "failed",
      "failure_reason": "expired_or_canceled_card"},
     Kind.REFUND, Outcome.FAILED, "re_3", "expired_or_canceled_card", 300),
])
def test_stripe_events_are_read(type_: str, obj: dict[str, Any], kind: Kind, outcome: Outcome,
                                reference: str, failure: str | None, amount: int) -> None:
    gateway = StripeGateway(API_KEY, SECRET)
    body = event(type_, obj)

    notice = gateway.parse_webhook(body, signed(body))

    assert (notice.kind, notice.authorization, notice.amount) == (kind, PI, amount)
    assert (notice.answer.outcome, notice.answer.reference, notice.answer.failure) == (
        outcome, reference, failure)


def test_bad_signatures_are_invalid_input() -> None:
    gateway = StripeGateway(API_KEY, SECRET)
    body = event("payment_intent.succeeded", intent_object("succeeded", latest_charge=CH))

    with pytest.raises(InvalidInput):
        gateway.parse_webhook(body, signed(body, secret="whsec_someone_else"))
    with pytest.raises(InvalidInput):  # older than Stripe's 5 minutes of tolerance
        gateway.parse_webhook(body, signed(body, at=int(time.time()) - 600))
    with pytest.raises(InvalidInput):
        gateway.parse_webhook(body, {"Stripe-Signature": "not a signature"})
    with pytest.raises(InvalidInput):
        gateway.parse_webhook(body, {})
    with pytest.raises(InvalidInput):
        gateway.parse_webhook(body + b" ", signed(body))
    assert gateway.parse_webhook(body, signed(body)).kind is Kind.CAPTURE


def test_an_event_type_not_used_is_invalid_input() -> None:
    gateway = StripeGateway(API_KEY, SECRET)
    body = event("customer.created", {"id": "cus_1", "object": "customer"})

    with pytest.raises(InvalidInput, match=r"event type customer\.created is not used"):
        gateway.parse_webhook(body, signed(body))
