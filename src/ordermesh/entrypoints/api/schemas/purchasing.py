"""Suppliers, purchase orders and receipts."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, Field, StrictBool, StrictInt, StringConstraints, model_validator
from pydantic_extra_types.currency_code import ISO4217

from ordermesh.entrypoints.api.schemas.common import BusinessDate, Code, Strict, Text
from ordermesh.entrypoints.api.schemas.orders import Email

Days = Annotated[StrictInt, Field(ge=0, le=3650)]
Units = Annotated[StrictInt, Field(ge=1, le=1_000_000)]
# Bounded so that 500 lines of 1,000,000 units still total within a 64-bit integer.
UnitCost = Annotated[StrictInt, Field(ge=0, le=10**10, description="Amount in minor units")]


class SupplierPatch(Strict):
    name: Text | None = None
    email: Email | None = None
    currency: ISO4217 | None = None
    lead_time_days: Days | None = Field(None, description="Days from sending to delivery")
    payment_terms_days: Days | None = Field(None, description="Net days to pay a bill")
    active: StrictBool | None = None


class SupplierIn(SupplierPatch):
    code: Code
    name: Text
    email: Email
    currency: ISO4217
    lead_time_days: Days = 0
    payment_terms_days: Days = 30
    active: StrictBool = True


class SupplierOut(BaseModel):
    code: str
    name: str
    email: str
    currency: str
    lead_time_days: int
    payment_terms_days: int
    active: bool
    created_at: datetime
    updated_at: datetime


class PurchaseOrderLineIn(Strict):
    sku: Code
    quantity: Units
    unit_cost: UnitCost = Field(description="Cost per unit in minor units of the currency")


class PurchaseOrderIn(Strict):
    supplier: Code
    deliver_to: Code = Field(description="The location that receives the goods")
    currency: ISO4217 | None = Field(None, description="If given, must be the supplier's")
    expected_on: BusinessDate | None = Field(
        None, description="Agreed delivery date; otherwise set from the lead time when sent")
    lines: Annotated[list[PurchaseOrderLineIn], Field(min_length=1, max_length=500)]


class ReceiptLineIn(Strict):
    line_no: Annotated[StrictInt, Field(ge=1, le=500)]
    quantity: Units


class ReceiptIn(Strict):
    lines: Annotated[list[ReceiptLineIn], Field(min_length=1, max_length=500)]
    allow_over_receipt: StrictBool = Field(
        False, description="Accept more than is outstanding on a line")
    reference: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                                max_length=200)] | None = Field(
        None, description="The supplier's delivery note, say")
    location: Code | None = Field(None, description="If given, must be the deliver_to location")

    @model_validator(mode="after")
    def _each_line_once(self) -> ReceiptIn:
        numbers = [line.line_no for line in self.lines]
        if len(set(numbers)) != len(numbers):
            raise ValueError("name each line_no once")
        return self


class PurchaseOrderSummaryOut(BaseModel):
    id: str
    number: str
    supplier_code: str
    deliver_to: str
    currency: str
    status: str
    total: int = Field(description="Sum of the lines in minor units")
    expected_on: date | None
    sent_at: datetime | None
    created_at: datetime
    updated_at: datetime


class PurchaseOrderLineOut(BaseModel):
    line_no: int
    sku: str
    product_name: str
    quantity: int = Field(description="Ordered")
    received: int
    outstanding: int
    unit_cost: int
    line_total: int


class PurchaseOrderOut(PurchaseOrderSummaryOut):
    lines: list[PurchaseOrderLineOut]


class ReceiptOut(PurchaseOrderOut):
    allocated_orders: list[str] = Field(
        description="Numbers of the waiting orders this receipt allocated, first placed first")
