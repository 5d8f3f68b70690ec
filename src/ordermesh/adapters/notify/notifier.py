"""The customer notifier: composes a notification's mail (with the channel's branding, in its
language) and hands it to a sender (SMTP, or the demo's mailbox)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ordermesh.adapters.notify.email import Branding, NotificationSender, compose


class EmailNotifier:
    def __init__(self, sender: NotificationSender, branding: Branding,
                 locale: str = "en_GB") -> None:
        self.sender = sender
        self.branding = branding  # the retailer's; a channel may change any of it
        self.locale = locale

    def email(self, kind: str, context: Mapping[str, Any],
              channel: Mapping[str, Any] | None = None) -> str:
        """Compose and send; answers the Message-ID. Raises NotificationFailed (try again)
        or NotificationRejected (never). `channel`: brand_name, brand_colour, mail_from,
        locale, each optional."""
        channel = channel or {}
        branding = replace(self.branding, **{
            field: channel[key] for key, field in (("brand_name", "name"),
                                                   ("brand_colour", "colour"),
                                                   ("mail_from", "sender"))
            if channel.get(key)})
        message = compose(kind, context, branding, channel.get("locale") or self.locale)
        self.sender.send(message)
        return str(message["Message-ID"])
