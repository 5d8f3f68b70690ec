"""The sourcing planner: the rules of model.py's docstring, applied to one order."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ordermesh.domain.errors import InvalidInput
from ordermesh.domain.geo import Point
from ordermesh.domain.sourcing.explain import explain
from ordermesh.domain.sourcing.model import (
    COUNTER_SALE,
    DEFAULT_TRANSIT_DAYS,
    Allocation,
    Candidate,
    Decision,
    Demand,
    Network,
    Plan,
    Policy,
    Preference,
    Refusal,
    Request,
    Site,
    Source,
    Terms,
    Wait,
    after,
    distance_to,
)
from ordermesh.domain.sourcing.waits import waits_for

NO_RATE = 2**63  # a location without a rate for the distance sorts after every priced one
SHOWN = 5  # candidates kept in a decision's trace


def plan(request: Request, network: Network, policy: Policy) -> Plan:
    """Choose where every line comes from; see model.py for the rules."""
    return _Planner(request, network, policy).run()


@dataclass(frozen=True, slots=True)
class _Ranked:
    site: Site
    key: tuple[object, ...]
    candidate: Candidate


class _Planner:
    def __init__(self, request: Request, network: Network, policy: Policy) -> None:
        ids = [line.line_id for line in request.lines]
        if len(set(ids)) != len(ids) or any(line.quantity < 1 for line in request.lines):
            raise InvalidInput("sourcing needs distinct lines of at least one unit")
        self.request, self.network, self.policy = request, network, policy
        self.taken: dict[tuple[str, str], int] = {}  # units this plan has used, per stock row
        self.remaining = {line.line_id: line.quantity for line in request.lines}
        self.supply_left = {s.reference: s.quantity for s in network.supply}
        self.used: list[str] = []
        self.allocations: list[Allocation] = []
        self.waits: list[Wait] = []
        self.refusals: list[Refusal] = []

    def run(self) -> Plan:
        if self.request.pickup_at is None:
            self._fill(self._shippers(), Source.STOCK, self.request.destination)
        else:
            self._pickup(self.request.pickup_at)
        self._wait_for_the_rest()
        return Plan(tuple(self.allocations), tuple(self.waits), tuple(self.refusals))

    def _free(self, sku: str, location: str) -> int:
        """Units still free at a location; the network's figures are read, never copied."""
        key = (sku, location)
        return self.network.available.get(key, 0) - self.taken.get(key, 0)

    # -- eligibility ------------------------------------------------------------------------

    def _open(self) -> list[Demand]:
        return [line for line in self.request.lines if self.remaining[line.line_id] > 0]

    def _has_stock_for_open(self, site: Site) -> bool:
        return any(self._free(line.sku, site.code) > 0 for line in self._open())

    def _exclusion(self, site: Site, destination: Point | None) -> str | None:
        visible = self.policy.visible
        if visible is not None and site.code not in visible:
            return "not offered to this channel"
        if not site.can_ship:
            return "cannot ship"
        if site.capacity_left is not None and site.capacity_left <= 0:
            return "at its daily capacity"
        if not site.ships_that_far(distance_to(site, destination)):
            return "does not ship that far"
        return None

    def _shippers(self, besides: str | None = None) -> tuple[list[Site], list[tuple[str, str]]]:
        """Sites that may send stock, and the relevant ones left out (those holding some)."""
        eligible, excluded = [], []
        destination = self._destination()
        for site in sorted(self.network.sites, key=lambda s: s.code):
            if site.code == besides:
                continue
            reason = self._exclusion(site, destination)
            if reason is None:
                eligible.append(site)
            elif self._has_stock_for_open(site):
                excluded.append((site.code, reason))
        return eligible, excluded

    def _destination(self) -> Point | None:
        if self.request.pickup_at is None:
            return self.request.destination
        store = self._site(self.request.pickup_at)
        return store.point if store else None

    def _site(self, code: str) -> Site | None:
        return next((s for s in self.network.sites if s.code == code), None)

    # -- click & collect ----------------------------------------------------------------------

    def _pickup(self, code: str) -> None:
        store = self._site(code)
        visible = self.policy.visible
        if store is None or not store.can_pickup or (visible is not None and code not in visible):
            for line in self._open():
                self._refuse(line, f"{code} does not offer pickup to this channel")
            return
        if self.request.at_counter:
            self._sell_over_the_counter(store)
            return
        full = store.capacity_left is not None and store.capacity_left <= 0
        decision = Decision("pickup_store_first", f"{code} is the pickup store",
                            excluded=((code, "at its daily capacity"),) if full else ())
        for line in [] if full else self._open():
            if line.avoids(code):
                continue
            free = self._free(line.sku, code)
            want = self.remaining[line.line_id]
            if free >= want or (free > 0 and self.policy.allow_split):
                self._allocate(line, store, min(free, want), Source.STOCK, decision)
        if self._open():
            self._fill(self._shippers(besides=code), Source.TRANSFER, store.point)

    def _sell_over_the_counter(self, store: Site) -> None:
        """The customer is at the store's till with the goods: they come off its own shelves,
        whatever its daily capacity (that is for picking remote orders); a line its shelves
        cannot fill whole is refused, never fetched from elsewhere or waited for."""
        decision = Decision(COUNTER_SALE, f"sold at the counter of {store.code}: from its own "
                            "shelves, whatever its daily capacity")
        for line in self._open():
            if self._free(line.sku, store.code) >= self.remaining[line.line_id]:
                self._allocate(line, store, self.remaining[line.line_id], Source.STOCK, decision)
            else:
                self._refuse(line, f"{store.code} does not have it on its shelves")

    # -- choosing among locations -------------------------------------------------------------

    def _fill(self, screened: tuple[list[Site], list[tuple[str, str]]], source: Source,
              destination: Point | None) -> None:
        sites, excluded = screened
        if Preference.FEWEST_SHIPMENTS in self.policy.preferences:
            while self._cover_one(sites, excluded, source, destination):
                pass
        else:
            for line in self._open():
                self._fill_line_whole(line, sites, excluded, source, destination)
        if self.policy.allow_split:
            for line in self._open():
                self._split(line, sites, source, destination)

    def _cover_one(self, sites: list[Site], excluded: list[tuple[str, str]], source: Source,
                   destination: Point | None) -> bool:
        """Send from the site that fills the most open lines whole; False when none fills one."""
        open_lines = self._open()
        covers = {site.code: self._fills(site, open_lines) for site in sites}
        ranked = self._rank([s for s in sites if covers[s.code]], destination,
                            lambda s: -len(covers[s.code]), covers)
        if not ranked:
            return False
        best = ranked[0].site
        decision = self._decision(ranked, excluded + _avoided(covers[best.code]), len(open_lines))
        for line in covers[best.code]:
            self._allocate(line, best, self.remaining[line.line_id], source, decision)
        return True

    def _fill_line_whole(self, line: Demand, sites: list[Site], excluded: list[tuple[str, str]],
                         source: Source, destination: Point | None) -> None:
        able = [s for s in sites if self._fills(s, [line])]
        ranked = self._rank(able, destination, lambda s: 0)
        if ranked:
            decision = self._decision(ranked, excluded + _avoided([line]), 1)
            self._allocate(line, ranked[0].site, self.remaining[line.line_id], source, decision)

    def _split(self, line: Demand, sites: list[Site], source: Source,
               destination: Point | None) -> None:
        """No single site can fill the line: take what each has, sites already sending first."""
        ranked = self._rank([s for s in sites if self._free(line.sku, s.code) > 0
                             and not line.avoids(s.code)],
                            destination, lambda s: 0 if s.code in self.used else 1)
        for entry in ranked:
            want = self.remaining[line.line_id]
            if want == 0:
                break
            take = min(want, self._free(line.sku, entry.site.code))
            decision = Decision("split", f"no single location can fill {want} of {line.sku}; "
                                f"{take} from {entry.site.code}", (entry.candidate,),
                                tuple(_avoided([line])))
            self._allocate(line, entry.site, take, source, decision)

    def _fills(self, site: Site, lines: list[Demand]) -> list[Demand]:
        """The lines this site can fill whole, counting lines of the same SKU together."""
        taken: dict[str, int] = {}
        fills = []
        for line in lines:
            if line.avoid and line.avoids(site.code):
                continue
            want = self.remaining[line.line_id] + taken.get(line.sku, 0)
            if self._free(line.sku, site.code) >= want:
                taken[line.sku] = want
                fills.append(line)
        return fills

    def _rank(self, sites: list[Site], destination: Point | None,
              first: Callable[[Site], int],
              covers: dict[str, list[Demand]] | None = None) -> list[_Ranked]:
        ranked = []
        for site in sites:
            km = distance_to(site, destination)
            rate = site.rate(km, self.request.currency)
            parts: list[object] = [first(site)]
            for pref in self.policy.preferences:
                if pref is Preference.NEAREST:
                    parts.append(round(km, 3) if km is not None else 0.0)
                elif pref is Preference.LOWEST_COST:
                    parts.append(rate.amount if rate else NO_RATE)
                elif pref is Preference.PRIORITY:
                    parts.append(-site.priority)
            parts.append(site.code)
            fills = len(covers[site.code] if covers is not None
                        else self._fills(site, self._open()))
            candidate = Candidate(site.code, None if km is None else round(km, 1),
                                  rate.amount if rate else None, site.priority, fills)
            ranked.append(_Ranked(site, tuple(parts), candidate))
        return sorted(ranked, key=lambda r: r.key)

    def _decision(self, ranked: list[_Ranked], excluded: list[tuple[str, str]],
                  open_count: int) -> Decision:
        shown = tuple(r.candidate for r in ranked[:SHOWN])
        best = ranked[0].candidate
        if len(ranked) == 1:
            return Decision("only_candidate", f"{best.location} was the only eligible location "
                            "with enough stock", shown, tuple(excluded))
        runner = ranked[1]
        labels = ["fewest_shipments", *(p for p in self.policy.preferences
                                        if p is not Preference.FEWEST_SHIPMENTS), "location_code"]
        rule = next(label for label, a, b in zip(labels, ranked[0].key, runner.key, strict=True)
                    if a != b)
        text = explain(str(rule), best, runner.candidate, open_count, self.request.currency)
        return Decision(str(rule), text, shown, tuple(excluded))

    # -- recording ------------------------------------------------------------------------------

    def _allocate(self, line: Demand, site: Site, quantity: int, source: Source,
                  decision: Decision) -> None:
        key = (line.sku, site.code)
        self.taken[key] = self.taken.get(key, 0) + quantity
        self.remaining[line.line_id] -= quantity
        if site.code not in self.used:
            self.used.append(site.code)
        ready = self.request.today if source is Source.STOCK else after(self.request.today,
                                                                         site.transfer_days)
        release = self._terms(line.sku).release_on
        if release is not None and release > ready:
            ready = release
        promised = ready if self.request.pickup_at else after(ready, self._transit(site))
        self.allocations.append(Allocation(line.line_id, line.sku, site.code, quantity, source,
                                           ready, promised, decision))

    def _transit(self, site: Site) -> int:
        rate = site.rate(distance_to(site, self.request.destination), self.request.currency)
        return rate.days if rate else DEFAULT_TRANSIT_DAYS

    def _terms(self, sku: str) -> Terms:
        return self.network.terms.get(sku, Terms())

    def _refuse(self, line: Demand, reason: str) -> None:
        self.refusals.append(Refusal(line.line_id, line.sku, self.remaining[line.line_id], reason))
        self.remaining[line.line_id] = 0

    # -- what stock cannot fill ---------------------------------------------------------------

    def _wait_for_the_rest(self) -> None:
        for line in self._open():
            terms = self._terms(line.sku)
            if not (terms.backorderable or terms.preorder):
                self._refuse(line, "not enough stock, and the product cannot be backordered")
            elif not self.policy.allow_backorder:
                self._refuse(line, "not enough stock, and this channel takes no backorders")
            else:
                self._wait(line, terms)

    def _wait(self, line: Demand, terms: Terms) -> None:
        for wait in waits_for(line, self.remaining[line.line_id], terms, self.network.supply,
                              self.supply_left, self.request.today,
                              pickup=self.request.pickup_at is not None):
            self.remaining[line.line_id] -= wait.quantity
            self.waits.append(wait)


def _avoided(lines: list[Demand]) -> list[tuple[str, str]]:
    return sorted({pair for line in lines for pair in line.avoid})
