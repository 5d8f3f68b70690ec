"""The sentence a decision carries: why the chosen location beat the runner-up."""

from __future__ import annotations

from ordermesh.domain.sourcing.model import Candidate, Preference


def explain(rule: str, best: Candidate, runner: Candidate, open_count: int,
             currency: str) -> str:
    b, r = best.location, runner.location
    if rule == "fewest_shipments":
        return (f"{b} can send {best.fills} of the {open_count} open lines in one shipment "
                f"(next best: {r}, {runner.fills})")
    if rule == Preference.NEAREST:
        return f"{b} is nearest at {best.distance_km} km (next: {r} at {runner.distance_km} km)"
    if rule == Preference.LOWEST_COST:
        return (f"{b} ships for the lowest cost, {best.cost} {currency} minor units "
                f"(next: {r} at {runner.cost})")
    if rule == Preference.PRIORITY:
        return f"{b} has the highest priority, {best.priority} (next: {r} at {runner.priority})"
    return f"{b} and {r} tie on every rule; the location code decides"
