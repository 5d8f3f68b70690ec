"""Request ids, request metrics and structured logs.

`install_observability(app)` adds an ASGI middleware that gives every request an id (a sane
incoming `X-Request-Id`, else a new uuid4), returns it in the `X-Request-Id` response header,
records `ordermesh_http_request_duration_seconds{method,route,status}` by route template (never
the raw path), writes one access line per request, and binds `request_id`, `method` and `path`
to the log context of everything logged meanwhile (structlog's contextvars), and `order_id`
once the router has matched a route with an `order_id` path parameter.

`configure_logging(level, json)` sends every log record, from the standard library's loggers
(uvicorn's included) and structlog's alike, through one structlog chain: timestamp, level,
logger, message, the bound context, and every value masked for payment card numbers with the
same detector that guards the API (card_guard.redact)."""

from __future__ import annotations

import logging
import re
import sys
import uuid
from collections.abc import Mapping
from contextvars import ContextVar
from time import perf_counter
from typing import Any, TextIO

import structlog
from prometheus_client import CollectorRegistry, Histogram
from starlette.applications import Starlette
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from structlog.typing import EventDict, Processor

from ordermesh.adapters import metrics
from ordermesh.adapters.db.engine import probe_engine
from ordermesh.entrypoints.api.card_guard import looks_like_card_number, redact
from ordermesh.entrypoints.api.errors import DONE
from ordermesh.entrypoints.api.routers.tracking import redact_tracking_tokens

REQUEST_ID_HEADER = "X-Request-Id"
# A token a proxy or a client would make: a uuid, hex, base64 or "req-123"; no spaces, no
# control characters, at most 128 characters; never a card number.
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/+=-]{0,127}")
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "<unmatched>"  # the route label of requests no route takes: raw paths are unbounded
QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics", "/health"})  # access lines at DEBUG
ACCESS_FIELDS = ("status", "duration_ms")

access_log = logging.getLogger("ordermesh.access")


class Observability:
    """One app's metrics: its own registry with the process-wide metrics of
    `ordermesh.adapters.metrics`, the gauges read from the app's database at each scrape and the
    request latency histogram."""

    def __init__(self, app: Starlette) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(metrics.REGISTRY)
        self.registry.register(metrics.DatabaseCollector(
            lambda: probe_engine(app.state.ordermesh.engine)))
        self.latency = Histogram(
            "ordermesh_http_request_duration_seconds",
            "HTTP request latency by method, route template and status",
            ["method", "route", "status"], registry=self.registry)


def observability(app: Starlette) -> Observability:
    """The app's metrics, made on first use (the /metrics route works without the middleware,
    but then no request latency is recorded)."""
    found: Observability | None = getattr(app.state, "observability", None)
    if found is None:
        found = app.state.observability = Observability(app)
    return found


def install_observability(app: Starlette) -> None:
    """Add the middleware; call it after the other middleware so that it wraps them all (a
    request refused by the input guard is counted and carries an id too). Idempotent."""
    if getattr(app.state, "observability_installed", False):
        return
    app.add_middleware(ObservabilityMiddleware, observability=observability(app))
    app.state.observability_installed = True


