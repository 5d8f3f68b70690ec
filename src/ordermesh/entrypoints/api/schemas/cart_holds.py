"""Cart holds: a channel's cart reserved for a few minutes before the order is placed."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, model_validator
from pydantic_extra_types.currency_code import ISO4217

from ordermesh.entrypoints.api.schemas.availability import CartLineIn, Coordinates
from ordermesh.entrypoints.api.schemas.common import Code, Strict


class CartHoldIn(Strict):
    lines: Annotated[list[CartLineIn], Field(min_length=1, max_length=200)]
    destination: Coordinates | None = Field(None, description="Where it would be delivered")
    pickup_location: Code | None = Field(None, description="The store it would be collected at")
    currency: ISO4217 | None = Field(None, description="For shipping costs; default: the "
                                     "first product's currency")

    @model_validator(mode="after")
    def _deliver_or_collect(self) -> CartHoldIn:
        if self.destination is not None and self.pickup_location is not None:
            raise ValueError("give a destination or a pickup_location, not both")
        return self


class HeldLineOut(BaseModel):
    sku: str
    location: str = Field(description="Where these units are reserved")
    quantity: int


class CartHoldOut(BaseModel):
    id: str
    channel: str
    status: Literal["active", "converted", "released", "expired"]
    expires_at: datetime
    created_at: datetime
    ended_at: datetime | None
    order_id: str | None = Field(description="The order it was converted into")
    lines: list[HeldLineOut]
