"""Settings: channels and API keys, locations, sourcing rules, tax rates, SLAs and users.

Each form is checked by the API's own request schema (ChannelPatch, LocationPatch, TaxRateIn,
ApiKeyIn, StageSlaIn) before its command runs, so the console accepts exactly what the API
does. Form fields arrive as text: a whole number is handed to the schema as a number, anything
else as the text it is, for the schema to refuse with its own words.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ordermesh.adapters.db import jeopardy_queries as jq
from ordermesh.adapters.db import money_queries as mq
from ordermesh.adapters.db import queries, user_queries
from ordermesh.domain.errors import InvalidInput, NotFound
from ordermesh.domain.jeopardy import ANY_CHANNEL, DEFAULT_SLA_MINUTES, Stage
from ordermesh.domain.users import ROLES
from ordermesh.entrypoints.api.deps import Bus, Db, read_connection
from ordermesh.entrypoints.api.patching import changes_of
from ordermesh.entrypoints.api.routers.catalogue import LOCATION_NULLABLE
from ordermesh.entrypoints.api.schemas.catalogue import (
    ApiKeyIn,
    ChannelPatch,
    LocationPatch,
    SourcingRule,
)
from ordermesh.entrypoints.api.schemas.jeopardy import StageSlaIn
from ordermesh.entrypoints.api.schemas.money import TaxRateIn
from ordermesh.entrypoints.console.rendering import act, page
from ordermesh.entrypoints.console.session import User, need
from ordermesh.services import commands as c
from ordermesh.services import jeopardy_commands as jc
from ordermesh.services import user_commands as uc

router = APIRouter(prefix="/console", include_in_schema=False)

Admin = Annotated[User, need("settings")]
UserAdmin = Annotated[User, need("users")]
Short = Annotated[str, Form(max_length=200)]
Flag = Annotated[str | None, Form(max_length=8)]  # a checkbox: sent when ticked
RULES: tuple[str, ...] = SourcingRule.__args__  # type: ignore[attr-defined]
BACK = "/console/settings"


def _number(text: str | None) -> int | str | None:
    """A form's number for a schema: empty is none, digits a number, the rest left as typed."""
    value = (text or "").strip()
    if not value:
        return None
    return int(value) if re.fullmatch(r"-?[0-9]{1,15}", value) else value


def _one(rows: list[dict[str, Any]], key: str, value: str, what: str) -> dict[str, Any]:
    found = next((r for r in rows if r[key] == value), None)
    if found is None:
        raise NotFound(f"{what} {value!r} not found")
    return found


@router.get("/settings", response_class=HTMLResponse)
def settings_page(request: Request, db: Db, user: Admin) -> HTMLResponse:
    with read_connection(db) as conn:
        channels, locations = queries.list_channels(conn), queries.list_locations(conn)
        keys, taxes, slas = queries.list_api_keys(conn), mq.tax_rates(conn), jq.stage_slas(conn)
    return page(request, user, "settings_overview.html", channels=channels,
                locations=locations, keys=keys, taxes=taxes, slas=slas,
                stages=[str(s) for s in Stage], defaults=DEFAULT_SLA_MINUTES,
                any_channel=ANY_CHANNEL, key_roles=("channel", "operator", "admin"))


# -- channels and their sourcing --------------------------------------------------------------


@router.get("/settings/channels/{code}", response_class=HTMLResponse)
def channel_page(request: Request, db: Db, user: Admin, code: str) -> HTMLResponse:
    with read_connection(db) as conn:
        channel = _one(queries.list_channels(conn), "code", code, "channel")
        locations = queries.list_locations(conn)
    return page(request, user, "settings_channel.html", channel=channel, locations=locations,
                rules=RULES)


