"""Operations: liveness, readiness, Prometheus metrics, request ids and structured JSON logs
(card numbers masked), on both databases."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Engine

from ordermesh.adapters.metrics import WEBHOOK_FAILURES
from ordermesh.entrypoints.api.routers import ops
from ordermesh.entrypoints.observability import SERVER_LOGGERS, configure_logging
from tests.builders import Shop, an_order

CARD = "4111 1111 1111 1111"


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """JSON logs into a buffer; the logging set-up of the test run is put back afterwards."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level,
             {name: (logging.getLogger(name).handlers[:], logging.getLogger(name).propagate)
              for name in SERVER_LOGGERS})
    buffer = io.StringIO()
    configure_logging("INFO", json=True, stream=buffer)
    yield buffer
    root.handlers[:], root.level = saved[0], saved[1]
    for name, (handlers, propagate) in saved[2].items():
        logging.getLogger(name).handlers[:] = handlers
        logging.getLogger(name).propagate = propagate
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


def place_order(client: TestClient, shop: Shop) -> dict[str, Any]:
    response = client.post("/api/v1/orders", json=an_order(("TEE-1", 2)), headers=shop.headers("web"))
    assert response.status_code == 201, response.text
    order: dict[str, Any] = response.json()
    return order


def scrape(client: TestClient) -> dict[str, Any]:
    response = client.get("/metrics")  # no API key
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {family.name: family for family in text_string_to_metric_families(response.text)}


def samples(family: Any, name: str | None = None) -> dict[tuple[tuple[str, str], ...], float]:
    return {tuple(sorted(s.labels.items())): s.value for s in family.samples
            if name is None or s.name == name}


