"""Inventory: a SKU across locations, stock adjustments, the stock ledger.

The figures are the availability service's (`GET /api/v1/availability`, with no channel's
buffer); incoming supply is the open purchase-order lines per delivery location. An adjustment
is `AdjustStockLevel`, as `PUT /api/v1/stock-levels/{sku}/{location}` runs it: a counted on-hand
figure, or a change "by" a number (`on_hand_delta`, applied to on hand as it is when the row is
locked, so a sale or receipt landing meanwhile is kept), which the ledger records as an
`adjustment` with the reason given as its reference. Store staff see and adjust their own
location only, checked here on the server.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from ordermesh.adapters.db import console_stock_queries as csq
from ordermesh.adapters.db import queries
from ordermesh.adapters.db.sourcing_repository import SqlReads
from ordermesh.domain.errors import DomainError
from ordermesh.entrypoints.api.deps import Bus, Db, read_connection
from ordermesh.entrypoints.api.schemas.stock import StockLevelIn
from ordermesh.entrypoints.console.rendering import Before, act, page, redirect
from ordermesh.entrypoints.console.session import Forbidden, User, need
from ordermesh.services import commands as c
from ordermesh.services.availability import sku_availability

router = APIRouter(prefix="/console", include_in_schema=False)
PAGE = 50
# why on hand changed by hand: written to the ledger as the movement's reference
REASONS = {"count": "stock count", "damaged": "damaged", "lost": "lost or stolen",
           "found": "found", "returned": "returned to stock", "correction": "correction"}
MODES = {"count": "Counted on hand", "delta": "Change on hand by"}


@router.get("/inventory", response_class=HTMLResponse)
def inventory(request: Request, db: Db, user: Annotated[User, need("inventory.view")],
              sku: str = "", before: Before = None) -> HTMLResponse:
    sku = sku.strip()[:64]
    with read_connection(db) as conn:
        product = queries.get_product(conn, sku) if sku else None
        stock = _stock(conn, product, user) if product else None
        ledger = queries.list_stock_movements(conn, sku or None, user.location, before, PAGE + 1)
        locations = [loc for loc in queries.list_locations(conn) if user.sees(loc["code"])]
    older = ledger[PAGE - 1]["id"] if len(ledger) > PAGE else None
    return page(request, user, "inventory_page.html", sku=sku, product=product, stock=stock,
                ledger=ledger[:PAGE], older=older, reasons=REASONS, modes=MODES,
                locations=locations, older_url=_url(sku=sku, before=older) if older else None,
                may_adjust=user.may("inventory.adjust"))


def _stock(conn: Any, product: dict[str, Any], user: User) -> dict[str, Any]:
    """The SKU at each location the user sees, with its status and what is coming."""
    sku = product["sku"]
    levels = queries.list_stock_levels(conn, sku, user.location, None, 500)
    try:
        (answer,) = sku_availability(SqlReads(conn), [sku], None, datetime.now(UTC).date())
    except DomainError:  # an inactive product is promised nowhere
        answer = {"status": "inactive", "available_on": None, "locations": []}
    statuses = {row["location"]: row["status"] for row in answer["locations"]}
    incoming = csq.open_supply(conn, sku, user.location)
    for level in levels:
        level["status"] = statuses.get(level["location_code"], answer["status"])
        level["incoming"] = [s for s in incoming if s["deliver_to"] == level["location_code"]]
    held = {lv["location_code"] for lv in levels}
    return {"levels": levels, "status": answer["status"], "available_on": answer["available_on"],
            "elsewhere": [s for s in incoming if s["deliver_to"] not in held]}


def _url(**params: Any) -> str:
    return "/console/inventory?" + urlencode({k: v for k, v in params.items() if v})


@router.post("/inventory/adjust")
def adjust(db: Db, bus: Bus, user: Annotated[User, need("inventory.adjust")],
           sku: Annotated[str, Form(max_length=64)], location: Annotated[str, Form(max_length=64)],
           quantity: Annotated[str, Form(max_length=12)], reason: Annotated[str, Form(max_length=32)],
           mode: Annotated[str, Form(max_length=8)] = "count",
           note: Annotated[str, Form(max_length=150)] = "") -> RedirectResponse:
    """Set on hand to a count, or change it by a number, saying why."""
    if not user.sees(location):
        raise Forbidden(f"you work at {user.location}: stock elsewhere is not yours to adjust")
    back = _url(sku=sku)
    if reason not in REASONS or mode not in MODES:
        return redirect(back, "Choose how to adjust and a reason from the lists.", error=True)
    number = quantity.strip().removeprefix("+")
    # ASCII digits only: "²" is a digit to str.isdigit, not to int()
    if not re.fullmatch(r"-?[0-9]{1,18}", number):
        return redirect(back, "The quantity must be a whole number.", error=True)
    reference = REASONS[reason] + (f": {note.strip()}" if note.strip() else "")
    if mode == "delta":
        return _change_by(bus, user, back, sku, location, int(number), reference)
    if int(number) < 0:
        return redirect(back, "A count cannot be below 0.", error=True)
    with read_connection(db) as conn:
        rows = queries.list_stock_levels(conn, sku, location, None, 1)
    now = rows[0]["on_hand"] if rows else 0
    if int(number) == now:
        return redirect(back, f"On hand of {sku} at {location} is {now} already: nothing changed.")
    return act(back, f"On hand of {sku} at {location}: {now} → {int(number)} ({reference}).",
               lambda: bus.handle(c.AdjustStockLevel(
                   user.actor, sku, location,
                   on_hand=StockLevelIn(on_hand=int(number), reference=reference).on_hand,
                   reference=reference)))


def _change_by(bus: Bus, user: User, back: str, sku: str, location: str, delta: int,
               reference: str) -> RedirectResponse:
    """Send the change itself, not a count made from a figure read here: the handler adds it
    to on hand under the row's lock, so a sale landing in between is not overwritten, and
    answers with on hand after it. It also refuses a change that would take on hand below 0."""
    if delta == 0:
        return redirect(back, f"A change of 0 leaves on hand of {sku} at {location} as it is: "
                              "nothing changed.")
    after: list[int] = []
    refused = act(back, "", lambda: after.append(bus.handle(c.AdjustStockLevel(
        user.actor, sku, location,
        on_hand_delta=StockLevelIn(on_hand_delta=delta, reference=reference).on_hand_delta,
        reference=reference))))
    if not after:
        return refused
    return redirect(back, f"On hand of {sku} at {location}: {after[0] - delta} → {after[0]} "
                          f"({reference}).")
