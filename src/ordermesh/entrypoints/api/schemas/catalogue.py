"""Products, locations, channels and API keys."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from babel import Locale, UnknownLocaleError
from pydantic import (
    AfterValidator,
    BaseModel,
    EmailStr,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StringConstraints,
)
from pydantic_extra_types.currency_code import ISO4217
from stdnum import ean

from ordermesh.entrypoints.api.schemas.common import Address, BusinessDate, Code, Strict, Text


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
    fragile: StrictBool | None = Field(None, description="Packed with care; FRAGILE on its "
                                       "labels and packing slips")
    preorder: StrictBool | None = None
    release_date: BusinessDate | None = None
    backorderable: StrictBool | None = None
    low_stock_threshold: Annotated[StrictInt, Field(ge=0, le=10**9)] | None = Field(
        None, description="Network-wide availability at or below this is `low_stock`")
    supplier_code: Code | None = Field(None, description="Who it is bought from")
    active: StrictBool | None = None


class ProductIn(ProductPatch):
    sku: Code
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
    price_amount: Annotated[StrictInt, Field(ge=0, le=10**13)]
    currency: ISO4217
    tax_class: TaxClass = "standard"
    fragile: StrictBool = False
    preorder: StrictBool = False
    backorderable: StrictBool = False
    low_stock_threshold: Annotated[StrictInt, Field(ge=0, le=10**9)] = 0
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
    fragile: bool
    preorder: bool
    release_date: date | None
    backorderable: bool
    low_stock_threshold: int
    supplier_code: str | None
    active: bool
    created_at: datetime
    updated_at: datetime


Days = Annotated[StrictInt, Field(ge=0, le=365)]


class RateIn(Strict):
    """One band of a shipping rate table: destinations up to `max_km` away cost `amount`."""

    max_km: Annotated[StrictInt, Field(ge=1, le=40_000)] | None = Field(
        None, description="Upper bound of the band; null: any distance")
    amount: Annotated[StrictInt, Field(ge=0, le=10**9)] = Field(description="Minor units")
    currency: ISO4217
    days: Days = Field(description="Transit days for this band")


class LocationPatch(Strict):
    name: Text | None = None
    address: Address | None = None
    latitude: Annotated[StrictFloat, Field(ge=-90, le=90)] | None = None
    longitude: Annotated[StrictFloat, Field(ge=-180, le=180)] | None = None
    can_ship: StrictBool | None = None
    can_pickup: StrictBool | None = None
    priority: Annotated[StrictInt, Field(ge=0, le=1000)] | None = None
    daily_order_capacity: Annotated[StrictInt, Field(ge=0, le=1_000_000)] | None = Field(
        None, description="Shipments it can take on a day; null: no limit")
    transfer_days: Days | None = Field(None, description="Days to move stock to a store")
    shipping_rates: Annotated[list[RateIn], Field(max_length=50)] | None = None
    active: StrictBool | None = None


class LocationIn(LocationPatch):
    code: Code
    name: Text
    kind: Literal["warehouse", "store", "supplier"]
    address: Address
    latitude: Annotated[StrictFloat, Field(ge=-90, le=90)]
    longitude: Annotated[StrictFloat, Field(ge=-180, le=180)]
    can_ship: StrictBool = True
    can_pickup: StrictBool = False
    priority: Annotated[StrictInt, Field(ge=0, le=1000)] = 100
    transfer_days: Days = 1
    shipping_rates: Annotated[list[RateIn], Field(max_length=50)] = []
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
    transfer_days: int
    shipping_rates: list[dict[str, Any]]
    active: bool
    created_at: datetime
    updated_at: datetime


ChannelCode = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}(:[a-z0-9_-]{1,31})?$")]


def _known_locale(value: str) -> str:
    """A locale Babel knows (its formats and words are what customer mail is written in)."""
    try:
        Locale.parse(value)
    except (UnknownLocaleError, ValueError) as exc:
        raise ValueError(f"unknown locale {value!r}") from exc
    return value


class ChannelIn(Strict):
    code: ChannelCode = Field(description="web, mobile, pos, call_centre, marketplace:<name>...")
    name: Text


SourcingRule = Literal["fewest_shipments", "nearest", "lowest_cost", "priority"]


class ChannelPatch(Strict):
    """How orders of a channel are sourced, and what it may promise."""

    name: Text | None = None
    sourcing_rules: Annotated[list[SourcingRule], Field(max_length=4)] | None = Field(
        None, description="Preferences in the order they apply; eligibility and pickup store "
        "first always come before them")
    visible_locations: Annotated[list[Code], Field(max_length=1000)] | None = Field(
        None, description="Locations the channel may use and see; null: all")
    safety_buffer: Annotated[StrictInt, Field(ge=0, le=10**9)] | None = Field(
        None, description="Units held back from this channel at every location")
    allow_split: StrictBool | None = None
    allow_backorder: StrictBool | None = None
    cart_hold_minutes: Annotated[StrictInt, Field(ge=1, le=1440)] | None = Field(
        None, description="How long a cart reservation holds stock; null: no cart holds")
    prices_include_tax: StrictBool | None = Field(
        None, description="Prices of this channel include tax (taken out of them), or tax is "
        "added on top")
    shipping_tax_class: Code | None = Field(None, description="The tax class of shipping")
    payment_gateway: Literal["test", "stripe"] | None = Field(
        None, description="The gateway that takes the channel's payments; null: none (orders "
        "are paid outside Ordermesh)")
    capture_on: Literal["dispatch", "placement"] | None = Field(
        None, description="Capture each shipment's amount when it is dispatched, or the whole "
        "order when it is authorized (POS, marketplaces)")
    invoice_on: Literal["dispatch", "placement"] | None = Field(
        None, description="One invoice per shipment, or one for the order when it is placed")
    payment_failure_release_minutes: Annotated[StrictInt, Field(ge=1, le=43200)] | None = Field(
        None, description="How long an order held for a failed payment keeps its stock")
    shipping_preference: Literal["cheapest", "fastest"] | None = Field(
        None, description="Of the carriers' quotes that arrive by the promised date, buy the "
        "cheapest or the fastest")
    pickup_hold_days: Annotated[StrictInt, Field(ge=1, le=90)] | None = Field(
        None, description="How long a click & collect order waits at the counter before it "
        "goes back to stock")
    brand_name: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = Field(
        None, description="The name on this channel's customer mail")
    brand_colour: Annotated[str, StringConstraints(pattern=r"^#([0-9a-fA-F]{3}){1,2}$")] | None = (
        Field(None, description="The colour of its mail's header, #rgb or #rrggbb"))
    mail_from: EmailStr | None = Field(None, description="The sender of its customer mail")
    locale: Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(_[A-Z]{2})?$"),
                      AfterValidator(_known_locale)] | None = Field(
        None, description="The language and formats of its customer mail, e.g. nl_NL")


class ChannelOut(BaseModel):
    code: str
    name: str
    active: bool
    created_at: datetime
    sourcing_rules: list[str]
    visible_locations: list[str] | None
    safety_buffer: int
    allow_split: bool
    allow_backorder: bool
    cart_hold_minutes: int | None
    prices_include_tax: bool
    shipping_tax_class: str
    payment_gateway: str | None
    capture_on: str
    invoice_on: str
    payment_failure_release_minutes: int
    shipping_preference: str
    pickup_hold_days: int
    brand_name: str | None = None
    brand_colour: str | None = None
    mail_from: str | None = None
    locale: str | None = None


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
