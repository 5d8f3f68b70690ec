"""Configuration: channels, API keys, products and locations."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from ordermesh.domain.errors import AlreadyExists, InvalidInput, NotFound
from ordermesh.domain.events import utcnow
from ordermesh.domain.sourcing import preferences
from ordermesh.services import commands as c
from ordermesh.services.ports import UnitOfWork

ROLES = ("channel", "operator", "admin")


def hash_api_key(key: str) -> str:
    """Keys are 256 random bits, so a fast hash is enough: there is nothing to brute-force."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedKey:
    id: str
    key: str  # shown once, never stored
    role: str
    channel: str | None


def create_channel(cmd: c.CreateChannel, uow: UnitOfWork) -> str:
    with uow:
        if uow.access.channel(cmd.code) is not None:
            raise AlreadyExists(f"channel {cmd.code!r} exists already")
        uow.access.add_channel(
            {"code": cmd.code, "name": cmd.name, "active": True, "created_at": utcnow()})
        uow.commit()
    return cmd.code


def update_channel(cmd: c.UpdateChannel, uow: UnitOfWork) -> str:
    with uow:
        if uow.access.channel(cmd.code) is None:
            raise NotFound(f"channel {cmd.code!r} does not exist")
        if "sourcing_rules" in cmd.changes:
            preferences(cmd.changes["sourcing_rules"])
        _check_money_policy(cmd.changes)
        visible = cmd.changes.get("visible_locations")
        unknown = sorted(code for code in set(visible or ()) if uow.catalogue.location(code) is None)
        if unknown:
            raise InvalidInput(f"unknown locations: {', '.join(unknown)}", locations=unknown)
        uow.access.update_channel(cmd.code, cmd.changes)
        uow.commit()
    return cmd.code


MONEY_POINTS = ("dispatch", "placement")  # when a channel captures, and when it invoices


def _check_money_policy(changes: dict[str, Any]) -> None:
    for name in ("capture_on", "invoice_on"):
        if name in changes and changes[name] not in MONEY_POINTS:
            raise InvalidInput(f"{name} is one of {', '.join(MONEY_POINTS)}, not "
                               f"{changes[name]!r}", field=name)
    minutes = changes.get("payment_failure_release_minutes")
    if minutes is not None and (type(minutes) is not int or minutes < 1):
        raise InvalidInput("payment_failure_release_minutes is a whole number of at least 1")
    if "prices_include_tax" in changes and type(changes["prices_include_tax"]) is not bool:
        raise InvalidInput("prices_include_tax is true or false")
    if changes.get("shipping_preference", "cheapest") not in ("cheapest", "fastest"):
        raise InvalidInput("shipping_preference is cheapest or fastest",
                           field="shipping_preference")
    days = changes.get("pickup_hold_days", 1)
    if type(days) is not int or days < 1:
        raise InvalidInput("pickup_hold_days is a whole number of at least 1",
                           field="pickup_hold_days")


def create_api_key(cmd: c.CreateApiKey, uow: UnitOfWork) -> IssuedKey:
    if cmd.role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}")
    if (cmd.role == "channel") != (cmd.channel is not None):
        raise InvalidInput("a channel key names its channel, and only a channel key does")
    prefix = secrets.token_hex(4)
    key = f"om_{prefix}_{secrets.token_urlsafe(32)}"
    key_id = str(uuid.uuid4())
    with uow:
        if cmd.channel is not None and uow.access.channel(cmd.channel) is None:
            raise NotFound(f"channel {cmd.channel!r} does not exist")
        uow.access.add_api_key({
            "id": key_id, "name": cmd.name, "prefix": prefix, "key_hash": hash_api_key(key),
            "role": cmd.role, "channel_code": cmd.channel, "created_at": utcnow(),
        })
        uow.commit()
    return IssuedKey(key_id, key, cmd.role, cmd.channel)


def revoke_api_key(cmd: c.RevokeApiKey, uow: UnitOfWork) -> str:
    """A revoked key stops working at once; revoking it again is refused as not found."""
    with uow:
        if not uow.access.revoke_api_key(cmd.key_id, utcnow()):
            raise NotFound(f"no live API key {cmd.key_id!r}")
        uow.commit()
    return cmd.key_id


def create_product(cmd: c.CreateProduct, uow: UnitOfWork) -> str:
    sku = cmd.values["sku"]
    with uow:
        if uow.catalogue.product(sku) is not None:
            raise AlreadyExists(f"product {sku!r} exists already")
        _gtin_is_free(uow, cmd.values.get("gtin"), sku)
        _supplier_exists(uow, cmd.values.get("supplier_code"))
        now = utcnow()
        uow.catalogue.add_product({**cmd.values, "created_at": now, "updated_at": now})
        uow.commit()
    return str(sku)


def update_product(cmd: c.UpdateProduct, uow: UnitOfWork) -> str:
    with uow:
        if uow.catalogue.product(cmd.sku) is None:
            raise NotFound(f"product {cmd.sku!r} does not exist")
        _gtin_is_free(uow, cmd.changes.get("gtin"), cmd.sku)
        _supplier_exists(uow, cmd.changes.get("supplier_code"))
        uow.catalogue.update_product(cmd.sku, {**cmd.changes, "updated_at": utcnow()})
        uow.commit()
    return cmd.sku


def _gtin_is_free(uow: UnitOfWork, gtin: str | None, sku: str) -> None:
    holder = uow.catalogue.sku_with_gtin(gtin) if gtin else None
    if holder is not None and holder != sku:
        raise AlreadyExists(f"GTIN {gtin} belongs to product {holder!r}", sku=holder)


def _supplier_exists(uow: UnitOfWork, code: str | None) -> None:
    if code is not None and uow.suppliers.get(code) is None:
        raise InvalidInput(f"supplier {code!r} does not exist", supplier_code=code)


def create_location(cmd: c.CreateLocation, uow: UnitOfWork) -> str:
    code = cmd.values["code"]
    with uow:
        if uow.catalogue.location(code) is not None:
            raise AlreadyExists(f"location {code!r} exists already")
        now = utcnow()
        uow.catalogue.add_location({**cmd.values, "created_at": now, "updated_at": now})
        uow.commit()
    return str(code)


def update_location(cmd: c.UpdateLocation, uow: UnitOfWork) -> str:
    with uow:
        if uow.catalogue.location(cmd.code) is None:
            raise NotFound(f"location {cmd.code!r} does not exist")
        uow.catalogue.update_location(cmd.code, {**cmd.changes, "updated_at": utcnow()})
        uow.commit()
    return cmd.code
