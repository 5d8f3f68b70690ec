"""Customer notifications: which events notify as what, how each mail is composed (every kind
in every locale, money and dates in the locale's own way, nothing of the card), and SMS
(logged with the number masked; Twilio's SDK answered by recorded HTTP at its client)."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, date, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from twilio.http import HttpClient  # type: ignore[import-untyped]
from twilio.http.response import Response  # type: ignore[import-untyped]

from ordermesh.adapters.notify import email as notify_email
from ordermesh.adapters.notify.email import (
    Branding,
    compose,
    format_day,
    format_money,
    message_id_for,
)
from ordermesh.adapters.notify.sms import LoggingSms, TwilioSms, mask_number
from ordermesh.domain.notifications import (
    KINDS,
    NOTIFICATIONS,
    NotificationFailed,
    NotificationRejected,
    notification_for,
)

LOCALES = ("en_GB", "nl_NL", "de_DE")
BRAND = Branding("Acme Outdoor", "orders@acme.example", "#1d4ed8", "The Acme team")
EVENT_ID = "0b7d6c1e-9a55-4e1f-8d2a-1c2b3d4e5f60"
CARD = "4111111111111111"
TOKEN = "tok_visa_secret_123"


def context(**extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "event_id": EVENT_ID, "to": "ann@example.com", "customer_name": "Ann Lee",
        "order_number": "OM-000123", "currency": "EUR", "total": 123450,
        "lines": [{"name": "Tent 2p", "sku": "TENT-2", "quantity": 1, "unit_price": 99900,
                   "promised_on": "2026-03-03"},
                  {"name": "Sleeping mat", "sku": "MAT", "quantity": 2, "unit_price": 11775}],
        "carrier": "DHL", "tracking_numbers": ["JD014600006281"],
        "tracking_url": "https://track.example/JD014600006281",
        "pickup_code": "K7Q2P9", "location_name": "Acme Utrecht",
        "location_address": "Oudegracht 1, Utrecht", "amount": 2500,
        "expected_on": date(2026, 3, 3), "occurred_at": datetime(2026, 3, 3, 15, tzinfo=UTC),
        "order_url": "https://shop.example/orders/OM-000123",
        # what a relay might carry along, and must never reach a mail
        "payment_token": TOKEN, "card": {"number": CARD, "last4": "1111", "brand": "visa"},
    }
    return {**base, **extra}


def parts(message: EmailMessage) -> tuple[str, str]:
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None and html is not None
    return str(text.get_content()), str(html.get_content())


# -- which events notify, as what ----------------------------------------------------------------


@pytest.mark.parametrize(("event_type", "data", "kind"), [
    ("order.placed", {"number": "OM-000001"}, "order_confirmed"),
    ("order.backordered", {"waits": [{"kind": "backorder", "promised_on": "2026-03-03"}]},
     "backordered"),
    ("order.backordered", {"waits": [{"kind": "preorder"}, {"kind": "preorder"}]}, "preordered"),
    ("order.backordered", {"waits": [{"kind": "preorder"}, {"kind": "backorder"}]},
     "backordered"),
    ("order.backorder_repromised", {"waits": [{"kind": "preorder"}]}, "preordered"),
    ("order.backorder_repromised", {"waits": []}, None),
    ("order.dispatched", {"tracking_numbers": ["1Z"], "carrier": "UPS"}, "dispatched"),
    ("order.dispatched", {"final": True}, "dispatched"),
    ("order.dispatched", {"final": False}, "partially_dispatched"),
    ("order.dispatched", {"collected_at": "STORE-1"}, None),
    ("fulfilment.out_for_delivery", {"order_id": "o1"}, "out_for_delivery"),
    ("fulfilment.delivered", {"order_id": "o1"}, None),
    ("order.delivered", {}, "delivered"),
    ("order.ready_for_pickup", {"pickup_code": "K7Q2P9", "location": "AMS"}, "ready_for_pickup"),
    ("order.cancelled", {"reason": "customer"}, "cancelled"),
    ("payment.refunded", {"amount": 2500, "currency": "EUR"}, "refunded"),
    ("payment.refund_failed", {"amount": 2500}, None),
    ("order.allocated", {"allocations": []}, None),
    ("order.held", {}, None),
])
def test_events_notify_the_customer_as_their_kind(event_type: str, data: dict[str, Any],
                                                  kind: str | None) -> None:
    assert notification_for(event_type, data) == kind


def test_every_kind_is_sent_by_some_event() -> None:
    reachable = set(NOTIFICATIONS.values()) | {"preordered", "partially_dispatched"}
    assert reachable == set(KINDS)
    assert len(KINDS) == len(set(KINDS)) == 10


# -- composing -----------------------------------------------------------------------------------


def test_every_kind_has_a_text_and_an_html_template_and_words_in_every_language() -> None:
    folder = Path(notify_email.__file__).parent / "templates"
    strings = json.loads((folder / "strings.json").read_text("utf-8"))
    assert set(strings) == {"en", "nl", "de"}
    for kind in KINDS:
        assert (folder / f"{kind}.txt").is_file() and (folder / f"{kind}.html").is_file()
    for language, words in strings.items():
        assert set(words) == set(strings["en"]), language


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_renders_in_every_locale(kind: str, locale: str) -> None:
    message = compose(kind, context(), BRAND, locale, now=datetime(2026, 3, 1, tzinfo=UTC))
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    text, html = parts(message)
    subject = str(message["Subject"])
    assert "OM-000123" in subject and "OM-000123" in text and "OM-000123" in html
    assert str(message["To"]) == "Ann Lee <ann@example.com>"
    assert str(message["From"]) == "Acme Outdoor <orders@acme.example>"
    assert message["Message-ID"] == f"<{EVENT_ID}.{kind}@acme.example>"
    assert message["Content-Language"] == locale.replace("_", "-")
    assert message["Auto-Submitted"] == "auto-generated"
    assert f'<html lang="{locale.replace("_", "-")}"' in html
    assert f"<title>{subject}</title>" in html and "<h1" in html
    assert "The Acme team" in text and "The Acme team" in html
    for rendered in (text, html):
        assert "None" not in rendered and "{" not in rendered and "Undefined" not in rendered
    # no external assets: nothing is fetched when the mail is opened
    assert not re.search(r"<(link|script|iframe|object)\b", html)
    assert not re.search(r"""src=["'](?!cid:)""", html) and "url(" not in html
    assert "OM-000123" in message.as_string()  # it serialises as SMTP sends it


