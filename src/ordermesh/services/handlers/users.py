"""The console's users: creating and changing them, signing in and out.

Passwords are hashed with argon2id (argon2-cffi's defaults, RFC 9106's low-memory profile).
A session is a random token in the browser's cookie; the database keeps only its SHA-256, so
a copy of the database signs nobody in. Checking a password takes tens of milliseconds on
purpose: it runs outside any transaction, between a read and a short write.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ordermesh.domain.errors import InvalidInput, NotFound, SignInRefused
from ordermesh.domain.events import utcnow
from ordermesh.domain.users import check_password, check_user
from ordermesh.services import user_commands as uc
from ordermesh.services.audit import USER_PREFIX
from ordermesh.services.ports import UnitOfWork

HASHER = PasswordHasher()
# Checked when the email is unknown, so an unknown email costs as long as a wrong password.
_DECOY = HASHER.hash(secrets.token_urlsafe(16))
EDITABLE = frozenset({"name", "role", "location", "active", "password"})


@dataclass(frozen=True)
class SessionStarted:
    token: str  # for the cookie only: never stored
    csrf_token: str
    user_id: str
    expires_at: datetime


def hash_session_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(cmd: uc.CreateUser, uow: UnitOfWork) -> str:
    user = check_user(cmd.email, cmd.name, cmd.role, cmd.location)
    check_password(cmd.password, user.email)
    password_hash = HASHER.hash(cmd.password)
    user_id = str(uuid.uuid4())
    with uow:
        if user.location is not None and uow.catalogue.location(user.location) is None:
            raise NotFound(f"location {user.location!r} does not exist")
        if uow.users.by_email(user.email) is not None:
            raise InvalidInput(f"a user with email {user.email!r} exists", field="email")
        uow.users.add({"id": user_id, "email": user.email, "name": user.name,
                       "password_hash": password_hash, "role": user.role,
                       "location_code": user.location, "active": True,
                       "created_at": utcnow()})
        uow.commit()
    return user_id


def update_user(cmd: uc.UpdateUser, uow: UnitOfWork) -> None:
    """Change a user; a new role, location or password, or switching the user off, ends the
    user's sessions, so the change holds at once."""
    if unknown := set(cmd.changes) - EDITABLE:
        raise InvalidInput(f"cannot change {', '.join(sorted(unknown))}")
    password = cmd.changes.get("password")
    with uow:
        current = uow.users.get(cmd.user_id)
        if current is None:
            raise NotFound(f"user {cmd.user_id!r} not found")
        values = _changed(current, cmd.changes)
        if password is not None:
            check_password(str(password), current["email"])
            values["password_hash"] = HASHER.hash(str(password))
        if values.get("location_code") and uow.catalogue.location(values["location_code"]) is None:
            raise NotFound(f"location {values['location_code']!r} does not exist")
        if values:  # nothing changed (say, switched on while on): nothing to write
            uow.users.update(cmd.user_id, values)
        if {"role", "location_code", "password_hash"} & set(values) or values.get("active") is False:
            uow.users.end_sessions(user_id=cmd.user_id)
        uow.commit()


def _changed(current: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    role = changes.get("role", current["role"])
    if "location" in changes:
        location = changes["location"]
    else:  # a store's staff keep their store; a new role without one drops it
        location = current["location_code"] if role == "store_staff" else None
    user = check_user(current["email"], changes.get("name", current["name"]), role, location)
    values: dict[str, Any] = {"name": user.name, "role": user.role,
                              "location_code": user.location}
    if "active" in changes:
        values["active"] = bool(changes["active"])
    return {k: v for k, v in values.items() if current.get(k) != v}


def sign_in(cmd: uc.SignIn, uow: UnitOfWork) -> SessionStarted:
    email = cmd.email.strip().lower()
    with uow:
        user = uow.users.by_email(email)
    if not _password_matches(user, cmd.password):
        with uow:  # a refusal is written down too: the audit shows guessing
            uow.users.audit({"at": utcnow(), "actor": f"{USER_PREFIX}{email[:190]}",
                             "action": "SignInRefused", "target": None, "detail": {}})
            uow.commit()
        raise SignInRefused("the email or password is not right, or the user is switched off")
    assert user is not None
    token, csrf, now = secrets.token_urlsafe(32), secrets.token_urlsafe(32), utcnow()
    expires_at = now + timedelta(hours=cmd.hours)
    with uow:
        uow.users.end_sessions(expired_before=now)  # tidy as we go
        uow.users.add_session({"token_hash": hash_session_token(token), "user_id": user["id"],
                               "csrf_token": csrf, "created_at": now, "expires_at": expires_at})
        values: dict[str, Any] = {"last_sign_in_at": now}
        if HASHER.check_needs_rehash(user["password_hash"]):
            values["password_hash"] = HASHER.hash(cmd.password)
        uow.users.update(user["id"], values)
        uow.users.audit({"at": now, "actor": f"{USER_PREFIX}{user['email']}",
                         "action": "SignIn", "target": None, "detail": {}})
        uow.commit()
    return SessionStarted(token, csrf, user["id"], expires_at)


def _password_matches(user: dict[str, Any] | None, password: str) -> bool:
    try:
        HASHER.verify(user["password_hash"] if user else _DECOY, password)
    except (VerificationError, InvalidHashError):
        return False
    return user is not None and bool(user["active"])


def sign_out(cmd: uc.SignOut, uow: UnitOfWork) -> None:
    with uow:
        uow.users.end_sessions(token_hash=hash_session_token(cmd.token))
        uow.commit()
