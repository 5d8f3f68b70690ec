"""/api/v1/replenishment-proposals: what to buy, and the draft purchase orders for it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from ordermesh.entrypoints.api.deps import Bus, OperatorKey
from ordermesh.entrypoints.api.schemas.replenishment import ReplenishmentIn, ReplenishmentOut
from ordermesh.services import commands as c
from ordermesh.services.handlers.replenishment import DraftedOrder, Replenishment

router = APIRouter(prefix="/api/v1", tags=["purchasing"])


@router.post("/replenishment-proposals", response_model=ReplenishmentOut,
             responses={201: {"model": ReplenishmentOut, "description": "Drafts were created"}})
def propose_replenishment(principal: OperatorKey, bus: Bus,
                          body: ReplenishmentIn | None = None) -> JSONResponse:
    """Lines to buy, per supplier and delivery location, each with its reason: stock levels
    at or below their reorder point, and lines waiting without supply. With `create_drafts`
    the purchase orders are drafted (201); send them to make them count as incoming."""
    create = body.create_drafts if body else False
    result = bus.handle(c.ProposeReplenishment(principal.actor, create))
    out = ReplenishmentOut.model_validate(_body(result))
    return JSONResponse(out.model_dump(mode="json"), status_code=201 if result.drafts else 200)


def _body(result: Replenishment) -> dict[str, Any]:
    orders = [{
        "supplier": order.supplier, "location": order.location,
        "currency": result.currencies[order.supplier],
        "lines": [{"sku": ln.sku, "quantity": ln.quantity, "reason": ln.reason,
                   "unit_cost": ln.unit_cost} for ln in order.lines],
        "purchase_order": _draft(result.draft_for(order)),
    } for order in result.proposal.orders]
    unassigned = [{"sku": u.sku, "location": u.location, "quantity": u.quantity,
                   "reason": u.reason} for u in result.proposal.unassigned]
    return {"suppliers": orders, "unassigned": unassigned}


def _draft(draft: DraftedOrder | None) -> dict[str, str] | None:
    return None if draft is None else {"id": draft.id, "number": draft.number}
