"""The operator console at /console: server-rendered pages over the same commands and queries
as the API (no business logic of its own), for signed-in users by role."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ordermesh.domain.errors import DomainError
from ordermesh.entrypoints.api.errors import STATUS
from ordermesh.entrypoints.console import (
    analytics,
    entry,
    fulfilment,
    integrations,
    inventory,
    orders,
    pages,
    purchasing,
    settings,
)
from ordermesh.entrypoints.console.rendering import HERE, page, redirect
from ordermesh.entrypoints.console.session import Forbidden, SignInNeeded, sign_in_url

# Everything a page needs comes from Ordermesh itself: no other origin, no inline script.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                               "style-src 'self' 'unsafe-inline'; script-src 'self'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
# entry's /console/orders/new before orders' /console/orders/{order_id}
ROUTERS = [pages.router, entry.router, orders.router, inventory.router, purchasing.router,
           fulfilment.router, analytics.router, integrations.router, settings.router]


def install(app: FastAPI) -> None:
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/console/static", StaticFiles(directory=HERE / "static"), name="console-static")
    app.add_exception_handler(SignInNeeded, _sign_in_needed)
    app.add_exception_handler(Forbidden, _forbidden)
    for kind in (DomainError, HTTPException, RequestValidationError):
        app.add_exception_handler(kind, _html_for_console(app.exception_handlers[kind]))

    app.add_middleware(SecurePages)


class SecurePages:
    """The security headers on every console answer; the API's pass untouched (a plain ASGI
    middleware: it costs the API's requests nothing but a look at the path)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/console"):
            await self.app(scope, receive, send)
            return

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_secured)


async def _sign_in_needed(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInNeeded)
    return redirect(sign_in_url(exc.next_url))


async def _forbidden(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Forbidden)
    return page(request, None, "error.html", status_code=403, title="Not allowed",
                detail=exc.detail)


def _html_for_console(api_handler: Any) -> Callable[[Request, Exception], Awaitable[Response]]:
    """The API answers problem+json; a console page answers a page saying the same."""

    async def handle(request: Request, exc: Exception) -> Response:
        if not request.url.path.startswith("/console") or \
                request.url.path.startswith("/console/static"):
            result = api_handler(request, exc)
            return await result if isinstance(result, Awaitable) else result  # type: ignore[no-any-return]
        if isinstance(exc, DomainError):
            status = next((s for cls, s in STATUS.items() if isinstance(exc, cls)), 400)
            return page(request, None, "error.html", status_code=status, title=exc.title,
                        detail=exc.detail)
        if isinstance(exc, HTTPException):
            return page(request, None, "error.html", status_code=exc.status_code,
                        title="Not found" if exc.status_code == 404 else "Request refused",
                        detail=str(exc.detail))
        return page(request, None, "error.html", status_code=422, title="Invalid request",
                    detail="; ".join(str(e.get("msg")) for e in exc.errors())
                    if hasattr(exc, "errors") else str(exc))

    return handle
