"""Reads of webhooks for the admin API: subscriptions (never their secrets), and each
delivery with its attempts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from ordermesh.adapters.db import tables as t

_s, _d, _a = t.webhook_subscriptions.c, t.webhook_deliveries.c, t.webhook_attempts.c


def subscriptions(conn: Connection, subscription_id: str | None = None) -> list[dict[str, Any]]:
    query = select(*[c for c in t.webhook_subscriptions.c if c.name != "secret"]).order_by(
        _s.created_at, _s.id)
    if subscription_id is not None:
        query = query.where(_s.id == subscription_id)
    return [dict(r._mapping) for r in conn.execute(query)]


def deliveries(conn: Connection, subscription_id: str, status: str | None,
               limit: int) -> list[dict[str, Any]]:
    """The subscription's deliveries, newest first, each with its attempts in order."""
    query = (select(t.webhook_deliveries).where(_d.subscription_id == subscription_id)
             .order_by(_d.id.desc()).limit(limit))
    if status is not None:
        query = query.where(_d.status == status)
    found = [dict(r._mapping) for r in conn.execute(query)]
    attempts: dict[int, list[dict[str, Any]]] = {}
    if found:
        for row in conn.execute(select(t.webhook_attempts).where(
                _a.delivery_id.in_([d["id"] for d in found])).order_by(_a.id)):
            attempts.setdefault(row.delivery_id, []).append(dict(row._mapping))
    return [{**d, "attempts_log": attempts.get(d["id"], [])} for d in found]
