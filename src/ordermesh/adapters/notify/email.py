"""Customer e-mail: composed from Jinja2 templates, sent over SMTP or kept in a local mailbox.

compose(kind, context, branding, locale) makes one `email.message.EmailMessage`:
multipart/alternative with a plain-text and an HTML part (the HTML has no external assets; a
channel's logo, when given, travels inside the message as a related part). Money is given in
minor units with its currency and formatted by Babel in the locale (the currency's exponent from
Babel, through Decimal, never float); dates are formatted by Babel too. Subjects and the few
sentences around the data are translated from a small table below (English, Dutch, German;
other languages get English words with their own number and date formats).

The context is what the relay knows of the event and its order. Only the keys below are read,
so nothing else that the context carries (a payment token, card details) can reach a mail:

    event_id        str, required: Message-ID is derived from it (and the kind)
    to              str, required: the customer's address;   customer_name  str
    order_number    str, required;  order_url  str (http/https), a link to the order's page
    currency        str (ISO 4217), required when any amount is given
    lines           [{name, sku, quantity, unit_price (minor units), promised_on}]
    total           int (minor units): the order's total;  amount  int: the refund (required
                    for `refunded`)
    expected_on     date or ISO date: when the parcel or the order is expected
    occurred_at     datetime or ISO: when the event happened (shown for `delivered`)
    carrier, tracking_numbers [str], tracking_url (http/https)
    pickup_code (required for `ready_for_pickup`), location_name, location_address
    reason          str, customer-facing words on a cancellation

A sender's send(message) returns once the message is accepted; it raises NotificationFailed
when it could not be sent now (retry) and NotificationRejected when it never will be.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import smtplib
import ssl
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Protocol

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.numbers import format_currency, get_currency_precision, is_currency
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from ordermesh.domain.notifications import (
    KINDS,
    READY_FOR_PICKUP,
    REFUNDED,
    NotificationFailed,
    NotificationRejected,
)

__all__ = ["Branding", "MailboxSender", "NotificationFailed", "NotificationRejected",
           "NotificationSender", "SmtpSender", "compose", "format_day", "format_money",
           "message_id_for"]

TEMPLATES = Path(__file__).parent / "templates"
COLOUR = re.compile(r"#(?:[0-9a-fA-F]{3}){1,2}")
SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
REQUIRED: dict[str, tuple[str, ...]] = {REFUNDED: ("amount",), READY_FOR_PICKUP: ("pickup_code",)}

# The words around the data, by language: subjects, a sentence per kind, labels. A language
# missing here gets English words (its numbers and dates are still its own).
STRINGS: dict[str, dict[str, str]] = json.loads((TEMPLATES / "strings.json").read_text("utf-8"))


@dataclass(frozen=True, slots=True)
class Branding:
    """How a channel's mails look and who they come from."""

    name: str  # the retailer's or channel's name, shown in the header and as the sender's name
    sender: str  # the From address, e.g. "orders@shop.example"
    colour: str = "#1d4ed8"  # the header's colour, "#rgb" or "#rrggbb"
    sign_off: str = ""  # "The Acme team"; the name when empty
    reply_to: str | None = None
    logo_png: bytes | None = None  # carried inside the message, shown with the name as alt text

    def __post_init__(self) -> None:
        if not COLOUR.fullmatch(self.colour):
            raise ValueError(f"a colour is #rgb or #rrggbb, got {self.colour!r}")
        if "@" not in self.sender:
            raise ValueError(f"the sender must be an e-mail address, got {self.sender!r}")


class NotificationSender(Protocol):
    def send(self, message: EmailMessage) -> None:
        """Send or keep the message; NotificationFailed: try again later."""
        ...


# -- formatting ---------------------------------------------------------------------------------


def parse_locale(locale: str | Locale) -> Locale:
    if isinstance(locale, Locale):
        return locale
    try:
        return Locale.parse(locale.replace("-", "_"))
    except (UnknownLocaleError, ValueError) as exc:
        raise ValueError(f"unknown locale {locale!r}") from exc


def format_money(minor: int, currency: str, locale: str | Locale) -> str:
    """Minor units as the locale writes the amount: (1234_50, "EUR", "de_DE") -> "1.234,50 €"."""
    if type(minor) is not int:
        raise ValueError(f"an amount is an integer of minor units, got {minor!r}")
    if not is_currency(currency):
        raise ValueError(f"unknown currency {currency!r}")
    amount = Decimal(minor).scaleb(-get_currency_precision(currency))
    return format_currency(amount, currency, locale=parse_locale(locale))


