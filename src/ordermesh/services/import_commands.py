"""Commands of order imports (docs/imports.md), beside services/commands.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ordermesh.services.commands import Command


@dataclass(frozen=True)
class ImportOrders(Command):
    """Place each order of a batch from a channel, each in its own transaction, once per
    external reference of that channel."""

    channel: str
    orders: tuple[dict[str, Any], ...]  # validated order fields, each with external_reference
    # What each order came to, by index: kept across the bus's retries of the whole command
    # (a deadlock, a locked database), so a retry continues where it stopped and does not
    # report the orders it created before as duplicates.
    progress: dict[int, Any] = field(default_factory=dict, compare=False, repr=False)
