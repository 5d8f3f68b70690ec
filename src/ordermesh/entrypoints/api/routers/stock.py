"""/api/v1/stock-levels, /api/v1/stock-movements and /api/v1/stock-syncs."""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any

from fastapi import APIRouter, Query

from ordermesh.adapters.db import queries
from ordermesh.domain.errors import NotFound
from ordermesh.domain.inventory import StockUpdate, SyncMode
from ordermesh.entrypoints.api.deps import AdminKey, Bus, Db, OperatorKey, read_connection
from ordermesh.entrypoints.api.pagination import decode_cursor, is_key_pair, is_position, page
from ordermesh.entrypoints.api.schemas.common import Page
from ordermesh.entrypoints.api.schemas.stock import (
    StockLevelIn,
    StockLevelOut,
    StockMovementOut,
    StockSyncIn,
    StockSyncOut,
)
from ordermesh.services import commands as c

router = APIRouter(prefix="/api/v1", tags=["stock"])
Limit = Annotated[int, Query(ge=1, le=500)]


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


@router.post("/stock-syncs", response_model=StockSyncOut)
def sync_stock(body: StockSyncIn, principal: AdminKey, bus: Bus) -> dict[str, Any]:
    """Counts and deltas from a WMS or POS. Each row is applied once (by source_reference);
    a row older than the last count applied for its SKU and location is ignored as stale."""
    updates = tuple(StockUpdate(u.sku, u.location, SyncMode(u.mode), u.quantity,
                                u.source_reference, u.counted_at) for u in body.updates)
    results = bus.handle(c.SyncStock(principal.actor, updates))
    counts = Counter(str(r.outcome) for r in results)
    return {
        **{outcome: counts.get(outcome, 0)
           for outcome in ("applied", "duplicate", "stale", "rejected")},
        "results": [{"source_reference": r.source_reference, "outcome": str(r.outcome),
                     "on_hand_delta": r.on_hand_delta, "reason": r.reason} for r in results],
    }
