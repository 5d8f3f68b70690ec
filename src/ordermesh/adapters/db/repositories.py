"""Repositories: the unit of work's view of the tables. They never commit."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, and_, bindparam, case, insert, select, update
from sqlalchemy.engine import Connection, CursorResult
from sqlalchemy.exc import IntegrityError

from ordermesh.adapters.db import tables as t
from ordermesh.domain.errors import ConcurrentUpdate
from ordermesh.domain.events import utcnow
from ordermesh.domain.inventory import StockLevel


def insert_or_conflict(conn: Connection, table: Table, values: Any) -> CursorResult[Any]:
    """Insert; a unique-key race with another transaction becomes a retryable conflict."""
    return execute_or_conflict(conn, insert(table), values, table.name)


def execute_or_conflict(conn: Connection, statement: Any, values: Any,
                        what: str) -> CursorResult[Any]:
    """A unique key checked by the handler but taken by a concurrent transaction in between:
    the command is run again, and its check then answers properly."""
    try:
        return conn.execute(statement, values)
    except IntegrityError as exc:
        raise ConcurrentUpdate(f"{what} changed concurrently") from exc


PRODUCTS = select(t.products).where(t.products.c.sku.in_(bindparam("b_skus", expanding=True)))


class SqlCatalogue:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def product(self, sku: str) -> dict[str, Any] | None:
        row = self.conn.execute(select(t.products).where(t.products.c.sku == sku)).first()
        return dict(row._mapping) if row else None

    def products(self, skus: Iterable[str]) -> dict[str, dict[str, Any]]:
        rows = self.conn.execute(PRODUCTS, {"b_skus": list(skus)})
        return {row.sku: dict(row._mapping) for row in rows}

    def sku_with_gtin(self, gtin: str) -> str | None:
        p = t.products.c
        return self.conn.execute(select(p.sku).where(p.gtin == gtin)).scalar()

    def add_product(self, values: dict[str, Any]) -> None:
        insert_or_conflict(self.conn, t.products, values)

    def update_product(self, sku: str, values: dict[str, Any]) -> None:
        execute_or_conflict(self.conn, update(t.products).where(t.products.c.sku == sku), values,
                     "products")

    def location(self, code: str) -> dict[str, Any] | None:
        row = self.conn.execute(select(t.locations).where(t.locations.c.code == code)).first()
        return dict(row._mapping) if row else None

    def location_priorities(self) -> dict[str, int]:
        """Every location, active or not, with its priority."""
        rows = self.conn.execute(select(t.locations.c.code, t.locations.c.priority))
        return {code: priority for code, priority in rows}

    def add_location(self, values: dict[str, Any]) -> None:
        insert_or_conflict(self.conn, t.locations, values)

    def update_location(self, code: str, values: dict[str, Any]) -> None:
        self.conn.execute(update(t.locations).where(t.locations.c.code == code).values(values))


CHANNEL = select(t.channels).where(t.channels.c.code == bindparam("b_code"))


class SqlAccess:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._channels: dict[str, dict[str, Any] | None] = {}  # read once per transaction

    def channel(self, code: str) -> dict[str, Any] | None:
        if code not in self._channels:
            row = self.conn.execute(CHANNEL, {"b_code": code}).first()
            self._channels[code] = dict(row._mapping) if row else None
        found = self._channels[code]
        return dict(found) if found is not None else None

    def add_channel(self, values: dict[str, Any]) -> None:
        self._channels.pop(values["code"], None)
        insert_or_conflict(self.conn, t.channels, values)

    def update_channel(self, code: str, values: dict[str, Any]) -> None:
        self._channels.pop(code, None)
        self.conn.execute(update(t.channels).where(t.channels.c.code == code).values(values))

    def add_api_key(self, values: dict[str, Any]) -> None:
        insert_or_conflict(self.conn, t.api_keys, values)

    def revoke_api_key(self, key_id: str, at: datetime) -> bool:
        """Revoke a key that is still live; False if there is none."""
        k = t.api_keys.c
        result = self.conn.execute(update(t.api_keys).where(
            k.id == key_id, k.revoked_at.is_(None)).values(revoked_at=at))
        return result.rowcount == 1


# Statements on the hot path of order capture are built once: SQLAlchemy then reuses their
# compiled form instead of rebuilding and re-keying them for every order.
_s = t.stock_levels.c
RESERVE = (
    update(t.stock_levels)
    .where(_s.sku == bindparam("b_sku"), _s.location_code == bindparam("b_location"),
           _s.on_hand - _s.reserved - _s.safety_stock - bindparam("b_buffer")
           >= bindparam("b_quantity"))
    .values(reserved=_s.reserved + bindparam("b_quantity"), updated_at=bindparam("b_now"))
)
ADD_MOVEMENT = insert(t.stock_movements)
LEVELS = select(_s.sku, _s.location_code, _s.on_hand, _s.reserved, _s.safety_stock).where(
    _s.sku.in_(bindparam("b_skus", expanding=True)))
# Sourcing and availability count stock at active locations only: an inactive one sends nothing.
_AT_ACTIVE = t.locations.c.active.is_(True)
_ACTIVE = t.stock_levels.join(t.locations, t.locations.c.code == _s.location_code)
ACTIVE_LEVELS = LEVELS.select_from(_ACTIVE).where(_AT_ACTIVE)
# PostgreSQL locks the rows as they come out of the sort, so they are locked in this order.
LOCK_LEVELS = (select(_s.sku).join(t.locations, t.locations.c.code == _s.location_code)
               .where(_s.sku.in_(bindparam("b_skus", expanding=True)))
               .order_by(_s.sku, t.locations.c.priority.desc(), _s.location_code)
               .with_for_update(of=t.stock_levels))
_FREE = _s.on_hand - _s.reserved - _s.safety_stock - bindparam("b_held_back")
FREE = select(_s.sku, _s.location_code, _FREE).select_from(_ACTIVE).where(
    _s.sku.in_(bindparam("b_skus", expanding=True)), _FREE > 0, _AT_ACTIVE)


def _stock_row(sku: str, location: str) -> Any:
    return and_(t.stock_levels.c.sku == sku, t.stock_levels.c.location_code == location)


def _level(row: Any) -> StockLevel:
    return StockLevel(row.sku, row.location_code, row.on_hand, row.reserved, row.safety_stock,
                      row.last_counted_at, row.last_movement_at)


def _latest(column: Any, moment: datetime) -> Any:
    """SQL for the later of a column and a moment (the column may be empty)."""
    return case((column.is_(None), moment), (column < moment, moment), else_=column)


class SqlStock:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def levels(self, skus: Iterable[str], active_only: bool = False) -> list[StockLevel]:
        """The figures of every level of these SKUs (without the feed's time marks); with
        `active_only`, only those at active locations."""
        query = ACTIVE_LEVELS if active_only else LEVELS
        rows = self.conn.execute(query, {"b_skus": list(skus)}).all()
        return [StockLevel(*row) for row in rows]

    def free(self, skus: Iterable[str], held_back: int = 0) -> dict[tuple[str, str], int]:
        """Units free to promise per (SKU, location) at active locations, after `held_back`
        more units at each; rows with nothing free are left out."""
        rows = self.conn.execute(FREE, {"b_skus": list(skus), "b_held_back": held_back}).all()
        return {(sku, location): free for sku, location, free in rows}

    def lock_levels(self, skus: Iterable[str]) -> None:
        """Lock every stock row of these SKUs, in the one lock order (SKU, location priority
        highest first, code), before a command that releases and reserves among them."""
        skus = sorted(set(skus))
        if skus:
            self.conn.execute(LOCK_LEVELS, {"b_skus": skus}).all()

    def level_for_update(self, sku: str, location: str) -> StockLevel | None:
        # FOR UPDATE is a no-op on SQLite, where BEGIN IMMEDIATE already serialises writers.
        query = select(t.stock_levels).where(_stock_row(sku, location)).with_for_update()
        row = self.conn.execute(query).first()
        return _level(row) if row else None

    def create_level(self, sku: str, location: str, safety_stock: int = 0) -> StockLevel:
        insert_or_conflict(self.conn, t.stock_levels, {
            "sku": sku, "location_code": location, "on_hand": 0, "reserved": 0,
            "safety_stock": safety_stock, "updated_at": utcnow()})
        return StockLevel(sku, location, 0, 0, safety_stock)

    def set_safety_stock(self, sku: str, location: str, safety_stock: int) -> None:
        self.conn.execute(update(t.stock_levels).where(_stock_row(sku, location))
                          .values(safety_stock=safety_stock, updated_at=utcnow()))

    def set_reorder_point(self, sku: str, location: str, reorder_point: int,
                          reorder_quantity: int) -> None:
        self.conn.execute(update(t.stock_levels).where(_stock_row(sku, location)).values(
            reorder_point=reorder_point, reorder_quantity=reorder_quantity, updated_at=utcnow()))

    def try_reserve(self, sku: str, location: str, quantity: int, buffer: int = 0) -> bool:
        """Reserve only if enough is available at this instant, `buffer` units (a channel's)
        left over: one conditional update."""
        result = self.conn.execute(RESERVE, {"b_sku": sku, "b_location": location,
                                             "b_quantity": quantity, "b_buffer": buffer,
                                             "b_now": utcnow()})
        return result.rowcount == 1

    def release(self, sku: str, location: str, quantity: int) -> None:
        s = t.stock_levels.c
        self.conn.execute(update(t.stock_levels).where(_stock_row(sku, location))
                          .values(reserved=s.reserved - quantity, updated_at=utcnow()))

    def change_on_hand(self, sku: str, location: str, delta: int,
                       counted_at: datetime | None, moved_at: datetime | None = None) -> None:
        """Change on hand; a count or a movement also moves its mark forward, never back."""
        s = t.stock_levels.c
        values: dict[str, Any] = {"on_hand": s.on_hand + delta, "updated_at": utcnow()}
        if counted_at is not None:
            values["last_counted_at"] = _latest(s.last_counted_at, counted_at)
        if moved_at is not None:
            values["last_movement_at"] = _latest(s.last_movement_at, moved_at)
        self.conn.execute(update(t.stock_levels).where(_stock_row(sku, location)).values(values))

    def record_movement(self, sku: str, location: str, *, on_hand_delta: int = 0,
                        reserved_delta: int = 0, reason: str, reference: str,
                        actor: str) -> None:
        self.conn.execute(ADD_MOVEMENT, {
            "sku": sku, "location_code": location, "on_hand_delta": on_hand_delta,
            "reserved_delta": reserved_delta, "reason": reason, "reference": reference,
            "actor": actor, "occurred_at": utcnow()})

    def record_reservations(self, reserved: Sequence[tuple[str, str, int]], reference: str,
                            actor: str) -> None:
        """The ledger's lines for stock reserved by one order, (sku, location, units) each,
        in one statement."""
        if reserved:
            now = utcnow()
            self.conn.execute(ADD_MOVEMENT, [{
                "sku": sku, "location_code": location, "on_hand_delta": 0,
                "reserved_delta": units, "reason": "reservation", "reference": reference,
                "actor": actor, "occurred_at": now} for sku, location, units in reserved])
