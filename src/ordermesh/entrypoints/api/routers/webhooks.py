"""/api/v1/webhook-subscriptions and /api/v1/webhook-deliveries: who is told of which events,
and what became of each delivery (admin)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi import Path as FastPath
from pydantic import BaseModel, Field, StrictBool, StringConstraints

from ordermesh.adapters.db import webhook_queries as wq
from ordermesh.domain.errors import NotFound
from ordermesh.entrypoints.api.deps import AdminKey, Bus, Conn, Db, read_connection
from ordermesh.entrypoints.api.patching import changes_of
from ordermesh.entrypoints.api.schemas.common import Strict
from ordermesh.services import commands as c

router = APIRouter(prefix="/api/v1", tags=["webhooks"])

Url = Annotated[str, StringConstraints(strip_whitespace=True, min_length=8, max_length=2000,
                                       pattern=r"^https?://")]
EventType = Annotated[str, StringConstraints(min_length=1, max_length=64,
                                             pattern=r"^(\*|[a-z_]+(\.[a-z_*]+)*)$")]
EventTypes = Annotated[list[EventType], Field(min_length=1, max_length=100)]


class SubscriptionIn(Strict):
    url: Url = Field(description="Where to POST; public addresses only unless allowed")
    event_types: EventTypes = Field(description='Event types, `stream.*`, or `["*"]` for all')
    description: Annotated[str, StringConstraints(max_length=200)] | None = None


class SubscriptionPatch(Strict):
    url: Url | None = None
    event_types: EventTypes | None = None
    description: Annotated[str, StringConstraints(max_length=200)] | None = None
    active: StrictBool = Field(True, description="true re-enables a disabled subscription")


class SubscriptionOut(BaseModel):
    id: str
    url: str
    event_types: list[str]
    description: str | None
    active: bool
    failures: int = Field(description="Deliveries given up on in a row")
    disabled_reason: str | None
    created_at: datetime
    updated_at: datetime


class CreatedOut(SubscriptionOut):
    secret: str = Field(description="The `whsec_` signing secret: shown this once")


class AttemptOut(BaseModel):
    attempt: int
    at: datetime
    status_code: int | None
    latency_ms: int
    error: str | None


class DeliveryOut(BaseModel):
    id: int
    event_id: str = Field(description="Also the `webhook-id` of every try")
    event_type: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    attempts_log: list[AttemptOut]


def _one(db: Any, subscription_id: str) -> dict[str, Any]:
    with read_connection(db) as conn:
        found = wq.subscriptions(conn, subscription_id)
    if not found:
        raise NotFound(f"webhook subscription {subscription_id!r} not found")
    return found[0]


@router.post("/webhook-subscriptions", status_code=201, response_model=CreatedOut)
def create(body: SubscriptionIn, principal: AdminKey, bus: Bus, db: Db) -> dict[str, Any]:
    """Subscribe a URL to event types. Deliveries are signed per Standard Webhooks with the
    secret answered here (and never again)."""
    made = bus.handle(c.CreateWebhookSubscription(principal.actor, body.url,
                                                  tuple(body.event_types), body.description))
    return {**_one(db, made["id"]), "secret": made["secret"]}


@router.get("/webhook-subscriptions", response_model=list[SubscriptionOut])
def list_subscriptions(principal: AdminKey, conn: Conn) -> list[dict[str, Any]]:
    return wq.subscriptions(conn)


@router.get("/webhook-subscriptions/{subscription_id}", response_model=SubscriptionOut)
def get_subscription(subscription_id: str, principal: AdminKey, db: Db) -> dict[str, Any]:
    return _one(db, subscription_id)


@router.patch("/webhook-subscriptions/{subscription_id}", response_model=SubscriptionOut)
def update(subscription_id: str, body: SubscriptionPatch, principal: AdminKey, bus: Bus,
           db: Db) -> dict[str, Any]:
    bus.handle(c.UpdateWebhookSubscription(principal.actor, subscription_id,
                                           changes_of(body, {"description"})))
    return _one(db, subscription_id)


@router.get("/webhook-subscriptions/{subscription_id}/deliveries",
            response_model=list[DeliveryOut])
def deliveries(subscription_id: str, principal: AdminKey, db: Db,
               status: Literal["pending", "delivered", "failed"] | None = None,
               limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[dict[str, Any]]:
    """The delivery log: each delivery, newest first, with every attempt (status code,
    latency, error)."""
    _one(db, subscription_id)
    with read_connection(db) as conn:
        return wq.deliveries(conn, subscription_id, status, limit)


@router.post("/webhook-deliveries/{delivery_id}/replay", status_code=202)
def replay(delivery_id: Annotated[int, FastPath(ge=1, le=2**63 - 1)], principal: AdminKey,
           bus: Bus) -> dict[str, Any]:
    """Send a delivery again, now (its attempts stay in the log)."""
    bus.handle(c.ReplayWebhookDelivery(principal.actor, delivery_id))
    return {"delivery_id": delivery_id, "status": "pending"}