def request_id_from(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name.lower() == b"x-request-id":
            candidate: str = value.decode("latin-1")
            if SANE_REQUEST_ID.fullmatch(candidate) and not looks_like_card_number(candidate):
                return candidate
            break
    return str(uuid.uuid4())


def route_template(scope: Scope) -> str:
    """The template of the route the router chose (read once it has routed the request):
    FastAPI's effective route, which carries the prefixes of include_router, else Starlette's
    `scope["route"]`; UNMATCHED when no route took the request (404, or refused before)."""
    fastapi_scope = scope.get("fastapi")
    effective = (fastapi_scope.get("effective_route_context")
                 if isinstance(fastapi_scope, dict) else None)
    for route in (effective, scope.get("route")):
        template = getattr(route, "path_format", None) or getattr(route, "path", None)
        if isinstance(template, str) and template:
            return template
    return UNMATCHED


# The scope of the request being handled: the router fills in its path parameters, which the
# log processor `add_order_id` reads at the time of each log call.
_request_scope: ContextVar[Scope | None] = ContextVar("ordermesh_request_scope", default=None)


def add_order_id(logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
    """A structlog processor: `order_id` when the route of the current request names an order
    (a path parameter `order_id`, as in /api/v1/orders/{order_id}/...)."""
    scope = _request_scope.get()
    if scope is not None and "order_id" not in event_dict:
        order_id = scope.get("path_params", {}).get("order_id")
        if order_id is not None:
            event_dict["order_id"] = str(order_id)
    return event_dict


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp, observability: Observability) -> None:
        self.app = app
        self.observability = observability

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        request_id = request_id_from(scope)
        scope.setdefault("state", {})["request_id"] = request_id  # request.state.request_id
        method = scope["method"] if scope["method"] in METHODS else "OTHER"
        # Each request runs in a task of its own, with a copy of the context: bindings end with
        # it. They are not unbound on the way out, so that the server's access line and the log
        # of an unhandled error (both written after this returns) still carry them.
        structlog.contextvars.clear_contextvars()
        # (the input guard refuses a card number in the path, after this; the token of a
        # customer's tracking page is cut to its first characters)
        path = redact_tracking_tokens(redact(scope["path"]))
        structlog.contextvars.bind_contextvars(request_id=request_id, method=method, path=path)
        _request_scope.set(scope)
        DONE.set([])  # the commands this request does (entrypoints/api/errors.py)
        status = 500  # unless a response starts: an unhandled error becomes a 500 further out

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() != b"x-request-id"]
                headers.append((b"x-request-id", request_id.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = perf_counter() - started
            route = route_template(scope)
            self.observability.latency.labels(method, route, str(status)).observe(elapsed)
            access_log.log(logging.DEBUG if route in QUIET_ROUTES else logging.INFO,
                           "%s %s %d %.1fms", method, path, status, elapsed * 1000,
                           extra={"status": status, "duration_ms": round(elapsed * 1000, 1)})


# -- structured logs -----------------------------------------------------------------------------

def mask_card_numbers(logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
    """A structlog processor: every value that looks like a card number, masked. Put it after
    the exception is formatted and before the renderer."""
    return {_mask(key): _mask(value) for key, value in event_dict.items()}


def _mask(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        text = str(int(value))
        return value if redact(text) == text else redact(text)
    if isinstance(value, float):
        return value
    if isinstance(value, Mapping):
        return {_mask(k): _mask(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_mask(v) for v in value]
    return redact(str(value))


HANDLER_NAME = "ordermesh"
SERVER_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


def configure_logging(level: str | int = "INFO", json: bool = True,
                      stream: TextIO | None = None) -> logging.Handler:
    """One handler on the root logger (replacing the one an earlier call put there) writing to
    `stream` (stderr): a JSON object per line with `json`, else readable key=value lines.
    uvicorn's loggers are made to propagate to it. Call it once per process, after the server
    has configured its own logging (at import of the ASGI module) and instead of basicConfig."""
    timestamper = structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp")
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        add_order_id,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        timestamper,
    ]
    renderer: list[Processor] = (
        [structlog.processors.EventRenamer("message"), structlog.processors.JSONRenderer()]
        if json else [structlog.dev.ConsoleRenderer(colors=False)])
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder(ACCESS_FIELDS)],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            mask_card_numbers,
            *renderer,
        ],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in SERVER_LOGGERS:
        server_logger = logging.getLogger(name)
        server_logger.handlers.clear()
        server_logger.propagate = True
    # Ordermesh writes the access line itself (ordermesh.access, with the request id, the
    # duration, and at the configured level): the server's own, which would repeat it at INFO
    # whatever the level, has nowhere to go, so the server skips it.
    logging.getLogger("uvicorn.access").propagate = False
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,  # a later configure_logging must reach every logger
    )
    return handler