def test_the_locale_changes_the_words_the_money_and_the_dates() -> None:
    seen = {}
    for locale in LOCALES:
        text, html = parts(compose("order_confirmed", context(), BRAND, locale))
        seen[locale] = text
        assert text.count("\n") > 5 and html
    assert "€1,234.50" in seen["en_GB"] and "3 March 2026" in seen["en_GB"]
    assert "€\xa01.234,50" in seen["nl_NL"] and "3 maart 2026" in seen["nl_NL"]
    assert "1.234,50\xa0€" in seen["de_DE"] and "3. März 2026" in seen["de_DE"]
    assert "Thank you" in seen["en_GB"] and "Bedankt" in seen["nl_NL"]
    assert "Vielen Dank" in seen["de_DE"]


def test_subjects_are_translated() -> None:
    subjects = {loc: str(compose("dispatched", context(), BRAND, loc)["Subject"])
                for loc in LOCALES}
    assert subjects == {"en_GB": "Your order OM-000123 is on its way",
                        "nl_NL": "Je bestelling OM-000123 is onderweg",
                        "de_DE": "Ihre Bestellung OM-000123 ist unterwegs"}


def test_money_uses_the_currencys_own_exponent_never_float() -> None:
    assert format_money(123450, "EUR", "en_GB") == "€1,234.50"
    assert format_money(1234, "JPY", "en_GB") == "JP¥1,234"  # no minor unit
    assert format_money(1234567, "BHD", "de_DE") == "1.234,567\xa0BHD"  # three decimals
    assert format_money(5, "EUR", "nl_NL") == "€\xa00,05"
    assert format_money(-2500, "GBP", "en_GB") == "-£25.00"
    with pytest.raises(ValueError, match="minor units"):
        format_money(12.5, "EUR", "en_GB")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="currency"):
        format_money(100, "XQZ", "en_GB")


def test_a_refund_states_its_amount_in_the_locale() -> None:
    text, html = parts(compose("refunded", context(currency="JPY", amount=1500), BRAND, "de_DE"))
    assert "1.500\xa0¥" in text and "1.500\xa0¥" in html


def test_dates_are_written_in_the_locale() -> None:
    assert format_day(date(2026, 12, 24), "nl_NL") == "24 december 2026"
    assert format_day("2026-12-24", "de-DE") == "24. Dezember 2026"
    assert format_day("2026-12-24T23:30:00+00:00", "en_GB") == "24 December 2026"
    text, _ = parts(compose("delivered", context(), BRAND, "de_DE"))
    assert "Zugestellt am: 3. März 2026" in text


def test_a_locale_without_words_keeps_its_own_formats_with_english_words() -> None:
    text, html = parts(compose("order_confirmed", context(), BRAND, "fr_FR"))
    assert "Thank you" in text and "1\u202f234,50\xa0€" in text and 'lang="fr-FR"' in html
    with pytest.raises(ValueError, match="locale"):
        compose("order_confirmed", context(), BRAND, "xx_YY")


