"""The FastAPI application."""

from __future__ import annotations

from fastapi import FastAPI

from ordermesh import __version__
from ordermesh.bootstrap import App, bootstrap
from ordermesh.entrypoints.api import errors
from ordermesh.entrypoints.api.card_guard import CardGuard, install_log_redaction
from ordermesh.entrypoints.api.routers import access, catalogue, orders, stock

DESCRIPTION = """
Ordermesh takes orders from every sales channel, knows the stock in every location and
reserves it without overselling.

Authenticate with `Authorization: Bearer <api key>`. Errors are `application/problem+json`
(RFC 9457) with a stable `code`. Amounts are integers in minor units of the order currency.
"""


def create_app(ordermesh: App | None = None) -> FastAPI:
    app = FastAPI(title="Ordermesh", version=__version__, description=DESCRIPTION)
    app.state.ordermesh = ordermesh or bootstrap()
    errors.install(app)
    for module in (orders, catalogue, stock, access):
        app.include_router(module.router)
    app.add_middleware(CardGuard)
    install_log_redaction()

    @app.get("/health", tags=["health"])
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
