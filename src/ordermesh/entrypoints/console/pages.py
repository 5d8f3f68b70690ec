"""Signing in and out, the dashboard and the audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from ordermesh.adapters.db import user_queries
from ordermesh.domain.errors import DomainError
from ordermesh.entrypoints.api.deps import Bus, Db, read_connection
from ordermesh.entrypoints.api.rate_limits import sign_in_wait
from ordermesh.entrypoints.console.rendering import Before, page, redirect
from ordermesh.entrypoints.console.session import (
    COOKIE,
    Forbidden,
    SignedIn,
    User,
    need,
    signed_in_user,
)
from ordermesh.services import user_commands as uc
from ordermesh.services.handlers.users import SessionStarted

router = APIRouter(prefix="/console", include_in_schema=False)


def _safe_next(next_url: str | None) -> str:
    """Only a path of the console: a sign-in link cannot send the browser elsewhere."""
    if next_url and next_url.startswith("/console") and "//" not in next_url \
            and "\\" not in next_url and len(next_url) <= 2000:
        return next_url
    return "/console"


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_form(request: Request, user: Annotated[User | None, Depends(signed_in_user)],
                 next: str | None = None) -> HTMLResponse:
    return page(request, user, "sign_in.html", next=_safe_next(next))


@router.post("/sign-in", response_model=None)
def sign_in(request: Request, bus: Bus, email: Annotated[str, Form(max_length=320)],
            password: Annotated[str, Form(max_length=256)],
            next: Annotated[str, Form()] = "/console") -> HTMLResponse | RedirectResponse:
    if request.headers.get("sec-fetch-site") in ("cross-site", "same-site"):
        # a page elsewhere must not sign the browser in to an account of its choosing
        raise Forbidden("sign in from the console's own sign-in page")
    if (wait := sign_in_wait(request, email)) is not None:  # before the password is hashed
        refused = page(request, None, "sign_in.html", status_code=429, next=_safe_next(next),
                       error=f"Too many sign-in attempts. Try again in {wait} seconds.",
                       email=email)
        refused.headers["Retry-After"] = str(wait)
        return refused
    settings = request.app.state.ordermesh.settings
    try:
        started: SessionStarted = bus.handle(uc.SignIn(
            "console", email, password, hours=settings.console_session_hours))
    except DomainError as exc:
        return page(request, None, "sign_in.html", status_code=401, next=_safe_next(next),
                    error=exc.detail, email=email)
    if earlier := request.cookies.get(COOKIE):  # one browser, one session: the old one ends
        bus.handle(uc.SignOut("console", earlier))
    response = redirect(_safe_next(next))
    response.set_cookie(COOKIE, started.token, max_age=settings.console_session_hours * 3600,
                        path="/", httponly=True, samesite="lax",
                        secure=settings.console_secure_cookies)
    return response


@router.post("/sign-out")
def sign_out(request: Request, user: SignedIn, bus: Bus) -> RedirectResponse:
    bus.handle(uc.SignOut(user.actor, request.cookies[COOKIE]))
    response = redirect("/console/sign-in", "You are signed out.")
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/audit", response_class=HTMLResponse)
def audit_log(request: Request, db: Db, user: Annotated[User, need("audit")],
              before: Before = None, actor: str | None = None) -> HTMLResponse:
    with read_connection(db) as conn:
        entries = user_queries.audit_entries(conn, before=before, actor=actor or None, limit=50)
    older = entries[-1]["id"] if len(entries) == 50 else None
    return page(request, user, "audit.html", entries=entries, older=older, actor=actor or "")

