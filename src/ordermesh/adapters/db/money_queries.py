"""Reads for the money API: an order's payments, invoices and credit notes, tax rates."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from ordermesh.adapters.db import tables as t
from ordermesh.adapters.db.money_repository import (
    payouts_since,
    transactions_by_reference,
    unsettled,
)
from ordermesh.domain.orders import format_order_number, parse_order_number
from ordermesh.domain.payments import Transaction, payment_status, totals
from ordermesh.domain.settlement import Finding, Item, Ours, PayoutCheck, check_payout, not_settled

_p, _x, _i, _il = t.payments.c, t.payment_transactions.c, t.invoices.c, t.invoice_lines.c


def payments_of(conn: Connection, order_seq: int) -> list[dict[str, Any]]:
    """The order's payments, oldest first, each with its transactions, its status computed
    from them and its totals."""
    payments = [dict(row._mapping) for row in conn.execute(
        select(t.payments).where(_p.order_seq == order_seq).order_by(_p.created_at, _p.id))]
    if not payments:
        return []
    rows = conn.execute(select(t.payment_transactions).where(
        _x.payment_id.in_([p["id"] for p in payments])).order_by(_x.id))
    by_payment: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_payment.setdefault(row.payment_id, []).append(dict(row._mapping))
    result = []
    for payment in payments:
        txns = by_payment.get(payment["id"], [])
        domain = [Transaction.of(x) for x in txns]
        sums = totals(domain)
        result.append({**payment, "transactions": txns, "status": str(payment_status(domain)),
                       "authorized": sums.authorized, "captured": sums.captured,
                       "refunded": sums.refunded, "voided": sums.voided})
    return result


def order_seq_of(conn: Connection, ref: str, channel: str | None) -> int | None:
    o = t.orders.c
    seq = parse_order_number(ref)
    query = select(o.seq).where(o.seq == seq if seq is not None else o.id == ref)
    if channel is not None:
        query = query.where(o.channel_code == channel)
    found = conn.execute(query).scalar()
    return int(found) if found is not None else None


def _status(invoice: dict[str, Any], credited: int, payment_outcome: str | None) -> str:
    """An invoice is paid when the capture that goes with it succeeded, credited (in part or
    in full) by credit notes; a credit note is refunded when its refund succeeded."""
    if invoice["kind"] == "credit_note":
        return {"succeeded": "refunded", "failed": "refund_failed"}.get(
            payment_outcome or "", "refund_pending" if payment_outcome else "issued")
    if credited >= invoice["gross"]:
        return "credited"
    if credited:
        return "partially_credited"
    return {"succeeded": "paid", "failed": "payment_failed", "pending": "payment_pending"}.get(
        payment_outcome or "", "unpaid")


def invoices(conn: Connection, order_seq: int | None = None,
             invoice_ref: str | None = None) -> list[dict[str, Any]]:
    """Invoices and credit notes (of an order, or one by id or number), with their lines,
    the number of the invoice a credit note corrects, and their computed status."""
    query = (select(t.invoices, t.orders.c.id.label("order_id"), t.orders.c.seq.label("o_seq"),
                    _x.outcome.label("payment_outcome"))
             .join(t.orders, t.orders.c.seq == _i.order_seq)
             .outerjoin(t.payment_transactions, _x.id == _i.payment_transaction_id)
             .order_by(_i.issued_at, _i.number))
    if order_seq is not None:
        query = query.where(_i.order_seq == order_seq)
    if invoice_ref is not None:
        query = query.where((_i.id == invoice_ref) | (_i.number == invoice_ref))
    docs = [dict(row._mapping) for row in conn.execute(query)]
    if not docs:
        return []
    ids = [d["id"] for d in docs]
    lines: dict[str, list[dict[str, Any]]] = {}
    for row in conn.execute(select(t.invoice_lines).where(_il.invoice_id.in_(ids))
                            .order_by(_il.invoice_id, _il.position)):
        lines.setdefault(row.invoice_id, []).append(dict(row._mapping))
    related = {row.id: row for row in conn.execute(
        select(_i.id, _i.number, _i.gross, _i.corrects_id).where(
            (_i.id.in_([d["corrects_id"] for d in docs if d["corrects_id"]]))
            | (_i.corrects_id.in_(ids))))}
    credited: dict[str, int] = {}
    for row in related.values():
        if row.corrects_id:
            credited[row.corrects_id] = credited.get(row.corrects_id, 0) + row.gross
    latest_refund = _latest_refunds(conn, {d["order_seq"] for d in docs})
    captured = _captured(conn, {d["order_seq"] for d in docs})
    for doc in docs:
        outcome = doc["payment_outcome"]
        if doc["kind"] == "credit_note":  # the last attempt at its refund
            outcome = latest_refund.get((doc["order_seq"], doc["reference"]), outcome)
        elif doc["payment_transaction_id"] is None and doc["reference"] == "order":
            # invoiced on placement: paid once the order's captures cover it
            outcome = "succeeded" if captured.get(doc["order_seq"], 0) >= doc["gross"] else None
        doc["payment_outcome"] = outcome
        corrects = related.get(doc["corrects_id"]) if doc["corrects_id"] else None
        doc.update(lines=lines.get(doc["id"], []),
                   corrects=corrects.number if corrects is not None else None,
                   credited=credited.get(doc["id"], 0),
                   status=_status(doc, credited.get(doc["id"], 0), doc["payment_outcome"]))
    return docs


def _latest_refunds(conn: Connection, order_seqs: set[int]) -> dict[tuple[int, str], str]:
    rows = conn.execute(select(_p.order_seq, _x.reference, _x.outcome)
                        .join(t.payments, _p.id == _x.payment_id)
                        .where(_p.order_seq.in_(order_seqs), _x.kind == "refund")
                        .order_by(_x.id))
    return {(row.order_seq, row.reference): row.outcome for row in rows}


def _captured(conn: Connection, order_seqs: set[int]) -> dict[int, int]:
    rows = conn.execute(select(_p.order_seq, func.sum(_x.amount))
                        .join(t.payments, _p.id == _x.payment_id)
                        .where(_p.order_seq.in_(order_seqs), _x.kind == "capture",
                               _x.outcome == "succeeded").group_by(_p.order_seq))
    return {row[0]: int(row[1]) for row in rows}


def invoice(conn: Connection, ref: str, channel: str | None) -> dict[str, Any] | None:
    found = invoices(conn, invoice_ref=ref)
    if not found:
        return None
    if channel is not None:
        owner = conn.execute(select(t.orders.c.channel_code).where(
            t.orders.c.seq == found[0]["order_seq"])).scalar()
        if owner != channel:
            return None
    return found[0]


def tax_rates(conn: Connection) -> list[dict[str, Any]]:
    r = t.tax_rates.c
    rows = conn.execute(select(t.tax_rates).order_by(r.country, r.region, r.tax_class))
    return [{**row._mapping, "region": row.region or None} for row in rows]


def reconciliation(conn: Connection, gateway: str | None, since: date,
                   settled_within_days: int = 7) -> tuple[list[PayoutCheck], list[Finding]]:
    """Every imported payout from `since` checked against our transactions, and our captures
    and refunds from `since` that no payout lists although `settled_within_days` passed."""
    payouts = payouts_since(conn, gateway, since)
    refs = {item["gateway_reference"] for p in payouts for item in p["items"]}
    ours: dict[str, list[Ours]] = {}
    for row in transactions_by_reference(conn, refs):
        ours.setdefault(row.gateway_reference, []).append(_ours(row))
    checks = [check_payout(p["gateway"], p["gateway_payout_id"], p["arrival_date"],
                           p["currency"], p["amount"],
                           [Item(i["type"], i["gateway_reference"], i["amount"], i["fee"])
                            for i in p["items"]], ours) for p in payouts]
    start = datetime.combine(since, time(), UTC)
    overdue = datetime.now(UTC) - timedelta(days=settled_within_days)
    late = [_ours(row) for row in unsettled(conn, gateway, start, overdue)]
    return checks, not_settled(late)


def _ours(row: Any) -> Ours:
    return Ours(row.gateway_reference, row.kind, row.amount, row.fee,
                format_order_number(row.order_seq))
