"""The fulfilment queue of a location: pick lists, packing, labels, dispatch and pickups.

Every action runs the API's command, with `location` set for store staff so the handler itself
refuses another location's fulfilment; the page checks it first too, so another location's
fulfilment, pick list or document is never shown (404, or 403 for a location asked by name).
The PDFs are the API's own: its route functions are called with the signed-in user as the
operator asking, so the console prints exactly what the API serves.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from datetime import UTC, datetime, time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.engine import Connection

from ordermesh.adapters.db import console_ops_queries as ops
from ordermesh.adapters.db import fulfilment_queries as fq
from ordermesh.adapters.db import queries
from ordermesh.domain.errors import DomainError, NotFound
from ordermesh.domain.events import utcnow
from ordermesh.domain.fulfilments import METHOD_ACTIONS, TRANSITIONS, FulfilmentStatus
from ordermesh.entrypoints.api.deps import Bus, Db, Principal, read_connection
from ordermesh.entrypoints.api.routers import fulfilments as api_fulfilments
from ordermesh.entrypoints.api.routers import shipping as api_shipping
from ordermesh.entrypoints.api.routers.fulfilments import CollectIn, FoundIn
from ordermesh.entrypoints.api.routers.shipping import ItemIn, PackageIn
from ordermesh.entrypoints.console.rendering import act, page, redirect
from ordermesh.entrypoints.console.session import Forbidden, User, need
from ordermesh.services import commands as c

router = APIRouter(prefix="/console", include_in_schema=False)

Staff = Annotated[User, need("fulfilment")]
Step = Literal["accept", "start-picking", "make-ready"]
# The open states of the queue, in the order the work goes.
OPEN = (("pending", "To pick: released or accepted"), ("picking", "Picking"),
        ("packed", "Packed"), ("ready_for_pickup", "Ready for pickup"))


def _location(conn: Connection, user: User, asked: str | None) -> str | None:
    """The location whose queue the user sees: store staff always their own (asking for
    another is refused), others the one asked, else the first active location."""
    if user.location is not None:
        if asked and asked != user.location:
            raise Forbidden(f"you work at {user.location} only")
        return user.location
    codes = [loc["code"] for loc in queries.list_locations(conn) if loc["active"]]
    if asked:
        if asked not in codes:
            raise NotFound(f"location {asked!r} not found")
        return asked
    return codes[0] if codes else None


def _mine(db: Db, user: User, fulfilment_id: str) -> dict[str, Any]:
    """The fulfilment, if the user may work it: another location's is not found for them."""
    with read_connection(db) as conn:
        found = fq.fulfilments(conn, fulfilment_id=fulfilment_id)
    if not found or not user.sees(found[0]["location_code"]):
        raise NotFound(f"fulfilment {fulfilment_id!r} not found")
    return found[0]


def _as_operator(user: User) -> Principal:
    """The user, as the API's document routes expect the caller to be named."""
    return Principal(key_id="console", name=user.actor, role="operator", channel=None)


@router.get("/fulfilment", response_class=HTMLResponse)
def queue(request: Request, db: Db, user: Staff, location: str | None = None) -> HTMLResponse:
    with read_connection(db) as conn:
        here = _location(conn, user, location)
        choices = [] if user.location else [
            loc for loc in queries.list_locations(conn) if loc["active"]]
        groups = [(status, title, fq.fulfilments(conn, here, status) if here else [])
                  for status, title in OPEN]
        since = datetime.combine(utcnow().date(), time(), UTC)
        sent = ops.sent_since(conn, here, since) if here else []
    return page(request, user, "fulfilment_queue.html", location=here, choices=choices,
                groups=groups, sent=sent)


@router.post("/fulfilment/release")
def release(db: Db, bus: Bus, user: Staff,
            location: Annotated[str, Form(max_length=64)]) -> RedirectResponse:
    """A wave for the location: its released fulfilments share the wave's pick list."""
    with read_connection(db) as conn:
        here = _location(conn, user, location)
    back = f"/console/fulfilment?location={here}"
    wave = str(uuid.uuid4())
    try:
        made = bus.handle(c.ReleaseFulfilments(user.actor, here, wave=wave))
    except DomainError as exc:
        return redirect(back, exc.detail, error=True)
    if not made:
        return redirect(back, "Nothing to release: every allocation here is in a fulfilment.")
    return redirect(f"/console/fulfilment/pick-list?location={here}&wave={wave}",
                    f"Released {len(made)} fulfilment{'s' if len(made) != 1 else ''}.")


