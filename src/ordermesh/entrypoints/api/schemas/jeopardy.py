"""Request and response shapes of stage SLAs and stuck orders."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StrictInt

from ordermesh.domain.jeopardy import MAX_SLA_MINUTES
from ordermesh.entrypoints.api.schemas.common import Strict

# A channel's code, or '*' for every channel without its own SLA.
CHANNEL_OR_ANY = r"^(\*|[A-Za-z0-9][A-Za-z0-9._:-]{0,63})$"


class StageSlaIn(Strict):
    minutes: Annotated[StrictInt, Field(ge=1, le=MAX_SLA_MINUTES,
                                        description="How long the stage may take")]


class StageSlaOut(BaseModel):
    channel: str = Field(description="A channel's code, or `*` for every channel without its own")
    stage: str
    minutes: int
    updated_at: datetime


class StageDefaultOut(BaseModel):
    stage: str
    minutes: int


class StageSlasOut(BaseModel):
    warning_percent: int = Field(description="An order is at risk once this share of the SLA "
                                             "has passed")
    defaults: list[StageDefaultOut] = Field(description="Used where neither the channel nor "
                                                        "`*` sets its own")
    slas: list[StageSlaOut]


class StuckOut(BaseModel):
    order_id: str
    number: str
    channel: str
    stage: str
    reason: str = Field(description="payment_failed, awaiting_stock, short_pick, "
                                    "carrier_exception, pickup_not_collected, on_hold or slow")
    started_at: datetime = Field(description="When the order entered the stage")
    due_at: datetime = Field(description="When the stage's SLA runs out")
    sla_minutes: int
    minutes: int = Field(description="Whole minutes past due_at; negative: minutes still to go")
    overdue: bool


class StuckListOut(BaseModel):
    as_of: datetime = Field(description="The time the orders were measured at")
    items: list[StuckOut]
