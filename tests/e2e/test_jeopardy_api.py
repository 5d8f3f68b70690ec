"""Stage SLAs (admins set them, operators read them) and the stuck-orders report, as JSON and
CSV, measured now or at a later time; bad input is refused with a problem and writes nothing."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from tests.builders import Shop
from tests.e2e.conftest import row_counts
from tests.e2e.test_fulfilments import place


def later(minutes: int) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()


def stuck(client: TestClient, shop: Shop, **params: Any) -> Any:
    response = client.get("/api/v1/analytics/stuck", headers=shop.headers("operator"),
                          params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_an_admin_sets_changes_and_removes_stage_slas(client: TestClient, shop: Shop) -> None:
    admin, operator = shop.headers("admin"), shop.headers("operator")
    # at first: the defaults only, and the warning share
    listed = client.get("/api/v1/stage-slas", headers=operator).json()
    assert listed["warning_percent"] == 80 and listed["slas"] == []
    assert {d["stage"]: d["minutes"] for d in listed["defaults"]} == {
        "payment": 30, "allocation": 1440, "dispatch": 1440, "delivery": 4320,
        "collection": 4320}
    # an admin sets the channel's own, and every channel's
    put = client.put("/api/v1/stage-slas/web/dispatch", headers=admin, json={"minutes": 60})
    assert put.status_code == 200, put.text
    assert {k: put.json()[k] for k in ("channel", "stage", "minutes")} == {
        "channel": "web", "stage": "dispatch", "minutes": 60}
    assert client.put("/api/v1/stage-slas/*/delivery", headers=admin,
                      json={"minutes": 2880}).status_code == 200
    assert client.put("/api/v1/stage-slas/web/dispatch", headers=admin,
                      json={"minutes": 90}).json()["minutes"] == 90
    slas = client.get("/api/v1/stage-slas", headers=operator).json()["slas"]
    assert [(s["channel"], s["stage"], s["minutes"]) for s in slas] == [
        ("*", "delivery", 2880), ("web", "dispatch", 90)]
    # and removes one: then it is gone
    assert client.delete("/api/v1/stage-slas/web/dispatch", headers=admin).status_code == 204
    gone = client.delete("/api/v1/stage-slas/web/dispatch", headers=admin)
    assert gone.status_code == 404
    assert gone.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("path, body, status", [
    ("/api/v1/stage-slas/web/packing", {"minutes": 60}, 422),
    ("/api/v1/stage-slas/web/dispatch", {"minutes": 0}, 422),
    ("/api/v1/stage-slas/web/dispatch", {"minutes": -60}, 422),
    ("/api/v1/stage-slas/web/dispatch", {"minutes": "60"}, 422),
    ("/api/v1/stage-slas/web/dispatch", {"minutes": 10**9}, 422),
    ("/api/v1/stage-slas/web/dispatch", {"minutes": 60, "warn": 50}, 422),
    ("/api/v1/stage-slas/web/dispatch", {}, 422),
    ("/api/v1/stage-slas/%20web/dispatch", {"minutes": 60}, 422),
    ("/api/v1/stage-slas/nowhere/dispatch", {"minutes": 60}, 404),
])
def test_bad_slas_are_refused_and_write_nothing(client: TestClient, shop: Shop, engine: Engine,
                                                path: str, body: Any, status: int) -> None:
    before = row_counts(engine)
    response = client.put(path, headers=shop.headers("admin"), json=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert row_counts(engine) == before


def test_only_admins_set_slas_and_only_staff_read_them(client: TestClient, shop: Shop) -> None:
    for who in ("operator", "web"):
        put = client.put("/api/v1/stage-slas/web/dispatch", headers=shop.headers(who),
                         json={"minutes": 60})
        assert put.status_code == 403
    assert client.get("/api/v1/stage-slas", headers=shop.headers("web")).status_code == 403
    assert client.get("/api/v1/analytics/stuck", headers=shop.headers("web")).status_code == 403
    assert client.get("/api/v1/stage-slas").status_code == 401


def test_the_stuck_report_lists_orders_near_or_past_their_sla(client: TestClient,
                                                              shop: Shop) -> None:
    # given the web channel dispatches within the hour, and two orders wait for dispatch
    client.put("/api/v1/stage-slas/web/dispatch", headers=shop.headers("admin"),
               json={"minutes": 60})
    first = place(client, shop, ("TEE-1", 1))
    second = place(client, shop, ("TEE-1", 1))
    waiting = place(client, shop, ("MUG-1", 1))  # backordered: waits for stock
    # then nothing is stuck now, and both are at risk at 50 minutes, overdue at 70
    assert stuck(client, shop)["items"] == []
    near = stuck(client, shop, at=later(50))["items"]
    assert [(r["order_id"], r["stage"], r["reason"], r["overdue"]) for r in near] == [
        (first["id"], "dispatch", "slow", False), (second["id"], "dispatch", "slow", False)]
    assert near[0]["number"] == first["number"] and near[0]["sla_minutes"] == 60
    assert near[0]["minutes"] in (-11, -10) and near[0]["channel"] == "web"
    # a day on, the backordered order too; filters narrow the list
    day = stuck(client, shop, at=later(24 * 60))["items"]
    assert {(r["order_id"], r["stage"]) for r in day} == {
        (first["id"], "dispatch"), (second["id"], "dispatch"),
        (waiting["id"], "allocation")}
    only = stuck(client, shop, at=later(24 * 60), stage="allocation")["items"]
    assert [(r["order_id"], r["reason"]) for r in only] == [(waiting["id"], "awaiting_stock")]
    assert stuck(client, shop, at=later(24 * 60), channel="pos")["items"] == []
    assert len(stuck(client, shop, at=later(24 * 60), limit=1)["items"]) == 1


def test_the_stuck_report_as_csv(client: TestClient, shop: Shop) -> None:
    client.put("/api/v1/stage-slas/*/dispatch", headers=shop.headers("admin"),
               json={"minutes": 30})
    order = place(client, shop, ("TEE-1", 1))
    response = client.get("/api/v1/analytics/stuck.csv", headers=shop.headers("operator"),
                          params={"at": later(45)})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    [row] = list(csv.DictReader(io.StringIO(response.text)))
    assert (row["order_id"], row["number"], row["stage"], row["reason"], row["overdue"]) == (
        order["id"], order["number"], "dispatch", "slow", "True")
    assert datetime.fromisoformat(row["due_at"]) > datetime.fromisoformat(row["started_at"])
    assert row["sla_minutes"] == "30" and row["minutes"] in ("14", "15")


@pytest.mark.parametrize("params", [{"stage": "packing"}, {"limit": 0}, {"limit": 5000},
                                    {"at": "tomorrow"}, {"at": "2026-11-02T09:00:00"},
                                    {"channel": "no such channel"}])
def test_bad_report_parameters_are_refused(client: TestClient, shop: Shop,
                                           params: dict[str, Any]) -> None:
    for path in ("/api/v1/analytics/stuck", "/api/v1/analytics/stuck.csv"):
        response = client.get(path, headers=shop.headers("operator"), params=params)
        assert response.status_code == 422, (path, params, response.text)
        assert response.headers["content-type"] == "application/problem+json"
