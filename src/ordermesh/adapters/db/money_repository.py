"""Tax rates, payments and their transactions, invoices and payouts in SQL."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.engine import Connection

from ordermesh.adapters.db import tables as t
from ordermesh.adapters.db.repositories import insert_or_conflict
from ordermesh.domain.errors import ConcurrentUpdate
from ordermesh.domain.events import utcnow
from ordermesh.domain.payments import Outcome, Payout
from ordermesh.domain.tax import TaxTable, table_of

_r, _p, _x = t.tax_rates.c, t.payments.c, t.payment_transactions.c
ALL_RATES = select(_r.tax_class, _r.country, _r.region, _r.rate, _r.name).order_by(
    _r.tax_class, _r.country, _r.region)
TRANSACTIONS = select(t.payment_transactions).where(
    _x.payment_id == bindparam("b_payment")).order_by(_x.id)


class SqlTax:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def table(self) -> TaxTable:
        return table_of({**row._mapping, "region": row.region or None}
                        for row in self.conn.execute(ALL_RATES))

    def put(self, tax_class: str, country: str, region: str | None, rate: str, name: str) -> None:
        """Set one rate: a new one, or a new value for an existing one."""
        where = (_r.tax_class == tax_class, _r.country == country, _r.region == (region or ""))
        changed = self.conn.execute(update(t.tax_rates).where(*where).values(
            rate=rate, name=name, updated_at=utcnow())).rowcount
        if not changed:
            insert_or_conflict(self.conn, t.tax_rates, {
                "tax_class": tax_class, "country": country, "region": region or "",
                "rate": rate, "name": name, "updated_at": utcnow()})

    def remove(self, tax_class: str, country: str, region: str | None) -> bool:
        return bool(self.conn.execute(delete(t.tax_rates).where(
            _r.tax_class == tax_class, _r.country == country,
            _r.region == (region or ""))).rowcount)


class SqlPayments:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, values: dict[str, Any]) -> None:
        self.conn.execute(insert(t.payments).values(values))

    def for_order(self, order_seq: int) -> list[dict[str, Any]]:
        """The order's payments, oldest first, each with its transactions (`transactions`)."""
        rows = self.conn.execute(select(t.payments).where(_p.order_seq == order_seq)
                                 .order_by(_p.created_at, _p.id)).all()
        return [{**row._mapping, "transactions": self.transactions(row.id)} for row in rows]

    def get(self, payment_id: str) -> dict[str, Any] | None:
        row = self.conn.execute(select(t.payments).where(_p.id == payment_id)).first()
        return {**row._mapping, "transactions": self.transactions(row.id)} if row else None

    def transactions(self, payment_id: str) -> list[dict[str, Any]]:
        return [dict(row._mapping) for row in self.conn.execute(TRANSACTIONS,
                                                                 {"b_payment": payment_id})]

    def by_authorization(self, gateway: str, reference: str) -> dict[str, Any] | None:
        row = self.conn.execute(select(_p.id).where(
            _p.gateway == gateway, _p.authorization_reference == reference)).first()
        return self.get(row.id) if row else None

    def transaction(self, key: str) -> dict[str, Any] | None:
        row = self.conn.execute(select(t.payment_transactions).where(
            _x.idempotency_key == key)).first()
        return dict(row._mapping) if row else None

    def add_transaction(self, values: dict[str, Any]) -> int:
        result = insert_or_conflict(self.conn, t.payment_transactions,
                                    {"outcome": str(Outcome.PENDING), "created_at": utcnow(),
                                     **values})
        assert result.inserted_primary_key is not None
        return int(result.inserted_primary_key[0])

    def complete(self, transaction_id: int, outcome: Outcome, gateway_reference: str | None,
                 failure: str | None, fee: int | None) -> None:
        """Write the gateway's final answer to a pending transaction; once only."""
        done = self.conn.execute(update(t.payment_transactions).where(
            _x.id == transaction_id, _x.outcome == str(Outcome.PENDING)).values(
            outcome=str(outcome), gateway_reference=gateway_reference, failure_code=failure,
            fee=fee, completed_at=utcnow())).rowcount
        if done != 1:
            raise ConcurrentUpdate(f"payment transaction {transaction_id} was completed already")

    def set_reference(self, transaction_id: int, gateway_reference: str) -> None:
        self.conn.execute(update(t.payment_transactions).where(_x.id == transaction_id)
                          .values(gateway_reference=gateway_reference))

    def authorized(self, payment_id: str, values: dict[str, Any]) -> None:
        self.conn.execute(update(t.payments).where(_p.id == payment_id).values(values))

    def pending(self, before: datetime, limit: int) -> list[dict[str, Any]]:
        """Transactions still waiting for an answer, asked before `before`."""
        rows = self.conn.execute(select(t.payment_transactions).where(
            _x.outcome == str(Outcome.PENDING), _x.created_at < before)
            .order_by(_x.id).limit(limit))
        return [dict(row._mapping) for row in rows]

    def expiring(self, before: datetime, limit: int) -> list[dict[str, Any]]:
        """Authorizations that lapse before `before` and were not flagged yet."""
        rows = self.conn.execute(select(t.payments).where(
            _p.authorized_until < before, _p.expiry_flagged_at.is_(None))
            .order_by(_p.authorized_until).limit(limit))
        return [dict(row._mapping) for row in rows]

    def unpaid_holds(self, now: datetime, limit: int) -> list[str]:
        """Orders held for a failed payment for longer than their channel lets them keep stock."""
        o, ch = t.orders.c, t.channels.c
        rows = self.conn.execute(
            select(o.id, o.updated_at, ch.payment_failure_release_minutes)
            .join(t.channels, ch.code == o.channel_code)
            .where(o.status == "on_hold", o.hold_reason == "payment_failed")
            .order_by(o.seq))
        due = [row.id for row in rows
               if row.updated_at + timedelta(minutes=row.payment_failure_release_minutes) <= now]
        return due[:limit]

    def flag_expiry(self, payment_id: str, at: datetime) -> None:
        self.conn.execute(update(t.payments).where(_p.id == payment_id)
                          .values(expiry_flagged_at=at))


