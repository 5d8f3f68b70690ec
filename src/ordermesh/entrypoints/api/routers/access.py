"""/api/v1/channels and /api/v1/api-keys: who may call, and for which channel."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from ordermesh.adapters.db import queries
from ordermesh.domain.errors import InvalidInput
from ordermesh.entrypoints.api.deps import AdminKey, Bus, Db, OperatorKey, read_connection
from ordermesh.entrypoints.api.patching import changes_of
from ordermesh.entrypoints.api.schemas.catalogue import (
    ApiKeyIn,
    ApiKeyOut,
    ChannelIn,
    ChannelOut,
    ChannelPatch,
    IssuedKeyOut,
)
from ordermesh.services import commands as c

router = APIRouter(prefix="/api/v1", tags=["access"])


@router.post("/channels", status_code=201, response_model=ChannelOut)
def create_channel(body: ChannelIn, principal: AdminKey, bus: Bus, db: Db) -> dict[str, Any]:
    bus.handle(c.CreateChannel(principal.actor, body.code, body.name))
    with read_connection(db) as conn:
        return next(ch for ch in queries.list_channels(conn) if ch["code"] == body.code)


@router.get("/channels", response_model=list[ChannelOut])
def list_channels(principal: OperatorKey, db: Db) -> list[dict[str, Any]]:
    with read_connection(db) as conn:
        return queries.list_channels(conn)


@router.patch("/channels/{code}", response_model=ChannelOut)
def update_channel(code: str, body: ChannelPatch, principal: AdminKey, bus: Bus,
                   db: Db) -> dict[str, Any]:
    """Change a channel's sourcing settings: rules, visible locations, buffer, splits,
    backorders, cart holds."""
    changes = changes_of(body, {"visible_locations", "cart_hold_minutes", "payment_gateway"})
    bus.handle(c.UpdateChannel(principal.actor, code, changes))
    with read_connection(db) as conn:
        return next(ch for ch in queries.list_channels(conn) if ch["code"] == code)


@router.post("/api-keys", status_code=201, response_model=IssuedKeyOut)
def create_api_key(body: ApiKeyIn, principal: AdminKey, bus: Bus) -> Any:
    issued = bus.handle(c.CreateApiKey(principal.actor, body.name, body.role, body.channel))
    return {"id": issued.id, "key": issued.key, "role": issued.role, "channel": issued.channel}


@router.delete("/api-keys/{key_id}", status_code=204)
def revoke_api_key(key_id: str, principal: AdminKey, bus: Bus) -> Response:
    """Revoke a key: it stops working at once. An admin cannot revoke the key it calls with."""
    if key_id == principal.key_id:
        raise InvalidInput("a key cannot revoke itself; use another admin key")
    bus.handle(c.RevokeApiKey(principal.actor, key_id))
    return Response(status_code=204)


@router.get("/api-keys", response_model=list[ApiKeyOut])
def list_api_keys(principal: AdminKey, db: Db) -> list[dict[str, Any]]:
    with read_connection(db) as conn:
        return [{**k, "channel": k["channel_code"]} for k in queries.list_api_keys(conn)]