@router.get("/fulfilment/pick-list", response_class=HTMLResponse)
def pick_list(request: Request, db: Db, user: Staff, location: str | None = None,
              wave: str | None = None) -> HTMLResponse:
    with read_connection(db) as conn:
        here = _location(conn, user, location)
        rows = fq.pick_list(conn, here, wave or None) if here else []
    return page(request, user, "fulfilment_pick_list.html", location=here, wave=wave or "",
                rows=rows)


@router.get("/fulfilment/pick-list/{location}.pdf")
def pick_list_pdf(db: Db, user: Staff, location: str, wave: str | None = None) -> Response:
    with read_connection(db) as conn:
        here = _location(conn, user, location)
        assert here is not None
        return api_fulfilments.pick_list_pdf(here, _as_operator(user), conn, wave or None)


@router.get("/fulfilment/{fulfilment_id}", response_class=HTMLResponse)
def detail(request: Request, db: Db, bus: Bus, user: Staff,
           fulfilment_id: str) -> HTMLResponse:
    found = _mine(db, user, fulfilment_id)
    allowed = {a for a in TRANSITIONS[FulfilmentStatus(found["status"])]
               if a in METHOD_ACTIONS[found["method"]]}
    with read_connection(db) as conn:
        boxes = [b for b in fq.package_types(conn) if b["active"]]
    return page(request, user, "fulfilment_detail.html", f=found, allowed=allowed,
                boxes=boxes, carriers=sorted(bus.shipping.carriers))


@router.get("/fulfilment/{fulfilment_id}/packing-slip.pdf")
def packing_slip(request: Request, db: Db, user: Staff, fulfilment_id: str) -> Response:
    _mine(db, user, fulfilment_id)
    return api_shipping.packing_slip(fulfilment_id, _as_operator(user), db, request)


@router.get("/fulfilment/{fulfilment_id}/packages/{number}/label.pdf")
def label(db: Db, user: Staff, fulfilment_id: str, number: int) -> Response:
    _mine(db, user, fulfilment_id)
    return api_shipping.label(fulfilment_id, number, _as_operator(user), db)


@router.post("/fulfilment/{fulfilment_id}/short-pick")
def short_pick(db: Db, bus: Bus, user: Staff, fulfilment_id: str,
               line_no: Annotated[str, Form(max_length=12)],
               found: Annotated[str, Form(max_length=12)]) -> RedirectResponse:
    _mine(db, user, fulfilment_id)

    def run() -> None:
        # a form sends text; the API's schema takes whole numbers only
        numbers = [int(v) if re.fullmatch(r"[0-9]{1,9}", v.strip()) else v
                   for v in (line_no, found)]
        line = FoundIn.model_validate({"line_no": numbers[0], "found": numbers[1]})
        bus.handle(c.ShortPick(user.actor, fulfilment_id, ((line.line_no, line.found),),
                               location=user.location))

    return act(f"/console/fulfilment/{fulfilment_id}", "Short pick recorded: the missing "
               "units are sourced again.", run)


@router.post("/fulfilment/{fulfilment_id}/pack")
def pack(db: Db, bus: Bus, user: Staff, fulfilment_id: str,
         package_type: Annotated[str, Form(max_length=64)] = "",
         weight_grams: Annotated[str, Form(max_length=12)] = "") -> RedirectResponse:
    """Packed in one package of the type chosen (weighed, or not), or in the box set chosen
    by size when neither is given."""
    found = _mine(db, user, fulfilment_id)
    units = Counter[str]()
    for line in found["lines"]:
        units[line["sku"]] += line["quantity"]

    def run() -> None:
        packages = None
        if package_type or weight_grams:
            one = PackageIn.model_validate({
                "items": [ItemIn(sku=sku, quantity=n) for sku, n in units.items()],
                "package_type": package_type or None, "weight_grams": weight_grams or None})
            packages = (c.PackageIn(tuple((i.sku, i.quantity) for i in one.items),
                                    one.package_type, one.weight_grams),)
        bus.handle(c.PackFulfilment(user.actor, fulfilment_id, packages,
                                    location=user.location))

    return act(f"/console/fulfilment/{fulfilment_id}", "Packed.", run)


