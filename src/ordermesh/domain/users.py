"""The people who work in the operator console: their roles, what each role may do, and the
rules a new user and a password must meet.

Permissions are data: one table of permission -> roles. The console asks `may(role, what)`
before it shows a page or runs a command; store staff are further bound to their location,
which the console passes on to every command and query it runs for them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ordermesh.domain.errors import InvalidInput

ROLES = ("admin", "operator", "call_centre", "store_staff")

# what -> the roles that may do it
PERMISSIONS: dict[str, frozenset[str]] = {
    "dashboard": frozenset(ROLES),
    "orders.view": frozenset({"admin", "operator", "call_centre"}),
    "orders.act": frozenset({"admin", "operator", "call_centre"}),  # hold, cancel, resend
    "orders.resource": frozenset({"admin", "operator"}),
    "payments.act": frozenset({"admin", "operator"}),  # capture, refund
    "orders.place": frozenset({"admin", "operator", "call_centre"}),
    "inventory.view": frozenset(ROLES),
    "inventory.adjust": frozenset({"admin", "operator", "store_staff"}),
    "purchasing": frozenset({"admin", "operator"}),
    "fulfilment": frozenset({"admin", "operator", "store_staff"}),
    "integrations": frozenset({"admin", "operator"}),
    "analytics": frozenset({"admin", "operator"}),
    "settings": frozenset({"admin"}),
    "users": frozenset({"admin"}),
    "audit": frozenset({"admin"}),
}

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 256  # argon2 takes any length; this keeps a request's cost bounded
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def may(role: str, what: str) -> bool:
    """Whether a role may do `what` (a key of PERMISSIONS; an unknown one is refused)."""
    return role in PERMISSIONS.get(what, frozenset())


@dataclass(frozen=True)
class NewUser:
    email: str
    name: str
    role: str
    location: str | None


def check_user(email: str, name: str, role: str, location: str | None) -> NewUser:
    """A user's details, normalised: the email lower-cased, store staff bound to a location
    and nobody else."""
    email = email.strip().lower()
    if not EMAIL.match(email) or len(email) > 320:
        raise InvalidInput("a user needs a valid email address", field="email")
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidInput("a user needs a name of 1 to 200 characters", field="name")
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}", field="role")
    location = (location or "").strip() or None
    if (role == "store_staff") != (location is not None):
        raise InvalidInput("store staff work at one location, and only store staff are bound to "
                           "one", field="location")
    return NewUser(email, name, role, location)


def check_password(password: str, email: str) -> None:
    """A password long enough to resist guessing, and not the email address itself."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"a password needs at least {MIN_PASSWORD_LENGTH} characters",
                           field="password")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput(f"a password has at most {MAX_PASSWORD_LENGTH} characters",
                           field="password")
    if password.strip().lower() == email.strip().lower():
        raise InvalidInput("a password must not be the email address", field="password")
