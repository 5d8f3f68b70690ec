"""Signing in to the console in a browser: the form's fields are labelled, the keyboard walks
through them with a visible focus, a wrong password is refused with a message, the right one
lands on the dashboard with the session cookie HTTP-only, and signing out ends it."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser

from ordermesh.services.bus import MessageBus
from tests.browser.conftest import new_page, screenshot, sign_in_page
from tests.console import a_user

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def test_sign_in_with_the_keyboard(browser: Browser, server: str, bus: MessageBus) -> None:
    # given an admin
    email = a_user(bus, "admin")
    page, elsewhere = new_page(browser)
    # when they open the console, they are sent to sign in
    page.goto(f"{server}/console/audit")
    assert "/console/sign-in" in page.url
    screenshot(page, "sign-in")
    # the fields are labelled, and the keyboard reaches each with a visible outline
    email_field, password_field = page.get_by_label("Email"), page.get_by_label("Password")
    assert email_field.is_visible() and password_field.is_visible()
    email_field.focus()
    page.keyboard.type(email)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "password"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("none", "hidden")
    # a wrong password is refused, saying so
    page.keyboard.type("not the password at all")
    page.keyboard.press("Enter")
    page.wait_for_load_state()
    assert page.get_by_role("alert").inner_text().startswith("the email or password")
    # the right one lands where they were going, with an HTTP-only session cookie
    page.get_by_label("Password").fill("a long test password")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{server}/console/audit")
    cookie = next(c for c in page.context.cookies() if c["name"] == "om_session")
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Lax"
    assert page.evaluate("document.cookie").find("om_session") == -1
    assert elsewhere == []


def test_signing_out_ends_the_session(browser: Browser, server: str, bus: MessageBus) -> None:
    page, _ = sign_in_page(browser, server, a_user(bus, "admin"))
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{server}/console/sign-in")
    assert page.get_by_role("status").inner_text() == "You are signed out."
    page.goto(f"{server}/console")
    assert "/console/sign-in" in page.url


def test_a_post_without_the_csrf_token_is_refused_in_the_browser(
        browser: Browser, server: str, bus: MessageBus) -> None:
    # given a signed-in admin, the browser holding the session cookie
    page, _ = sign_in_page(browser, server, a_user(bus, "admin"))
    # when a script posts the form that adds a user without the token (as a forged form
    # would: the cookie goes along, the token cannot), it is refused
    status = page.evaluate("""async () => {
        const form = new URLSearchParams({email: 'mallory@shop.example', name: 'Mallory',
                                          role: 'admin', password: 'a long password!'});
        const answer = await fetch('/console/settings/users', {method: 'POST', body: form});
        return answer.status; }""")
    assert status == 403
    # and nobody was added, and the session still stands
    users = page.goto(f"{server}/console/settings/users")
    assert users is not None and users.status == 200
    assert "admin@shop.example" in page.content()
    assert "mallory@shop.example" not in page.content()
    page.goto(f"{server}/console")
    assert page.url == f"{server}/console" and page.get_by_role("button", name="Sign out").count()
