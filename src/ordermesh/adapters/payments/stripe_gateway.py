"""The PaymentGateway port on Stripe: PaymentIntents with manual capture, on the official SDK.

One authorization is one PaymentIntent, created and confirmed at once with
`capture_method="manual"`; its id is the authorization reference. Captures, voids and refunds
are made against it, each with our idempotency key as Stripe's `Idempotency-Key`, so a retried
call is answered as the first one was and never moves money twice. The SDK retries nothing
(`max_network_retries=0`): retries are ours, with the same key.

Multicapture. Stripe captures a PaymentIntent once: capturing less than was authorized
releases the remainder. Several captures per authorization need Stripe's multicapture (an IC+
pricing feature). The adapter asks for it at authorization (`request_multicapture=if_available`)
and, when the charge says it is available, sends `final_capture=false` on captures that are not
the last. When it is not available, a partial capture captures what it is asked and the rest of
the authorization is released at Stripe; a later capture is answered FAILED with failure
`multicapture_unavailable`, so the order knows the remainder has to be paid another way.

What is never done: card numbers are never sent (only payment method ids from Stripe's client
side or test tokens such as `pm_card_visa`), never returned by Stripe and never logged; only the
display data (brand, last 4, expiry) is read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar

import stripe

from ordermesh.domain.errors import IdempotencyKeyReused, InvalidInput
from ordermesh.domain.money import Money
from ordermesh.domain.payments import (
    Card,
    GatewayAnswer,
    GatewayNotice,
    GatewayUnavailable,
    Kind,
    Outcome,
    Payout,
    PayoutItem,
)

log = logging.getLogger("ordermesh.payments.stripe")

T = TypeVar("T")

# Stripe holds an online card authorization for 7 days unless the charge says otherwise
# (payment_method_details.card.capture_before).
AUTHORIZATION_VALIDITY = timedelta(days=7)

PENDING_STATUSES = frozenset({"processing", "requires_action", "requires_confirmation"})

# Balance transaction types, mapped to what a payout item is.
CAPTURE_TYPES = frozenset({"charge", "payment"})
REFUND_TYPES = frozenset({"refund", "payment_refund"})
FEE_TYPES = frozenset({"stripe_fee", "application_fee", "tax_fee", "network_cost", "stripe_fx_fee"})
PAYOUT_TYPES = frozenset({"payout"})  # the payout itself: not one of its items

# The webhook events read, and what each is a later answer to.
EVENTS: dict[str, Kind] = {
    "payment_intent.amount_capturable_updated": Kind.AUTHORIZE,
    "payment_intent.payment_failed": Kind.AUTHORIZE,
    "payment_intent.succeeded": Kind.CAPTURE,
    "payment_intent.canceled": Kind.VOID,
    "charge.refunded": Kind.REFUND,
    "refund.updated": Kind.REFUND,
    "refund.failed": Kind.REFUND,
}


def _field(obj: Any, name: str) -> Any:
    """A field of a Stripe object, or None where Stripe (or a Stripe-compatible test server)
    leaves it out or the field is an id that was not expanded."""
    if obj is None or isinstance(obj, str):
        return None
    try:
        return obj[name]  # a StripeObject is not a dict: it has no .get
    except KeyError:
        return None


def _id(obj: Any) -> str | None:
    """The id of an expandable field: the string itself, or the id of the expanded object."""
    if obj is None:
        return None
    if isinstance(obj, str):
        return obj
    value = _field(obj, "id")
    return str(value) if value is not None else None


def _timestamp(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), UTC) if value is not None else None


def _failure(error: Any) -> str:
    """Why a card was refused, as Stripe names it: the issuer's decline code when the error is
    a plain `card_declined` (insufficient_funds, lost_card, ...), else the error code
    (expired_card, incorrect_cvc, ...)."""
    code = _field(error, "code")
    decline = _field(error, "decline_code")
    if code == "card_declined" and decline and decline != "generic_decline":
        return str(decline)
    return str(code or "card_declined")


class StripeGateway:
    """PaymentGateway on Stripe. `api_base` points the SDK at a local Stripe-compatible server
    (for example localstripe in tests), which is sent only the parameters such servers know;
    `http_client` replaces the SDK's HTTP client (tests answer
    recorded Stripe objects with one); `multicapture=False` stops asking Stripe for it."""

    def __init__(self, api_key: str, webhook_secret: str, api_base: str | None = None,
                 name: str = "stripe", *, http_client: stripe.HTTPClient | None = None,
                 multicapture: bool = True) -> None:
        self.name = name
        self._webhook_secret = webhook_secret
        self._multicapture = multicapture
        self._local = api_base is not None
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base} if api_base else None,
            max_network_retries=0,
            http_client=http_client,
        )

    # -- calls that move money -------------------------------------------------------------

    def authorize(self, token: str, amount: Money, idempotency_key: str,
                  reference: str) -> GatewayAnswer:
        params: stripe.params.PaymentIntentCreateParams = {
            "amount": amount.amount,
            "currency": amount.currency.lower(),
            "capture_method": "manual",
            "confirm": True,
            "payment_method": token,
            "metadata": {"reference": reference},
            "expand": ["latest_charge"],
        }
        if not self._local:
            # Confirmed here, on the server: no payment method that redirects the customer, so
            # Stripe asks for no return URL. Local test servers do not know the parameter.
            params["automatic_payment_methods"] = {"enabled": True, "allow_redirects": "never"}
        if self._multicapture:
            params["payment_method_options"] = {"card": {"request_multicapture": "if_available"}}
        try:
            intent = self._call("authorize", lambda: self._client.v1.payment_intents.create(
                params, {"idempotency_key": idempotency_key}))
        except stripe.CardError as e:
            return GatewayAnswer(Outcome.FAILED, self._intent_of_error(e), failure=_failure(e.error))
        except stripe.InvalidRequestError as e:
            log.warning("Stripe refused an authorization request: %s", e.code or "invalid_request")
            return GatewayAnswer(Outcome.FAILED, self._intent_of_error(e), failure="invalid_request")
        return self._authorization(intent)

    def capture(self, authorization: str, amount: Money, idempotency_key: str,
                final: bool) -> GatewayAnswer:
        # What the charge says of multicapture decides the parameters; it does not change for
        # a PaymentIntent, so a retry sends the same ones as the first call did.
        intent = self._call("capture", lambda: self._client.v1.payment_intents.retrieve(
            authorization, {"expand": ["latest_charge"]}))
        multicapture = self._multicapture_available(intent)
        params: stripe.params.PaymentIntentCaptureParams = {
            "amount_to_capture": amount.amount,
            "expand": ["latest_charge"],
        }
        if multicapture and not final:
            params["final_capture"] = False
        try:
            captured = self._call("capture", lambda: self._client.v1.payment_intents.capture(
                authorization, params, {"idempotency_key": idempotency_key}))
        except stripe.InvalidRequestError as e:
            if _field(intent, "status") == "succeeded" and not multicapture:
                # Captured once already, and Stripe captures once without multicapture.
                return GatewayAnswer(Outcome.FAILED, None, failure="multicapture_unavailable")
            return GatewayAnswer(Outcome.FAILED, None, failure=e.code or "invalid_request")
        status = _field(captured, "status")
        charge = _id(_field(captured, "latest_charge"))
        if status == "succeeded" or (status == "requires_capture" and multicapture and not final):
            return GatewayAnswer(Outcome.SUCCEEDED, charge)
        if status in PENDING_STATUSES:
            return GatewayAnswer(Outcome.PENDING, charge)
        return GatewayAnswer(Outcome.FAILED, charge, failure=str(status))

    def void(self, authorization: str, idempotency_key: str) -> GatewayAnswer:
        try:
            intent = self._call("void", lambda: self._client.v1.payment_intents.cancel(
                authorization, None, {"idempotency_key": idempotency_key}))
        except stripe.InvalidRequestError as e:
            return GatewayAnswer(Outcome.FAILED, authorization, failure=e.code or "invalid_request")
        status = _field(intent, "status")
        # Canceling a partly multicaptured PaymentIntent releases the rest; Stripe then shows
        # it succeeded (with what was captured), which is as much a release as `canceled`.
        if status in ("canceled", "succeeded"):
            return GatewayAnswer(Outcome.SUCCEEDED, _id(intent))
        if status in PENDING_STATUSES:
            return GatewayAnswer(Outcome.PENDING, _id(intent))
        return GatewayAnswer(Outcome.FAILED, _id(intent), failure=str(status))

    def refund(self, authorization: str, amount: Money, idempotency_key: str) -> GatewayAnswer:
        try:
            refund = self._call("refund", lambda: self._client.v1.refunds.create(
                {"payment_intent": authorization, "amount": amount.amount},
                {"idempotency_key": idempotency_key}))
        except stripe.InvalidRequestError as e:
            return GatewayAnswer(Outcome.FAILED, None, failure=e.code or "invalid_request")
        return self._refund_answer(refund)

    # -- reads -----------------------------------------------------------------------------

    def status(self, authorization: str) -> GatewayAnswer:
        """Whether the authorization was granted: SUCCEEDED once it was (also after it was
        captured or voided, which are transactions of their own), PENDING while Stripe or the
        customer still has to act, FAILED when it was refused or canceled before it was
        granted."""
        try:
            intent = self._call("status", lambda: self._client.v1.payment_intents.retrieve(
                authorization, {"expand": ["latest_charge"]}))
        except stripe.InvalidRequestError as e:
            return GatewayAnswer(Outcome.FAILED, authorization, failure=e.code or "invalid_request")
        return self._authorization(intent)

    def payouts(self, since: date) -> list[Payout]:
        """Paid payouts that arrived on or after `since`, each with the balance transactions it
        pays out. Stripe itemizes only automatic payouts; a manual payout has no items."""
        start = int(datetime.combine(since, time(), UTC).timestamp())

        def read() -> list[Payout]:
            found = self._client.v1.payouts.list(
                {"status": "paid", "arrival_date": {"gte": start}, "limit": 100})
            result = []
            for payout in found.auto_paging_iter():
                items: tuple[PayoutItem, ...] = ()
                if _field(payout, "automatic") is not False:
                    transactions = self._client.v1.balance_transactions.list(
                        {"payout": payout.id, "limit": 100})
                    items = tuple(self._payout_items(transactions.auto_paging_iter()))
                arrival = datetime.fromtimestamp(int(payout.arrival_date), UTC).date()
                result.append(Payout(id=payout.id, currency=str(payout.currency).upper(),
                                     amount=int(payout.amount), arrival_date=arrival,
                                     items=items))
            return result

        return self._call("payouts", read)

    # -- webhooks --------------------------------------------------------------------------

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> GatewayNotice:
        """A Stripe event, verified with the endpoint's signing secret. A missing, wrong or
        stale (older than Stripe's 5 minutes of tolerance) signature raises InvalidInput, and
        so does an event of a type that is not read (see EVENTS): subscribe the endpoint to
        those only."""
        signature = next((v for k, v in headers.items() if k.lower() == "stripe-signature"), None)
        if signature is None:
            raise InvalidInput("a Stripe webhook carries a Stripe-Signature header")
        try:
            event = self._client.construct_event(body, signature, self._webhook_secret)
        except stripe.SignatureVerificationError as e:
            raise InvalidInput("the Stripe webhook signature does not verify") from e
        except (ValueError, KeyError, IndexError) as e:
            raise InvalidInput("the Stripe webhook is not a Stripe event") from e
        kind = EVENTS.get(event.type)
        if kind is None:
            raise InvalidInput(f"event type {event.type} is not used", event_type=event.type)
        obj = event.data.object
        if event.type.startswith("payment_intent."):
            authorization = str(_field(obj, "id"))
            answer, amount = self._intent_notice(event.type, obj)
        elif event.type == "charge.refunded":
            authorization = str(_field(obj, "payment_intent"))
            refunds = _field(_field(obj, "refunds"), "data") or []
            newest = max(refunds, key=lambda r: int(_field(r, "created") or 0), default=None)
            answer = GatewayAnswer(Outcome.SUCCEEDED, _id(newest))
            amount = int(_field(obj, "amount_refunded") or 0)  # all refunded so far
        else:  # refund.*
            authorization = str(_field(obj, "payment_intent"))
            answer = self._refund_answer(obj)
            amount = int(_field(obj, "amount") or 0)
        return GatewayNotice(id=event.id, kind=kind, authorization=authorization, answer=answer,
                             amount=amount)

    # -- translation -----------------------------------------------------------------------

    def _call(self, what: str, call: Callable[[], T]) -> T:
        """Run a Stripe call; what got no answer becomes GatewayUnavailable. A refused API key
        is treated alike: nothing was done, and the call is asked again once it is fixed."""
        try:
            return call()
        except (stripe.APIConnectionError, stripe.APIError, stripe.RateLimitError) as e:
            log.warning("Stripe did not answer %s: %s", what, type(e).__name__)
            raise GatewayUnavailable(f"Stripe did not answer {what}: {type(e).__name__}") from e
        except (stripe.AuthenticationError, stripe.PermissionError) as e:
            log.error("Stripe refused the API key for %s", what)
            raise GatewayUnavailable(f"Stripe refused the API key for {what}") from e
        except stripe.IdempotencyError as e:
            raise IdempotencyKeyReused(
                f"Stripe saw this idempotency key with other parameters ({what})") from e

    def _authorization(self, intent: Any) -> GatewayAnswer:
        status = _field(intent, "status")
        reference = _id(intent)
        charge = _field(intent, "latest_charge")
        if isinstance(charge, str):  # not expanded: ask for it
            charge = self._call("charge", lambda: self._client.v1.charges.retrieve(charge))
        if status in ("requires_capture", "succeeded") or (
                status == "canceled" and _field(charge, "status") == "succeeded"):
            return GatewayAnswer(Outcome.SUCCEEDED, reference, card=self._card(charge),
                                 authorized_until=self._authorized_until(charge, status))
        if status in PENDING_STATUSES:
            return GatewayAnswer(Outcome.PENDING, reference)
        error = _field(intent, "last_payment_error")
        failure = _failure(error) if error is not None else str(status)
        return GatewayAnswer(Outcome.FAILED, reference, failure=failure)

    def _card(self, charge: Any) -> Card | None:
        card = _field(_field(charge, "payment_method_details"), "card")
        if card is None and _field(charge, "payment_method"):
            # Stripe always details the card on the charge; a Stripe-compatible test server may
            # not, and the payment method has the same display data.
            method = self._call("payment method", lambda: self._client.v1.payment_methods.retrieve(
                str(_field(charge, "payment_method"))))
            card = _field(method, "card")
        if card is None:
            return None
        return Card(brand=str(_field(card, "brand")), last4=str(_field(card, "last4")),
                    exp_month=int(_field(card, "exp_month")), exp_year=int(_field(card, "exp_year")))

    def _authorized_until(self, charge: Any, status: Any) -> datetime | None:
        if status != "requires_capture":
            return None
        card = _field(_field(charge, "payment_method_details"), "card")
        until = _timestamp(_field(card, "capture_before"))
        if until is not None:
            return until
        created = _timestamp(_field(charge, "created"))
        return created + AUTHORIZATION_VALIDITY if created is not None else None

    def _multicapture_available(self, intent: Any) -> bool:
        if not self._multicapture:
            return False
        details = _field(_field(intent, "latest_charge"), "payment_method_details")
        return bool(_field(_field(_field(details, "card"), "multicapture"), "status") == "available")

    def _intent_of_error(self, error: stripe.StripeError) -> str | None:
        """The PaymentIntent a refused authorization created, when Stripe says: on the error
        itself, or on the charge it names."""
        intent = _id(_field(error.error, "payment_intent"))
        if intent is not None:
            return intent
        charge = _field(error.error, "charge")
        if not charge:
            return None
        try:
            found = self._client.v1.charges.retrieve(str(charge))
        except stripe.StripeError:
            return None  # only a reference: the answer stands without it
        return _id(_field(found, "payment_intent"))

    @staticmethod
    def _refund_answer(refund: Any) -> GatewayAnswer:
        status = _field(refund, "status")
        reference = _id(refund)
        if status == "succeeded":
            return GatewayAnswer(Outcome.SUCCEEDED, reference)
        if status in ("pending", "requires_action"):
            return GatewayAnswer(Outcome.PENDING, reference)
        return GatewayAnswer(Outcome.FAILED, reference,
                             failure=str(_field(refund, "failure_reason") or status))

    def _intent_notice(self, event_type: str, intent: Any) -> tuple[GatewayAnswer, int]:
        amount = int(_field(intent, "amount") or 0)
        if event_type == "payment_intent.amount_capturable_updated":
            charge = _field(intent, "latest_charge")
            return (GatewayAnswer(Outcome.SUCCEEDED, _id(intent),
                                  authorized_until=self._authorized_until(charge, "requires_capture")),
                    int(_field(intent, "amount_capturable") or amount))
        if event_type == "payment_intent.payment_failed":
            error = _field(intent, "last_payment_error")
            return (GatewayAnswer(Outcome.FAILED, _id(intent),
                                  failure=_failure(error) if error is not None else "payment_failed"),
                    amount)
        if event_type == "payment_intent.succeeded":
            received = _field(intent, "amount_received")
            return (GatewayAnswer(Outcome.SUCCEEDED, _id(_field(intent, "latest_charge"))),
                    int(received) if received is not None else amount)
        # canceled: what was not captured was released
        received = int(_field(intent, "amount_received") or 0)
        return GatewayAnswer(Outcome.SUCCEEDED, _id(intent)), amount - received

    @staticmethod
    def _payout_items(transactions: Iterable[Any]) -> list[PayoutItem]:
        """A payout's balance transactions as payout items. Amounts and fees stay as Stripe
        gives them (minor units, refunds negative), so the items' nets add up to the payout."""
        items = []
        for txn in transactions:
            kind = str(_field(txn, "type"))
            if kind in PAYOUT_TYPES:
                continue
            if kind in CAPTURE_TYPES:
                item_type = "capture"
            elif kind in REFUND_TYPES:
                item_type = "refund"
            elif kind in FEE_TYPES:
                item_type = "fee"
            else:
                item_type = "adjustment"
            source = _id(_field(txn, "source")) or str(_field(txn, "id"))
            items.append(PayoutItem(type=item_type, gateway_reference=source,
                                    amount=int(_field(txn, "amount")), fee=int(_field(txn, "fee") or 0)))
        return items
