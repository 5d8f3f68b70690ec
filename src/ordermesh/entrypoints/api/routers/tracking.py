"""/track/{token}: the customer's public tracking page (HTML) and its data (JSON, for apps).

No API key: the unguessable token in the link is the key. So the answers are never cached
(`Cache-Control: no-store`), never indexed (`X-Robots-Tag: noindex`), send no Referer to the
carrier's site they link to, and an unknown token and one that cannot be a token get the same
404. The token stays out of the logs: `install_log_redaction()` masks all but its first
characters in the records of the server's loggers (the access log prints request paths).
"""

from __future__ import annotations

import logging
import re
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, JSONResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from pydantic import BaseModel, Field

from ordermesh.adapters.db import tracking_queries
from ordermesh.entrypoints.api.deps import Db, read_connection
from ordermesh.entrypoints.api.errors import problem
from ordermesh.entrypoints.api.schemas.common import Problem
from ordermesh.entrypoints.api.schemas.orders import fulfilment_status

router = APIRouter(tags=["tracking"])

HEADERS = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex, nofollow",
           "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"}
# The page has its style inline and nothing else: no script, no image, no font from anywhere.
PAGE_HEADERS = {**HEADERS, "Content-Security-Policy": (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'")}


# -- what the page shows ---------------------------------------------------------------------------

class TimelineStepOut(BaseModel):
    kind: Literal["placed", "allocated", "backordered", "preordered", "partially_dispatched",
                  "dispatched", "out_for_delivery", "delivered", "ready_for_pickup",
                  "collected", "cancelled"]
    label: str = Field(description="The step in words (English)")
    at: datetime
    promised_on: date | None = Field(description="The day then promised, for allocated, "
                                                 "backordered and pre-ordered steps")


class PackageOut(BaseModel):
    number: int
    tracking_number: str | None
    status: str | None = Field(description="The parcel's last tracking event: in_transit, "
                                            "out_for_delivery, delivered, exception, ...")


class ShipmentOut(BaseModel):
    carrier: str
    service: str
    tracking_numbers: list[str]
    tracking_url: str | None = Field(description="The carrier's own tracking page")
    delivers_on: date | None = Field(description="The carrier's estimated delivery day")
    packages: list[PackageOut]


class FulfilmentOut(BaseModel):
    method: Literal["ship", "pickup"]
    status: str
    shipment: ShipmentOut | None
    pickup_code: str | None = Field(description="Show it at the counter; given only while "
                                                "the order is ready for pickup")
    ready_at: datetime | None


class StoreAddressOut(BaseModel):
    line1: str | None
    line2: str | None
    postal_code: str | None
    city: str | None
    region: str | None
    country: str | None


class StoreOut(BaseModel):
    name: str
    address: StoreAddressOut


class TrackingOut(BaseModel):
    """An order as its customer may follow it: no e-mail, phone, street, postal code, last
    name, payment data or amount."""

    order_number: str
    status: str
    fulfilment_status: str = Field(description="Computed from the order's fulfilments")
    method: Literal["ship", "pickup"]
    placed_at: datetime
    first_name: str | None
    delivery_city: str | None
    promised_on: date | None = Field(description="The latest day promised for its units")
    timeline: list[TimelineStepOut]
    fulfilments: list[FulfilmentOut]
    store: StoreOut | None = Field(description="Where to collect a click & collect order")


LABELS = {
    "placed": "Order placed", "allocated": "Confirmed", "backordered": "Waiting for stock",
    "preordered": "Pre-ordered", "partially_dispatched": "Partly dispatched",
    "dispatched": "Dispatched", "out_for_delivery": "Out for delivery",
    "delivered": "Delivered", "ready_for_pickup": "Ready for pickup",
    "collected": "Collected", "cancelled": "Cancelled",
}
STATUS_WORDS = {
    "unfulfilled": "Being prepared", "in_progress": "Being prepared",
    "partially_dispatched": "Partly on its way", "dispatched": "On its way",
    "ready_for_pickup": "Ready for pickup", "partially_delivered": "Partly delivered",
    "delivered": "Delivered", "exception": "Delayed: the carrier reported a problem",
    "returned": "Returned to us", "cancelled": "Cancelled",
}
PARCEL_WORDS = {
    None: "Waiting for the carrier's first scan", "in_transit": "In transit",
    "out_for_delivery": "Out for delivery",
    "delivered": "Delivered", "exception": "Problem reported by the carrier",
    "returned_to_sender": "Returned to sender",
}


def tracking(view: dict[str, Any]) -> TrackingOut:
    basis = view.pop("fulfilment_basis")
    return TrackingOut.model_validate({
        **view,
        "fulfilment_status": str(fulfilment_status(basis)),
        "timeline": [{**step, "label": LABELS[step["kind"]]} for step in view["timeline"]],
        "fulfilments": [{**f, "shipment": {
            **f["shipment"], "tracking_numbers": [p["tracking_number"] for p in
                                                  f["shipment"]["packages"]
                                                  if p["tracking_number"]]}
            if f["shipment"] else None} for f in view["fulfilments"]],
    })


def find(db: Db, token: str) -> TrackingOut | None:
    with read_connection(db) as conn:
        view = tracking_queries.tracking_view(conn, token)
    return tracking(view) if view is not None else None


def not_found() -> JSONResponse:
    return problem(404, "resource.not_found", "Not found",
                   "no order is tracked at this address", headers=HEADERS)


NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {
    "description": "No order has this token (or it cannot be one)", "model": Problem,
    "content": {"application/problem+json": {}}}}


# -- routes (the .json one first: the page's {token} would match "x.json" too) -----------------

@router.get("/track/{token}.json", response_model=TrackingOut, responses=NOT_FOUND,
            summary="An order's tracking data, for the customer's apps (no API key)")
def tracking_json(token: str, db: Db) -> Response:
    found = find(db, token)
    if found is None:
        return not_found()
    return JSONResponse(found.model_dump(mode="json"), headers=HEADERS)


@router.get("/track/{token}", response_class=HTMLResponse, responses=NOT_FOUND,
            summary="The customer's tracking page (no API key)")
def tracking_page(token: str, db: Db) -> Response:
    found = find(db, token)
    if found is None:
        return not_found()
    return HTMLResponse(render(found), headers=PAGE_HEADERS)


# -- the page ------------------------------------------------------------------------------------

_env = Environment(loader=FileSystemLoader(Path(__file__).parent.parent / "templates"),
                   autoescape=select_autoescape(["html"]), undefined=StrictUndefined,
                   trim_blocks=True, lstrip_blocks=True)


def _iso(value: date | datetime) -> str:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return value.isoformat()


def _day(value: date | datetime) -> str:
    return f"{value:%A} {value.day} {value:%B %Y}"


def _when(value: datetime) -> str:
    return f"{_day(value)}, {value:%H:%M} UTC"


_env.filters.update(iso=_iso, day=_day, when=_when)


def render(tracking: TrackingOut) -> str:
    return _env.get_template("tracking.html").render(
        t=tracking, status_words=STATUS_WORDS.get(tracking.fulfilment_status,
                                                  tracking.fulfilment_status),
        parcel_words=PARCEL_WORDS, cancelled=tracking.status == "cancelled")


# -- the logs ------------------------------------------------------------------------------------

SHOWN = 4  # characters of a token that a log may keep, to tell requests apart
TOKEN_IN_PATH = re.compile(rf"(/track/)([^/?#\s\"']{{0,{SHOWN}}})[^/?#\s\"']*")


def redact_tracking_tokens(text: str) -> str:
    """`/track/AbCd1234...` -> `/track/AbCd***`, wherever it stands in a text."""
    return TOKEN_IN_PATH.sub(r"\1\2***", text)


class TrackingTokenRedactor(logging.Filter):
    """Masks tracking tokens in log records: in the message and in each string argument (the
    access log formats the path from its arguments)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact_tracking_tokens(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact_tracking_tokens(a) if isinstance(a, str) else a
                                for a in record.args)
        return True


LOGGERS = ("uvicorn", "uvicorn.access", "uvicorn.error", "ordermesh", "ordermesh.api",
           "ordermesh.access")


def install_log_redaction() -> None:
    """Idempotent: one redactor per logger."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, TrackingTokenRedactor) for f in logger.filters):
            logger.addFilter(TrackingTokenRedactor())
