"""Availability: per SKU, and for a cart."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, Field, StrictFloat, model_validator
from pydantic_extra_types.currency_code import ISO4217

from ordermesh.entrypoints.api.schemas.common import Code, Strict
from ordermesh.entrypoints.api.schemas.orders import Quantity

Status = Annotated[str, Field(description="in_stock, low_stock, out_of_stock, preorder, backorder")]


class LocationFigures(BaseModel):
    location: str
    on_hand: int
    reserved: int
    safety_stock: int
    available: int = Field(description="Free to promise to this caller (channel buffer applied)")
    status: Status


class IncomingOut(BaseModel):
    reference: str = Field(description="Purchase order and line, e.g. PO-000012/1")
    quantity: int = Field(description="Units not yet promised to waiting orders")
    arrives_on: date


class SkuAvailabilityOut(BaseModel):
    sku: str
    status: Status
    available_on: date | None = Field(description="When it can leave a location; null: unknown")
    on_hand: int
    reserved: int
    safety_stock: int
    available: int
    incoming: list[IncomingOut]
    locations: list[LocationFigures]


class AvailabilityOut(BaseModel):
    items: list[SkuAvailabilityOut]


class Coordinates(Strict):
    latitude: Annotated[StrictFloat, Field(ge=-90, le=90)]
    longitude: Annotated[StrictFloat, Field(ge=-180, le=180)]


class CartLineIn(Strict):
    sku: Code
    quantity: Quantity


class CartIn(Strict):
    lines: Annotated[list[CartLineIn], Field(min_length=1, max_length=200)]
    destination: Coordinates | None = Field(None, description="Where it would be delivered")
    pickup_location: Code | None = Field(None, description="The store it would be collected at")
    currency: ISO4217 | None = Field(None, description="For shipping costs; default: the "
                                     "first product's currency")
    channel: Code | None = Field(None, description="Operators only: answer as this channel")

    @model_validator(mode="after")
    def _deliver_or_collect(self) -> CartIn:
        if self.destination is not None and self.pickup_location is not None:
            raise ValueError("give a destination or a pickup_location, not both")
        return self


class PartOut(BaseModel):
    location: str
    quantity: int
    source: str
    ready_on: date
    promised_on: date
    why: str


class WaitPartOut(BaseModel):
    quantity: int
    kind: str
    promised_on: date | None
    why: str


class RefusedOut(BaseModel):
    quantity: int
    reason: str


class CartLineOut(BaseModel):
    line_no: int
    sku: str
    quantity: int
    status: Status
    can_fulfil: bool
    available_now: int = Field(description="Units that can be allocated from stock now")
    promised_on: date | None = Field(description="When the whole line arrives or can be "
                                     "collected; null: no date can be promised")
    from_: list[PartOut] = Field(alias="from", serialization_alias="from")
    waits: list[WaitPartOut]
    refused: RefusedOut | None


class CartOut(BaseModel):
    can_fulfil: bool
    shipments: int = Field(description="Locations the cart would ship from")
    lines: list[CartLineOut]
