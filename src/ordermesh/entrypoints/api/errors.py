"""Every error is RFC 9457 application/problem+json with a stable `code`."""

from __future__ import annotations

import logging
from contextvars import ContextVar
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException

from ordermesh.adapters.db.engine import retry_reason
from ordermesh.domain import errors as e

log = logging.getLogger("ordermesh.api")

# The commands a request has done so far (set per request by the observability middleware):
# a database failure after one of them is not answered as if nothing changed.
DONE: ContextVar[list[str] | None] = ContextVar("ordermesh_commands_done", default=None)


def note_done(command: object) -> None:
    if (done := DONE.get()) is not None:
        done.append(type(command).__name__)

STATUS: dict[type[e.DomainError], int] = {
    e.NotFound: 404,
    e.AlreadyExists: 409,
    e.InvalidInput: 422,
    e.InvalidTransition: 409,
    e.InsufficientStock: 409,
    e.IdempotencyKeyReused: 409,
    e.DuplicateOrder: 409,
    e.ConcurrentUpdate: 409,
    e.ServiceUnavailable: 503,
    e.Leased: 409,
    e.SignInRefused: 401,
}

HTTP_CODES = {
    400: "request.malformed", 401: "auth.unauthenticated", 403: "auth.forbidden",
    404: "resource.not_found", 405: "request.method_not_allowed", 409: "request.conflict",
    413: "request.too_large", 415: "request.unsupported_media_type",
    422: "request.invalid", 429: "request.rate_limited",
}


def problem(status: int, code: str, title: str, detail: str | None = None,
            headers: dict[str, str] | None = None, extra: dict[str, Any] | None = None
            ) -> JSONResponse:
    body: dict[str, Any] = {"type": f"urn:ordermesh:problem:{code}", "title": title,
                            "status": status, "code": code}
    if detail:
        body["detail"] = detail
    body.update({k: v for k, v in (extra or {}).items() if k not in body})
    return JSONResponse(body, status_code=status, media_type="application/problem+json",
                        headers=headers)


def domain_problem(exc: e.DomainError, detail: str | None = None,
                   extra: dict[str, Any] | None = None) -> JSONResponse:
    """The answer to a domain error; `detail` and `extra` add to its own."""
    status = next((s for cls, s in STATUS.items() if isinstance(exc, cls)), 400)
    said = "; ".join(part for part in (exc.detail, detail) if part) or None
    return problem(status, exc.code, exc.title, said, extra={**exc.extra, **(extra or {})})


def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, e.DomainError)
    return domain_problem(exc)


def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # Inputs are never echoed back: a refused value might be something that must not travel.
    errors = [{"loc": list(err.get("loc", ())), "msg": err.get("msg", ""),
               "type": err.get("type", "")} for err in exc.errors()]
    return problem(422, "request.invalid", "Invalid request",
                   "the request does not match the schema", extra={"errors": errors})


def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = HTTP_CODES.get(exc.status_code, f"http.{exc.status_code}")
    return problem(exc.status_code, code, str(exc.detail) if exc.detail else "Error",
                   headers=getattr(exc, "headers", None))


def _retry_worth(exc: Exception) -> str | None:
    """Why sending the request again may succeed after this database failure — every pooled
    connection stayed busy (make_engine), contention outlasted every retry, or the server
    dropped the connection — or None for any other failure."""
    if isinstance(exc, PoolTimeout):
        return "no_free_connection"
    if (reason := retry_reason(exc)) is not None:
        return reason
    if getattr(exc, "connection_invalidated", False):
        return "connection_lost"
    return None


def retryable_problem(exc: Exception, applied: str | None = None,
                      extra: dict[str, Any] | None = None) -> JSONResponse | None:
    """The 503 the client may retry for a database failure worth retrying (`_retry_worth`), or
    None for any other. `applied` says what was committed before it (else nothing was)."""
    why = _retry_worth(exc)
    return None if why is None else _retry_problem(why, applied, extra)


def _retry_problem(why: str, applied: str | None = None,
                   extra: dict[str, Any] | None = None) -> JSONResponse:
    again = {"Retry-After": "1"}
    if why == "connection_lost":
        # The server dropped the connection (a restart): the pool connects again for the next
        # request. Whether a commit under way was made is not known, so the client sends the
        # request again (under the same Idempotency-Key: an order is placed once).
        return problem(503, "service.unavailable", "Database unavailable",
                       f"the connection to the database was lost: at least {applied}"
                       if applied else
                       "the connection to the database was lost; send the request again",
                       headers=again, extra=extra)
    if why == "no_free_connection":
        busy, nothing = ("no database connection came free in time",
                         "no database connection came free in time; the request changed nothing")
    else:
        busy, nothing = ("the database stayed busy",
                         "the request met too much concurrent work; it changed nothing")
    return problem(503, "service.busy", "Busy, try again",
                   f"{busy}: {applied}" if applied else nothing, headers=again, extra=extra)


def _database_error(request: Request, exc: Exception) -> JSONResponse:
    why = _retry_worth(exc)
    if why is None:
        return _unexpected(request, exc)
    if done := DONE.get():  # the change is made: only its answer could not be read
        log.warning("%s %s: %s done, its answer not read: %s", request.method,
                    request.url.path, ", ".join(done), why)
        return problem(503, "service.answer_unavailable", "Changed, but not answered",
                       "the request made changes (done) before the database failed it: read "
                       "the resource to see where it stands before sending the request again",
                       extra={"done": done})
    log.warning("%s %s: %s", request.method, request.url.path, why)
    return _retry_problem(why)


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(500, "server.error", "Internal error", "the error was logged")


def install(app: FastAPI) -> None:
    app.add_exception_handler(e.DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    bus = getattr(getattr(app.state, "ordermesh", None), "bus", None)
    if bus is not None and note_done not in bus.done:
        bus.done.append(note_done)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(PoolTimeout, _database_error)
    app.add_exception_handler(Exception, _unexpected)
