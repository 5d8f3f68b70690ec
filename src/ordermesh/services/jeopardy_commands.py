"""Commands of stage SLAs and jeopardy alerts (docs/jeopardy.md), beside services/commands.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ordermesh.services.commands import Command


@dataclass(frozen=True)
class PutStageSla(Command):
    """How many minutes a stage may take on a channel ('*': every channel without its own)."""

    channel: str
    stage: str
    minutes: int


@dataclass(frozen=True)
class RemoveStageSla(Command):
    """The channel falls back to '*' for the stage, and '*' to the default."""

    channel: str
    stage: str


@dataclass(frozen=True)
class FlagJeopardies(Command):
    """Flag, once per order and stage, the orders at risk of missing a stage's SLA, each with
    an `order.in_jeopardy` event; clear the flags of orders that left the stage."""

    now: datetime | None = None  # None: the clock's time (tests and what-ifs pass their own)
