"""Commands of customer notifications, beside services/commands.py."""

from __future__ import annotations

from dataclasses import dataclass

from ordermesh.services.commands import Command


@dataclass(frozen=True)
class ResendNotification(Command):
    """Send a notification the customer says never arrived (or that failed) once more: it is
    queued again for the worker's sender, the same message as before, never sent inline."""

    notification_id: int