def format_day(value: date | datetime | str, locale: str | Locale) -> str:
    """A day (a date, a datetime or an ISO string) as the locale writes it in full."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
    if isinstance(value, datetime):
        value = value.date()
    return format_date(value, format="long", locale=parse_locale(locale))


def message_id_for(event_id: str, kind: str, sender: str) -> str:
    """The Message-ID of the mail that tells of one event: the same every time it is made."""
    token = event_id if SAFE_ID.fullmatch(event_id) else hashlib.sha256(
        event_id.encode()).hexdigest()[:32]
    domain = sender.rpartition("@")[2] or "ordermesh.invalid"
    return f"<{token}.{kind}@{domain}>"


def _text_colour(background: str) -> str:
    """Black or white, whichever reads better on the background (WCAG relative luminance)."""
    digits = background[1:]
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)

    def channel(hex_pair: str) -> float:
        c = int(hex_pair, 16) / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(digits[i:i + 2]) for i in (0, 2, 4))
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return "#ffffff" if (1.05 / (luminance + 0.05)) >= ((luminance + 0.05) / 0.05) else "#111111"


def _link(url: Any) -> str | None:
    return url if isinstance(url, str) and url.startswith(("https://", "http://")) else None


# -- composing ----------------------------------------------------------------------------------

_env = Environment(
    loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
)


def _view(kind: str, context: Mapping[str, Any], branding: Branding,
          locale: Locale) -> dict[str, Any]:
    """What the templates see: the context's known keys, formatted for the locale."""
    for key in ("event_id", "to", "order_number", *REQUIRED.get(kind, ())):
        if context.get(key) in (None, ""):
            raise ValueError(f"a {kind} mail needs {key!r} in its context")
    words = STRINGS.get(locale.language, STRINGS["en"])
    currency = context.get("currency")

    def money(minor: Any) -> str | None:
        if minor is None:
            return None
        if not isinstance(currency, str):
            raise ValueError("amounts need the context's 'currency'")
        return format_money(minor, currency, locale)

    def day(value: Any) -> str | None:
        return format_day(value, locale) if value else None

    number = str(context["order_number"])
    name = context.get("customer_name")
    lines: Sequence[Mapping[str, Any]] = context.get("lines") or ()
    amount = money(context.get("amount"))
    sign_off = branding.sign_off or branding.name
    return {
        "kind": kind, "lang": str(locale).replace("_", "-"), "t": words,
        "subject": words[f"subject.{kind}"].format(number=number),
        "greeting": words["greeting_named"].format(name=name) if name else words["greeting"],
        "intro": words[f"intro.{kind}"].format(amount=amount or ""),
        "footer": words["footer"].format(brand=branding.name),
        "brand": {"name": branding.name, "colour": branding.colour, "sign_off": sign_off,
                  "text_colour": _text_colour(branding.colour)},
        "logo_cid": None, "number": number, "order_url": _link(context.get("order_url")),
        "lines": [{"name": str(ln.get("name") or ln.get("sku") or ""),
                   "quantity": int(ln.get("quantity", 1)),
                   "price": money(ln.get("unit_price")),
                   "promised_on": day(ln.get("promised_on"))} for ln in lines],
        "total": money(context.get("total")), "amount": amount,
        "expected_on": day(context.get("expected_on")),
        "occurred_on": day(context.get("occurred_at")),
        "carrier": context.get("carrier"),
        "tracking_numbers": [str(n) for n in context.get("tracking_numbers") or ()],
        "tracking_url": _link(context.get("tracking_url")),
        "pickup_code": context.get("pickup_code"),
        "location_name": context.get("location_name"),
        "location_address": context.get("location_address"),
        "reason": context.get("reason"),
    }


