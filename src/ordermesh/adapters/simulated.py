"""What the built-in simulated services (the test payment gateway, the courier) share: a
webhook signing secret of their own, made at random once and kept in their books, so every
process that shares the books signs and verifies alike."""

from __future__ import annotations

import base64
import secrets

from sqlalchemy import Column, MetaData, String, Table, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError


def settings_table(metadata: MetaData, name: str) -> Table:
    return Table(name, metadata, Column("name", String(40), primary_key=True),
                 Column("value", String(200), nullable=False))


def kept_secret(engine: Engine, table: Table) -> str:
    """The service's webhook secret (`whsec_` + 32 random bytes), made at its first start."""
    made = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    with engine.begin() as conn:
        try:
            with conn.begin_nested():
                conn.execute(insert(table).values(name="webhook_secret", value=made))
        except IntegrityError:
            pass  # another process made it first
        return str(conn.execute(select(table.c.value).where(
            table.c.name == "webhook_secret")).scalar_one())
