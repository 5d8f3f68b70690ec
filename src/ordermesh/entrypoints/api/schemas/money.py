"""Request and response shapes of payments, shipments, refunds, invoices, tax rates and
settlement."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, StrictBool, StrictInt, StringConstraints, model_validator
from pydantic_extra_types.country import CountryAlpha2

from ordermesh.entrypoints.api.schemas.common import Code, IsoText, Strict, Text
from ordermesh.services.handlers.payments import MoneyMove

Reference = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,99}$")]
Amount = Annotated[StrictInt, Field(ge=1, le=10**12, description="Minor units")]
Token = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_:.-]{4,200}$")]


class PaymentIn(Strict):
    token: Token | None = Field(None, description="A new gateway token; none: the order's own")


class CaptureIn(Strict):
    reference: Reference = Field(description="What the capture is for; captured once")
    amount: Amount | None = Field(None, description="None: all that is authorized")
    final: StrictBool = Field(False, description="Release what is left of the authorization")


class UnitsIn(Strict):
    line_no: Annotated[StrictInt, Field(ge=1, le=500)]
    quantity: Annotated[StrictInt, Field(ge=1, le=10**6)]


class ShipmentIn(Strict):
    reference: Reference = Field(description="The shipment's own reference; dispatched once")
    lines: Annotated[list[UnitsIn], Field(min_length=1, max_length=500)]


class RefundIn(Strict):
    reference: Reference = Field(description="The refund's own reference; refunded once")
    reason: Text
    lines: Annotated[list[UnitsIn], Field(max_length=500)] = Field(
        [], description="Returned units, credited at what they were invoiced")
    include_shipping: StrictBool = False
    amount: Amount | None = Field(None, description="A price adjustment, tax included")
    invoice: Annotated[str, StringConstraints(min_length=1, max_length=36)] | None = Field(
        None, description="The invoice corrected (id or number); default: the latest")

    @model_validator(mode="after")
    def _something(self) -> RefundIn:
        if self.amount is None and not self.lines and not self.include_shipping:
            raise ValueError("a refund names returned lines, the shipping, or an amount")
        if self.amount is not None and (self.lines or self.include_shipping):
            raise ValueError("a refund is of returned lines or of an amount, not both")
        return self


class MoneyMoveOut(BaseModel):
    payment_id: str
    kind: str
    amount: int
    outcome: str = Field(description="pending: the gateway's answer is still to come")
    failure: str | None


class TransactionOut(BaseModel):
    id: int
    kind: str
    amount: int
    currency: str
    outcome: str
    reference: str | None
    gateway_reference: str | None
    failure_code: str | None
    fee: int | None
    actor: str
    created_at: datetime
    completed_at: datetime | None


class CardOut(BaseModel):
    brand: str | None
    last4: str | None
    exp_month: int | None
    exp_year: int | None


class PaymentOut(BaseModel):
    id: str
    gateway: str
    status: str = Field(description="Computed from the transactions")
    currency: str
    amount: int
    authorized: int
    captured: int
    refunded: int
    voided: int
    card: CardOut
    authorized_until: datetime | None
    transactions: list[TransactionOut]


def payment_view(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "card": {"brand": row["card_brand"], "last4": row["card_last4"],
                            "exp_month": row["card_exp_month"], "exp_year": row["card_exp_year"]}}


class InvoiceLineOut(BaseModel):
    position: int
    sku: str | None
    description: str
    quantity: int
    unit_price: int
    net: int
    tax: int
    gross: int
    tax_rate: str
    tax_name: str


class RateOut(BaseModel):
    rate: str
    name: str
    net: int
    tax: int


class InvoiceOut(BaseModel):
    id: str
    number: str
    kind: str
    order_id: str
    status: str = Field(description="Computed: paid, unpaid, credited, refunded...")
    corrects: str | None = Field(description="The invoice a credit note corrects")
    reason: str | None
    reference: str
    currency: str
    net: int
    tax: int
    gross: int
    credited: int
    prices_include_tax: bool
    seller: dict[str, Any]
    buyer: dict[str, Any]
    tax_breakdown: list[RateOut]
    payment_terms: str
    issued_on: date
    issued_at: datetime
    lines: list[InvoiceLineOut]
    pdf: str


def invoice_view(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "pdf": f"/api/v1/invoices/{row['id']}.pdf"}


class TaxRateIn(Strict):
    tax_class: Code
    country: CountryAlpha2
    region: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}-[A-Z0-9]{1,3}$")] | None = Field(
        None, description="An ISO 3166-2 subdivision (US-CA) when the rate is regional")
    rate: Annotated[str, StringConstraints(pattern=r"^0(\.[0-9]{1,6})?$")] = Field(
        description="A decimal fraction as text: 0.21 for 21 %")
    name: Text = Field(description='As printed on invoices: "VAT 21%"')


class TaxRateOut(BaseModel):
    tax_class: str
    country: str
    region: str | None
    rate: str
    name: str
    updated_at: datetime


class PayoutImportIn(Strict):
    gateway: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
    since: Annotated[date, IsoText]


class PayoutImportOut(BaseModel):
    imported: int


def move_view(move: MoneyMove | None) -> dict[str, Any] | None:
    """A payment movement as answered by the API (None: nothing moved)."""
    if move is None:
        return None
    return {"payment_id": move.payment_id, "kind": move.kind, "amount": move.amount,
            "outcome": move.outcome, "failure": move.failure}
