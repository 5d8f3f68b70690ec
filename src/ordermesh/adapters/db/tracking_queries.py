"""The customer's tracking page: what one order's `tracking_token` may show, and nothing more.

The page is public (whoever holds the link sees it), so the view is built from a whitelist:
the order's number and status, the customer's first name and the delivery city, a timeline of
the events a customer cares about, each shipment's carrier, tracking numbers, link and expected
day, the promised day, and for click & collect the store and, while the order waits at the
counter, its pickup code. Never an e-mail address, a phone number, a street, a postal code, a
last name, a payment detail or an amount.

The order is found by its indexed, unique `tracking_token` column only (no comparison of
secrets in Python); a token that cannot be one is not looked up at all.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from ordermesh.adapters.db import fulfilment_queries, queries
from ordermesh.adapters.db import tables as t
from ordermesh.domain.fulfilments import ENDED, FulfilmentStatus

# secrets.token_urlsafe(18) makes 24 characters; the column holds 40.
TOKEN = re.compile(r"[A-Za-z0-9_-]{16,40}")

# Fulfilment events shown on the order's timeline (the order's own events say the rest).
FULFILMENT_EVENTS = {"fulfilment.out_for_delivery": "out_for_delivery"}


def tracking_view(conn: Connection, token: str) -> dict[str, Any] | None:
    """The tracking page's data of the order with this token; None when there is none.

    `fulfilment_basis` is what `fulfilment_status` (entrypoints/api/schemas/orders.py) needs to
    compute the order's fulfilment status (lines' counts, allocations, fulfilments' units, no
    prices): adapters may not import entrypoints, so the caller computes it from this."""
    if not TOKEN.fullmatch(token):
        return None
    order_id = conn.execute(select(t.orders.c.id).where(t.orders.c.tracking_token == token)
                            ).scalar()
    if order_id is None:
        return None
    detail = queries.order_detail(conn, str(order_id), None)
    if detail is None:  # pragma: no cover - the order was just found
        return None
    events = queries.order_events(conn, detail["id"])
    fulfilments = [f for f in fulfilment_queries.fulfilments(conn, order_seq=detail["seq"])
                   if FulfilmentStatus(f["status"]) not in ENDED]
    codes = {e["data"].get("fulfilment_id"): e["data"].get("pickup_code") for e in events
             if e["type"] == "order.ready_for_pickup"}
    method = detail["fulfilment_method"]
    store = queries.get_location(conn, detail["pickup_location_code"]) if (
        method == "pickup" and detail["pickup_location_code"]) else None
    shipping_address = detail["shipping_address"] or {}
    return {
        "order_number": detail["number"],
        "status": detail["held_from"] if detail["status"] == "on_hold" and detail["held_from"]
        else detail["status"],  # a hold is the operator's business: the status before it
        "method": method,
        "placed_at": _second(detail["created_at"]),
        "first_name": first_name(detail["customer_name"]),
        "delivery_city": shipping_address.get("city") if method == "ship" else None,
        "promised_on": promised_on(detail),
        "timeline": timeline(events, _fulfilment_events(conn, fulfilments), method),
        "fulfilments": [_fulfilment(f, codes) for f in fulfilments],
        "store": _store(store) if store else None,
        "fulfilment_basis": {
            "status": detail["status"],
            "fulfilment_units": detail["fulfilment_units"],
            "lines": [{"status": ln["status"], "quantity": ln["quantity"],
                       "dispatched": ln["dispatched"], "cancelled": ln["cancelled"],
                       "allocations": [{"quantity": a["quantity"], "status": a["status"],
                                        "fulfilment_id": a["fulfilment_id"]}
                                       for a in ln["allocations"]]}
                      for ln in detail["lines"]],
        },
    }


def first_name(name: str | None) -> str | None:
    """The name's first word, unless it is contact data a channel sent as the name (an e-mail
    address, a phone number): the page is public to whoever has the link."""
    parts = (name or "").split()
    if not parts or "@" in parts[0] or any(ch.isdigit() or ch == "+" for ch in parts[0]):
        return None
    return parts[0]


def promised_on(detail: dict[str, Any]) -> date | None:
    """The latest day promised for the units still to come: active (or sent) allocations and
    waits still waiting; superseded ones (moved, rejected, replaced) no longer count."""
    days = [a["promised_on"] for ln in detail["lines"] for a in ln["allocations"]
            if a["status"] in ("active", "dispatched") and a["promised_on"]]
    days += [w["promised_on"] for ln in detail["lines"] for w in ln["waits"]
             if w["status"] == "waiting" and w["promised_on"]]
    return max(days, default=None)


def timeline(order_events: list[dict[str, Any]], fulfilment_events: list[dict[str, Any]],
             method: str) -> list[dict[str, Any]]:
    """The customer-meaningful steps, as recorded: {kind, at, promised_on}. Only the kind, the
    time and a promised day are taken from an event: its data (amounts, reasons, codes) never
    travels further."""
    steps: list[dict[str, Any]] = []
    for event in order_events:
        kind, promised = _step(event["type"], event["data"], method)
        if kind is not None:
            steps.append({"seq": event["seq"], "kind": kind,
                          "at": _second(event["occurred_at"]), "promised_on": promised})
    steps += [{"seq": e["seq"], "kind": FULFILMENT_EVENTS[e["type"]],
               "at": _second(e["occurred_at"]), "promised_on": None}
              for e in fulfilment_events]
    # in the order they were recorded (one sequence for every event)
    return [{k: v for k, v in step.items() if k != "seq"}
            for step in sorted(steps, key=lambda s: s["seq"])]


def _step(kind: str, data: dict[str, Any], method: str) -> tuple[str | None, date | None]:
    if kind == "order.placed":
        return "placed", None
    if kind in ("order.allocated", "order.backorder_allocated"):
        return "allocated", _latest(data.get("allocations"))
    if kind in ("order.backordered", "order.backorder_repromised"):
        waits = [w for w in data.get("waits") or () if isinstance(w, dict)]
        if not waits:
            return None, None
        preorder = all(w.get("kind") == "preorder" for w in waits)
        return ("preordered" if preorder else "backordered"), _latest(
            [*waits, *(data.get("allocations") or ())])
    if kind == "order.dispatched":
        if data.get("collected_at") is not None:
            return "collected", None
        return ("partially_dispatched" if data.get("final") is False else "dispatched"), None
    if kind == "order.ready_for_pickup":
        return "ready_for_pickup", None
    if kind == "order.delivered":  # a pickup's last step is its collection
        return ("delivered" if method == "ship" else None), None
    if kind == "order.cancelled":
        return "cancelled", None
    return None, None


def _latest(parts: Any) -> date | None:
    days = [date.fromisoformat(p["promised_on"]) for p in parts or ()
            if isinstance(p, dict) and isinstance(p.get("promised_on"), str)]
    return max(days, default=None)


def _fulfilment_events(conn: Connection, fulfilments: list[dict[str, Any]]
                       ) -> list[dict[str, Any]]:
    if not fulfilments:
        return []
    e = t.events.c
    return [dict(r._mapping) for r in conn.execute(
        select(e.seq, e.type, e.occurred_at).where(
            e.stream == "fulfilment", e.stream_id.in_([f["id"] for f in fulfilments]),
            e.type.in_(FULFILMENT_EVENTS)).order_by(e.seq))]


def _fulfilment(f: dict[str, Any], codes: dict[Any, Any]) -> dict[str, Any]:
    shipment = f["shipment"]
    ready = f["status"] == FulfilmentStatus.READY_FOR_PICKUP
    return {
        "method": f["method"],
        "status": f["status"],
        "shipment": {
            "carrier": shipment["carrier_name"],
            "service": shipment["service"],
            "tracking_url": shipment["tracking_url"] if _is_web_link(shipment["tracking_url"])
            else None,
            "delivers_on": shipment["delivers_on"],
            "packages": [{"number": p["number"], "tracking_number": p["tracking_number"],
                          "status": p["tracking_status"]} for p in f["packages"]],
        } if shipment is not None and f["method"] == "ship" else None,
        # the code is shown while the parcel waits at the counter, not before nor after
        "pickup_code": codes.get(f["id"]) if ready else None,
        "ready_at": _second(f["ready_at"]) if ready else None,
    }


def _store(location: dict[str, Any]) -> dict[str, Any]:
    address = location["address"] or {}
    keys = ("line1", "line2", "postal_code", "city", "region", "country")
    return {"name": location["name"], "address": {k: address.get(k) for k in keys}}


def _is_web_link(url: Any) -> bool:
    return isinstance(url, str) and url.startswith(("https://", "http://"))


def _second(value: datetime | None) -> datetime | None:
    """Times are shown to the customer to the second."""
    return value.replace(microsecond=0) if value is not None else None
