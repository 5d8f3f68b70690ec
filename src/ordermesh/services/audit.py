"""The audit log: every command a console user issues is written down, with the change it
made, in the same transaction — who did what, to what, and when."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from ordermesh.domain.events import utcnow
from ordermesh.services.commands import Command

USER_PREFIX = "user:"
SECRET = re.compile(r"token|password|secret", re.IGNORECASE)  # never written to the log
# the fields that name what a command acts on, the first one present wins
TARGETS = ("order_id", "fulfilment_id", "po_id", "bill_id", "user_id", "subscription_id",
           "notification_id", "delivery_id", "sku", "code", "channel", "email")


def is_user(actor: str) -> bool:
    return actor.startswith(USER_PREFIX)


def audit_entry(command: Command) -> dict[str, Any]:
    """The audit row of a command: its name, its target and its plain fields. Fields declared
    with repr=False (passwords, tokens, free-form changes that may carry one) stay out, and so
    does any field or key named like a secret wherever it is (an order's `payment_token`, an
    AuthorizePayment's `token`): the log is read on a page, the gateway token charges a card."""
    shown = {f.name: _plain(getattr(command, f.name)) for f in dataclasses.fields(command)
             if f.repr and f.name != "actor" and not SECRET.search(f.name)}
    target = next((str(shown[name]) for name in TARGETS if shown.get(name) is not None), None)
    return {"at": utcnow(), "actor": command.actor, "action": type(command).__name__,
            "target": target[:200] if target else None, "detail": shown}


def _plain(value: Any) -> Any:
    """A value as JSON can hold it."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items() if not SECRET.search(str(k))}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return str(value)
