"""Every operation of the OpenAPI schema, called with data Schemathesis draws from the schema.

Whatever a client sends, the answer is never a 5xx; every 4xx is an application/problem+json
body matching the documented Problem schema; every status, content type and body is the one
documented; and input the schema refuses is refused. The app is called in process (ASGI) over
a seeded shop, with the admin key (a channel's key where only a channel may call).

The normal run is bounded (a few examples per operation, reproducible). The heavy variant adds
Schemathesis' coverage phase (boundary values, wrong types, unexpected methods, repeated query
parameters) and many more examples, on SQLite and PostgreSQL:
`ORDERMESH_TEST_HEAVY=1 pytest -m heavy tests/e2e/test_schemathesis.py`.

Checks not enabled: positive_data_acceptance (drawn ids name nothing, so valid calls are
rightly 404), the stateful checks (no OpenAPI links), ignored_auth and missing_required_header
(every call carries a valid key: authentication is tested in test_api_access.py), and
max_response_time (no timed assertions)."""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass
from typing import Any

import jsonschema_rs
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from ordermesh.bootstrap import App, bootstrap
from ordermesh.config import Settings
from ordermesh.entrypoints.api.app import create_app
from ordermesh.services import commands as c
from ordermesh.services.bus import MessageBus
from tests.builders import Shop, hold, place

HEAVY = os.environ.get("ORDERMESH_TEST_HEAVY") == "1"

# Placing and importing orders, holding a cart and a till sale are a channel's to do: an admin
# key gets 403 there.
CHANNEL_ONLY = {("POST", "/api/v1/orders"), ("POST", "/api/v1/order-imports"),
                ("POST", "/api/v1/order-imports.csv"), ("POST", "/api/v1/cart-holds"),
                ("POST", "/api/v1/pos-sales")}


def openapi() -> dict[str, Any]:
    """The schema as the app serves it at /openapi.json; building it connects to nothing."""
    return create_app(bootstrap(Settings(database_url="sqlite://"))).openapi()


# Unknown query parameters are ignored by design, and every call carries a valid key: neither
# is drawn as input the API should refuse.
GENERATION = {"allow-extra-parameters": False, "with-security-parameters": False}
LIGHT = schemathesis.Config.from_dict({"generation": GENERATION,
                                       "phases": {"coverage": {"enabled": False}}})
FULL = schemathesis.Config.from_dict({"generation": GENERATION})
SPEC = openapi()
light = schemathesis.openapi.from_dict(SPEC, config=LIGHT)
full = schemathesis.openapi.from_dict(SPEC, config=FULL)


@dataclass
class Api:
    """The app under test, over a seeded shop, and the ids of things the shop holds."""

    app: FastAPI
    shop: Shop
    known: dict[str, str]

    def key_for(self, case: schemathesis.Case) -> tuple[str, dict[str, str]]:
        operation = (case.operation.method.upper(), case.operation.path)
        who = "web" if operation in CHANNEL_ONLY else "admin"
        return who, self.shop.headers(who)


@pytest.fixture
def api(ordermesh: App, shop: Shop, bus: MessageBus) -> Api:
    """The e2e shop, with an order placed and a cart held, so that drawn path parameters can
    be swapped for ids that name something."""
    order = place(bus, ("TEE-1", 1))
    bus.handle(c.UpdateChannel("test", "web", {"cart_hold_minutes": 30}))
    known = {"sku": "TEE-1", "location": "WH-1", "order_id": order.order_id, "line_no": "1",
             "hold_id": hold(bus, ("TEE-1", 1)), "channel": "web",
             "/api/v1/locations/{code}": "WH-1", "/api/v1/channels/{code}": "web"}
    return Api(create_app(ordermesh), shop, known)


def with_known_ids(case: schemathesis.Case, known: dict[str, str]) -> None:
    """Half of the valid cases (chosen from the drawn values, so runs repeat) call on things
    that exist, so that real answers are checked against their documented schemas too."""
    drawn = case.path_parameters or {}
    if not drawn or case.meta is None or case.meta.generation.mode is not GenerationMode.POSITIVE:
        return
    if zlib.crc32(repr(sorted(drawn.items())).encode()) % 2:
        return
    for name in drawn:
        found = known.get(case.operation.path) if name == "code" else known.get(name)
        if found is not None:
            drawn[name] = found


def problem_json(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> bool:
    """A 4xx is an application/problem+json body matching components.schemas.Problem, its
    status the response's, whether or not the operation documents that status."""
    if not 400 <= response.status_code < 500:
        return True
    content_type = response.headers.get("content-type", [""])[0]
    assert content_type.split(";")[0] == "application/problem+json", (
        f"{response.status_code} answered as {content_type!r}")
    body = response.json()
    jsonschema_rs.validate(SPEC["components"]["schemas"]["Problem"], body)
    assert body["status"] == response.status_code
    return True


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, negative_data_rejection, unsupported_method,
          problem_json]
# POST /fulfilments/{id}/{action} also matches this path: a POST here is a documented call
# with an unknown action (422), not a method the path lacks (405).
SHADOWED = {"/api/v1/fulfilments/{fulfilment_id}/packing-slip.pdf"}


def call(case: schemathesis.Case, api: Api) -> None:
    with_known_ids(case, api.known)
    who, headers = api.key_for(case)
    checks = [check for check in CHECKS
              if check is not unsupported_method or case.operation.path not in SHADOWED]
    response = case.call_and_validate(headers=headers, checks=checks, app=api.app)
    assert response.status_code != 403, f"the {who} key may not call {case.operation.label}"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@light.parametrize()
@settings(max_examples=10, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_every_operation_answers_within_its_contract(case: schemathesis.Case, api: Api) -> None:
    call(case, api)


if HEAVY:  # collected only when asked for: 2 x 123 operations, minutes each database

    @pytest.mark.heavy
    @full.parametrize()
    @settings(max_examples=200, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def test_every_operation_answers_within_its_contract_at_length(case: schemathesis.Case,
                                                                   api: Api) -> None:
        call(case, api)
