"""The customer notifier: composes a notification's mail (with the channel's branding, in a
locale) and hands it to a sender (SMTP, or the demo's mailbox)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ordermesh.adapters.notify.email import Branding, NotificationSender, compose


class EmailNotifier:
    def __init__(self, sender: NotificationSender, branding: Branding,
                 channels: Mapping[str, Branding] | None = None, locale: str = "en_GB") -> None:
        self.sender = sender
        self.branding = branding
        self.channels = dict(channels or {})
        self.locale = locale

    def email(self, kind: str, context: Mapping[str, Any], channel: str,
              locale: str | None = None) -> str:
        """Compose and send; answers the Message-ID. Raises NotificationFailed (try again)
        or NotificationRejected (never)."""
        message = compose(kind, context, self.channels.get(channel, self.branding),
                          locale or self.locale)
        self.sender.send(message)
        return str(message["Message-ID"])
