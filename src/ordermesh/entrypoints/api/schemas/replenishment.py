"""Replenishment proposals."""

from __future__ import annotations

from pydantic import BaseModel, Field, StrictBool

from ordermesh.entrypoints.api.schemas.common import Strict


class ReplenishmentIn(Strict):
    create_drafts: StrictBool = Field(
        False, description="Also draft one purchase order per supplier and delivery location")


class ProposedLineOut(BaseModel):
    sku: str
    quantity: int
    reason: str = Field(description="Why: below a reorder point, waiting lines without supply")
    unit_cost: int = Field(
        description="Minor units: the last cost paid to this supplier for the SKU, else 0")


class DraftOut(BaseModel):
    id: str
    number: str


class SupplierProposalOut(BaseModel):
    supplier: str
    location: str = Field(description="Where the goods are to be delivered")
    currency: str
    lines: list[ProposedLineOut]
    purchase_order: DraftOut | None = Field(description="The draft, when drafts were created")


class UnassignedOut(BaseModel):
    sku: str
    location: str
    quantity: int
    reason: str


class ReplenishmentOut(BaseModel):
    suppliers: list[SupplierProposalOut]
    unassigned: list[UnassignedOut] = Field(
        description="Needs of SKUs without an active supplier: nothing can be drafted for them")
