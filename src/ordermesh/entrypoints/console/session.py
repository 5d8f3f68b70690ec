"""Who is signed in to the console, what they may do, and the CSRF check on every form.

The session cookie is HTTP-only, SameSite=Lax and Secure; it holds a random token whose
SHA-256 names a row of `user_sessions`. Every state-changing request (every POST) must carry
the session's CSRF token in a form field `csrf_token` (or an `X-CSRF-Token` header): a page of
another site can make the browser post with the cookie, but cannot read the token.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request

from ordermesh.adapters.db import user_queries
from ordermesh.bootstrap import App
from ordermesh.domain.events import utcnow
from ordermesh.domain.users import may
from ordermesh.entrypoints.api.deps import get_app, read_connection
from ordermesh.services.audit import USER_PREFIX
from ordermesh.services.handlers.users import hash_session_token

COOKIE = "om_session"
CSRF_FIELD = "csrf_token"


@dataclass(frozen=True)
class User:
    id: str
    email: str
    name: str
    role: str
    location: str | None  # store staff: the one location they see and work
    csrf_token: str

    @property
    def actor(self) -> str:
        return f"{USER_PREFIX}{self.email}"

    def may(self, what: str) -> bool:
        return may(self.role, what)

    def sees(self, location: str | None) -> bool:
        """Store staff see their own location only; everyone else sees all."""
        return self.location is None or location == self.location


class SignInNeeded(Exception):
    """No live session: the browser is sent to the sign-in page, and back afterwards."""

    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


class Forbidden(Exception):
    """Signed in, but the role does not allow it (or the CSRF token is missing or wrong)."""

    def __init__(self, detail: str) -> None:
        self.detail = detail


def signed_in_user(request: Request, app: Annotated[App, Depends(get_app)]) -> User | None:
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    with read_connection(app.engine) as conn:
        row = user_queries.session_user(conn, hash_session_token(token), utcnow())
    if row is None:
        return None
    return User(row["id"], row["email"], row["name"], row["role"], row["location_code"],
                row["csrf_token"])


async def current_user(request: Request,
                       user: Annotated[User | None, Depends(signed_in_user)]) -> User:
    """The signed-in user; a POST must also carry the session's CSRF token."""
    if user is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInNeeded(target if request.method == "GET" else "/console")
    if request.method not in ("GET", "HEAD"):
        sent = request.headers.get("x-csrf-token")
        if sent is None:
            form = await request.form()
            value = form.get(CSRF_FIELD)
            sent = value if isinstance(value, str) else None
        if sent is None or not secrets.compare_digest(sent, user.csrf_token):
            raise Forbidden("the form's security token is missing or out of date: reload the "
                            "page and try again")
    return user


def need(what: str) -> object:
    """A dependency: the signed-in user, who must be allowed to do `what`."""

    def check(user: Annotated[User, Depends(current_user)]) -> User:
        if not user.may(what):
            raise Forbidden(f"your role ({user.role}) may not do this")
        return user

    return Depends(check)


def sign_in_url(next_url: str) -> str:
    return f"/console/sign-in?next={quote(next_url, safe='/')}"


SignedIn = Annotated[User, Depends(current_user)]
