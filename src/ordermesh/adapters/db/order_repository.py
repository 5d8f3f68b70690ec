"""Orders and idempotency keys in SQL."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.sql.expression import Executable

from ordermesh.adapters.db import tables as t
from ordermesh.adapters.db.repositories import execute_or_conflict, insert_or_conflict
from ordermesh.domain.errors import ConcurrentUpdate
from ordermesh.domain.events import utcnow
from ordermesh.domain.money import Money
from ordermesh.domain.orders import (
    Customer,
    Fulfilment,
    LineStatus,
    Order,
    OrderLine,
    OrderStatus,
    parse_order_number,
)

# The statements of order capture, built once: each is compiled once and found in the cache
# by an identity computed once, not rebuilt on every order.
_o, _k = t.orders.c, t.idempotency_keys.c
ADD_ORDER = insert(t.orders)
# An order's sequence number, taken before it is stored: PostgreSQL's sequence (a number taken
# by a transaction that rolls back is not given again); on SQLite, where the writer holds the
# database until its commit, the next after the last (as SQLite numbers rows itself).
NEXT_SEQ: dict[str, Executable] = {
    "postgresql": text("SELECT nextval(pg_get_serial_sequence('orders', 'seq'))"),
    "sqlite": select(func.coalesce(func.max(_o.seq), 0) + 1)}
ADD_LINES = insert(t.order_lines)
BY_EXTERNAL_REFERENCE = select(_o.id).where(_o.channel_code == bindparam("b_channel"),
                                            _o.external_reference == bindparam("b_reference"))
SAVED = ("status", "held_from", "hold_reason", "lines_total", "tax_total", "grand_total",
         "version", "updated_at")
SAVE_ORDER = (update(t.orders).where(_o.seq == bindparam("b_seq"),
                                     _o.version == bindparam("b_read_version"))
              .values({column: bindparam(f"b_{column}") for column in SAVED}))
FIND_KEY = select(_k.request_hash, _k.order_id).where(_k.scope == bindparam("b_scope"),
                                                        _k.key == bindparam("b_key"))
CLAIM_KEY = {name: dialect.insert(t.idempotency_keys).on_conflict_do_nothing(
    index_elements=["scope", "key"]).returning(_k.scope)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))}

SET_LINE_STATUS = (update(t.order_lines).where(t.order_lines.c.id == bindparam("b_id"))
                   .values({column: bindparam(f"b_{column}")
                            for column in ("status", "dispatched", "returned", "cancelled")}))


class SqlOrders:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.seen: list[Order] = []
        # The rows of the orders this transaction added, as written (saves included): the
        # answer to a placement is built from them, not read back.
        self.written: dict[str, dict[str, Any]] = {}
        # What each line of the orders seen holds in the database now: a save writes only
        # the lines that changed (order_lines is written by this repository alone).
        self.stored_lines: dict[str, dict[str, Any]] = {}

    def number(self, order: Order) -> None:
        """Give a new order its sequence number (and so its number) before it is stored, so it
        is inserted as it ends up, not updated right after: its status is in four of the
        order table's indexes, and on PostgreSQL any update of an indexed column writes a new
        row version and an entry in each of the table's nine indexes."""
        order.seq = int(self.conn.execute(NEXT_SEQ[self.conn.dialect.name]).scalar_one())

    def add(self, order: Order) -> None:
        """Store a new order, numbered (`number`), as it is now."""
        assert order.seq is not None, "an order is numbered before it is stored"
        row = {
            "seq": order.seq, "id": order.id, "channel_code": order.channel,
            "external_reference": order.external_reference,
            "customer_email": order.customer.email, "customer_name": order.customer.name,
            "customer_phone": order.customer.phone, "billing_address": order.billing_address,
            "shipping_address": order.shipping_address,
            "delivery_instructions": order.delivery_instructions, "packaging": order.packaging,
            "tracking_token": order.tracking_token,
            "payment_token": order.payment_token, "fulfilment_method": order.fulfilment.method,
            "pickup_location_code": order.fulfilment.pickup_location,
            "currency": order.currency, "shipping_total": order.shipping_total.amount,
            "prices_include_tax": order.prices_include_tax, "shipping_tax": order.shipping_tax,
            "shipping_tax_rate": _text(order.shipping_tax_rate),
            "shipping_tax_name": order.shipping_tax_name, "version": order.version,
            "created_at": order.created_at, "updated_at": order.created_at, **_state(order),
        }
        execute_or_conflict(self.conn, ADD_ORDER, row, "orders")
        lines = [
            {"id": ln.id, "order_seq": order.seq, "line_no": ln.line_no, "sku": ln.sku,
             "quantity": ln.quantity, "unit_price": ln.unit_price.amount,
             "line_total": ln.total.amount, "tax_amount": ln.tax, "tax_rate": _text(ln.tax_rate),
             "tax_name": ln.tax_name, "dispatched": ln.dispatched, "returned": ln.returned,
             "cancelled": ln.cancelled,
             "status": str(ln.status)}
            for ln in order.lines
        ]
        self.conn.execute(ADD_LINES, lines)
        self._stored(order)
        self.seen.append(order)
        self.written[order.id] = {**row, "lines": lines}

    def get(self, order_id: str) -> Order | None:
        """Find an order by its id or by its number (OM-000123), locked until the commit so
        concurrent commands on one order run one after the other."""
        seq = parse_order_number(order_id)
        for order in self.seen:  # one object per order in a transaction, or saves would clash
            if order.id == order_id or (seq is not None and order.seq == seq):
                return order
        where = t.orders.c.seq == seq if seq is not None else t.orders.c.id == order_id
        row = self.conn.execute(select(t.orders).where(where).with_for_update()).first()
        if row is None:
            return None
        lines = self.conn.execute(select(t.order_lines).where(
            t.order_lines.c.order_seq == row.seq).order_by(t.order_lines.c.line_no))
        order = _order(row, list(lines))
        self._stored(order)
        self.seen.append(order)
        return order

    def peek(self, order_id: str) -> tuple[int, set[str]] | None:
        """The sequence number and SKUs of an order, read without a lock: enough to work out
        which other orders a command on it will touch, and lock them all in order first."""
        seq = parse_order_number(order_id)
        o, ln = t.orders.c, t.order_lines.c
        where = o.seq == seq if seq is not None else o.id == order_id
        rows = self.conn.execute(select(o.seq, ln.sku).join(
            t.order_lines, ln.order_seq == o.seq).where(where)).all()
        return (rows[0].seq, {row.sku for row in rows}) if rows else None

    def find_by_external_reference(self, channel: str, reference: str) -> str | None:
        return self.conn.execute(BY_EXTERNAL_REFERENCE, {"b_channel": channel,
                                                         "b_reference": reference}).scalar()

    def save(self, order: Order) -> None:
        """Write status changes; fails if another transaction changed the order since it was
        read. An order this transaction added is written only where it changed since: no other
        transaction can see it before the commit."""
        state = _state(order)
        written = self.written.get(order.id)
        if written is None or any(written[column] != value for column, value in state.items()):
            values = {**state, "version": order.version + 1, "updated_at": utcnow()}
            result = self.conn.execute(SAVE_ORDER, {
                "b_seq": order.seq, "b_read_version": order.version, **_bound(values)})
            if result.rowcount != 1:
                raise ConcurrentUpdate(f"order {order.id} was changed by someone else")
            order.version += 1
            if written is not None:
                written.update(values)
        lines = [_line_values(line) for line in order.lines]
        changed = [ln for ln in lines if self.stored_lines.get(ln["id"]) != ln]
        if changed:
            self.conn.execute(SET_LINE_STATUS, [_bound(ln) for ln in changed])
            self.stored_lines.update((ln["id"], ln) for ln in changed)
        if written is not None:
            for row, line in zip(written["lines"], lines, strict=True):
                row.update(line)

    def _stored(self, order: Order) -> None:
        self.stored_lines.update((line.id, _line_values(line)) for line in order.lines)


