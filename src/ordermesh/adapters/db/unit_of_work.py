"""The SQL unit of work: one connection, one transaction, events written with the change."""

from __future__ import annotations

from typing import Self

from sqlalchemy import insert
from sqlalchemy.engine import Connection, Engine

from ordermesh.adapters.db import tables as t
from ordermesh.adapters.db.order_repository import SqlIdempotencyKeys, SqlOrders
from ordermesh.adapters.db.repositories import SqlAccess, SqlCatalogue, SqlStock
from ordermesh.adapters.db.sourcing_repository import SqlAllocations, SqlBackorders, SqlSourcing
from ordermesh.services import ports


class SqlUnitOfWork:
    conn: Connection
    catalogue: ports.Catalogue
    access: ports.Access
    stock: ports.Stock
    sourcing: ports.Sourcing
    allocations: ports.Allocations
    backorders: ports.Backorders
    orders: ports.Orders
    idempotency: ports.IdempotencyKeys

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def __enter__(self) -> Self:
        self.conn = self.engine.connect()
        self._tx = self.conn.begin()
        self.catalogue = SqlCatalogue(self.conn)
        self.access = SqlAccess(self.conn)
        self.stock = SqlStock(self.conn)
        self.sourcing = SqlSourcing(self.conn)
        self.allocations = SqlAllocations(self.conn)
        self.backorders = SqlBackorders(self.conn)
        self._orders = SqlOrders(self.conn)
        self.orders = self._orders
        self.idempotency = SqlIdempotencyKeys(self.conn)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._tx.is_active:
            self._tx.rollback()
        self.conn.close()

    def commit(self) -> None:
        pending = [event for order in self._orders.seen for event in order.events]
        if pending:
            self.conn.execute(insert(t.events), [
                {"id": e.id, "stream": e.stream, "stream_id": e.stream_id, "type": e.type,
                 "actor": e.actor, "data": e.data, "occurred_at": e.occurred_at}
                for e in pending
            ])
        self._tx.commit()
        for order in self._orders.seen:
            order.events.clear()