def test_no_card_data_or_payment_token_reaches_a_mail() -> None:
    for kind in KINDS:
        raw = compose(kind, context(), BRAND, "en_GB").as_bytes()
        decoded = "".join(parts(compose(kind, context(), BRAND, "en_GB")))
        for secret in (CARD, TOKEN, "visa"):
            assert secret.encode() not in raw and secret not in decoded


def test_dispatched_mails_carry_the_tracking_link_and_pickups_their_code() -> None:
    text, html = parts(compose("dispatched", context(), BRAND, "en_GB"))
    assert "https://track.example/JD014600006281" in text
    assert 'href="https://track.example/JD014600006281"' in html and "JD014600006281" in html
    text, html = parts(compose("ready_for_pickup", context(), BRAND, "nl_NL"))
    assert "Ophaalcode: K7Q2P9" in text and "K7Q2P9" in html and "Oudegracht 1" in html


def test_only_web_links_are_linked_and_names_are_escaped() -> None:
    evil = context(tracking_url="javascript:alert(1)", order_url="data:text/html,x",
                   lines=[{"name": "<script>alert(1)</script>", "quantity": 1}])
    text, html = parts(compose("dispatched", evil, BRAND, "en_GB"))
    assert "javascript:" not in html and "data:text" not in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<script>alert(1)</script>" in text  # plain text is not HTML


def test_a_mail_needs_what_it_tells() -> None:
    for missing, kind in (("event_id", "delivered"), ("to", "delivered"),
                          ("order_number", "delivered"), ("amount", "refunded"),
                          ("pickup_code", "ready_for_pickup")):
        with pytest.raises(ValueError, match=missing):
            compose(kind, context(**{missing: None}), BRAND, "en_GB")
    with pytest.raises(ValueError, match="currency"):
        compose("order_confirmed", context(currency=None), BRAND, "en_GB")
    with pytest.raises(ValueError, match="kind"):
        compose("shipped", context(), BRAND, "en_GB")


def test_the_message_id_is_the_same_for_one_event_and_differs_between_events() -> None:
    first = compose("dispatched", context(), BRAND, "en_GB")
    again = compose("dispatched", context(), BRAND, "nl_NL")
    other = compose("dispatched", context(event_id="another-event"), BRAND, "en_GB")
    assert first["Message-ID"] == again["Message-ID"] == f"<{EVENT_ID}.dispatched@acme.example>"
    assert other["Message-ID"] != first["Message-ID"]
    assert message_id_for(EVENT_ID, "delivered", "x@acme.example") != first["Message-ID"]
    odd = message_id_for("evt <1>@x/../y", "delivered", "x@acme.example")
    assert odd == message_id_for("evt <1>@x/../y", "delivered", "x@acme.example")
    assert re.fullmatch(r"<[0-9a-f]{32}\.delivered@acme\.example>", odd)


def test_branding_colour_is_checked_and_the_header_text_reads_on_it() -> None:
    with pytest.raises(ValueError, match="colour"):
        Branding("Acme", "a@acme.example", "red;background:url(x)")
    with pytest.raises(ValueError, match="sender"):
        Branding("Acme", "acme.example")
    _, dark = parts(compose("delivered", context(), Branding("A", "a@a.example", "#003366"),
                            "en_GB"))
    _, light = parts(compose("delivered", context(), Branding("A", "a@a.example", "#ffdd00"),
                             "en_GB"))
    assert "background-color:#003366;color:#ffffff" in dark
    assert "background-color:#ffdd00;color:#111111" in light
    assert "The Acme team" not in dark and "<p style=\"margin:24px 0 0;\">A</p>" in dark


def test_a_logo_travels_inside_the_message_with_its_alt_text() -> None:
    png = b"\x89PNG\r\n\x1a\n recorded logo"
    branded = Branding("Acme Outdoor", "orders@acme.example", logo_png=png)
    message = compose("dispatched", context(), branded, "en_GB")
    parsed = BytesParser(policy=policy.default).parsebytes(message.as_bytes())
    assert isinstance(parsed, EmailMessage)
    related = [p for p in parsed.walk() if p.get_content_type() == "multipart/related"]
    assert len(related) == 1
    image = next(p for p in parsed.walk() if p.get_content_type() == "image/png")
    assert image.get_content() == png and image["Content-ID"] == "<logo.dispatched@acme.example>"
    _, html = parts(parsed)
    assert 'src="cid:logo.dispatched@acme.example" alt="Acme Outdoor"' in html


# -- SMS -----------------------------------------------------------------------------------------


def test_numbers_are_masked_to_their_last_three_digits() -> None:
    assert mask_number("+31612345678") == "+********678"
    assert mask_number("06 1234 5678") == "*******678"
    assert mask_number("12") == "**"


def test_the_logging_sms_logs_the_text_with_the_number_masked(
        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="ordermesh.adapters.notify.sms"):
        LoggingSms().send("+31612345678", "Your order OM-000123 is ready: code K7Q2P9")
    assert "+********678" in caplog.text and "K7Q2P9" in caplog.text
    assert "612345678" not in caplog.text


