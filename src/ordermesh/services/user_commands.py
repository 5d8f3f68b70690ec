"""Commands of the operator console's users and sessions, beside services/commands.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ordermesh.services.commands import Command


@dataclass(frozen=True)
class CreateUser(Command):
    email: str
    name: str
    role: str
    password: str = field(repr=False)
    location: str | None = None


@dataclass(frozen=True)
class UpdateUser(Command):
    """changes: any of name, role, location, active, password."""

    user_id: str
    changes: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class SignIn(Command):
    """Start a session for the user with this email and password; answers a SessionStarted."""

    email: str
    password: str = field(repr=False)
    hours: int = 8


@dataclass(frozen=True)
class SignOut(Command):
    token: str = field(repr=False)
