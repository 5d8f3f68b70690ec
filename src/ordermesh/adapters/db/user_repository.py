"""The console's users, their sessions and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection

from ordermesh.adapters.db import tables as t
from ordermesh.adapters.db.repositories import insert_or_conflict


class SqlUsers:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def by_email(self, email: str) -> dict[str, Any] | None:
        row = self.conn.execute(select(t.users).where(t.users.c.email == email)).first()
        return dict(row._mapping) if row else None

    def get(self, user_id: str) -> dict[str, Any] | None:
        row = self.conn.execute(select(t.users).where(t.users.c.id == user_id)).first()
        return dict(row._mapping) if row else None

    def add(self, values: dict[str, Any]) -> None:
        insert_or_conflict(self.conn, t.users, values)

    def update(self, user_id: str, values: dict[str, Any]) -> None:
        self.conn.execute(update(t.users).where(t.users.c.id == user_id).values(values))

    def add_session(self, values: dict[str, Any]) -> None:
        self.conn.execute(insert(t.user_sessions), values)

    def end_sessions(self, *, token_hash: str | None = None, user_id: str | None = None,
                     expired_before: datetime | None = None) -> int:
        s = t.user_sessions.c
        statement = delete(t.user_sessions)
        if token_hash is not None:
            statement = statement.where(s.token_hash == token_hash)
        if user_id is not None:
            statement = statement.where(s.user_id == user_id)
        if expired_before is not None:
            statement = statement.where(s.expires_at < expired_before)
        return self.conn.execute(statement).rowcount

    def audit(self, entry: dict[str, Any]) -> None:
        self.conn.execute(insert(t.audit_log), entry)
