"""The FastAPI application."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from ordermesh import __version__
from ordermesh.bootstrap import App, bootstrap
from ordermesh.entrypoints import console
from ordermesh.entrypoints.api import errors
from ordermesh.entrypoints.api.card_guard import install_log_redaction
from ordermesh.entrypoints.api.input_guard import InputGuard
from ordermesh.entrypoints.api.routers import (
    access,
    analytics,
    availability,
    cart_holds,
    catalogue,
    finance,
    fulfilments,
    imports,
    jeopardy,
    notifications,
    ops,
    orders,
    payables,
    payments,
    pos,
    purchasing,
    replenishment,
    shipping,
    stock,
    tracking,
    webhooks,
)
from ordermesh.entrypoints.api.schemas.common import Problem, problem_responses
from ordermesh.entrypoints.observability import install_observability

DESCRIPTION = """
Ordermesh takes orders from every sales channel, knows the stock in every location and
reserves it without overselling.

Authenticate with `Authorization: Bearer <api key>`. Errors are `application/problem+json`
(RFC 9457) with a stable `code`. Amounts are integers in minor units of the order currency.
"""


def create_app(ordermesh: App | None = None) -> FastAPI:
    # Swagger UI at /docs and ReDoc at /redoc from assets installed with Ordermesh: no CDN.
    app = FastAPIOffline(title="Ordermesh", version=__version__, description=DESCRIPTION)
    app.state.ordermesh = ordermesh or bootstrap()
    errors.install(app)
    for module in (orders, availability, catalogue, stock, access, purchasing, cart_holds):
        app.include_router(module.router, responses=problem_responses())
    app.include_router(replenishment.router, responses=problem_responses())
    app.include_router(payables.router, responses=problem_responses())
    for router in (payments.router, payments.webhooks, finance.router, shipping.router,
                   shipping.webhooks, fulfilments.router, webhooks.router):  # shipping's routes first: they
        # are more precise than a fulfilment's /{action}
        app.include_router(router, responses=problem_responses())
    app.include_router(imports.router, responses=problem_responses())
    app.include_router(pos.router, responses=problem_responses())
    app.include_router(notifications.router, responses=problem_responses())
    app.include_router(jeopardy.router, responses=problem_responses())
    app.include_router(analytics.router, responses=problem_responses())
    app.include_router(ops.router)
    app.include_router(tracking.router)
    console.install(app)
    app.add_middleware(InputGuard)
    install_log_redaction()
    tracking.install_log_redaction()
    install_observability(app)  # after InputGuard: it wraps it

    _register(app, Problem)

    @app.get("/health", tags=["health"])
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _register(app: FastAPI, model: type[Problem]) -> None:
    """Put the Problem schema in the OpenAPI components the error responses refer to."""
    from fastapi.openapi.utils import get_openapi

    def openapi() -> dict[str, object]:
        if app.openapi_schema is None:
            spec = get_openapi(title=app.title, version=app.version,
                               description=app.description, routes=app.routes)
            spec.setdefault("components", {}).setdefault("schemas", {})["Problem"] = (
                model.model_json_schema(ref_template="#/components/schemas/{model}"))
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
