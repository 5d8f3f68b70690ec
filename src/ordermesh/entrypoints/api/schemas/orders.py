"""Order capture and order views."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    EmailStr,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StringConstraints,
    model_validator,
)
from pydantic_extra_types.currency_code import ISO4217

from ordermesh.domain.fulfilments import (
    ARRIVED,
    SENT,
    FulfilmentStatus,
    OrderFulfilment,
    order_fulfilment,
)
from ordermesh.entrypoints.api.schemas.common import Address, Code, Strict, Text

Quantity = Annotated[StrictInt, Field(ge=1, le=100_000)]
# Bounded so that 500 lines of 100,000 units still total within a 64-bit integer.
MinorUnits = Annotated[StrictInt, Field(ge=0, le=10**11, description="Amount in minor units")]
Phone = Annotated[str, StringConstraints(pattern=r"^\+?[0-9 ().-]{5,31}$")]
Email = Annotated[EmailStr, AfterValidator(str.lower)]


class ShippingAddress(Address):
    latitude: Annotated[StrictFloat, Field(ge=-90, le=90)] | None = Field(
        None, description="Optional; with longitude, lets sourcing choose the nearest location")
    longitude: Annotated[StrictFloat, Field(ge=-180, le=180)] | None = None

    @model_validator(mode="after")
    def _both_coordinates_or_none(self) -> ShippingAddress:
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("give latitude and longitude together, or neither")
        return self


class CustomerIn(Strict):
    email: Email
    name: Text
    phone: Phone | None = None


class LineIn(Strict):
    sku: Code
    quantity: Quantity
    unit_price: MinorUnits


class FulfilmentIn(Strict):
    method: Literal["ship", "pickup"]
    location: Code | None = Field(None, description="The store to collect from (pickup only)")

    @model_validator(mode="after")
    def _pickup_names_a_location(self) -> FulfilmentIn:
        if (self.method == "pickup") != (self.location is not None):
            raise ValueError("a pickup names its location, and only a pickup does")
        return self


class PackagingIn(Strict):
    gift_wrap: StrictBool = False
    gift_message: Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)] | None = None
    name_on_package: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = (
        Field(None, description="Printed on the label instead of the customer's name"))


class OrderIn(Strict):
    external_reference: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = (
        Field(None, description="The channel's own order id; unique per channel"))
    currency: ISO4217
    customer: CustomerIn
    billing_address: Address
    shipping_address: ShippingAddress | None = None
    delivery_instructions: Annotated[str, StringConstraints(max_length=1000)] | None = None
    packaging: PackagingIn | None = Field(
        None, description="Packaging instructions, carried to the packing slip and the label")
    payment_token: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_:.-]{4,200}$")] | None = (
        Field(None, description="A token from the payment gateway. Never a card number."))
    fulfilment: FulfilmentIn
    lines: Annotated[list[LineIn], Field(min_length=1, max_length=500)]
    shipping_total: MinorUnits = 0
    cart_hold: Annotated[str, StringConstraints(min_length=1, max_length=36)] | None = Field(
        None, description="A cart hold of this channel (POST /api/v1/cart-holds) to convert: "
        "its units are given back and the order is sourced as usual, in one transaction")

    @model_validator(mode="after")
    def _shipping_needs_an_address(self) -> OrderIn:
        if self.fulfilment.method == "ship" and self.shipping_address is None:
            raise ValueError("an order shipped to an address needs a shipping_address")
        return self


class StatusChangeIn(Strict):
    reason: Annotated[str, StringConstraints(max_length=500)] | None = None


class LineRejectionIn(Strict):
    location: Code = Field(description="The location that cannot fulfil the line")
    quantity: Quantity | None = Field(None, description="Default: all it holds of the line")
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                             max_length=500)] = "rejected by the location"


class LineCancellationIn(Strict):
    quantity: Quantity | None = Field(None, description="Units to cancel. Default: all of the "
                                      "line that is not being picked, packed or sent")
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                             max_length=500)] = Field(
        description="Why, as the customer or the operator said it (shown in the timeline)")


class CandidateOut(BaseModel):
    location: str
    distance_km: float | None
    cost: int | None = Field(description="Shipping cost in the order currency's minor units")
    priority: int
    fills: int = Field(description="Open lines this location could fill whole")


class DecisionOut(BaseModel):
    """Why this location was chosen: the rule that decided, and what else was looked at."""

    rule: str
    explanation: str
    considered: list[CandidateOut]
    excluded: list[tuple[str, str]] = Field(description="(location, reason) pairs")


class AllocationOut(BaseModel):
    location: str
    quantity: int
    source: Literal["stock", "transfer"]
    status: str
    ready_on: date | None
    promised_on: date | None
    decision: DecisionOut | None
    fulfilment_id: str | None = Field(None, description="The fulfilment working on it, once "
                                                        "released to its location")


class WaitOut(BaseModel):
    quantity: int
    kind: Literal["backorder", "preorder"]
    status: str
    promised_on: date | None
    decision: DecisionOut | None


class LineOut(BaseModel):
    id: str
    line_no: int
    sku: str
    quantity: int
    unit_price: int
    line_total: int
    tax_amount: int = Field(description="The line's tax, rounded once for the whole line")
    tax_rate: str | None
    tax_name: str | None
    dispatched: int
    returned: int
    cancelled: int = Field(0, description="Units that will not be sent after all")
    status: str
    allocations: list[AllocationOut] = []
    waits: list[WaitOut] = Field([], description="Quantities waiting for supply, and until when")


class TotalsOut(BaseModel):
    currency: str
    lines: int
    shipping: int
    tax: int = Field(description="Tax of the lines and the shipping")
    shipping_tax: int
    prices_include_tax: bool = Field(description="Tax is inside the line and shipping prices "
                                     "(else added on top in grand)")
    grand: int


class OrderSummaryOut(BaseModel):
    id: str
    number: str
    channel: str
    external_reference: str | None
    status: str
    customer_email: str
    currency: str
    grand_total: int
    created_at: datetime
    updated_at: datetime


class OrderOut(OrderSummaryOut):
    customer: dict[str, Any]
    billing_address: dict[str, Any]
    shipping_address: dict[str, Any] | None
    delivery_instructions: str | None
    packaging: dict[str, Any] | None
    payment_token: str | None
    hold_reason: str | None
    fulfilment: dict[str, Any]
    totals: TotalsOut
    lines: list[LineOut]


class EventOut(BaseModel):
    id: str
    type: str
    occurred_at: datetime
    actor: str
    data: dict[str, Any]


def fulfilment_status(row: dict[str, Any]) -> OrderFulfilment:
    """The order's fulfilment status (domain.fulfilments.order_fulfilment) from the order
    detail: its fulfilments, the units sent without one, and the units still waiting for one."""
    fulfilments = [(FulfilmentStatus(s), units) for s, units in row["fulfilment_units"]]
    statuses = [s for s, _ in fulfilments]
    sent = sum(units for s, units in fulfilments if s in SENT or s in ARRIVED
               or s is FulfilmentStatus.RETURNED_TO_SENDER)
    lines = [ln for ln in row["lines"] if ln["status"] != "cancelled"]
    if sum(ln["dispatched"] for ln in lines) > sent:  # dispatched by the order's lines
        statuses.append(FulfilmentStatus.DELIVERED if row["status"] in ("delivered", "completed")
                        else FulfilmentStatus.DISPATCHED)
    waiting = any(ln["quantity"] - ln["dispatched"] - ln["cancelled"] > sum(
        a["quantity"] for a in ln["allocations"] if a["status"] == "active" and a["fulfilment_id"])
        for ln in lines)
    return order_fulfilment(statuses, waiting, cancelled=row["status"] == "cancelled")


def summary_view(row: dict[str, Any]) -> dict[str, Any]:
    keys = OrderSummaryOut.model_fields.keys() - {"channel"}
    return {**{k: row[k] for k in keys}, "channel": row["channel_code"]}


def order_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        **summary_view(row),
        "customer": {"email": row["customer_email"], "name": row["customer_name"],
                     "phone": row["customer_phone"]},
        "billing_address": row["billing_address"],
        "shipping_address": row["shipping_address"],
        "delivery_instructions": row["delivery_instructions"],
        "packaging": row["packaging"],
        "payment_token": row["payment_token"],
        "hold_reason": row["hold_reason"],
        "fulfilment": {"method": row["fulfilment_method"],
                       "location": row["pickup_location_code"],
                       "status": str(fulfilment_status(row))},
        "totals": {"currency": row["currency"], "lines": row["lines_total"],
                   "shipping": row["shipping_total"], "tax": row["tax_total"],
                   "shipping_tax": row["shipping_tax"],
                   "prices_include_tax": row["prices_include_tax"], "grand": row["grand_total"]},
        "lines": [{**ln, "allocations": [{**a, "location": a["location_code"]}
                                         for a in ln["allocations"]]} for ln in row["lines"]],
    }