@router.post("/settings/channels/{code}")
def update_channel(db: Db, bus: Bus, user: Admin, code: str, name: Short,
                   shipping_preference: Short, safety_buffer: Short = "",
                   cart_hold_minutes: Short = "", pickup_hold_days: Short = "",
                   rule_1: Short = "", rule_2: Short = "", rule_3: Short = "", rule_4: Short = "",
                   visible: Annotated[list[str] | None, Form(max_length=1000)] = None,
                   visible_all: Flag = None, allow_split: Flag = None,
                   allow_backorder: Flag = None) -> RedirectResponse:
    """The channel's sourcing: its rules in order, where it may source, what it holds back."""
    with read_connection(db) as conn:
        _one(queries.list_channels(conn), "code", code, "channel")
    fields = {
        "name": name, "safety_buffer": _number(safety_buffer),
        "sourcing_rules": [r for r in (rule_1, rule_2, rule_3, rule_4) if r],
        "visible_locations": None if visible_all else (visible or []),
        "allow_split": bool(allow_split), "allow_backorder": bool(allow_backorder),
        "cart_hold_minutes": _number(cart_hold_minutes),
        "shipping_preference": shipping_preference,
        "pickup_hold_days": _number(pickup_hold_days)}

    def run() -> None:
        patch = ChannelPatch.model_validate(fields)
        bus.handle(c.UpdateChannel(user.actor, code, changes_of(
            patch, {"visible_locations", "cart_hold_minutes"})))

    return act(f"{BACK}/channels/{code}", f"Channel {code} saved.", run)


# -- locations -----------------------------------------------------------------------------


@router.get("/settings/locations/{code}", response_class=HTMLResponse)
def location_page(request: Request, db: Db, user: Admin, code: str) -> HTMLResponse:
    with read_connection(db) as conn:
        location = _one(queries.list_locations(conn), "code", code, "location")
    return page(request, user, "settings_location.html", location=location)


@router.post("/settings/locations/{code}")
def update_location(bus: Bus, user: Admin, code: str, priority: Short,
                    daily_order_capacity: Short = "", can_ship: Flag = None,
                    can_pickup: Flag = None) -> RedirectResponse:
    """Capacity a day (empty: no limit), priority, and whether it ships and hands over."""

    def run() -> None:
        patch = LocationPatch.model_validate({
            "priority": _number(priority), "can_ship": bool(can_ship),
            "can_pickup": bool(can_pickup),
            "daily_order_capacity": _number(daily_order_capacity)})
        bus.handle(c.UpdateLocation(user.actor, code, changes_of(patch, LOCATION_NULLABLE)))

    return act(f"{BACK}/locations/{code}", f"Location {code} saved.", run)


# -- tax rates and stage SLAs -----------------------------------------------------------------


@router.post("/settings/tax-rates")
def put_tax_rate(bus: Bus, user: Admin, tax_class: Short, country: Short, rate: Short,
                 name: Short, region: Short = "") -> RedirectResponse:
    def run() -> None:
        body = TaxRateIn(tax_class=tax_class.strip(), country=country.strip().upper(),
                         region=region.strip().upper() or None, rate=rate.strip(), name=name)
        bus.handle(c.PutTaxRate(user.actor, body.tax_class, body.country, body.region,
                                body.rate, body.name))

    return act(f"{BACK}#tax-rates", "Tax rate saved.", run)


@router.post("/settings/tax-rates/remove")
def remove_tax_rate(bus: Bus, user: Admin, tax_class: Short, country: Short,
                    region: Short = "") -> RedirectResponse:
    return act(f"{BACK}#tax-rates", "Tax rate removed.", lambda: bus.handle(
        c.RemoveTaxRate(user.actor, tax_class, country, region or None)))


@router.post("/settings/slas")
def put_sla(bus: Bus, user: Admin, channel: Short, stage: Short,
            minutes: Short) -> RedirectResponse:
    def run() -> None:
        body = StageSlaIn.model_validate({"minutes": _number(minutes)})
        bus.handle(jc.PutStageSla(user.actor, channel, stage, body.minutes))

    return act(f"{BACK}#slas", "SLA saved.", run)


@router.post("/settings/slas/remove")
def remove_sla(bus: Bus, user: Admin, channel: Short, stage: Short) -> RedirectResponse:
    return act(f"{BACK}#slas", "SLA removed: the default applies again.",
               lambda: bus.handle(jc.RemoveStageSla(user.actor, channel, stage)))


