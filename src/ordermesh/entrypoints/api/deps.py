"""Request dependencies: the wired application, database reads and the caller's API key."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Connection, Engine

from ordermesh.adapters.db import queries
from ordermesh.bootstrap import App
from ordermesh.domain.errors import NotFound
from ordermesh.entrypoints.api.rate_limits import refuse_unknown_key
from ordermesh.services.bus import MessageBus
from ordermesh.services.handlers.setup import hash_api_key

bearer = HTTPBearer(auto_error=False, description="An Ordermesh API key: `Bearer om_...`")


# Dependencies that only look something up are coroutines: FastAPI runs a plain function
# dependency in its thread pool, a hand-over to another thread for nothing.


async def get_app(request: Request) -> App:
    app: App = request.app.state.ordermesh
    return app


async def get_bus(app: Annotated[App, Depends(get_app)]) -> MessageBus:
    return app.bus


@contextmanager
def read_connection(engine: Engine) -> Iterator[Connection]:
    """A read-only connection; reads never block writers. Open it after a command, never
    across one: on SQLite a read transaction keeps the snapshot it started with."""
    with engine.connect().execution_options(read_only=True) as conn:
        yield conn


@contextmanager
def single_read(engine: Engine) -> Iterator[Connection]:
    """A connection for one read statement, outside any transaction: a single statement sees
    one consistent state on its own, and is spared the round trips of opening and ending one."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        yield conn


def read_one(db: Engine, what: str, query: Callable[..., dict[str, Any] | None],
             *args: Any) -> dict[str, Any]:
    """One row, read after a command on a fresh read connection, or 404 naming what was not
    found (the first argument is its key)."""
    with read_connection(db) as conn:
        row = query(conn, *args)
    if row is None:
        raise NotFound(f"{what} {args[0]!r} not found")
    return row


def get_conn(app: Annotated[App, Depends(get_app)]) -> Iterator[Connection]:
    with read_connection(app.engine) as conn:
        yield conn


async def get_engine(app: Annotated[App, Depends(get_app)]) -> Engine:
    return app.engine


@dataclass(frozen=True)
class Principal:
    key_id: str
    name: str
    role: str
    channel: str | None

    @property
    def actor(self) -> str:
        return f"api_key:{self.name}"

    @property
    def channel_scope(self) -> str | None:
        """Channel keys see their own channel only; everyone else sees all."""
        return self.channel if self.role == "channel" else None


def get_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    engine: Annotated[Engine, Depends(get_engine)],
) -> Principal:
    unauthenticated = HTTPException(401, "A valid API key is required",
                                    headers={"WWW-Authenticate": "Bearer"})
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise unauthenticated
    with single_read(engine) as conn:
        row = queries.principal(conn, hash_api_key(credentials.credentials))
    if row is None:
        refuse_unknown_key(request)  # 429 once this address sent too many unknown keys
        raise unauthenticated
    return Principal(row["id"], row["name"], row["role"], row["channel_code"])


ROLE_GRANTS = {"admin": {"admin", "operator"}, "operator": {"operator"}, "channel": {"channel"}}


def require(*roles: str) -> Callable[[Principal], Awaitable[Principal]]:
    """Allow callers holding one of the roles; an admin key also acts as an operator."""

    async def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if not ROLE_GRANTS[principal.role] & set(roles):
            raise HTTPException(403, f"this needs a key with role {' or '.join(roles)}")
        return principal

    return check


Conn = Annotated[Connection, Depends(get_conn)]
Bus = Annotated[MessageBus, Depends(get_bus)]
Db = Annotated[Engine, Depends(get_engine)]
AnyKey = Annotated[Principal, Depends(require("channel", "operator", "admin"))]
OperatorKey = Annotated[Principal, Depends(require("operator"))]
AdminKey = Annotated[Principal, Depends(require("admin"))]
ChannelKey = Annotated[Principal, Depends(require("channel"))]
ChannelOrOperatorKey = Annotated[Principal, Depends(require("channel", "operator"))]
