"""The operator console in tests: users of each role, signing in, and posting forms with the
session's CSRF token."""

from __future__ import annotations

import re
from typing import Any

import httpx
from fastapi.testclient import TestClient

from ordermesh.bootstrap import App
from ordermesh.entrypoints.api.app import create_app
from ordermesh.services import user_commands as uc
from ordermesh.services.bus import MessageBus

PASSWORD = "a long test password"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def a_user(bus: MessageBus, role: str, location: str | None = None,
           email: str | None = None) -> str:
    """A console user of this role; their email (the password is PASSWORD)."""
    email = email or f"{role}{'.' + location if location else ''}@shop.example".lower()
    bus.handle(uc.CreateUser("test", email, role.replace("_", " ").title(), role, PASSWORD,
                             location))
    return email


def console_client(ordermesh: App) -> TestClient:
    """A browser-like client: https, so the Secure session cookie is kept and sent."""
    return TestClient(create_app(ordermesh), base_url="https://testserver",
                      raise_server_exceptions=False, follow_redirects=False)


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> None:
    answer = client.post("/console/sign-in", data={"email": email, "password": password})
    assert answer.status_code == 303, answer.text


def csrf_of(client: TestClient) -> str:
    """The session's CSRF token, as every console page carries it."""
    found = CSRF.search(client.get("/console").text)
    assert found, "no CSRF token on the dashboard: not signed in?"
    return found.group(1)


def submit(client: TestClient, url: str, data: dict[str, Any] | None = None) -> httpx.Response:
    """Post a console form as the browser would: with the CSRF token."""
    return client.post(url, data={**(data or {}), "csrf_token": csrf_of(client)})


def notice_after(client: TestClient, answer: httpx.Response) -> str:
    """The page an action sent the browser back to, with the notice it shows."""
    assert answer.status_code == 303, answer.text
    return client.get(answer.headers["location"]).text
