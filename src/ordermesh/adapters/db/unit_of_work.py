"""The SQL unit of work: one connection, one transaction, events written with the change."""

from __future__ import annotations

from typing import Any, Self

from sqlalchemy import insert
from sqlalchemy.engine import Connection, Engine

from ordermesh.adapters.db import queries
from ordermesh.adapters.db import tables as t
from ordermesh.adapters.db.fulfilment_repository import SqlFulfilments
from ordermesh.adapters.db.hold_repository import SqlCartHolds
from ordermesh.adapters.db.jeopardy_repository import SqlJeopardy
from ordermesh.adapters.db.money_repository import SqlInvoices, SqlPayments, SqlPayouts, SqlTax
from ordermesh.adapters.db.notification_repository import SqlNotifications
from ordermesh.adapters.db.numbering_repository import SqlNumbering
from ordermesh.adapters.db.order_repository import SqlIdempotencyKeys, SqlOrders
from ordermesh.adapters.db.payables_repository import SqlSupplierBills
from ordermesh.adapters.db.purchasing_repository import SqlPurchaseOrders, SqlSuppliers
from ordermesh.adapters.db.replenishment_repository import SqlReplenishment
from ordermesh.adapters.db.repositories import SqlAccess, SqlCatalogue, SqlStock
from ordermesh.adapters.db.shipping_repository import SqlShipping
from ordermesh.adapters.db.sourcing_repository import SqlAllocations, SqlBackorders, SqlSourcing
from ordermesh.adapters.db.stock_sync_repository import SqlStockSync
from ordermesh.adapters.db.user_repository import SqlUsers
from ordermesh.adapters.db.webhook_repository import SqlWebhooks
from ordermesh.domain.fulfilments import Fulfilment
from ordermesh.domain.holds import CartHold
from ordermesh.domain.orders import Order
from ordermesh.domain.payables import SupplierBill
from ordermesh.domain.purchasing import PurchaseOrder
from ordermesh.services import ports

ADD_EVENTS = insert(t.events)


class SqlUnitOfWork:
    conn: Connection
    catalogue: ports.Catalogue
    access: ports.Access
    stock: ports.Stock
    stock_sync: ports.StockSync
    sourcing: ports.Sourcing
    numbering: ports.Numbering
    allocations: ports.Allocations
    backorders: ports.Backorders
    orders: ports.Orders
    idempotency: ports.IdempotencyKeys
    suppliers: ports.Suppliers
    purchase_orders: ports.PurchaseOrders
    replenishment: ports.Replenishment
    holds: ports.CartHolds
    supplier_bills: ports.SupplierBills
    tax: ports.Tax
    payments: ports.Payments
    invoices: ports.Invoices
    payouts: ports.Payouts
    fulfilments: ports.Fulfilments
    shipping: ports.Shipping
    webhooks: ports.Webhooks
    notifications: ports.Notifications
    users: ports.Users
    jeopardy: ports.Jeopardy

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._audit: list[dict[str, Any]] = []  # written with the next commit

    def __enter__(self) -> Self:
        self.conn = self.engine.connect()
        try:
            self._tx = self.conn.begin()
        except BaseException:
            self.conn.close()  # back to the pool at once, with whatever turn it took
            raise
        self.catalogue = SqlCatalogue(self.conn)
        self.access = SqlAccess(self.conn)
        self.stock = SqlStock(self.conn)
        self.stock_sync = SqlStockSync(self.conn)
        self.sourcing = SqlSourcing(self.conn)
        self.numbering = SqlNumbering(self.conn)
        self._allocations = SqlAllocations(self.conn)
        self.allocations = self._allocations
        self._backorders = SqlBackorders(self.conn)
        self.backorders = self._backorders
        self._orders = SqlOrders(self.conn)
        self.orders = self._orders
        self.idempotency = SqlIdempotencyKeys(self.conn)
        self.suppliers = SqlSuppliers(self.conn)
        self._purchase_orders = SqlPurchaseOrders(self.conn)
        self.purchase_orders = self._purchase_orders
        self.replenishment = SqlReplenishment(self.conn)
        self._holds = SqlCartHolds(self.conn)
        self.holds = self._holds
        self._supplier_bills = SqlSupplierBills(self.conn)
        self.supplier_bills = self._supplier_bills
        self.tax = SqlTax(self.conn)
        self.payments = SqlPayments(self.conn)
        self.invoices = SqlInvoices(self.conn)
        self.payouts = SqlPayouts(self.conn)
        self._fulfilments = SqlFulfilments(self.conn)
        self.fulfilments = self._fulfilments
        self.shipping = SqlShipping(self.conn)
        self.webhooks = SqlWebhooks(self.conn)
        self.notifications = SqlNotifications(self.conn)
        self.users = SqlUsers(self.conn)
        self.jeopardy = SqlJeopardy(self.conn)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._tx.is_active:
            self._tx.rollback()
        self.conn.close()

    def record(self, entry: dict[str, Any]) -> None:
        self._audit.append(entry)

    def written_order(self, order_id: str) -> dict[str, Any] | None:
        row = self._orders.written.get(order_id)
        if row is None:
            return None
        seq = row["seq"]  # (the detail's own "lines" replaces the row's)
        return queries.detail(row, row["lines"], self._allocations.written.get(seq, []),
                              self._backorders.written.get(seq, []), [])

    def commit(self) -> None:
        if self._audit:  # who did it, in the same transaction as what was done
            for entry in self._audit:
                self.users.audit(entry)
            self._audit.clear()
        # every aggregate this transaction loaded or added: its events are written with it
        aggregates: list[Order | PurchaseOrder | CartHold | SupplierBill | Fulfilment] = [
            *self._orders.seen, *self._purchase_orders.seen, *self._holds.seen,
            *self._supplier_bills.seen, *self._fulfilments.seen]
        pending = [event for aggregate in aggregates for event in aggregate.events]
        if pending:
            self.conn.execute(ADD_EVENTS, [
                {"id": e.id, "stream": e.stream, "stream_id": e.stream_id, "type": e.type,
                 "actor": e.actor, "data": e.data, "occurred_at": e.occurred_at}
                for e in pending
            ])
        self._tx.commit()
        for aggregate in aggregates:
            aggregate.events.clear()
