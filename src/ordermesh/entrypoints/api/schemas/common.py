"""Shared request and response shapes."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Generic, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)
from pydantic_extra_types.country import CountryAlpha2

T = TypeVar("T")

Code = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


def _in_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("the time is out of range once moved to UTC") from exc


NUMBER = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")


def _iso_text(value: object) -> object:
    """Times and days are ISO 8601 text, as documented: pydantic would also read a number (or
    a numeric string) as a Unix timestamp, so that `0.5` or `2024` quietly became 1970."""
    if isinstance(value, int | float) or (isinstance(value, str) and NUMBER.fullmatch(value)):
        raise ValueError("give an ISO 8601 date or time, not a number")
    return value


IsoText = BeforeValidator(_iso_text)
UtcTime = Annotated[AwareDatetime, IsoText, AfterValidator(_in_utc)]

# A business date: release dates, expected deliveries. Bounded so that promises computed from
# it (plus transit and lead times) stay on the calendar.
BusinessDate = Annotated[date, IsoText, Field(ge=date(2000, 1, 1), le=date(2199, 12, 31))]


class Strict(BaseModel):
    """Request bodies refuse fields they do not know."""

    model_config = ConfigDict(extra="forbid")


class Address(Strict):
    name: Text | None = None
    company: Text | None = None
    line1: Text
    line2: Text | None = None
    city: Text
    postal_code: Annotated[str, StringConstraints(strip_whitespace=True, max_length=20)] | None = None
    region: Text | None = None
    country: CountryAlpha2 = Field(description="ISO 3166-1 alpha-2 country code")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page")


class Problem(BaseModel):
    """An RFC 9457 problem: every error answer of the API."""

    type: str
    title: str
    status: int
    code: str = Field(description="Stable machine-readable code, e.g. stock.insufficient")
    detail: str | None = None


def problem_responses() -> dict[int | str, dict[str, object]]:
    described = {400: "Malformed request", 401: "No valid API key", 403: "The key's role may not",
                 404: "Not found (or not this channel's)", 409: "Conflict with the current state",
                 413: "Request too large", 422: "Invalid request"}
    schema = {"$ref": "#/components/schemas/Problem"}
    return {code: {"description": text, "content": {"application/problem+json": {"schema": schema}}}
            for code, text in described.items()}
