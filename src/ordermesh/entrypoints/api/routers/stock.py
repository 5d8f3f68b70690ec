"""/api/v1/stock-levels, /api/v1/stock-movements and /api/v1/stock-syncs."""

from __future__ import annotations

import json
import logging
from collections import Counter
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from ordermesh.adapters.db import queries
from ordermesh.domain.errors import DomainError, NotFound
from ordermesh.domain.inventory import StockUpdate, SyncMode, SyncOutcome
from ordermesh.entrypoints.api import stock_csv
from ordermesh.entrypoints.api.deps import AdminKey, Bus, Db, OperatorKey, read_connection
from ordermesh.entrypoints.api.errors import domain_problem, problem, retryable_problem
from ordermesh.entrypoints.api.input_guard import MAX_STOCK_SYNC_CSV_BODY
from ordermesh.entrypoints.api.pagination import decode_cursor, is_key_pair, is_position, page
from ordermesh.entrypoints.api.schemas.common import Page
from ordermesh.entrypoints.api.schemas.stock import (
    MAX_CSV_ROWS,
    StockLevelIn,
    StockLevelOut,
    StockMovementOut,
    StockSyncFileOut,
    StockSyncFileRowOut,
    StockSyncIn,
    StockSyncOut,
    StockSyncRowOut,
)
from ordermesh.services import commands as c

log = logging.getLogger("ordermesh.api")
router = APIRouter(prefix="/api/v1", tags=["stock"])
Limit = Annotated[int, Query(ge=1, le=500)]
CSV_TYPES = ("text/csv", "application/csv")


def _with_location(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "location": row["location_code"]}


@router.get("/stock-levels", response_model=Page[StockLevelOut])
def list_stock_levels(principal: OperatorKey, db: Db, sku: str | None = None,
                      location: str | None = None, cursor: str | None = None,
                      limit: Limit = 100) -> dict[str, Any]:
    after = decode_cursor(cursor, is_key_pair)
    with read_connection(db) as conn:
        rows = queries.list_stock_levels(conn, sku, location, tuple(after) if after else None,
                                         limit + 1)
    result = page(rows, limit, lambda row: [row["sku"], row["location_code"]])
    result["items"] = [_with_location(row) for row in result["items"]]
    return result


@router.put("/stock-levels/{sku}/{location}", response_model=StockLevelOut)
def set_stock_level(sku: str, location: str, body: StockLevelIn, principal: AdminKey, bus: Bus,
                    db: Db) -> dict[str, Any]:
    """Set a counted on-hand figure or change on hand by a number (`on_hand_delta`, applied to
    on hand as it is then, so no sale is lost), the safety stock and/or the reorder point with
    its quantity; the ledger records a change of on hand."""
    bus.handle(c.AdjustStockLevel(principal.actor, sku, location, body.on_hand,
                                  body.safety_stock, body.reference,
                                  reorder_point=body.reorder_point,
                                  reorder_quantity=body.reorder_quantity,
                                  on_hand_delta=body.on_hand_delta))
    with read_connection(db) as conn:
        rows = queries.list_stock_levels(conn, sku, location, None, 1)
    if not rows:
        raise NotFound(f"no stock level for {sku} at {location}")
    return _with_location(rows[0])


@router.get("/stock-movements", response_model=Page[StockMovementOut])
def list_stock_movements(principal: OperatorKey, db: Db, sku: str | None = None,
                         location: str | None = None, cursor: str | None = None,
                         limit: Limit = 100) -> dict[str, Any]:
    with read_connection(db) as conn:
        rows = queries.list_stock_movements(conn, sku, location, decode_cursor(cursor, is_position),
                                            limit + 1)
    result = page(rows, limit, lambda row: row["id"])
    result["items"] = [_with_location(row) for row in result["items"]]
    return result


def _inlined(schema: dict[str, Any]) -> dict[str, Any]:
    """A model's JSON schema with its nested models written in place, for a request body
    documented by hand (its `$defs` would not resolve inside the OpenAPI document)."""
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return resolve(dict(defs[ref.removeprefix("#/$defs/")]))
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


CSV_EXAMPLE = ("sku,location,mode,quantity,source_reference,counted_at\n"
               "TEE-1,WH-1,absolute,120,wms-2026-11-27-000001,2026-11-27T06:00:00Z\n"
               "TEE-1,WH-1,delta,-2,pos-7731-0042,2026-11-27T09:14:03+01:00\n")
_SYNC_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": _inlined(StockSyncIn.model_json_schema())},
    "text/csv": {"schema": {"type": "string",
                            "description": f"A header line naming the columns "
                                           f"{', '.join(stock_csv.COLUMNS)} (any order), then "
                                           f"up to {MAX_CSV_ROWS} rows; UTF-8; at most "
                                           f"{MAX_STOCK_SYNC_CSV_BODY // (1024 * 1024)} MiB"},
                 "example": CSV_EXAMPLE}}}}
_PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


async def sync_body(request: Request) -> tuple[str, bytes]:
    """The body and its media type: JSON (also when none is named) or a CSV file."""
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    return media_type, await request.body()