# -- API keys --------------------------------------------------------------------------------


@router.post("/settings/api-keys", response_model=None)
def issue_key(request: Request, bus: Bus, user: Admin, name: Short, role: Short,
              channel: Short = "") -> Response:
    """A new key, shown on the answering page only: Ordermesh keeps its hash."""
    issued: list[Any] = []

    def run() -> None:
        body = ApiKeyIn.model_validate({"name": name, "role": role, "channel": channel or None})
        issued.append(bus.handle(c.CreateApiKey(user.actor, body.name, body.role,
                                                body.channel)))

    refused = act(f"{BACK}#api-keys", "", run)
    if not issued:
        return refused
    return page(request, user, "settings_key_issued.html", status_code=201, key=issued[0],
                name=name)


@router.post("/settings/api-keys/{key_id}/revoke")
def revoke_key(bus: Bus, user: Admin, key_id: str) -> RedirectResponse:
    return act(f"{BACK}#api-keys", "Key revoked: it stops working now.",
               lambda: bus.handle(c.RevokeApiKey(user.actor, key_id)))


# -- users -----------------------------------------------------------------------------------


@router.get("/settings/users", response_class=HTMLResponse)
def users_page(request: Request, db: Db, user: UserAdmin) -> HTMLResponse:
    with read_connection(db) as conn:
        users, locations = user_queries.list_users(conn), queries.list_locations(conn)
    return page(request, user, "settings_users.html", users=users, locations=locations,
                roles=ROLES)


@router.post("/settings/users")
def create_user(bus: Bus, user: UserAdmin, email: Annotated[str, Form(max_length=320)],
                name: Short, role: Short, password: Annotated[str, Form(max_length=256)],
                location: Short = "") -> RedirectResponse:
    return act("/console/settings/users", f"{email.strip().lower()} may sign in now.",
               lambda: bus.handle(uc.CreateUser(user.actor, email, name, role, password,
                                                location or None)))


@router.get("/settings/users/{user_id}", response_class=HTMLResponse)
def user_page(request: Request, db: Db, user: UserAdmin, user_id: str) -> HTMLResponse:
    with read_connection(db) as conn:
        other = _one(user_queries.list_users(conn), "id", user_id, "user")
        locations = queries.list_locations(conn)
    return page(request, user, "settings_user.html", other=other, locations=locations,
                roles=ROLES)


def _change_user(bus: Bus, user: User, user_id: str, changes: dict[str, Any],
                 done: str) -> RedirectResponse:
    """Any change but one that would lock the admin making it out of user settings."""

    def run() -> None:
        if user_id == user.id and (changes.get("active") is False
                                   or changes.get("role", "admin") != "admin"):
            raise InvalidInput("you cannot switch yourself off or drop your own admin role: "
                               "ask another admin")
        bus.handle(uc.UpdateUser(user.actor, user_id, changes))

    return act(f"/console/settings/users/{user_id}", done, run)


@router.post("/settings/users/{user_id}")
def update_user(bus: Bus, user: UserAdmin, user_id: str, name: Short, role: Short,
                location: Short = "") -> RedirectResponse:
    return _change_user(bus, user, user_id, {"name": name, "role": role,
                                             "location": location or None}, "User saved.")


@router.post("/settings/users/{user_id}/active")
def switch_user(bus: Bus, user: UserAdmin, user_id: str,
                active: Annotated[str, Form(pattern="^(true|false)$")]) -> RedirectResponse:
    on = active == "true"
    return _change_user(bus, user, user_id, {"active": on},
                        "Switched on: they may sign in." if on else
                        "Switched off: their sessions ended.")


@router.post("/settings/users/{user_id}/password")
def reset_password(bus: Bus, user: UserAdmin, user_id: str,
                   password: Annotated[str, Form(max_length=256)]) -> RedirectResponse:
    return _change_user(bus, user, user_id, {"password": password},
                        "Password set: their sessions ended; give it to them in person.")
