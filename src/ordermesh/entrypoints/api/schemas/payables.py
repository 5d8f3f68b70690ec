"""Supplier bills, supplier payments and the accounts-payable ageing report."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, Field, StrictInt, StringConstraints, model_validator
from pydantic_extra_types.currency_code import ISO4217

from ordermesh.domain.purchasing import MAX_TOTAL
from ordermesh.entrypoints.api.schemas.common import BusinessDate, Strict
from ordermesh.entrypoints.api.schemas.purchasing import UnitCost, Units

BillNumber = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Reference = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class SupplierBillLineIn(Strict):
    line_no: Annotated[StrictInt, Field(ge=1, le=500, description="The purchase order line billed")]
    quantity: Units
    unit_cost: UnitCost = Field(description="Billed cost per unit in minor units")


class SupplierBillIn(Strict):
    number: BillNumber = Field(description="The supplier's own bill number, unique per supplier")
    purchase_order: Reference = Field(description="The purchase order's id or number (PO-000123)")
    bill_date: BusinessDate = Field(description="The bill's date: payment terms count from it")
    currency: ISO4217 | None = Field(None, description="If given, must be the purchase order's")
    lines: Annotated[list[SupplierBillLineIn], Field(min_length=1, max_length=500)]

    @model_validator(mode="after")
    def _each_line_once(self) -> SupplierBillIn:
        numbers = [line.line_no for line in self.lines]
        if len(set(numbers)) != len(numbers):
            raise ValueError("bill each line_no once")
        return self


class ReviewIn(Strict):
    reason: Reason | None = Field(None, description="Required to approve a held bill")


class SupplierPaymentIn(Strict):
    amount: Annotated[StrictInt, Field(ge=1, le=MAX_TOTAL, description="Minor units")]
    paid_on: BusinessDate
    reference: Reference = Field(description="The bank transfer, say: it pays a bill once")
    currency: ISO4217 | None = Field(None, description="If given, must be the bill's")


class FindingOut(BaseModel):
    line_no: int
    sku: str
    code: str = Field(description="billed_more_than_received, billed_more_than_ordered or "
                                  "price_above_tolerance")
    expected: int = Field(description="The purchase order's figure: units or unit cost")
    actual: int = Field(description="The bill's figure: units billed so far or unit cost")


class SupplierBillLineOut(BaseModel):
    line_no: int
    sku: str
    quantity: int
    unit_cost: int
    line_total: int


class SupplierPaymentOut(BaseModel):
    amount: int
    paid_on: date
    reference: str
    recorded_at: datetime


class SupplierBillSummaryOut(BaseModel):
    id: str
    number: str
    supplier_code: str
    purchase_order: str
    currency: str
    bill_date: date
    due_on: date
    status: str
    payment_status: str = Field(description="open, partially_paid or paid")
    total: int = Field(description="Sum of the lines in minor units")
    paid: int
    outstanding: int
    created_at: datetime
    updated_at: datetime


class SupplierBillOut(SupplierBillSummaryOut):
    review_reason: str | None
    lines: list[SupplierBillLineOut]
    findings: list[FindingOut]
    payments: list[SupplierPaymentOut]


class AgeingRowOut(BaseModel):
    supplier_code: str | None = Field(description="None on a total row")
    supplier_name: str | None
    currency: str
    current: int = Field(description="Not yet due")
    days_1_30: int
    days_31_60: int
    days_61_90: int
    days_over_90: int
    total: int


class AgeingReportOut(BaseModel):
    as_of: date
    suppliers: list[AgeingRowOut]
    totals: list[AgeingRowOut] = Field(description="One per currency")