_i, _il = t.invoices.c, t.invoice_lines.c


class SqlInvoices:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, values: dict[str, Any], lines: list[dict[str, Any]]) -> None:
        """Write an issued document; it is never updated afterwards."""
        insert_or_conflict(self.conn, t.invoices, values)
        self.conn.execute(insert(t.invoice_lines), [
            {**line, "invoice_id": values["id"], "position": n}
            for n, line in enumerate(lines, start=1)])

    def find(self, order_seq: int, kind: str, reference: str) -> dict[str, Any] | None:
        row = self.conn.execute(select(t.invoices).where(
            _i.order_seq == order_seq, _i.kind == kind, _i.reference == reference)).first()
        return dict(row._mapping) if row else None

    def for_order(self, order_seq: int) -> list[dict[str, Any]]:
        rows = self.conn.execute(select(t.invoices).where(_i.order_seq == order_seq)
                                 .order_by(_i.issued_at, _i.number))
        return [dict(row._mapping) for row in rows]

    def lines_for_order(self, order_seq: int) -> list[dict[str, Any]]:
        """Every line of the order's invoices and credit notes, with its document's id, kind
        and the invoice a credit note corrects; oldest document first."""
        rows = self.conn.execute(
            select(t.invoice_lines, _i.kind, _i.corrects_id, _i.number)
            .join(t.invoices, _i.id == _il.invoice_id)
            .where(_i.order_seq == order_seq).order_by(_i.issued_at, _i.number, _il.position))
        return [dict(row._mapping) for row in rows]

    def credited(self, invoice_id: str) -> int:
        return int(self.conn.execute(select(func.coalesce(func.sum(_i.gross), 0)).where(
            _i.corrects_id == invoice_id)).scalar_one())


_o, _oi = t.payouts.c, t.payout_items.c


class SqlPayouts:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, gateway: str, payout: Payout, payout_id: str) -> bool:
        """Store a payout with its items; False if it was imported before."""
        known = self.conn.execute(select(_o.id).where(
            _o.gateway == gateway, _o.gateway_payout_id == payout.id)).first()
        if known is not None:
            return False
        insert_or_conflict(self.conn, t.payouts, {
            "id": payout_id, "gateway": gateway, "gateway_payout_id": payout.id,
            "currency": payout.currency, "amount": payout.amount,
            "arrival_date": payout.arrival_date, "imported_at": utcnow()})
        if payout.items:
            self.conn.execute(insert(t.payout_items), [
                {"payout_id": payout_id, "type": item.type,
                 "gateway_reference": item.gateway_reference, "amount": item.amount,
                 "fee": item.fee, "net": item.net} for item in payout.items])
        return True


def payouts_since(conn: Connection, gateway: str | None, since: date) -> list[dict[str, Any]]:
    """Imported payouts from `since`, each with its items."""
    query = select(t.payouts).where(_o.arrival_date >= since).order_by(_o.arrival_date, _o.id)
    if gateway:
        query = query.where(_o.gateway == gateway)
    found = [dict(row._mapping) for row in conn.execute(query)]
    items: dict[str, list[dict[str, Any]]] = {}
    if found:
        for row in conn.execute(select(t.payout_items).where(
                _oi.payout_id.in_([p["id"] for p in found])).order_by(_oi.id)):
            items.setdefault(row.payout_id, []).append(dict(row._mapping))
    return [{**payout, "items": items.get(payout["id"], [])} for payout in found]


def transactions_by_reference(conn: Connection, references: Iterable[str]) -> list[Any]:
    """Our succeeded captures and refunds with these gateway references."""
    refs = list(references)
    if not refs:
        return []
    return list(conn.execute(select(t.payment_transactions, _p.gateway, _p.order_seq).join(
        t.payments, _p.id == _x.payment_id).where(
        _x.gateway_reference.in_(refs), _x.kind.in_(["capture", "refund"]),
        _x.outcome == "succeeded").order_by(_x.id)))


def unsettled(conn: Connection, gateway: str | None, since: datetime,
              before: datetime) -> list[Any]:
    """Our succeeded captures and refunds in [since, before) that no imported payout names."""
    settled = select(_oi.gateway_reference)
    query = (select(t.payment_transactions, _p.gateway, _p.order_seq)
             .join(t.payments, _p.id == _x.payment_id)
             .where(_x.kind.in_(["capture", "refund"]), _x.outcome == "succeeded",
                    _x.completed_at >= since, _x.completed_at < before,
                    _x.gateway_reference.not_in(settled))
             .order_by(_x.id))
    if gateway:
        query = query.where(_p.gateway == gateway)
    return list(conn.execute(query))
