"""Availability questions: what a SKU has where, and whether a cart can be delivered or
collected, when and from where. Read-only: the answers come from the same engine and figures
that order placement uses, so what is promised here is what an order would get."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from ordermesh.domain.availability import promise
from ordermesh.domain.errors import InvalidInput
from ordermesh.domain.geo import Point
from ordermesh.domain.sourcing import Demand, Plan, Request, Terms, plan
from ordermesh.services.handlers.sourcing import Situation, situation
from ordermesh.services.ports import ProductFacts, SourcingReads


@dataclass(frozen=True)
class CartLine:
    sku: str
    quantity: int


def sku_availability(reads: SourcingReads, skus: Sequence[str], channel: str | None,
                     today: date) -> list[dict[str, Any]]:
    """Per SKU: network figures, incoming supply, the status, and each location's figures."""
    products = _known(reads, skus)
    seen = situation(reads, skus, channel, today, with_levels=True,
                     terms={sku: p.terms for sku, p in products.items()})
    visible = seen.policy.visible
    levels = [lv for lv in seen.levels if visible is None or lv.location in visible]
    thresholds = {sku: p.low_stock_threshold for sku, p in products.items()}
    answers = []
    for sku in skus:
        terms = seen.network.terms.get(sku, Terms())
        incoming = [s for s in seen.network.supply if s.sku == sku]
        rows = sorted((lv for lv in levels if lv.sku == sku), key=lambda lv: lv.location)
        free_at = {lv.location: seen.network.available.get((sku, lv.location), 0) for lv in rows}
        locations: list[dict[str, Any]] = [{
            "location": lv.location, "on_hand": lv.on_hand, "reserved": lv.reserved,
            "safety_stock": lv.safety_stock, "available": free_at[lv.location],
            "status": promise(free_at[lv.location], thresholds[sku], terms, (), today).status,
        } for lv in rows]
        free = sum(free_at.values())
        verdict = promise(free, thresholds[sku], terms, incoming, today)
        answers.append({
            "sku": sku, "status": verdict.status, "available_on": verdict.available_on,
            "available": free, **{k: sum(row[k] for row in locations)
                                  for k in ("on_hand", "reserved", "safety_stock")},
            "incoming": [{"reference": s.reference, "quantity": s.quantity,
                          "arrives_on": s.arrives_on} for s in incoming],
            "locations": locations,
        })
    return answers


def cart_availability(reads: SourcingReads, lines: Sequence[CartLine], channel: str | None,
                      today: date, destination: Point | None = None,
                      pickup_at: str | None = None, currency: str | None = None
                      ) -> dict[str, Any]:
    """Whether and when each line can be delivered (or collected), and from where."""
    products = _known(reads, [line.sku for line in lines])
    if pickup_at is not None:  # refused as order capture refuses it
        store = reads.catalogue.location(pickup_at)
        if store is None or not store["active"] or not store["can_pickup"]:
            raise InvalidInput(f"{pickup_at!r} is not a pickup location")
    currency = currency or products[lines[0].sku].currency
    seen = situation(reads, {line.sku for line in lines}, channel, today,
                     terms={sku: p.terms for sku, p in products.items()})
    demand = tuple(Demand(str(n), line.sku, line.quantity) for n, line in enumerate(lines, 1))
    result = plan(Request(demand, today, currency, destination, pickup_at),
                  seen.network, seen.policy)
    thresholds = {sku: p.low_stock_threshold for sku, p in products.items()}
    free_by_sku: dict[str, int] = {}
    for (sku, _), units in seen.network.available.items():
        free_by_sku[sku] = free_by_sku.get(sku, 0) + units
    answers = [_line(n, line, result, seen, today, thresholds.get(line.sku, 0), free_by_sku)
               for n, line in enumerate(lines, start=1)]
    return {"lines": answers, "shipments": len(result.shipments),
            "can_fulfil": all(answer["can_fulfil"] for answer in answers)}


def _line(n: int, line: CartLine, result: Plan, seen: Situation, today: date,
          threshold: int, free_by_sku: dict[str, int]) -> dict[str, Any]:
    line_id = str(n)
    parts = [a for a in result.allocations if a.line_id == line_id]
    waits = [w for w in result.waits if w.line_id == line_id]
    refused = [r for r in result.refusals if r.line_id == line_id]
    free = free_by_sku.get(line.sku, 0)
    terms = seen.network.terms.get(line.sku, Terms())
    incoming = [s for s in seen.network.supply if s.sku == line.sku]
    dates = [a.promised_on for a in parts] + [w.promised_on for w in waits]
    undated = None in dates or refused or not dates
    return {
        "line_no": n, "sku": line.sku, "quantity": line.quantity,
        "status": promise(free, threshold, terms, incoming, today).status,
        "can_fulfil": not refused, "available_now": sum(a.quantity for a in parts),
        "promised_on": None if undated else max(d for d in dates if d is not None),
        "from": [{"location": a.location, "quantity": a.quantity, "source": a.source,
                  "ready_on": a.ready_on, "promised_on": a.promised_on,
                  "why": a.decision.explanation} for a in parts],
        "waits": [{"quantity": w.quantity, "kind": w.kind, "promised_on": w.promised_on,
                   "why": w.decision.explanation} for w in waits],
        "refused": ({"quantity": sum(r.quantity for r in refused), "reason": refused[0].reason}
                    if refused else None),
    }


def _known(reads: SourcingReads, skus: Sequence[str]) -> dict[str, ProductFacts]:
    products = reads.sourcing.products(set(skus))
    unknown = sorted({sku for sku in skus if sku not in products or not products[sku].active})
    if unknown:
        raise InvalidInput(f"unknown or inactive SKUs: {', '.join(unknown)}", skus=unknown)
    return products
