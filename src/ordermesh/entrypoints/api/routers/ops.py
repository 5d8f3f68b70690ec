"""/healthz, /readyz and /metrics: for the orchestrator and the monitoring, without an API key.

/healthz answers while the process is up and touches nothing else; /readyz checks that the
database answers and that its migrations are the ones this code expects (503 otherwise, so a
load balancer keeps traffic away); /metrics is the Prometheus text format. /metrics tells order
volumes by channel and the state of the outbox: expose it to the operator network only (route
only /api and /ui publicly, or deny /metrics at the proxy)."""

from __future__ import annotations

import logging
from functools import cache
from typing import Any

from alembic.script import ScriptDirectory
from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from ordermesh.adapters.db.engine import probe_engine
from ordermesh.adapters.db.migrate import alembic_config
from ordermesh.entrypoints.api.deps import Db
from ordermesh.entrypoints.api.errors import problem
from ordermesh.entrypoints.observability import observability

log = logging.getLogger("ordermesh.api")

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up. Nothing else is checked: use it as the liveness probe."""
    return {"status": "ok"}


@cache
def migration_heads() -> tuple[str, ...]:
    """The head revisions of the migrations shipped with this code."""
    return tuple(sorted(ScriptDirectory.from_config(alembic_config()).get_heads()))


def readiness(engine: Engine) -> dict[str, dict[str, Any]]:
    """The database answers, and its Alembic version is the head of this code's migrations."""
    try:
        with probe_engine(engine).connect() as conn:  # beside the pool: a busy process is ready
            conn.execute(text("SELECT 1")).scalar_one()
            # What Alembic's MigrationContext reads, without its log lines at every probe.
            current = tuple(sorted(conn.execute(text("SELECT version_num FROM alembic_version"))
                                   .scalars())) if inspect(conn).has_table("alembic_version") else ()
    except SQLAlchemyError as exc:
        log.warning("readiness: the database does not answer: %s", type(exc).__name__)
        return {"database": {"status": "failed", "error": type(exc).__name__},
                "migrations": {"status": "unknown"}}
    head = migration_heads()
    return {"database": {"status": "ok"},
            "migrations": {"status": "ok" if current == head else "failed",
                           "current": list(current), "head": list(head)}}


NOT_READY: dict[int | str, dict[str, Any]] = {503: {
    "description": "A check failed: the body names it",
    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}}


@router.get("/readyz", responses=NOT_READY)
def readyz(db: Db) -> Any:
    """Ready for traffic: the database answers `SELECT 1` and its Alembic version is the head of
    the migrations of this code. Else 503 problem+json with the checks that failed."""
    checks = readiness(db)
    failed = [name for name, check in checks.items() if check["status"] == "failed"]
    if failed:
        return problem(503, "service.not_ready", "Not ready", f"failed: {', '.join(failed)}",
                       extra={"checks": checks})
    return {"status": "ready", "checks": checks}


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_LATEST: {}},
                             "description": "Prometheus text format"}})
def metrics(request: Request) -> Response:
    """Prometheus metrics; the order and outbox gauges are counted in the database now."""
    return Response(generate_latest(observability(request.app).registry),
                    media_type=CONTENT_TYPE_LATEST)
