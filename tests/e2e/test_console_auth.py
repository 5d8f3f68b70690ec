"""The console's door: sign-in, the session cookie, CSRF on every form, roles, and the
security headers of its pages — over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from ordermesh.adapters.db import tables as t
from ordermesh.bootstrap import App
from ordermesh.services.bus import MessageBus
from tests.console import a_user, console_client, csrf_of, sign_in, submit

pytestmark = pytest.mark.db


@pytest.fixture
def console(ordermesh: App) -> TestClient:
    return console_client(ordermesh)


def sessions(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(t.user_sessions)).scalar_one()


def test_a_page_asks_to_sign_in_and_returns_there(console: TestClient, bus: MessageBus) -> None:
    email = a_user(bus, "admin")
    answer = console.get("/console/audit?actor=x")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/sign-in?next=/console/audit%3Factor%3Dx"
    answer = console.post("/console/sign-in", data={
        "email": email, "password": "a long test password", "next": "/console/audit?actor=x"})
    assert answer.status_code == 303 and answer.headers["location"] == "/console/audit?actor=x"
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=lax" in cookie


@pytest.mark.parametrize("next_url", ["https://elsewhere.example/", "//elsewhere.example",
                                      "/console/..\\..//elsewhere", "javascript:alert(1)"])
def test_sign_in_never_sends_the_browser_elsewhere(console: TestClient, bus: MessageBus,
                                                   next_url: str) -> None:
    email = a_user(bus, "operator")
    answer = console.post("/console/sign-in", data={
        "email": email, "password": "a long test password", "next": next_url})
    assert answer.headers["location"] == "/console"


def test_a_wrong_password_is_a_401_page_without_a_session(console: TestClient, bus: MessageBus,
                                                          engine: Engine) -> None:
    email = a_user(bus, "operator")
    answer = console.post("/console/sign-in", data={"email": email, "password": "x" * 20})
    assert answer.status_code == 401 and "set-cookie" not in answer.headers
    assert 'role="alert"' in answer.text and "the email or password is not right" in answer.text
    assert sessions(engine) == 0


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(
        console: TestClient, bus: MessageBus, engine: Engine) -> None:
    # given a signed-in user
    sign_in(console, a_user(bus, "operator"))
    # when a form is posted without the token, or with another's, or a wrong one
    other = console_client_of(console, bus)
    for data in ({}, {"csrf_token": csrf_of(other)}, {"csrf_token": "forged"}):
        answer = console.post("/console/sign-out", data=data)
        # then it is refused, and the session still stands
        assert answer.status_code == 403, data
        assert "security token" in answer.text
    assert console.get("/console").status_code == 200
    assert sessions(engine) == 2
    # with the token, it works
    answer = submit(console, "/console/sign-out")
    assert answer.status_code == 303 and sessions(engine) == 1
    assert console.get("/console").status_code == 303


def console_client_of(console: TestClient, bus: MessageBus) -> TestClient:
    """A second browser, signed in as another user."""
    other = TestClient(console.app, base_url="https://testserver",
                       raise_server_exceptions=False, follow_redirects=False)
    sign_in(other, a_user(bus, "admin"))
    return other


def test_the_csrf_token_may_come_in_a_header(console: TestClient, bus: MessageBus) -> None:
    sign_in(console, a_user(bus, "operator"))
    answer = console.post("/console/sign-out", headers={"X-CSRF-Token": csrf_of(console)})
    assert answer.status_code == 303


def test_a_role_sees_only_its_pages(console: TestClient, bus: MessageBus) -> None:
    sign_in(console, a_user(bus, "call_centre"))
    dashboard = console.get("/console")
    assert dashboard.status_code == 200
    assert 'href="/console/audit"' not in dashboard.text
    answer = console.get("/console/audit")
    assert answer.status_code == 403 and "may not do this" in answer.text


def test_console_pages_carry_strict_security_headers(console: TestClient,
                                                     bus: MessageBus) -> None:
    sign_in(console, a_user(bus, "admin"))
    for path in ("/console", "/console/sign-in", "/console/no-such-page"):
        headers = console.get(path).headers
        assert "script-src 'self'" in headers["content-security-policy"], path
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-frame-options"] == "DENY" and headers["cache-control"] == "no-store"
    missing = console.get("/console/no-such-page")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")


def test_the_audit_log_shows_who_did_what(console: TestClient, bus: MessageBus) -> None:
    email = a_user(bus, "admin")
    sign_in(console, email)
    page = console.get("/console/audit")
    assert page.status_code == 200
    assert f"user:{email}" in page.text and "SignIn" in page.text