def test_healthz_answers_without_a_key_or_the_database(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_checks_the_database_and_its_migrations(client: TestClient, engine: Engine) -> None:
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    checks = ready.json()["checks"]
    assert ready.json()["status"] == "ready"
    assert checks["database"] == {"status": "ok"}
    assert checks["migrations"]["status"] == "ok"
    assert checks["migrations"]["current"] == checks["migrations"]["head"] == list(ops.migration_heads())

    # when the database is at another revision than this code's migrations
    with engine.begin() as conn:
        (version,) = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        conn.execute(text("UPDATE alembic_version SET version_num = '0000_elsewhere'"))
    try:
        response = client.get("/readyz")
    finally:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": version})
    # then it is not ready, and says which check failed
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "service.not_ready" and problem["status"] == 503
    assert problem["checks"]["database"] == {"status": "ok"}
    assert problem["checks"]["migrations"]["status"] == "failed"
    assert problem["checks"]["migrations"]["current"] == ["0000_elsewhere"]
    assert "migrations" in problem["detail"]
    assert client.get("/readyz").status_code == 200  # restored


def test_readiness_fails_when_the_database_does_not_answer(tmp_path: Path) -> None:
    unreachable = create_engine(f"sqlite:///{tmp_path / 'missing' / 'ordermesh.db'}")
    assert ops.readiness(unreachable) == {"database": {"status": "failed", "error": "OperationalError"},
                                          "migrations": {"status": "unknown"}}


def test_metrics_count_orders_the_outbox_webhooks_and_request_latency(
        client: TestClient, shop: Shop, engine: Engine) -> None:
    order = place_order(client, shop)
    assert client.get(f"/api/v1/orders/{order['id']}", headers=shop.headers("web")).status_code == 200
    assert client.get(f"/api/v1/orders/{uuid.uuid4()}", headers=shop.headers("web")).status_code == 404
    assert client.get(f"/nowhere/{order['id']}").status_code == 404
    WEBHOOK_FAILURES.labels(reason="timeout").inc()

    families = scrape(client)

    assert samples(families["ordermesh_database_up"]) == {(): 1.0}
    # the order shows in the orders gauge with its channel and status
    assert families["ordermesh_orders"].type == "gauge"
    assert samples(families["ordermesh_orders"]) == {
        (("channel", "web"), ("status", "allocated")): 1.0}
    # the order's events wait in the outbox (no worker runs here)
    (pending,) = samples(families["ordermesh_outbox_pending_events"]).values()
    (age,) = samples(families["ordermesh_outbox_oldest_pending_age_seconds"]).values()
    assert pending >= 2 and 0 <= age < 600
    # the webhook failure counter, counted by whoever delivers webhooks
    assert families["ordermesh_webhook_failures"].type == "counter"
    assert samples(families["ordermesh_webhook_failures"], "ordermesh_webhook_failures_total")[
        (("reason", "timeout"),)] >= 1
    if inspect(engine).has_table("webhook_deliveries"):
        assert set(samples(families["ordermesh_webhook_deliveries"])) == {
            (("status", "failed"),), (("status", "disabled"),)}
    else:
        assert "ordermesh_webhook_deliveries" not in families
    # request latency by route template, never by the raw path
    latency = families["ordermesh_http_request_duration_seconds"]
    assert latency.type == "histogram"
    counts = samples(latency, "ordermesh_http_request_duration_seconds_count")
    route = "/api/v1/orders/{order_id}"
    assert counts[(("method", "GET"), ("route", route), ("status", "200"))] == 1
    assert counts[(("method", "GET"), ("route", route), ("status", "404"))] == 1
    assert counts[(("method", "POST"), ("route", "/api/v1/orders"), ("status", "201"))] == 1
    assert counts[(("method", "GET"), ("route", "<unmatched>"), ("status", "404"))] == 1
    assert not any(order["id"] in value for s in latency.samples for value in s.labels.values())
    buckets = samples(latency, "ordermesh_http_request_duration_seconds_bucket")
    assert buckets[(("le", "+Inf"), ("method", "GET"), ("route", route), ("status", "200"))] == 1


@pytest.mark.parametrize("incoming", ["x" * 500, "abc\ndef", "abc\r\nSet-Cookie: a=b", "two words",
                                      "", "tok_" + CARD.replace(" ", "")])
def test_a_hostile_request_id_is_replaced(client: TestClient, incoming: str) -> None:
    response = client.get("/healthz", headers={"X-Request-Id": incoming})
    assert response.headers.get_list("x-request-id") == [response.headers["x-request-id"]]
    assert uuid.UUID(response.headers["x-request-id"]).version == 4


def test_a_sane_request_id_is_echoed_and_one_is_made_when_missing(client: TestClient) -> None:
    for sane in ("req-7f3a.01", str(uuid.uuid4()), "YWJjZGVm+/=", "a" * 128):
        assert client.get("/healthz", headers={"X-Request-Id": sane}).headers["x-request-id"] == sane
    made = {client.get("/healthz").headers["x-request-id"] for _ in range(2)}
    assert len(made) == 2 and all(uuid.UUID(m).version == 4 for m in made)
    # refused requests carry one too
    assert client.get("/api/v1/orders", headers={"X-Request-Id": "r-401"}).headers[
        "x-request-id"] == "r-401"


def test_json_logs_carry_the_request_and_the_order_and_never_a_card_number(
        client: TestClient, shop: Shop, json_logs: io.StringIO) -> None:
    order = place_order(client, shop)
    response = client.get(f"/api/v1/orders/{order['id']}",
                          headers=shop.headers("operator") | {"X-Request-Id": "req-42"})
    assert response.status_code == 200

    lines = [json.loads(line) for line in json_logs.getvalue().splitlines()]
    (access,) = [r for r in lines if r.get("request_id") == "req-42"
                 and r["logger"] == "ordermesh.access"]
    assert access["order_id"] == order["id"]
    assert access["logger"] == "ordermesh.access" and access["level"] == "info"
    assert access["method"] == "GET" and access["path"] == f"/api/v1/orders/{order['id']}"
    assert access["status"] == 200 and access["duration_ms"] >= 0
    assert access["message"].startswith(f"GET /api/v1/orders/{order['id']} 200 ")
    assert access["timestamp"].endswith("Z")
    placed = [r for r in lines if r.get("path") == "/api/v1/orders" and r.get("method") == "POST"]
    assert placed and "order_id" not in placed[0] and uuid.UUID(placed[0]["request_id"])

    # a card number in a log message, its arguments, the bound context or a traceback is masked
    json_logs.truncate(0), json_logs.seek(0)
    logging.getLogger("ordermesh.services.test").warning("customer typed %s in a note", CARD)
    with structlog.contextvars.bound_contextvars(request_id="req-43", note=f"card {CARD}"):
        structlog.get_logger("ordermesh.test").info("paid", card=int(CARD.replace(" ", "")))
        try:
            raise ValueError(f"bad card {CARD.replace(' ', '-')}")
        except ValueError:
            logging.getLogger("ordermesh.test").exception("failed")
    output = json_logs.getvalue()
    digits = CARD.replace(" ", "")
    assert CARD not in output and digits not in output and "1111-1111" not in output
    first, second, third = (json.loads(line) for line in output.splitlines())
    assert first["message"] == "customer typed [card number removed] in a note"
    assert first["logger"] == "ordermesh.services.test" and first["level"] == "warning"
    assert second["message"] == "paid" and second["card"] == "[card number removed]"
    assert second["request_id"] == "req-43" and second["note"] == "card [card number removed]"
    assert "ValueError: bad card [card number removed]" in third["exception"]
