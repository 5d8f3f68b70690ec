"""Reads the console's operations pages need beyond the API's: what a location sent today,
and whose a webhook delivery is."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from ordermesh.adapters.db import tables as t
from ordermesh.domain.orders import format_order_number

# A fulfilment has no column saying when it left: its event does.
SENT_EVENTS = ("fulfilment.dispatched", "fulfilment.collected")


def sent_since(conn: Connection, location: str, since: datetime,
               limit: int = 200) -> list[dict[str, Any]]:
    """The location's fulfilments dispatched or collected since `since`, newest first, with
    their order number, method, status now and when they left."""
    e, f = t.events.c, t.fulfilments.c
    left = func.max(e.occurred_at).label("sent_at")
    query = (select(f.id, f.order_seq, f.method, f.status, left)
             .join_from(t.events, t.fulfilments, f.id == e.stream_id)
             .where(e.stream == "fulfilment", e.type.in_(SENT_EVENTS), e.occurred_at >= since,
                    f.location_code == location)
             .group_by(f.id, f.order_seq, f.method, f.status)
             .order_by(left.desc(), f.id).limit(limit))
    return [{**row._mapping, "order_number": format_order_number(row.order_seq)}
            for row in conn.execute(query)]


def delivery_subscription(conn: Connection, delivery_id: int) -> str | None:
    """The subscription a webhook delivery belongs to, or None when there is no such one."""
    d = t.webhook_deliveries.c
    found = conn.execute(select(d.subscription_id).where(d.id == delivery_id)).scalar()
    return None if found is None else str(found)
