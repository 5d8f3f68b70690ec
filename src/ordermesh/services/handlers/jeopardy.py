"""Stage SLAs, and the jeopardy check the worker runs every minute (docs/jeopardy.md).

The check reads every open order's facts, measures each stage it is in against its channel's
SLA (domain.jeopardy), and in one transaction flags each stage at risk once, with an
`order.in_jeopardy` event on the order's stream (so the timeline, webhooks and the event stream
get it like any other), and clears the flags of orders that have left their stage. The flag's
unique (order, stage) key decides which of two concurrent checks records the event.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from ordermesh.domain.errors import NotFound
from ordermesh.domain.events import utcnow
from ordermesh.domain.jeopardy import (
    ANY_CHANNEL,
    Assessment,
    Flag,
    OrderFacts,
    assess,
    check_sla,
    jeopardy_event,
    next_step,
    stage_of,
)
from ordermesh.services import jeopardy_commands as jc
from ordermesh.services.ports import UnitOfWork


@dataclass(frozen=True)
class Flagged:
    """An order's stage flagged by this run."""

    order_id: str
    number: str
    stage: str
    reason: str
    due_at: datetime
    overdue: bool


@dataclass(frozen=True)
class JeopardyRun:
    flagged: list[Flagged] = field(default_factory=list)
    cleared: int = 0


def put_stage_sla(cmd: jc.PutStageSla, uow: UnitOfWork) -> None:
    stage = check_sla(cmd.stage, cmd.minutes)
    with uow:
        if cmd.channel != ANY_CHANNEL and uow.access.channel(cmd.channel) is None:
            raise NotFound(f"channel {cmd.channel!r} not found")
        uow.jeopardy.put_sla(cmd.channel, str(stage), cmd.minutes, utcnow())
        uow.commit()


def remove_stage_sla(cmd: jc.RemoveStageSla, uow: UnitOfWork) -> None:
    stage = stage_of(cmd.stage)
    with uow:
        if not uow.jeopardy.remove_sla(cmd.channel, str(stage)):
            raise NotFound(f"no {stage} SLA set for channel {cmd.channel!r}")
        uow.commit()


def flag_jeopardies(cmd: jc.FlagJeopardies, uow: UnitOfWork) -> JeopardyRun:
    """Flag what is at risk at `cmd.now` (once per order and stage), clear what left."""
    now = cmd.now or utcnow()
    with uow:
        slas = uow.jeopardy.slas()
        found = [(facts, a) for facts in uow.jeopardy.candidates(now)
                 for a in assess(facts, slas, now)]
        # a fixed order of writes: two concurrent checks wait for each other, never deadlock
        at_risk = sorted(((f, a) for f, a in found if a.at_risk),
                         key=lambda pair: (pair[0].order_id, str(pair[1].stage)))
        known = uow.jeopardy.flags({facts.order_id for facts, _ in at_risk})
        flagged = [done for facts, a in at_risk
                   if (done := _flag(uow, known, facts, a, now, cmd.actor)) is not None]
        still = {(facts.order_id, str(a.stage)) for facts, a in found}
        cleared = uow.jeopardy.clear(
            [flag_id for flag_id, order_id, stage in uow.jeopardy.open_flags()
             if (order_id, stage) not in still], now)
        uow.commit()
    return JeopardyRun(flagged, cleared)


def _flag(uow: UnitOfWork, known: Mapping[tuple[str, str], Flag], facts: OrderFacts,
          found: Assessment, now: datetime, actor: str) -> Flagged | None:
    """Flag one stage at risk (or flag it again, or bring its open flag up to date); the
    event is recorded only by the transaction that wrote the flag."""
    stage, reason = str(found.stage), str(found.reason)
    step = next_step(known.get((facts.order_id, stage)), found)
    if step == "refresh":
        uow.jeopardy.refresh(facts.order_id, stage, reason, found.due_at)
    if step not in ("flag", "reopen"):
        return None
    write = uow.jeopardy.flag if step == "flag" else uow.jeopardy.reopen
    if not write(facts.order_id, stage, reason, found.due_at, now):
        return None  # another check flagged it first: its event stands
    uow.jeopardy.record(jeopardy_event(facts, found, actor))
    return Flagged(facts.order_id, facts.number, stage, reason, found.due_at, found.overdue)
