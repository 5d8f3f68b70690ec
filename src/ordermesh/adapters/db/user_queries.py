"""Reads of the console's users, sessions and audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from ordermesh.adapters.db import tables as t


def session_user(conn: Connection, token_hash: str, now: datetime) -> dict[str, Any] | None:
    """The active user of a live session, with the session's CSRF token."""
    u, s = t.users.c, t.user_sessions.c
    row = conn.execute(
        select(u.id, u.email, u.name, u.role, u.location_code, s.csrf_token, s.expires_at)
        .join_from(t.user_sessions, t.users, u.id == s.user_id)
        .where(s.token_hash == token_hash, s.expires_at > now, u.active.is_(True))).first()
    return dict(row._mapping) if row else None


def list_users(conn: Connection) -> list[dict[str, Any]]:
    u = t.users.c
    return [dict(r._mapping) for r in conn.execute(
        select(u.id, u.email, u.name, u.role, u.location_code, u.active, u.created_at,
               u.last_sign_in_at).order_by(u.email))]


def audit_entries(conn: Connection, *, before: int | None = None, actor: str | None = None,
                  limit: int = 50) -> list[dict[str, Any]]:
    """The newest entries first, older than `before` (an entry id) when given."""
    a = t.audit_log.c
    query = select(t.audit_log).order_by(a.id.desc()).limit(limit)
    if before is not None:
        query = query.where(a.id < before)
    if actor:
        query = query.where(a.actor == actor)
    return [dict(r._mapping) for r in conn.execute(query)]
