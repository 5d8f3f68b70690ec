"""Replenishment: what to buy, worked out from the figures of one transaction and, when asked,
drafted as purchase orders in that same transaction.

A drafted line costs what the supplier was last paid for the SKU: the unit cost on the newest
line for it of a purchase order from that supplier that was sent (drafts and cancelled orders
were never paid), in the supplier's currency. With no such line it costs 0, for the buyer to
fill in before sending."""

from __future__ import annotations

from dataclasses import dataclass

from ordermesh.domain.replenishment import Figures, Proposal, ProposedOrder, propose
from ordermesh.services import commands as c
from ordermesh.services.handlers.purchasing import draft_purchase_order
from ordermesh.services.ports import UnitOfWork


@dataclass(frozen=True)
class DraftedOrder:
    id: str
    number: str


@dataclass(frozen=True)
class Replenishment:
    proposal: Proposal
    currencies: dict[str, str]  # supplier -> the currency it is paid in
    drafts: dict[tuple[str, str], DraftedOrder]  # (supplier, location) -> its draft

    def draft_for(self, order: ProposedOrder) -> DraftedOrder | None:
        return self.drafts.get((order.supplier, order.location))


def propose_replenishment(cmd: c.ProposeReplenishment, uow: UnitOfWork) -> Replenishment:
    with uow:
        figures, currencies = _figures(uow)
        proposal = propose(figures)
        drafts = _draft(uow, cmd.actor, proposal) if cmd.create_drafts else {}
        if drafts:
            uow.commit()
    return Replenishment(proposal, currencies, drafts)


def _figures(uow: UnitOfWork) -> tuple[Figures, dict[str, str]]:
    reads = uow.replenishment
    waiting = reads.waiting()
    positions = reads.positions(w.sku for w in waiting)
    suppliers = reads.suppliers({p.sku for p in positions} | {w.sku for w in waiting})
    figures = Figures(tuple(positions), tuple(waiting), tuple(reads.places()),
                      {sku: code for sku, (code, _) in suppliers.items()},
                      reads.last_unit_costs(suppliers))
    return figures, dict(suppliers.values())


def _draft(uow: UnitOfWork, actor: str, proposal: Proposal) -> dict[tuple[str, str], DraftedOrder]:
    """One draft per supplier and delivery location, made the way a buyer's draft is made."""
    drafts = {}
    for order in proposal.orders:
        po = draft_purchase_order(uow, actor, {
            "supplier": order.supplier, "deliver_to": order.location,
            "lines": [{"sku": ln.sku, "quantity": ln.quantity, "unit_cost": ln.unit_cost}
                      for ln in order.lines]})
        assert po.number is not None  # given when it is stored
        drafts[(order.supplier, order.location)] = DraftedOrder(po.id, po.number)
    return drafts
