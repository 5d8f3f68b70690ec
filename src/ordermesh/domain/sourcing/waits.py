"""What stock cannot fill now: promised against incoming supply first come first served, then
dated by the supplier's lead time or the release date, or left undated."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from ordermesh.domain.sourcing.model import (
    DEFAULT_TRANSIT_DAYS,
    Decision,
    Demand,
    Supply,
    Terms,
    Wait,
    WaitKind,
    after,
)


def waits_for(line: Demand, quantity: int, terms: Terms, supply: Iterable[Supply],
              supply_left: dict[str, int], today: date, pickup: bool) -> list[Wait]:
    """The waits for `quantity` of a line. `supply_left` (units of each supply not yet
    promised) is shared by the lines of one plan and is drawn down here."""
    kind = WaitKind.PREORDER if terms.preorder else WaitKind.BACKORDER
    transit = 0 if pickup else DEFAULT_TRANSIT_DAYS
    waits = []
    for s in sorted((s for s in supply if s.sku == line.sku),
                    key=lambda s: (s.arrives_on, s.reference)):
        take = min(quantity, supply_left[s.reference])
        if take <= 0:
            continue
        supply_left[s.reference] -= take
        quantity -= take
        promised = later(after(s.arrives_on, transit), terms.release_on)
        waits.append(Wait(line.line_id, line.sku, take, kind, promised, s.reference, Decision(
            "incoming_supply", f"{take} of {line.sku} promised from {s.reference}, "
            f"due {s.arrives_on.isoformat()}")))
    if quantity:
        promised_on, decision = _unsupplied(line.sku, terms, transit, today)
        waits.append(Wait(line.line_id, line.sku, quantity, kind, promised_on, None, decision))
    return waits


def unsupplied_promise(sku: str, terms: Terms, today: date, pickup: bool
                       ) -> tuple[date | None, Decision]:
    """The date, and why, for units that wait without incoming supply: e.g. a wait whose
    purchase order was cancelled or closed. Dated exactly as a new wait would be."""
    return _unsupplied(sku, terms, 0 if pickup else DEFAULT_TRANSIT_DAYS, today)


def _unsupplied(sku: str, terms: Terms, transit: int, today: date
                ) -> tuple[date | None, Decision]:
    if terms.lead_time_days is not None:
        day = after(today, terms.lead_time_days + transit)
        return later(day, terms.release_on), Decision(
            "supplier_lead_time", f"no incoming supply of {sku}; the supplier's lead "
            f"time of {terms.lead_time_days} days gives {day.isoformat()}")
    if terms.release_on is not None:
        return terms.release_on, Decision(
            "release_date", f"{sku} is promised for its release on "
            f"{terms.release_on.isoformat()}")
    return None, Decision("no_supply", f"no stock or incoming supply of {sku}; "
                          "no date can be promised yet")


def later(day: date, other: date | None) -> date:
    return other if other is not None and other > day else day
