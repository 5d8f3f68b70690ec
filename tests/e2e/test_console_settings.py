"""The console's settings, on both databases: an admin edits a channel's sourcing, a location's
capacity, tax rates, stage SLAs, issues and revokes API keys, and manages users; each change is
read back through the API (or by signing in); bad input is a notice and changes nothing;
operators may not open settings; forms without the CSRF token are refused."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from ordermesh.adapters.db import user_queries
from ordermesh.bootstrap import App
from ordermesh.services.bus import MessageBus
from tests.builders import Shop
from tests.console import PASSWORD, a_user, console_client, notice_after, sign_in, submit
from tests.e2e.conftest import row_counts

CHANNEL = {"name": "Webshop", "rule_1": "nearest", "rule_2": "priority", "visible": "WH-1",
           "safety_buffer": "2", "allow_split": "1", "cart_hold_minutes": "30",
           "shipping_preference": "fastest", "pickup_hold_days": "5"}


@pytest.fixture
def admin(ordermesh: App, bus: MessageBus, shop: Shop) -> TestClient:
    console = console_client(ordermesh)
    sign_in(console, a_user(bus, "admin"))
    return console


def api(client: TestClient, shop: Shop, path: str) -> Any:
    answer = client.get(f"/api/v1{path}", headers=shop.headers("admin"))
    assert answer.status_code == 200, answer.text
    return answer.json()


def unchanged_but_audit(engine: Engine, before: dict[str, int]) -> bool:
    """Nothing written, but the audit log's note of what was refused."""
    after = row_counts(engine)
    return {k: v for k, v in after.items() if k != "audit_log"} == {
        k: v for k, v in before.items() if k != "audit_log"}


def id_of(engine: Engine, email: str) -> str:
    with engine.connect() as conn:
        return str(next(u["id"] for u in user_queries.list_users(conn) if u["email"] == email))


def refused(console: TestClient, url: str, form: dict[str, str]) -> bool:
    return "notice-error" in notice_after(console, submit(console, url, form))


def test_an_admin_edits_a_channels_sourcing(client: TestClient, shop: Shop, admin: TestClient,
                                            engine: Engine) -> None:
    # when the admin saves the web channel's sourcing
    page = "/console/settings/channels/web"
    assert 'for="rule_1"' in admin.get(page).text
    assert "Channel web saved." in notice_after(admin, submit(admin, page, CHANNEL))
    # then the API reads it back
    web = next(ch for ch in api(client, shop, "/channels") if ch["code"] == "web")
    assert {k: web[k] for k in ("name", "sourcing_rules", "visible_locations", "safety_buffer",
                                "allow_split", "allow_backorder", "cart_hold_minutes",
                                "shipping_preference", "pickup_hold_days")} == {
        "name": "Webshop", "sourcing_rules": ["nearest", "priority"],
        "visible_locations": ["WH-1"], "safety_buffer": 2, "allow_split": True,
        "allow_backorder": False, "cart_hold_minutes": 30, "shipping_preference": "fastest",
        "pickup_hold_days": 5}
    # and every location again, with no cart holds
    notice_after(admin, submit(admin, page, {**CHANNEL, "visible_all": "1",
                                             "cart_hold_minutes": ""}))
    web = next(ch for ch in api(client, shop, "/channels") if ch["code"] == "web")
    assert (web["visible_locations"], web["cart_hold_minutes"]) == (None, None)
    # bad input is a notice, and nothing changes
    before = row_counts(engine)
    for bad in ({"rule_1": "teleport"}, {"safety_buffer": "lots"}, {"safety_buffer": "-1"},
                {"visible": "NOWHERE"}, {"pickup_hold_days": "0"}, {"name": " "},
                {"shipping_preference": "slowest"}):
        assert refused(admin, page, {**CHANNEL, **bad}), bad
    assert unchanged_but_audit(engine, before)
    assert admin.get("/console/settings/channels/nope").status_code == 404


