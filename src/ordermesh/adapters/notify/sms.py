"""Customer SMS: logged (the demo and development) or sent with Twilio's official SDK.

A sender's send(to, body) returns once the message is accepted; it raises NotificationFailed
when it could not be sent now (no answer, 5xx, 429 too many requests, 401 credentials to put
right) and NotificationRejected when it never will be (other 4xx: an invalid or unreachable
number, a number that opted out). Phone numbers are E.164 ("+31612345678"); they are never
logged whole, only their last three digits.
"""

from __future__ import annotations

import logging
from typing import Protocol

import requests
from twilio.base.exceptions import (  # type: ignore[import-untyped]
    TwilioException,
    TwilioRestException,
    TwilioServiceException,
)
from twilio.http.http_client import TwilioHttpClient  # type: ignore[import-untyped]
from twilio.rest import Client  # type: ignore[import-untyped]

from ordermesh.domain.notifications import NotificationFailed, NotificationRejected

__all__ = ["LoggingSms", "NotificationFailed", "NotificationRejected", "SmsSender", "TwilioSms",
           "mask_number"]

_log = logging.getLogger(__name__)


class SmsSender(Protocol):
    def send(self, to: str, body: str) -> None:
        """Send the text; NotificationFailed: try again later."""
        ...


def mask_number(number: str) -> str:
    """A phone number with all but its last three digits hidden: "+31612345678" -> "+********678"."""
    digits = [c for c in number if c.isdigit()]
    shown = "".join(digits[-3:]) if len(digits) > 3 else ""
    prefix = "+" if number.strip().startswith("+") else ""
    return prefix + "*" * (len(digits) - len(shown)) + shown


class LoggingSms:
    """Sends nothing: logs each text (INFO, logger `ordermesh.adapters.notify.sms`)."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger or _log

    def send(self, to: str, body: str) -> None:
        self.logger.info("SMS to %s: %s", mask_number(to), body)


class TwilioSms:
    """Sends through Twilio's Messages API (`client.messages.create`), from a number of the
    account or through a Messaging Service (give one of them)."""

    def __init__(self, account_sid: str, auth_token: str, from_number: str | None = None, *,
                 messaging_service_sid: str | None = None, timeout: float = 10,
                 http_client: object | None = None) -> None:
        if not from_number and not messaging_service_sid:
            raise ValueError("Twilio needs a from number or a messaging service sid")
        self.from_number, self.messaging_service_sid = from_number, messaging_service_sid
        self.client = Client(account_sid, auth_token, http_client=http_client
                             or TwilioHttpClient(timeout=timeout))

    def send(self, to: str, body: str) -> None:
        sender = ({"from_": self.from_number} if self.from_number
                  else {"messaging_service_sid": self.messaging_service_sid})
        try:
            message = self.client.messages.create(to=to, body=body, **sender)
        except (TwilioRestException, TwilioServiceException) as exc:
            status = int(exc.status)
            text = f"Twilio {status} (code {exc.code}) for {mask_number(to)}"
            if status >= 500 or status in (401, 408, 429):
                raise NotificationFailed(text) from exc
            raise NotificationRejected(text) from exc
        except (requests.RequestException, TwilioException, OSError) as exc:
            raise NotificationFailed(f"Twilio did not answer for {mask_number(to)}: "
                                     f"{type(exc).__name__}") from exc
        _log.debug("SMS to %s accepted by Twilio as %s (%s)", mask_number(to), message.sid,
                   message.status)