def _state(order: Order) -> dict[str, Any]:
    """What a save writes of an order besides its version: its status, and what is owed, which
    goes down as units are cancelled (domain/orders.py)."""
    return {"status": str(order.status),
            "held_from": str(order.held_from) if order.held_from else None,
            "hold_reason": order.hold_reason, "lines_total": order.lines_total.amount,
            "tax_total": order.tax_total.amount, "grand_total": order.grand_total.amount}


def _line_values(line: OrderLine) -> dict[str, Any]:
    """What a save writes of a line."""
    return {"id": line.id, "status": str(line.status), "dispatched": line.dispatched,
            "returned": line.returned, "cancelled": line.cancelled}


def _order(row: Any, line_rows: list[Any]) -> Order:
    lines = [OrderLine(ln.id, ln.line_no, ln.sku, ln.quantity, Money(ln.unit_price, row.currency),
                       LineStatus(ln.status), ln.tax_amount, _decimal(ln.tax_rate), ln.tax_name,
                       ln.dispatched, ln.returned, ln.cancelled) for ln in line_rows]
    return Order(
        id=row.id, channel=row.channel_code, external_reference=row.external_reference,
        customer=Customer(row.customer_email, row.customer_name, row.customer_phone),
        billing_address=row.billing_address, shipping_address=row.shipping_address,
        delivery_instructions=row.delivery_instructions, payment_token=row.payment_token,
        packaging=row.packaging, tracking_token=row.tracking_token,
        fulfilment=Fulfilment(row.fulfilment_method, row.pickup_location_code),
        currency=row.currency, lines=lines,
        shipping_total=Money(row.shipping_total, row.currency), status=OrderStatus(row.status),
        held_from=OrderStatus(row.held_from) if row.held_from else None,
        hold_reason=row.hold_reason, prices_include_tax=row.prices_include_tax,
        shipping_tax=row.shipping_tax, shipping_tax_rate=_decimal(row.shipping_tax_rate),
        shipping_tax_name=row.shipping_tax_name, seq=row.seq,
        version=row.version, created_at=row.created_at,
    )


def _bound(values: dict[str, Any]) -> dict[str, Any]:
    return {f"b_{name}": value for name, value in values.items()}


def _text(rate: Decimal | None) -> str | None:
    return None if rate is None else str(rate)


def _decimal(rate: str | None) -> Decimal | None:
    return None if rate is None else Decimal(rate)


class SqlIdempotencyKeys:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def find(self, scope: str, key: str) -> tuple[str, str | None] | None:
        row = self.conn.execute(FIND_KEY, {"b_scope": scope, "b_key": key}).first()
        return (row.request_hash, row.order_id) if row else None

    def claim(self, scope: str, key: str, request_hash: str) -> None:
        insert_or_conflict(self.conn, t.idempotency_keys, {
            "scope": scope, "key": key, "request_hash": request_hash, "created_at": utcnow()})

    def claim_for(self, scope: str, key: str, request_hash: str,
                  order_id: str) -> tuple[str, str | None] | None:
        """Claim a key for the order about to be written, in one statement: None when the key
        is new (the claim goes with the transaction), else what was stored for it before. A
        concurrent first claim of the same key makes this wait for its transaction's end."""
        claimed = self.conn.execute(CLAIM_KEY[self.conn.dialect.name], {
            "scope": scope, "key": key, "request_hash": request_hash, "order_id": order_id,
            "created_at": utcnow()}).first()
        return None if claimed is not None else self.find(scope, key)