def test_an_admin_sets_a_locations_capacity_and_what_it_does(
        client: TestClient, shop: Shop, admin: TestClient, engine: Engine) -> None:
    page = "/console/settings/locations/WH-1"
    shown = notice_after(admin, submit(admin, page, {
        "daily_order_capacity": "40", "priority": "300", "can_pickup": "1"}))
    assert "Location WH-1 saved." in shown
    location = api(client, shop, "/locations/WH-1")
    assert (location["daily_order_capacity"], location["priority"], location["can_ship"],
            location["can_pickup"]) == (40, 300, False, True)
    notice_after(admin, submit(admin, page, {"daily_order_capacity": "", "priority": "300",
                                             "can_ship": "1"}))
    assert api(client, shop, "/locations/WH-1")["daily_order_capacity"] is None
    before = row_counts(engine)
    for bad in ({"priority": "-5"}, {"priority": "high"}, {"priority": "2000"},
                {"priority": "1", "daily_order_capacity": "x"}):
        assert refused(admin, page, bad), bad
    assert unchanged_but_audit(engine, before)


def test_an_admin_puts_and_removes_tax_rates_and_slas(client: TestClient, shop: Shop,
                                                      admin: TestClient, engine: Engine) -> None:
    # tax: the Dutch standard rate, then removed
    assert "Tax rate saved." in notice_after(admin, submit(admin, "/console/settings/tax-rates", {
        "tax_class": "standard", "country": "nl", "rate": "0.21", "name": "BTW 21%"}))
    rates = api(client, shop, "/tax-rates")
    assert [(r["tax_class"], r["country"], r["rate"], r["name"]) for r in rates] == [
        ("standard", "NL", "0.21", "BTW 21%")]
    assert "BTW 21%" in admin.get("/console/settings").text
    notice_after(admin, submit(admin, "/console/settings/tax-rates/remove", {
        "tax_class": "standard", "country": "NL", "region": ""}))
    assert api(client, shop, "/tax-rates") == []
    # SLAs: the web channel's dispatch and every channel's delivery, then one removed
    for channel, stage, minutes in (("web", "dispatch", "120"), ("*", "delivery", "2880")):
        assert "SLA saved." in notice_after(admin, submit(admin, "/console/settings/slas", {
            "channel": channel, "stage": stage, "minutes": minutes}))
    slas = api(client, shop, "/stage-slas")["slas"]
    assert [(s["channel"], s["stage"], s["minutes"]) for s in slas] == [
        ("*", "delivery", 2880), ("web", "dispatch", 120)]
    notice_after(admin, submit(admin, "/console/settings/slas/remove",
                               {"channel": "web", "stage": "dispatch"}))
    assert [s["channel"] for s in api(client, shop, "/stage-slas")["slas"]] == ["*"]
    # bad input changes nothing
    before = row_counts(engine)
    for url, bad in (("/console/settings/tax-rates", {"tax_class": "standard", "country": "NL",
                                                      "rate": "21%", "name": "VAT"}),
                     ("/console/settings/tax-rates", {"tax_class": "standard", "country": "XX",
                                                      "rate": "0.2", "name": "VAT"}),
                     ("/console/settings/slas", {"channel": "web", "stage": "dispatch",
                                                 "minutes": "0"}),
                     ("/console/settings/slas", {"channel": "web", "stage": "teleport",
                                                 "minutes": "60"}),
                     ("/console/settings/slas", {"channel": "nope", "stage": "dispatch",
                                                 "minutes": "60"}),
                     ("/console/settings/slas/remove", {"channel": "web", "stage": "dispatch"})):
        assert refused(admin, url, bad), (url, bad)
    assert unchanged_but_audit(engine, before)


def test_an_api_key_is_shown_once_works_and_stops_when_revoked(
        client: TestClient, shop: Shop, admin: TestClient, engine: Engine) -> None:
    answer = submit(admin, "/console/settings/api-keys", {"name": "erp", "role": "operator"})
    assert answer.status_code == 201
    key = answer.text.split('id="api-key">')[1].split("<")[0]
    assert key.startswith("om_")
    bearer = {"Authorization": f"Bearer {key}"}
    assert client.get("/api/v1/channels", headers=bearer).status_code == 200
    listed = admin.get("/console/settings").text
    assert "erp" in listed and key not in listed
    [issued] = [k for k in api(client, shop, "/api-keys") if k["name"] == "erp"]
    shown = notice_after(admin, submit(admin, f"/console/settings/api-keys/{issued['id']}/revoke"))
    assert "Key revoked" in shown
    assert client.get("/api/v1/channels", headers=bearer).status_code == 401
    before = row_counts(engine)
    for bad in ({"name": "pos", "role": "channel"}, {"name": "x", "role": "root"},
                {"name": " ", "role": "admin"}, {"name": "x", "role": "channel",
                                                  "channel": "nope"}):
        assert refused(admin, "/console/settings/api-keys", bad), bad
    assert unchanged_but_audit(engine, before)