@router.post("/stock-syncs", response_model=StockSyncOut | StockSyncFileOut,
             openapi_extra=_SYNC_BODY,
             responses={415: {"description": "The body is neither JSON nor text/csv",
                              "content": _PROBLEM},
                        503: {"description": "The database stayed busy: send the same rows "
                                             "again (a file: `rows_committed` says how many "
                                             "were applied before)", "content": _PROBLEM}})
def sync_stock(principal: AdminKey, bus: Bus,
               body: Annotated[tuple[str, bytes], Depends(sync_body)]
               ) -> StockSyncOut | StockSyncFileOut | JSONResponse:
    """Counts and deltas from a WMS or POS. Each row is applied once (by source_reference);
    a row older than the last count applied for its SKU and location is ignored as stale.

    JSON (`application/json`): up to 5,000 rows, applied in one transaction; the answer lists
    every row. CSV (`text/csv`): up to 100,000 rows and 32 MiB, checked whole first (a file with
    any invalid row, or two rows with one source_reference, is refused naming the lines, and
    nothing is applied), then applied in batches of 2,000 rows, a transaction each; the answer
    counts the rows and lists the stale and rejected ones. A file sent again, whole or after a
    failure part way, applies only the rows not applied before: the others are duplicates."""
    media_type, raw = body
    if media_type in CSV_TYPES:
        return _sync_file(raw, principal.actor, bus)
    if media_type and media_type != "application/json" and not media_type.endswith("+json"):
        raise HTTPException(415, "Send the rows as application/json or text/csv")
    document = _json(raw)
    try:
        sync = StockSyncIn.model_validate(document)
    except ValidationError as exc:
        raise RequestValidationError([{**err, "loc": ("body", *err["loc"])}
                                      for err in exc.errors(include_input=False)]) from None
    updates = tuple(StockUpdate(u.sku, u.location, SyncMode(u.mode), u.quantity,
                                u.source_reference, u.counted_at) for u in sync.updates)
    results = bus.handle(c.SyncStock(principal.actor, updates))
    counts = Counter(str(r.outcome) for r in results)
    return StockSyncOut(
        **{outcome: counts.get(outcome, 0)
           for outcome in ("applied", "duplicate", "stale", "rejected")},
        results=[StockSyncRowOut(source_reference=r.source_reference, outcome=str(r.outcome),
                                 on_hand_delta=r.on_hand_delta, reason=r.reason)
                 for r in results])


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise RequestValidationError([{"type": "json_invalid", "loc": ("body", exc.pos),
                                       "msg": "JSON decode error", "input": {},
                                       "ctx": {"error": exc.msg}}]) from None
    except (ValueError, RecursionError) as exc:
        raise HTTPException(400, "The body must be a JSON document") from exc


def _sync_file(raw: bytes, actor: str, bus: Bus) -> StockSyncFileOut | JSONResponse:
    """Check the whole file, then apply it batch after batch, each in its own transaction.
    When a batch fails after some were committed, the answer says how many (the general
    answers say that nothing was changed)."""
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise HTTPException(400, "The CSV must be UTF-8") from exc
    rows = stock_csv.parse(text)
    counts: Counter[str] = Counter()
    listed: list[StockSyncFileRowOut] = []
    batches = stock_csv.batches(rows)
    for done, batch in enumerate(batches):
        try:
            results = bus.handle(c.SyncStock(actor, tuple(row.update for row in batch)))
        except Exception as exc:
            if not done:
                raise
            return _cut_short(exc, sum(len(b) for b in batches[:done]), len(rows), done,
                              len(batches))
        for row, result in zip(batch, results, strict=True):
            counts[str(result.outcome)] += 1
            if result.outcome in (SyncOutcome.STALE, SyncOutcome.REJECTED):
                listed.append(StockSyncFileRowOut(
                    line=row.line, source_reference=result.source_reference,
                    sku=row.update.sku, location=row.update.location,
                    outcome=str(result.outcome), reason=result.reason))
    listed.sort(key=lambda r: r.line)
    return StockSyncFileOut(rows=len(rows), applied=counts["applied"],
                            duplicate=counts["duplicate"], stale=counts["stale"],
                            rejected=counts["rejected"], transactions=len(batches),
                            results=listed)


def _cut_short(exc: Exception, committed: int, rows: int, done: int, batches: int
               ) -> JSONResponse:
    """The answer to a file that stopped after `done` committed transactions: how much was
    applied, and that sending the file again finishes it."""
    said = (f"{committed} of {rows} rows were applied in {done} of {batches} transactions; "
            "send the same file again (rows applied before answer duplicate)")
    extra = {"rows_committed": committed, "transactions_committed": done}
    if isinstance(exc, DomainError):
        return domain_problem(exc, said, extra)
    if (answer := retryable_problem(exc, said, extra)) is not None:
        return answer
    log.error("a stock sync file stopped after %d of %d transactions", done, batches,
              exc_info=exc)
    return problem(500, "server.error", "Internal error", f"the error was logged; {said}",
                   extra=extra)