def compose(kind: str, context: Mapping[str, Any], branding: Branding,
            locale: str | Locale = "en_GB", *, now: datetime | None = None) -> EmailMessage:
    """The customer's mail of this kind, in the locale, with the channel's branding."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind of notification {kind!r}")
    where = parse_locale(locale)
    view = _view(kind, context, branding, where)
    domain = branding.sender.rpartition("@")[2]
    if branding.logo_png is not None:
        view["logo_cid"] = f"logo.{kind}@{domain}"
    text = _env.get_template(f"{kind}.txt").render(view)
    html = _env.get_template(f"{kind}.html").render(view)

    message = EmailMessage(policy=policy.SMTP)
    message["Subject"] = view["subject"]
    message["From"] = Address(branding.name, addr_spec=branding.sender)
    message["To"] = Address(str(context.get("customer_name") or ""),
                            addr_spec=str(context["to"]))
    if branding.reply_to:
        message["Reply-To"] = branding.reply_to
    message["Date"] = format_datetime(now or datetime.now(UTC))
    message["Message-ID"] = message_id_for(str(context["event_id"]), kind, branding.sender)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, please
    message["X-Ordermesh-Event"] = str(context["event_id"])
    message["X-Ordermesh-Kind"] = kind
    message.set_content(text, subtype="plain", charset="utf-8")
    message.add_alternative(html, subtype="html", charset="utf-8")
    message["Content-Language"] = view["lang"]  # after the parts: setting them clears Content-*
    if branding.logo_png is not None:
        html_part = message.get_body(("html",))
        assert html_part is not None
        html_part.add_related(branding.logo_png, maintype="image", subtype="png",
                              cid=f"<{view['logo_cid']}>", filename="logo.png")
    return message


# -- sending ------------------------------------------------------------------------------------


class SmtpSender:
    """Sends through an SMTP server (smtplib): STARTTLS and login when configured.

    With `starttls` the connection is upgraded before anything else is said, and a server
    without STARTTLS is a failure (never a fallback to plain text). Connection trouble,
    timeouts, a 4xx answer and a failed login (configuration, put right by the operator) are
    temporary: NotificationFailed. A 5xx for the sender, a recipient or the data is permanent:
    NotificationRejected.
    """

    def __init__(self, host: str, port: int, username: str | None = None,
                 password: str | None = None, starttls: bool = False,
                 timeout: float = 10, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.username, self.password, self.starttls = username, password, starttls
        self.ssl_context = ssl_context  # None: the system's CAs, the host name checked

    def send(self, message: EmailMessage) -> None:
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls(context=self.ssl_context or ssl.create_default_context())
                if self.username:
                    smtp.login(self.username, self.password or "")
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            if all(code >= 500 for code in codes):
                raise NotificationRejected(f"recipients refused: {exc.recipients}") from exc
            raise NotificationFailed(f"recipients refused for now: {exc.recipients}") from exc
        except smtplib.SMTPAuthenticationError as exc:
            raise NotificationFailed(f"SMTP login refused: {exc.smtp_code}") from exc
        except smtplib.SMTPResponseException as exc:
            text = f"SMTP {exc.smtp_code}: {exc.smtp_error!r}"
            if exc.smtp_code >= 500:
                raise NotificationRejected(text) from exc
            raise NotificationFailed(text) from exc
        except (smtplib.SMTPException, OSError) as exc:  # refused, timeout, TLS, disconnected
            raise NotificationFailed(f"SMTP server {self.host}:{self.port}: {exc}") from exc


class MailboxSender:
    """The demo's mailbox: each message kept as <Message-ID>.eml in a folder, written whole
    (a temporary file renamed into place), so sending one again replaces it."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)

    def path_for(self, message_id: str) -> Path:
        name = message_id.strip().strip("<>")
        safe = re.sub(r"[^A-Za-z0-9._@-]", "_", name).lstrip(".")
        if not safe:
            raise ValueError(f"no usable Message-ID: {message_id!r}")
        return self.folder / f"{safe}.eml"

    def send(self, message: EmailMessage) -> None:
        message_id = message["Message-ID"]
        if not message_id:
            raise ValueError("a message needs a Message-ID to be kept")
        target = self.path_for(str(message_id))
        data = message.as_bytes(policy=policy.SMTP)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
            try:
                with os.fdopen(handle, "wb") as out:
                    out.write(data)
                os.replace(temporary, target)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
                raise
        except OSError as exc:
            raise NotificationFailed(f"mailbox {self.folder}: {exc}") from exc

    def messages(self) -> list[EmailMessage]:
        """The kept messages, newest file first."""
        if not self.folder.is_dir():
            return []
        paths = sorted(self.folder.glob("*.eml"), key=lambda p: p.stat().st_mtime, reverse=True)
        parser = BytesParser(policy=policy.default)
        found: list[EmailMessage] = []
        for path in paths:
            parsed = parser.parsebytes(path.read_bytes())
            assert isinstance(parsed, EmailMessage)
            found.append(parsed)
        return found