def test_an_admin_manages_users(ordermesh: App, admin: TestClient, engine: Engine,
                                bus: MessageBus) -> None:
    # when the admin adds a store's staff member
    shown = notice_after(admin, submit(admin, "/console/settings/users", {
        "email": "Bo@Shop.example", "name": "Bo", "role": "store_staff", "location": "ST-AMS",
        "password": PASSWORD}))
    assert "bo@shop.example may sign in now." in shown
    bo = console_client(ordermesh)
    sign_in(bo, "bo@shop.example")
    assert "Bo · store staff · ST-AMS" in bo.get("/console").text
    # when the admin makes them an operator and resets their password
    page = f"/console/settings/users/{id_of(engine, 'bo@shop.example')}"
    assert "bo@shop.example" in admin.get(page).text
    assert "User saved." in notice_after(admin, submit(admin, page, {
        "name": "Bo Bakker", "role": "operator", "location": ""}))
    assert notice_after(admin, submit(admin, f"{page}/password", {
        "password": "another long password"})).count("Password set") == 1
    # then their session ended, the old password fails, the new one works, as an operator
    assert bo.get("/console").status_code == 303
    assert bo.post("/console/sign-in", data={"email": "bo@shop.example",
                                             "password": PASSWORD}).status_code == 401
    sign_in(bo, "bo@shop.example", "another long password")
    assert bo.get("/console/fulfilment?location=WH-1").status_code == 200
    # when switched off, they cannot sign in
    assert "Switched off" in notice_after(admin, submit(admin, f"{page}/active",
                                                        {"active": "false"}))
    assert bo.get("/console").status_code == 303
    assert bo.post("/console/sign-in", data={"email": "bo@shop.example",
                                             "password": "another long password"}
                   ).status_code == 401
    # bad users, and the admin locking themselves out, are refused and change nothing
    before = row_counts(engine)
    for bad in ({"email": "cy@shop.example", "name": "Cy", "role": "store_staff",
                 "location": "", "password": PASSWORD},
                {"email": "cy@shop.example", "name": "Cy", "role": "operator",
                 "location": "", "password": "short"},
                {"email": "not-an-email", "name": "Cy", "role": "operator", "location": "",
                 "password": PASSWORD},
                {"email": "bo@shop.example", "name": "Bo", "role": "operator", "location": "",
                 "password": PASSWORD}):
        assert refused(admin, "/console/settings/users", bad), bad
    own_id = id_of(engine, "admin@shop.example")
    assert refused(admin, f"/console/settings/users/{own_id}/active", {"active": "false"})
    assert refused(admin, f"/console/settings/users/{own_id}",
                   {"name": "Admin", "role": "operator", "location": ""})
    assert unchanged_but_audit(engine, before)


def test_operators_may_not_open_settings_and_forms_need_the_token(
        client: TestClient, shop: Shop, ordermesh: App, bus: MessageBus, admin: TestClient,
        engine: Engine) -> None:
    operator = console_client(ordermesh)
    sign_in(operator, a_user(bus, "operator"))
    for path in ("/console/settings", "/console/settings/users", "/console/settings/channels/web",
                 "/console/settings/locations/WH-1"):
        assert operator.get(path).status_code == 403, path
    before = row_counts(engine)
    for url, form in (("/console/settings/slas", {"channel": "*", "stage": "dispatch",
                                                  "minutes": "60"}),
                      ("/console/settings/api-keys", {"name": "x", "role": "admin"}),
                      ("/console/settings/users", {"email": "x@shop.example", "name": "X",
                                                   "role": "admin", "password": PASSWORD})):
        assert submit(operator, url, form).status_code == 403, url
        assert admin.post(url, data=form).status_code == 403, url  # no CSRF token
    assert row_counts(engine) == before
    assert api(client, shop, "/stage-slas")["slas"] == []
