"""/api/v1/pos-sales: a sale at a store's till, paid and handed over there."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import EmailStr, Field, StringConstraints
from pydantic_extra_types.currency_code import ISO4217

from ordermesh.adapters.db import fulfilment_queries as fq
from ordermesh.adapters.db import queries
from ordermesh.domain.errors import InsufficientStock, InvalidInput
from ordermesh.entrypoints.api.deps import Bus, ChannelKey, Db, read_connection
from ordermesh.entrypoints.api.schemas.common import Code, Strict, Text
from ordermesh.entrypoints.api.schemas.orders import LineIn, OrderIn, OrderOut, order_view
from ordermesh.services.till import post_sale

router = APIRouter(prefix="/api/v1", tags=["orders"])
WALK_IN = "walk-in@ordermesh.org"  # only to pass the checks of an order's customer


class TillCustomerIn(Strict):
    email: EmailStr | None = Field(None, description="For the receipt by mail; none: a walk-in")
    name: Text | None = None


class SaleIn(Strict):
    store: Code = Field(description="The store whose till it is: the units leave its stock")
    receipt: Annotated[str, StringConstraints(min_length=1, max_length=200)] = Field(
        description="The till's receipt number: the sale is posted once by it")
    currency: ISO4217
    lines: Annotated[list[LineIn], Field(min_length=1, max_length=500)]
    payment_token: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_:.-]{4,200}$")] | None = (
        Field(None, description="The card payment's token from the gateway; none: cash"))
    customer: TillCustomerIn | None = None


@router.post("/pos-sales", status_code=201, response_model=OrderOut)
def post(body: SaleIn, principal: ChannelKey, bus: Bus, db: Db) -> JSONResponse:
    """Post a sale made at a till: an order of the POS channel, paid as the channel says
    (captured on placement, for a till), handed over at once at the store, its units out of
    the store's stock. Posting the same receipt again completes it, and changes nothing
    more."""
    assert principal.channel is not None
    customer = body.customer or TillCustomerIn()
    wanted: dict[str, int] = {}
    for line in body.lines:
        wanted[line.sku] = wanted.get(line.sku, 0) + line.quantity
    with read_connection(db) as conn:
        on_shelf = fq.available_at(conn, body.store, set(wanted))
        posted = fq.till_sale(conn, principal.channel, body.receipt, body.store)
    short = {sku: n for sku, n in wanted.items() if on_shelf.get(sku, 0) < n}
    if short and posted["order_id"] is None:  # refused before anything is taken or paid
        raise InsufficientStock(f"{body.store} does not have it all on its shelves",
                                missing=sorted(short))
    order = OrderIn.model_validate({  # the checks of any order
        "external_reference": body.receipt, "currency": body.currency,
        "customer": {"email": customer.email or WALK_IN, "name": customer.name or "Walk-in"},
        "billing_address": _store_address(db, body.store), "payment_token": body.payment_token,
        "fulfilment": {"method": "pickup", "location": body.store},
        "lines": [ln.model_dump(mode="json") for ln in body.lines],
    }).model_dump(mode="json")
    if customer.email is None:
        order["customer"]["email"] = ""  # a walk-in: no mail is sent

    def find(channel: str, reference: str) -> dict[str, Any]:
        with read_connection(db) as conn:
            return fq.till_sale(conn, channel, reference, body.store)

    order_id = post_sale(bus, principal.actor, principal.channel, order, body.store, find)
    with read_connection(db) as conn:
        detail = queries.order_detail(conn, order_id, principal.channel)
    assert detail is not None
    return JSONResponse(OrderOut.model_validate(order_view(detail)).model_dump(mode="json"),
                        status_code=201)


def _store_address(db: Any, code: str) -> dict[str, Any]:
    with read_connection(db) as conn:
        found = fq.location_address(conn, code)
    if found is None:
        raise InvalidInput(f"{code!r} is not a store", field="store")
    return found
