"""Stage SLAs (admin) and the orders stuck in a stage, as JSON or CSV (operator).

/analytics/stuck measures every open order at the time asked (now by default; a later time
shows what will be at risk by then) and lists the stages past, or near, their SLA: the same
rule the worker's jeopardy check flags by (docs/jeopardy.md).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from ordermesh.adapters.db import jeopardy_queries as jq
from ordermesh.domain.events import utcnow
from ordermesh.domain.jeopardy import DEFAULT_SLA_MINUTES, WARNING_SHARE, Stage
from ordermesh.entrypoints.api.deps import AdminKey, Bus, Conn, Db, OperatorKey, read_one
from ordermesh.entrypoints.api.schemas.common import Code, UtcTime
from ordermesh.entrypoints.api.schemas.jeopardy import (
    CHANNEL_OR_ANY,
    StageSlaIn,
    StageSlaOut,
    StageSlasOut,
    StuckListOut,
)
from ordermesh.entrypoints.csv_export import to_csv
from ordermesh.services import jeopardy_commands as jc

router = APIRouter(prefix="/api/v1", tags=["jeopardy"])

Channel = Annotated[str, Path(pattern=CHANNEL_OR_ANY,
                              description="A channel's code, or `*` for every channel")]
Limit = Annotated[int, Query(ge=1, le=1000)]
At = Annotated[UtcTime | None, Query(description="Measure at this time (default: now)")]
CSV_FIELDS = ["order_id", "number", "channel", "stage", "reason", "started_at", "due_at",
              "sla_minutes", "minutes", "overdue"]


@router.get("/stage-slas", response_model=StageSlasOut)
def list_stage_slas(principal: OperatorKey, conn: Conn) -> dict[str, Any]:
    """The SLAs set per channel (and for every channel, `*`), with the defaults."""
    return {"warning_percent": int(WARNING_SHARE * 100),
            "defaults": [{"stage": str(s), "minutes": m} for s, m in DEFAULT_SLA_MINUTES.items()],
            "slas": jq.stage_slas(conn)}


def _sla(conn: Any, channel: str, stage: Stage) -> dict[str, Any] | None:
    return next((r for r in jq.stage_slas(conn)
                 if (r["channel"], r["stage"]) == (channel, str(stage))), None)


@router.put("/stage-slas/{channel}/{stage}", response_model=StageSlaOut)
def put_stage_sla(channel: Channel, stage: Stage, body: StageSlaIn, principal: AdminKey,
                  bus: Bus, db: Db) -> dict[str, Any]:
    """How many minutes the stage may take on the channel. The worker's next check measures
    by it; flags already raised stay until their order leaves the stage."""
    bus.handle(jc.PutStageSla(principal.actor, channel, str(stage), body.minutes))
    return read_one(db, "stage SLA", _sla, channel, stage)


@router.delete("/stage-slas/{channel}/{stage}", status_code=204)
def remove_stage_sla(channel: Channel, stage: Stage, principal: AdminKey, bus: Bus) -> None:
    """The channel falls back to `*` for the stage (and `*` to the default)."""
    bus.handle(jc.RemoveStageSla(principal.actor, channel, str(stage)))


@router.get("/analytics/stuck", response_model=StuckListOut)
def stuck(principal: OperatorKey, conn: Conn, stage: Stage | None = None,
          channel: Code | None = None, limit: Limit = 200, at: At = None) -> dict[str, Any]:
    """Orders past or near (80 %) a stage's SLA, the most late first, with why."""
    now = at or utcnow()
    return {"as_of": now, "items": jq.stuck(conn, now, stage, channel, limit)}


@router.get("/analytics/stuck.csv", response_class=Response,
            responses={200: {"content": {"text/csv": {}}}})
def stuck_csv(principal: OperatorKey, conn: Conn, stage: Stage | None = None,
              channel: Code | None = None, limit: Limit = 1000, at: At = None) -> Response:
    """The same list as CSV (times in ISO 8601, UTC)."""
    rows = [{k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}
            for row in jq.stuck(conn, at or utcnow(), stage, channel, limit)]
    return Response(to_csv(rows, CSV_FIELDS), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="stuck-orders.csv"'})
