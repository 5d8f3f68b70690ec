"""The stock feed's reads and writes, set-wise: one statement per kind of change for a whole batch
of rows, never one per row. They never commit."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ARRAY, String, and_, any_, bindparam, insert, select, update
from sqlalchemy.engine import Connection

from ordermesh.adapters.db import tables as t
from ordermesh.adapters.db.repositories import insert_or_conflict
from ordermesh.domain.inventory import StockLevel
from ordermesh.services.ports import LevelChange, Movement, SyncSeen

# Rows per statement when a set is read by its keys: well under the bound parameters either
# database takes in one statement (SQLite 32,766; PostgreSQL 65,535).
KEYS_PER_READ = 5000

_s = t.stock_levels.c


# The rows are locked (lock_levels) and their marks read in this transaction: the new marks are
# computed by the handler and written as they are.
CHANGE_LEVEL = (
    update(t.stock_levels)
    .where(and_(_s.sku == bindparam("b_sku"), _s.location_code == bindparam("b_location")))
    .values(on_hand=_s.on_hand + bindparam("b_delta"), last_counted_at=bindparam("b_counted"),
            last_movement_at=bindparam("b_moved"), updated_at=bindparam("b_now"))
)


def _one_of(column: Any, postgresql: bool) -> Any:
    """`column IN (...)` for a list bound as `b_keys`: one array parameter on PostgreSQL
    (`= ANY`), whose thousands of placeholders would cost more to render and parse than the
    query takes; expanded placeholders on SQLite, which has no arrays."""
    if postgresql:
        return column == any_(bindparam("b_keys", type_=ARRAY(String)))
    return column.in_(bindparam("b_keys", expanding=True))


def _statements(postgresql: bool) -> dict[str, Any]:
    _p, _r = t.products.c, t.stock_sync_refs.c
    return {
        "products": select(_p.sku).where(_one_of(_p.sku, postgresql)),
        "levels": select(_s.sku, _s.location_code, _s.on_hand, _s.reserved, _s.safety_stock,
                         _s.last_counted_at, _s.last_movement_at).where(
            _one_of(_s.sku, postgresql)),
        "seen": select(_r.source_reference).where(_one_of(_r.source_reference, postgresql)),
    }


STATEMENTS = {False: _statements(False), True: _statements(True)}


def _chunks(items: Sequence[Any], size: int = KEYS_PER_READ) -> list[Sequence[Any]]:
    return [items[n:n + size] for n in range(0, len(items), size)]


class SqlStockSync:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.sql = STATEMENTS[conn.dialect.name == "postgresql"]

    def products(self, skus: Collection[str]) -> set[str]:
        """Which of these SKUs the catalogue holds."""
        found: set[str] = set()
        for part in _chunks(sorted(skus)):
            found.update(self.conn.execute(self.sql["products"], {"b_keys": list(part)}).scalars())
        return found

    def levels(self, keys: Collection[tuple[str, str]]) -> dict[tuple[str, str], StockLevel]:
        """The stock rows of these (SKU, location) keys, with their time marks. The caller
        has locked them (`Stock.lock_levels`)."""
        wanted = set(keys)
        found: dict[tuple[str, str], StockLevel] = {}
        for part in _chunks(sorted({sku for sku, _ in wanted})):
            for row in self.conn.execute(self.sql["levels"], {"b_keys": list(part)}):
                if (row.sku, row.location_code) in wanted:
                    found[(row.sku, row.location_code)] = StockLevel(*row)
        return found

    def create_levels(self, keys: Sequence[tuple[str, str]], now: datetime) -> None:
        """Empty stock rows, in the order given (the lock order)."""
        if keys:
            insert_or_conflict(self.conn, t.stock_levels, [
                {"sku": sku, "location_code": location, "on_hand": 0, "reserved": 0,
                 "safety_stock": 0, "updated_at": now} for sku, location in keys])

    def seen(self, references: Collection[str]) -> set[str]:
        """Which of these source references were taken before."""
        found: set[str] = set()
        for part in _chunks(sorted(references)):
            found.update(self.conn.execute(self.sql["seen"], {"b_keys": list(part)}).scalars())
        return found

    def remember(self, seen: Sequence[SyncSeen], now: datetime) -> None:
        """Remember rows by their source reference; one taken meanwhile by another transaction
        makes the command run again (ConcurrentUpdate)."""
        if seen:
            insert_or_conflict(self.conn, t.stock_sync_refs, [
                {"source_reference": s.source_reference, "sku": s.sku,
                 "location_code": s.location, "outcome": s.outcome, "applied_at": now}
                for s in seen])

    def change_levels(self, changes: Sequence[LevelChange], now: datetime) -> None:
        """Change on hand of each row by its delta and set its time marks."""
        if changes:
            self.conn.execute(CHANGE_LEVEL, [
                {"b_sku": c.sku, "b_location": c.location, "b_delta": c.on_hand_delta,
                 "b_counted": c.counted_at, "b_moved": c.moved_at, "b_now": now}
                for c in changes])

    def record_movements(self, movements: Sequence[Movement], actor: str, now: datetime) -> None:
        if movements:
            self.conn.execute(insert(t.stock_movements), [
                {"sku": m.sku, "location_code": m.location, "on_hand_delta": m.on_hand_delta,
                 "reserved_delta": 0, "reason": m.reason, "reference": m.reference,
                 "actor": actor, "occurred_at": now} for m in movements])