ACCOUNT = "AC" + "0" * 30 + "1"
# A Message resource as Twilio's API reference documents the answer to POST .../Messages.json
RECORDED_MESSAGE = {
    "account_sid": ACCOUNT, "api_version": "2010-04-01",
    "body": "Your order OM-000123 is ready: code K7Q2P9",
    "date_created": "Thu, 24 Aug 2023 05:01:45 +0000", "date_sent": None,
    "date_updated": "Thu, 24 Aug 2023 05:01:45 +0000", "direction": "outbound-api",
    "error_code": None, "error_message": None, "from": "+14155550100",
    "messaging_service_sid": None, "num_media": "0", "num_segments": "1", "price": None,
    "price_unit": "USD", "sid": "SM" + "a" * 32, "status": "queued",
    "subresource_uris": {"media": f"/2010-04-01/Accounts/{ACCOUNT}/Messages/SM{'a' * 32}"
                                  "/Media.json"},
    "to": "+31612345678",
    "uri": f"/2010-04-01/Accounts/{ACCOUNT}/Messages/SM{'a' * 32}.json",
}


class RecordedHttp(HttpClient):  # type: ignore[misc]
    """Twilio's HTTP boundary, answered with recorded JSON; keeps what the SDK asked."""

    def __init__(self, status: int, answer: dict[str, Any] | Exception) -> None:
        super().__init__(logging.getLogger("twilio-test"), is_async=False)
        self.status, self.answer = status, answer
        self.requests: list[dict[str, Any]] = []

    def request(self, method: str, uri: str, params: Any = None, data: Any = None,
                headers: Any = None, auth: Any = None, timeout: Any = None,
                allow_redirects: bool = False) -> Response:
        self.requests.append({"method": method, "uri": uri, "data": data, "auth": auth})
        if isinstance(self.answer, Exception):
            raise self.answer
        return Response(self.status, json.dumps(self.answer))


def test_twilio_sends_with_messages_create() -> None:
    http = RecordedHttp(201, RECORDED_MESSAGE)
    TwilioSms(ACCOUNT, "auth-token", "+14155550100", http_client=http).send(
        "+31612345678", "Your order OM-000123 is ready: code K7Q2P9")
    [sent] = http.requests
    assert sent["method"] == "POST"
    assert sent["uri"] == f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
    assert sent["auth"] == (ACCOUNT, "auth-token")
    assert sent["data"]["To"] == "+31612345678" and sent["data"]["From"] == "+14155550100"
    assert sent["data"]["Body"] == "Your order OM-000123 is ready: code K7Q2P9"


def test_twilio_can_send_through_a_messaging_service() -> None:
    http = RecordedHttp(201, {**RECORDED_MESSAGE, "messaging_service_sid": "MG" + "b" * 32})
    TwilioSms(ACCOUNT, "t", messaging_service_sid="MG" + "b" * 32, http_client=http).send(
        "+31612345678", "hello")
    assert http.requests[0]["data"]["MessagingServiceSid"] == "MG" + "b" * 32
    assert "From" not in http.requests[0]["data"]
    with pytest.raises(ValueError, match="from number"):
        TwilioSms(ACCOUNT, "t")


@pytest.mark.parametrize(("status", "answer", "raised"), [
    (400, {"code": 21211, "message": "The 'To' number +3161234567 is not a valid phone number.",
           "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400},
     NotificationRejected),
    (400, {"code": 21610, "message": "Attempt to send to unsubscribed recipient",
           "more_info": "https://www.twilio.com/docs/errors/21610", "status": 400},
     NotificationRejected),
    (429, {"code": 20429, "message": "Too Many Requests", "status": 429}, NotificationFailed),
    (503, {"code": 20503, "message": "Service Unavailable", "status": 503}, NotificationFailed),
    (401, {"code": 20003, "message": "Authenticate", "status": 401}, NotificationFailed),
])
def test_twilio_errors_are_temporary_or_permanent(status: int, answer: dict[str, Any],
                                                  raised: type[Exception]) -> None:
    sms = TwilioSms(ACCOUNT, "t", "+14155550100", http_client=RecordedHttp(status, answer))
    with pytest.raises(raised) as caught:
        sms.send("+31612345678", "hello")
    assert "612345678" not in str(caught.value) and "678" in str(caught.value)


def test_twilio_without_an_answer_is_a_temporary_failure() -> None:
    import requests

    sms = TwilioSms(ACCOUNT, "t", "+14155550100",
                    http_client=RecordedHttp(0, requests.ConnectTimeout("timed out")))
    with pytest.raises(NotificationFailed, match="did not answer"):
        sms.send("+31612345678", "hello")
