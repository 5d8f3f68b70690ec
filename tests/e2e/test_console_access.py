"""Who may use which console route, over HTTP on SQLite and PostgreSQL: one table, route by
role, checked against every route the app serves under /console — a new route fails here
until it is given its row.

The table says which roles may use a route. Everyone else is refused: anonymous, by a 303 to
the sign-in page; a signed-in role without the permission, by a 403; store staff asking for
another location's fulfilment, stock or pick list, by a 403 or a 404 (it does not exist for
them). Every POST without the session's CSRF token is refused (403) whoever sends it. Nothing
a GET or a refused request does may change a row of the database; what the roles allowed do
must never be a 403 or a 5xx, and every page they open is there (200) for the world below.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.engine import Engine

from ordermesh.adapters.db import tables as t
from ordermesh.bootstrap import App
from ordermesh.config import Settings
from ordermesh.services.bus import MessageBus
from tests.builders import Shop
from tests.console import console_client, csrf_of, sign_in
from tests.e2e.console_world import ROLES, STORE_ROLES, a_world, console_routes, fill

pytestmark = pytest.mark.db

ADMIN = frozenset({"admin"})
OFFICE = frozenset({"admin", "operator"})
ORDERS = frozenset({"admin", "operator", "call_centre"})
FLOOR = frozenset({"admin", "operator", "store_staff"})  # store staff of WH-1 only
EVERYONE = frozenset(ROLES) - {"anonymous"}
PUBLIC = frozenset(ROLES)

# "METHOD path" -> the roles that may use it
ACCESS: dict[str, frozenset[str]] = {
    "GET /console/sign-in": PUBLIC,
    "POST /console/sign-in": PUBLIC,
    "POST /console/sign-out": EVERYONE,
    "GET /console": EVERYONE,
    "GET /console/audit": ADMIN,
    # order entry and orders
    "GET /console/orders/new": ORDERS,
    "POST /console/orders/new": ORDERS,
    "GET /console/availability": ORDERS,
    "GET /console/orders": ORDERS,
    "GET /console/orders/{order_id}": ORDERS,
    "GET /console/invoices/{invoice_id}.pdf": ORDERS,
    "POST /console/orders/{order_id}/hold": ORDERS,
    "POST /console/orders/{order_id}/release": ORDERS,
    "POST /console/orders/{order_id}/cancel": ORDERS,
    "POST /console/orders/{order_id}/cancel-units": ORDERS,
    "POST /console/orders/{order_id}/notifications/{notification_id}/resend": ORDERS,
    "POST /console/orders/{order_id}/resource": OFFICE,
    "POST /console/orders/{order_id}/capture": OFFICE,
    "POST /console/orders/{order_id}/refund": OFFICE,
    # inventory: store staff see their own location, and adjust it only
    "GET /console/inventory": EVERYONE,
    "POST /console/inventory/adjust": FLOOR,
    # purchasing
    "GET /console/purchasing": OFFICE,
    "POST /console/purchasing/drafts": OFFICE,
    "GET /console/purchasing/bills/{bill_id}": OFFICE,
    "POST /console/purchasing/bills/{bill_id}/approve": OFFICE,
    "POST /console/purchasing/bills/{bill_id}/reject": OFFICE,
    "POST /console/purchasing/bills/{bill_id}/payments": OFFICE,
    "GET /console/purchasing/{po_id}.pdf": OFFICE,
    "GET /console/purchasing/{po_id}": OFFICE,
    "POST /console/purchasing/{po_id}/send": OFFICE,
    "POST /console/purchasing/{po_id}/close": OFFICE,
    "POST /console/purchasing/{po_id}/cancel": OFFICE,
    "POST /console/purchasing/{po_id}/receive": OFFICE,
    "POST /console/purchasing/{po_id}/bills": OFFICE,
    # fulfilment at WH-1
    "GET /console/fulfilment": FLOOR,
    "POST /console/fulfilment/release": FLOOR,
    "GET /console/fulfilment/pick-list": FLOOR,
    "GET /console/fulfilment/pick-list/{location}.pdf": FLOOR,
    "GET /console/fulfilment/{fulfilment_id}": FLOOR,
    "GET /console/fulfilment/{fulfilment_id}/packing-slip.pdf": FLOOR,
    "GET /console/fulfilment/{fulfilment_id}/packages/{number}/label.pdf": FLOOR,
    "POST /console/fulfilment/{fulfilment_id}/short-pick": FLOOR,
    "POST /console/fulfilment/{fulfilment_id}/pack": FLOOR,
    "POST /console/fulfilment/{fulfilment_id}/shipment": FLOOR,
    "POST /console/fulfilment/{fulfilment_id}/dispatch": FLOOR,
    "POST /console/fulfilment/{fulfilment_id}/collect": FLOOR,
    "POST /console/fulfilment/{fulfilment_id}/return-to-stock": FLOOR,
    "POST /console/fulfilment/{fulfilment_id}/reject": FLOOR,
    "POST /console/fulfilment/{fulfilment_id}/{step}": FLOOR,
    # analytics
    "GET /console/analytics": OFFICE,
    "GET /console/analytics/{table}.csv": OFFICE,
    # integrations: operators read, an admin changes
    "GET /console/integrations": OFFICE,
    "POST /console/integrations/webhooks": ADMIN,
    "GET /console/integrations/webhooks/{subscription_id}": OFFICE,
    "POST /console/integrations/webhooks/{subscription_id}/active": ADMIN,
    "POST /console/integrations/webhooks/{subscription_id}/deliveries/{delivery_id}/replay":
        ADMIN,
    "GET /console/integrations/mailbox": OFFICE,
    "GET /console/integrations/mailbox/{name}": OFFICE,
    "GET /console/integrations/mailbox/{name}/html": OFFICE,
    # settings and users
    "GET /console/settings": ADMIN,
    "GET /console/settings/channels/{code}": ADMIN,
    "POST /console/settings/channels/{code}": ADMIN,
    "GET /console/settings/locations/{code}": ADMIN,
    "POST /console/settings/locations/{code}": ADMIN,
    "POST /console/settings/tax-rates": ADMIN,
    "POST /console/settings/tax-rates/remove": ADMIN,
    "POST /console/settings/slas": ADMIN,
    "POST /console/settings/slas/remove": ADMIN,
    "POST /console/settings/api-keys": ADMIN,
    "POST /console/settings/api-keys/{key_id}/revoke": ADMIN,
    "GET /console/settings/users": ADMIN,
    "POST /console/settings/users": ADMIN,
    "GET /console/settings/users/{user_id}": ADMIN,
    "POST /console/settings/users/{user_id}": ADMIN,
    "POST /console/settings/users/{user_id}/active": ADMIN,
    "POST /console/settings/users/{user_id}/password": ADMIN,
}
# where a route is asked about WH-1 by name, not by an id
QUERIES = {"GET /console/fulfilment": "location=WH-1",
           "GET /console/fulfilment/pick-list": "location=WH-1",
           "GET /console/inventory": "sku=TEE-1", "GET /console/availability": "sku=TEE-1"}
# a form filled in well: a refusal is for who asks, not for what they typed
FORMS = {"POST /console/fulfilment/release": {"location": "WH-1"},
         "POST /console/fulfilment/{fulfilment_id}/collect": {"pickup_code": "123456"},
         "POST /console/fulfilment/{fulfilment_id}/reject": {"reason": "damaged"},
         "POST /console/fulfilment/{fulfilment_id}/short-pick": {"line_no": "1", "found": "0"},
         "POST /console/integrations/webhooks": {"url": "http://127.0.0.1:9/x",
                                                 "event_types": "order.placed"},
         "POST /console/inventory/adjust": {"sku": "TEE-1", "location": "WH-1",
                                            "quantity": "7", "reason": "count"}}


# -- the world every route is asked about -----------------------------------------------------


@pytest.fixture
def mailbox(tmp_path: Path) -> Path:
    return tmp_path / "mailbox"


@pytest.fixture
def ordermesh(database_url: str, engine: Engine, bus: MessageBus, mailbox: Path) -> App:
    return App(Settings(database_url=database_url, mailbox_dir=str(mailbox)), engine, bus)


@pytest.fixture
def world(client: TestClient, shop: Shop, bus: MessageBus, engine: Engine,
          mailbox: Path) -> dict[str, str]:
    return a_world(client, shop, bus, engine, mailbox)


def url_of(key: str, world: dict[str, str]) -> str:
    """The route's path with the world's ids, and its query."""
    url = fill(key.split(" ", 1)[1], world)
    return f"{url}?{QUERIES[key]}" if key in QUERIES else url


def snapshot(engine: Engine) -> dict[str, list[str]]:
    """Every row of every table: what a request that changes nothing leaves as it was."""
    with engine.connect() as conn:
        return {table.name: sorted(repr(tuple(row)) for row in conn.execute(select(table)))
                for table in t.metadata.sorted_tables}


def changed(before: dict[str, list[str]], after: dict[str, list[str]]) -> list[str]:
    return [name for name in before if before[name] != after[name]]


# -- what each answer must be -----------------------------------------------------------------


def verdict(role: str, key: str, method: str, answer: Any) -> str | None:
    """What is wrong with the answer to `role` asking `key`, or None."""
    status, location = answer.status_code, answer.headers.get("location", "")
    if role == "anonymous" and ACCESS[key] != PUBLIC:
        expected = "/console/sign-in?next="
        return None if status == 303 and location.startswith(expected) else \
            f"{status} {location}: anonymous should be sent to sign in"
    if role not in ACCESS[key]:
        refused = {403, 404} if role in STORE_ROLES else {403}
        return None if status in refused else f"{status}: should be refused ({refused})"
    if status >= 500 or status == 403 or location.startswith("/console/sign-in?"):
        return f"{status} {location}: should be allowed"
    if method == "GET" and ACCESS[key] != PUBLIC and status != 200:
        return f"{status}: the page should be there"
    return None


def test_every_console_route_has_its_row_in_the_table(ordermesh: App) -> None:
    served = set(console_routes(ordermesh))
    assert len(served) > 70
    assert served - set(ACCESS) == set(), "give each new route its row in ACCESS"
    assert set(ACCESS) - served == set(), "a route in ACCESS is no longer served"


@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_what_the_table_says(role: str, world: dict[str, str], ordermesh: App,
                                            engine: Engine) -> None:
    # given a browser of the role (signed in, unless anonymous)
    console = console_client(ordermesh)
    if role != "anonymous":
        sign_in(console, world[f"email:{role}"])
    token = csrf_of(console) if role != "anonymous" else ""
    wrong: list[str] = []
    before = snapshot(engine)
    # when it opens every page, and posts every form without the token (and, where its role
    # may not, with it)
    for key in sorted(ACCESS):
        method = key.split(" ", 1)[0]
        url, form = url_of(key, world), FORMS.get(key, {})
        if method == "GET":
            wrong.append(f"{key}: {verdict(role, key, method, console.get(url))}")
            continue
        if ACCESS[key] == PUBLIC:
            continue
        answer = console.post(url, data=form)
        if role != "anonymous" and answer.status_code != 403:
            wrong.append(f"{key}: {answer.status_code} without the CSRF token")
        elif role == "anonymous":
            wrong.append(f"{key}: {verdict(role, key, method, answer)}")
        if role != "anonymous" and role not in ACCESS[key]:
            answer = console.post(url, data={**form, "csrf_token": token})
            wrong.append(f"{key}: {verdict(role, key, method, answer)}")
    # then each answer is the table's, and nothing was written
    assert [w for w in wrong if not w.endswith(": None")] == []
    assert changed(before, snapshot(engine)) == []
    # when it posts the forms its role may use (signing out last)
    allowed = [k for k in sorted(ACCESS) if k.startswith("POST ") and role in ACCESS[k]
               and ACCESS[k] != PUBLIC]
    for key in sorted(allowed, key=lambda k: k == "POST /console/sign-out"):
        answer = console.post(url_of(key, world), data={**FORMS.get(key, {}),
                                                        "csrf_token": token})
        wrong.append(f"{key}: {verdict(role, key, 'POST', answer)}")
    # then none is refused, and none fails
    assert [w for w in wrong if not w.endswith(": None")] == []


def test_a_session_ends_at_sign_out_and_a_new_sign_in_is_a_new_session(
        world: dict[str, str], ordermesh: App, engine: Engine) -> None:
    # given an operator signed in, whose cookie is copied by someone else
    console = console_client(ordermesh)
    sign_in(console, world["email:operator"])
    first = console.cookies["om_session"]
    # when they sign in again on the same browser
    token = csrf_of(console)
    sign_in(console, world["email:operator"])
    # then the session is a new one, and the old cookie signs nobody in
    assert console.cookies["om_session"] != first and csrf_of(console) != token
    stolen = console_client(ordermesh)
    stolen.cookies.set("om_session", first)
    assert stolen.get("/console").status_code == 303
    # when they sign out, the cookie they had is worth nothing on the server either
    current = console.cookies["om_session"]
    assert console.post("/console/sign-out", data={"csrf_token": csrf_of(console)}
                        ).status_code == 303
    stolen.cookies.set("om_session", current)
    assert stolen.get("/console").status_code == 303
    with engine.connect() as conn:
        assert conn.execute(select(t.user_sessions)).all() == []


def test_a_sign_in_posted_from_another_site_is_refused(world: dict[str, str],
                                                       ordermesh: App) -> None:
    # a page elsewhere cannot sign the browser in to an account of its choosing
    console = console_client(ordermesh)
    answer = console.post("/console/sign-in", headers={"Sec-Fetch-Site": "cross-site"}, data={
        "email": world["email:operator"], "password": "a long test password"})
    assert answer.status_code == 403 and "om_session" not in console.cookies
    # from the sign-in page itself it works
    answer = console.post("/console/sign-in", headers={"Sec-Fetch-Site": "same-origin"}, data={
        "email": world["email:operator"], "password": "a long test password"})
    assert answer.status_code == 303 and "om_session" in console.cookies


def test_store_staff_see_no_other_locations_stock(world: dict[str, str],
                                                  ordermesh: App) -> None:
    # given store staff of ST-AMS, and the T-shirts' stock and movements at WH-1
    console = console_client(ordermesh)
    sign_in(console, world["email:other_store"])
    # when they look up the T-shirt
    page = console.get("/console/inventory?sku=TEE-1").text
    # then only their own store's level and ledger are there
    assert "ST-AMS" in page and "WH-1" not in page


def test_the_mailbox_serves_its_html_only_sandboxed(world: dict[str, str], ordermesh: App,
                                                    mailbox: Path) -> None:
    console = console_client(ordermesh)
    sign_in(console, world["email:operator"])
    answer = console.get(f"/console/integrations/mailbox/{world['name']}/html")
    policy = answer.headers["content-security-policy"]
    assert policy.startswith("sandbox;") and "script-src" not in policy
    assert "default-src 'none'" in policy
    page = console.get(f"/console/integrations/mailbox/{world['name']}").text
    assert '<iframe class="mail-html" sandbox=""' in page
    # a name that is not in the folder's listing opens nothing
    os.symlink(mailbox / world["name"], mailbox / "link.eml")
    for name in ("link.eml", "..%2Fsecret.eml", "%2E%2E", "nothing.eml"):
        assert console.get(f"/console/integrations/mailbox/{name}").status_code == 404, name
