"""Bad input never breaks the console, on SQLite and PostgreSQL: every form of every console
route is posted with garbage in every field (oversized, not a number, a number too big for the
database, a Unicode digit, markup, ragged lists), every id in a path and every search
parameter is replaced by garbage, and no answer is a 5xx. The routes are the app's own, so a
new form is fuzzed as soon as it is served."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from ordermesh.bootstrap import App
from ordermesh.config import Settings
from ordermesh.services.bus import MessageBus
from tests.builders import Shop
from tests.console import console_client, csrf_of, sign_in
from tests.e2e.console_world import a_world, console_routes, fill

pytestmark = pytest.mark.db

GARBAGE = ("", "   ", "x" * 5000, "abc", "-1", "0", "²", "٣", "9" * 40, "1e999999", "NaN",
           "-Infinity", "12,5", "1.2.3", "<script>alert(1)</script>", "../../etc/passwd",
           "true", "2026-02-30", "9999-12-31")
IN_A_PATH = ("9" * 40, "-1", "OM-" + "9" * 30, "x" * 2000, "%C2%B2", "%27%3B--", "..%2F..",
             "%2F%2Fevil.example", "%5C%5Cevil.example", "https:%2F%2Fevil.example",
             "@evil.example", "%0D%0ALocation:%20https:%2F%2Fevil.example")
# the order entry form reads the posted form as a whole: its fields by name
ENTRY = ("action", "idempotency_key", "placed_order", "email", "name", "phone", "method",
         "pickup", "same", "instructions", "payment_token", "sku", "quantity",
         *(f"{kind}_{part}" for kind in ("bill", "ship")
           for part in ("name", "line1", "line2", "city", "postal_code", "region", "country")))
ENTRY_ACTIONS = ("check", "find", "more", "place")
# one field at a time, the others filled in well: garbage that reaches the database
ONE_FIELD = ("y" * 300, "²", "9" * 40, "1e999999", "-1", "abc", "<b>x</b>")
WELL_FILLED = {
    "reason": "damaged", "line_no": "1", "quantity": "1", "allocation": "1:WH-1",
    "amount": "1.00", "reference": "R-1", "paid_on": "2026-03-10", "bill_date": "2026-03-01",
    "number": "B-9", "unit_cost": "4.50", "location": "WH-1", "found": "0",
    "package_type": "M", "weight_grams": "500", "carrier": "courier", "pickup_code": "123456",
    "url": "http://127.0.0.1:9/x", "event_types": "order.placed", "description": "ERP",
    "active": "true", "name": "A name", "shipping_preference": "cheapest", "priority": "10",
    "country": "NL", "rate": "0.21", "tax_class": "standard", "channel": "web",
    "minutes": "60", "stage": "pick", "role": "operator", "email": "ann@example.com",
    "password": "a long enough password", "sku": "TEE-1", "mode": "count", "action": "place",
    "method": "ship", "same": "1", "payment_token": "tok_visa_4242", "bill_line1": "Street 1",
    "bill_city": "Amsterdam", "bill_country": "NL", "bill_postal_code": "1011 AA",
    "bill_name": "Ann", "idempotency_key": "fuzz-key-0123456789"}


def fields_of(dependant: Dependant, kind: str) -> set[str]:
    """The names of a route's form (`body_params`) or query fields, its dependencies' too."""
    own = {param.alias for param in getattr(dependant, kind)}
    return own.union(*(fields_of(d, kind) for d in dependant.dependencies))


def form_fields(key: str, route: APIRoute) -> tuple[str, ...]:
    if key == "POST /console/orders/new":
        return ENTRY
    return tuple(sorted(fields_of(route.dependant, "body_params") - {"csrf_token"}))


@pytest.fixture
def ordermesh(database_url: str, engine: Engine, bus: MessageBus, tmp_path: Path) -> App:
    return App(Settings(database_url=database_url, mailbox_dir=str(tmp_path / "mailbox")),
               engine, bus)


@pytest.fixture
def world(client: TestClient, shop: Shop, bus: MessageBus, engine: Engine,
          ordermesh: App) -> dict[str, str]:
    return a_world(client, shop, bus, engine, Path(ordermesh.settings.mailbox_dir))


@pytest.fixture
def admin(ordermesh: App, world: dict[str, str]) -> TestClient:
    console = console_client(ordermesh)
    sign_in(console, world["email:admin"])
    return console


def in_the_console(location: str) -> bool:
    return location == "/console" or location.startswith(("/console/", "/console?"))


def failures(answers: list[tuple[str, Any]]) -> list[str]:
    """Server errors, and redirects that leave the console (an id must not make one)."""
    return [f"{what}: {answer.status_code} {answer.headers.get('location', '')}"
            for what, answer in answers if (answer.status_code >= 500
            or not in_the_console(answer.headers.get("location", "/console")))]


def test_garbage_in_every_form_field_is_never_a_5xx(admin: TestClient, ordermesh: App,
                                                    world: dict[str, str]) -> None:
    # given an admin (who may post every form) and one of everything to post about
    token = csrf_of(admin)
    answers = []
    for key, route in sorted(console_routes(ordermesh).items()):
        if not key.startswith("POST ") or key == "POST /console/sign-out":
            continue
        url, fields = fill(key.split(" ", 1)[1], world), form_fields(key, route)
        # when every field holds the same garbage, or a ragged list of it
        forms: list[dict[str, Any]] = [{name: value for name in fields} for value in GARBAGE]
        forms.append({name: ["1"] * (1 + n % 2) for n, name in enumerate(fields)})
        if key == "POST /console/orders/new":
            forms += [{**form, "action": action} for form in forms for action in ENTRY_ACTIONS]
        for form in forms:
            answer = admin.post(url, data={**form, "csrf_token": token})
            answers.append((f"{key} {str(form)[:80]}", answer))
        # and when one field holds garbage, the others what they should
        well = {name: WELL_FILLED.get(name, "1") for name in fields}
        for name in fields:
            for value in ONE_FIELD:
                answer = admin.post(url, data={**well, name: value, "csrf_token": token})
                answers.append((f"{key} {name}={value[:20]}", answer))
    # then each is a page, a notice or a refusal: never a server error
    broken = failures(answers)
    assert not broken, "\n".join(broken)
    assert admin.get("/console").status_code == 200  # and the admin is still signed in


def test_garbage_ids_and_search_parameters_are_never_a_5xx(admin: TestClient, ordermesh: App,
                                                           world: dict[str, str]) -> None:
    token = csrf_of(admin)
    answers = []
    for key, route in sorted(console_routes(ordermesh).items()):
        method, path = key.split(" ", 1)
        if key == "POST /console/sign-out":
            continue
        send = admin.get if method == "GET" else (
            lambda url: admin.post(url, data={"csrf_token": token}))
        # when each id in the path is garbage
        for name in route.param_convertors:
            for value in IN_A_PATH:
                url = fill(path, {**world, name: value})
                answers.append((f"{key} {name}={value[:20]}", send(url)))
        # and each search parameter of a page is
        if method == "GET":
            for name in fields_of(route.dependant, "query_params"):
                for value in GARBAGE:
                    url = f"{fill(path, world)}?{name}={quote(value)}"
                    answers.append((f"{key} ?{name}={value[:20]}", send(url)))
    # then none is a server error
    broken = failures(answers)
    assert not broken, "\n".join(broken)
