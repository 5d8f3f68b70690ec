"""Stock levels, movements and the bulk feed."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StrictInt, StringConstraints, model_validator

from ordermesh.entrypoints.api.schemas.common import Code, Strict, UtcTime

# The bounds of a stock feed's rows, whether sent as JSON or as a CSV file.
MAX_QUANTITY = 10**9
MAX_SOURCE_REFERENCE = 200
MAX_JSON_ROWS = 5000
MAX_CSV_ROWS = 100_000

Count = Annotated[StrictInt, Field(ge=0, le=10**9)]
Change = Annotated[StrictInt, Field(ge=-(10**9), le=10**9)]


class StockLevelIn(Strict):
    on_hand: Count | None = Field(None, description="A counted figure: on hand is now this")
    on_hand_delta: Change | None = Field(
        None, description="A change instead of a count: on hand goes up (or, negative, down) by "
        "this from what it is when the change is applied, so a sale or receipt landing meanwhile "
        "is kept. Not with on_hand; on hand cannot go below 0")
    safety_stock: Count | None = None
    reorder_point: Count | None = Field(
        None, description="Reorder when available + incoming falls to this; give with reorder_quantity")
    reorder_quantity: Annotated[StrictInt, Field(ge=1, le=10**9)] | None = Field(
        None, description="Reorder in multiples of this; give with reorder_point")
    reference: Annotated[str, StringConstraints(min_length=1, max_length=200)] = (
        "manual adjustment")

    @model_validator(mode="after")
    def _count_or_change(self) -> StockLevelIn:
        if self.on_hand is not None and self.on_hand_delta is not None:
            raise ValueError("give on_hand (a count) or on_hand_delta (a change), not both")
        return self


class StockLevelOut(BaseModel):
    sku: str
    location: str
    on_hand: int
    reserved: int
    safety_stock: int
    available: int
    reorder_point: int | None = None
    reorder_quantity: int | None = None
    last_counted_at: datetime | None
    last_movement_at: datetime | None
    updated_at: datetime


class StockMovementOut(BaseModel):
    id: int
    sku: str
    location: str
    on_hand_delta: int
    reserved_delta: int
    reason: str
    reference: str
    actor: str
    occurred_at: datetime


class StockUpdateIn(Strict):
    sku: Code
    location: Code
    mode: Literal["absolute", "delta"] = Field(
        description="absolute: a count of what is on hand; delta: a movement (+ received, - sold)")
    quantity: Annotated[StrictInt, Field(ge=-MAX_QUANTITY, le=MAX_QUANTITY)]
    source_reference: Annotated[str, StringConstraints(
        min_length=1, max_length=MAX_SOURCE_REFERENCE)] = Field(
        description="Unique per row in the source system; a row seen before is not applied again")
    counted_at: UtcTime = Field(description="When the source counted or moved the stock")


class StockSyncIn(Strict):
    updates: Annotated[list[StockUpdateIn], Field(min_length=1, max_length=MAX_JSON_ROWS)]


class StockSyncRowOut(BaseModel):
    source_reference: str
    outcome: Literal["applied", "duplicate", "stale", "rejected"]
    on_hand_delta: int
    reason: str | None


class StockSyncOut(BaseModel):
    applied: int
    duplicate: int
    stale: int
    rejected: int
    results: list[StockSyncRowOut]


class StockSyncFileRowOut(BaseModel):
    line: int = Field(description="The row's line in the file (the header is line 1)")
    source_reference: str
    sku: str
    location: str
    outcome: Literal["stale", "rejected"]
    reason: str | None


class StockSyncFileOut(BaseModel):
    """The answer to a stock sync sent as a CSV file: counts, and only the rows that were not
    applied and not seen before."""

    rows: int = Field(description="Rows in the file")
    applied: int
    duplicate: int = Field(description="Rows whose source_reference was taken before: not "
                                       "applied again (a file sent again is all duplicates)")
    stale: int
    rejected: int
    transactions: int = Field(description="The file is applied in this many transactions, one "
                                          "after another, each committed on its own")
    results: list[StockSyncFileRowOut] = Field(
        description="The stale and rejected rows, by line; applied and duplicate rows are only "
                    "counted")
