"""/api/v1/orders/{id}/notifications: the notification log of an order (what the customer was
told, when, and whether it went out)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import select

from ordermesh.adapters.db import money_queries as mq
from ordermesh.adapters.db import tables as t
from ordermesh.domain.errors import NotFound
from ordermesh.entrypoints.api.deps import ChannelOrOperatorKey, Conn

router = APIRouter(prefix="/api/v1", tags=["orders"])
_n = t.notifications.c


class NotificationOut(BaseModel):
    event_id: str
    kind: str
    medium: str
    recipient: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    message_id: str | None
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


@router.get("/orders/{order_id}/notifications", response_model=list[NotificationOut])
def notification_log(order_id: str, principal: ChannelOrOperatorKey,
                     conn: Conn) -> list[dict[str, Any]]:
    """Each notification of the order, oldest first: the event and kind, to whom, whether it
    was sent (and its Message-ID), or is waiting for another try, or failed."""
    seq = mq.order_seq_of(conn, order_id, principal.channel_scope)
    if seq is None:
        raise NotFound(f"order {order_id!r} not found")
    return [dict(r._mapping) for r in conn.execute(
        select(t.notifications).where(_n.order_seq == seq).order_by(_n.id))]