@router.post("/fulfilment/{fulfilment_id}/shipment")
def book(db: Db, bus: Bus, user: Staff, fulfilment_id: str,
         carrier: Annotated[str, Form(max_length=64)] = "") -> RedirectResponse:
    """Buy the label: from the carrier chosen, or the quote the channel prefers."""
    _mine(db, user, fulfilment_id)
    if carrier and carrier not in bus.shipping.carriers:
        return redirect(f"/console/fulfilment/{fulfilment_id}",
                        f"no carrier {carrier!r} is set up", error=True)
    return act(f"/console/fulfilment/{fulfilment_id}", "Label bought: print it below.",
               lambda: bus.handle(c.BookShipment(user.actor, fulfilment_id, carrier or None,
                                                 location=user.location)))


@router.post("/fulfilment/{fulfilment_id}/dispatch")
def dispatch(db: Db, bus: Bus, user: Staff, fulfilment_id: str) -> RedirectResponse:
    """As the API's dispatch: stock, invoice and capture go with the parcel."""
    found = _mine(db, user, fulfilment_id)
    return act(f"/console/fulfilment/{fulfilment_id}", "Dispatched.", lambda: bus.handle(
        c.DispatchShipment(user.actor, found["order_id"], f"fulfilment:{fulfilment_id}", (),
                           fulfilment_id=fulfilment_id, location=user.location)))


@router.post("/fulfilment/{fulfilment_id}/collect")
def collect(db: Db, bus: Bus, user: Staff, fulfilment_id: str,
            pickup_code: Annotated[str, Form(max_length=20)]) -> RedirectResponse:
    """Handed over at the counter, only against the code the customer shows."""
    found = _mine(db, user, fulfilment_id)

    def run() -> None:
        code = CollectIn(pickup_code=pickup_code.strip()).pickup_code
        bus.handle(c.DispatchShipment(user.actor, found["order_id"], f"fulfilment:{fulfilment_id}",
                                      (), fulfilment_id=fulfilment_id, pickup_code=code,
                                      location=user.location))

    return act(f"/console/fulfilment/{fulfilment_id}", "Handed over to the customer.", run)


@router.post("/fulfilment/{fulfilment_id}/return-to-stock")
def return_to_stock(db: Db, bus: Bus, user: Staff, fulfilment_id: str) -> RedirectResponse:
    _mine(db, user, fulfilment_id)
    return act(f"/console/fulfilment/{fulfilment_id}", "Not collected: back on the shelf.",
               lambda: bus.handle(c.ReturnUncollected(user.actor, fulfilment_id=fulfilment_id,
                                                      location=user.location)))


@router.post("/fulfilment/{fulfilment_id}/reject")
def reject(db: Db, bus: Bus, user: Staff, fulfilment_id: str,
           reason: Annotated[str, Form(max_length=200)]) -> RedirectResponse:
    _mine(db, user, fulfilment_id)
    return act(f"/console/fulfilment/{fulfilment_id}", "Rejected: sourced again elsewhere.",
               lambda: bus.handle(c.RejectFulfilment(user.actor, fulfilment_id,
                                                     api_fulfilments.RejectIn(
                                                         reason=reason).reason,
                                                     location=user.location)))


@router.post("/fulfilment/{fulfilment_id}/{step}")
def move(db: Db, bus: Bus, user: Staff, fulfilment_id: str, step: Step) -> RedirectResponse:
    """Accept, start picking, or make a pickup ready (the customer is sent its code)."""
    _mine(db, user, fulfilment_id)
    done = {"accept": "Accepted.", "start-picking": "Picking started.",
            "make-ready": "Ready for pickup: the customer is told."}[step]
    return act(f"/console/fulfilment/{fulfilment_id}", done, lambda: bus.handle(
        c.ChangeFulfilment(user.actor, fulfilment_id, step.replace("-", "_"),
                           location=user.location)))
