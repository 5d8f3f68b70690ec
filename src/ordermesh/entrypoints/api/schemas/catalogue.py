"""Products, locations, channels and API keys."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, StrictBool, StrictInt, StringConstraints
from pydantic_extra_types.currency_code import ISO4217
from stdnum import ean

from ordermesh.entrypoints.api.schemas.common import Address, Code, Strict, Text


def _valid_gtin(value: str) -> str:
    if not ean.is_valid(value):
        raise ValueError("not a valid GTIN (8, 12, 13 or 14 digits with a correct check digit)")
    return str(ean.compact(value))


Gtin = Annotated[str, AfterValidator(_valid_gtin)]
Millimetres = Annotated[StrictInt, Field(gt=0, le=100_000)]
Category = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
TaxClass = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]


class ProductPatch(Strict):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)] | None = None
    category: Category | None = None
    gtin: Gtin | None = None
    price_amount: Annotated[StrictInt, Field(ge=0, le=10**13)] | None = Field(
        None, description="Price in minor units of `currency`")
    currency: ISO4217 | None = None
    tax_class: TaxClass | None = None
    weight_grams: Annotated[StrictInt, Field(gt=0, le=10**7)] | None = None
    length_mm: Millimetres | None = None
    width_mm: Millimetres | None = None
    height_mm: Millimetres | None = None
    preorder: StrictBool | None = None
    release_date: date | None = None
    backorderable: StrictBool | None = None
    active: StrictBool | None = None


class ProductIn(ProductPatch):
    sku: Code
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
    price_amount: Annotated[StrictInt, Field(ge=0, le=10**13)]
    currency: ISO4217
    tax_class: TaxClass = "standard"
    preorder: StrictBool = False
    backorderable: StrictBool = False
    active: StrictBool = True


class ProductOut(BaseModel):
    sku: str
    name: str
    category: str | None
    gtin: str | None
    price_amount: int
    currency: str
    tax_class: str
    weight_grams: int | None
    length_mm: int | None
    width_mm: int | None
    height_mm: int | None
    preorder: bool
    release_date: date | None
    backorderable: bool
    active: bool
    created_at: datetime
    updated_at: datetime


class LocationPatch(Strict):
    name: Text | None = None
    address: Address | None = None
    latitude: Annotated[float, Field(ge=-90, le=90)] | None = None
    longitude: Annotated[float, Field(ge=-180, le=180)] | None = None
    can_ship: StrictBool | None = None
    can_pickup: StrictBool | None = None
    priority: Annotated[StrictInt, Field(ge=0, le=1000)] | None = None
    daily_order_capacity: Annotated[StrictInt, Field(ge=0, le=1_000_000)] | None = None
    active: StrictBool | None = None


class LocationIn(LocationPatch):
    code: Code
    name: Text
    kind: Literal["warehouse", "store", "supplier"]
    address: Address
    latitude: Annotated[float, Field(ge=-90, le=90)]
    longitude: Annotated[float, Field(ge=-180, le=180)]
    can_ship: StrictBool = True
    can_pickup: StrictBool = False
    priority: Annotated[StrictInt, Field(ge=0, le=1000)] = 100
    active: StrictBool = True


class LocationOut(BaseModel):
    code: str
    name: str
    kind: str
    address: dict[str, Any]
    latitude: float
    longitude: float
    can_ship: bool
    can_pickup: bool
    priority: int
    daily_order_capacity: int | None
    active: bool
    created_at: datetime
    updated_at: datetime


ChannelCode = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}(:[a-z0-9_-]{1,31})?$")]


class ChannelIn(Strict):
    code: ChannelCode = Field(description="web, mobile, pos, call_centre, marketplace:<name>...")
    name: Text


class ChannelOut(BaseModel):
    code: str
    name: str
    active: bool
    created_at: datetime


class ApiKeyIn(Strict):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
    role: Literal["channel", "operator", "admin"]
    channel: ChannelCode | None = None


class ApiKeyOut(BaseModel):
    id: str
    name: str
    prefix: str
    role: str
    channel: str | None
    created_at: datetime
    revoked_at: datetime | None


class IssuedKeyOut(BaseModel):
    id: str
    key: str = Field(description="Shown once. Ordermesh stores only a hash of it.")
    role: str
    channel: str | None
