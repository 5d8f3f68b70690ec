"""The sourcing engine on its own: a batch of orders planned one after the other against a
network whose stock they use up, as a wave of backorders or a replay would.

The network: `--locations` locations spread over Great Britain (a fifth warehouses, the rest
stores that ship, all with two-band rate tables and some with a daily capacity), `--skus`
products with stock at every location (30% of levels empty), a tenth backorderable with incoming
supply. Each order has 1 to 5 lines of 1 to 3 units, a random destination; every tenth is a
click & collect at a store. Figures: wall time, orders per second, latency per order, and what
the plans looked like (shipments per order, split lines, waiting and refused lines).

    .venv/bin/python benchmarks/sourcing.py --orders 10000
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import UTC, datetime, timedelta

from figures import percentile

from ordermesh.domain.geo import Point
from ordermesh.domain.sourcing import (
    Demand,
    Network,
    Policy,
    Rate,
    Request,
    Site,
    Supply,
    Terms,
    plan,
)

TODAY = datetime.now(UTC).date()
RATES = (Rate(100, 395, "GBP", 1), Rate(None, 695, "GBP", 2))


def a_place(rng: random.Random) -> Point:
    return Point(rng.uniform(50.5, 55.5), rng.uniform(-4.5, 1.5))


def network(opts: argparse.Namespace, rng: random.Random) -> Network:
    sites = tuple(Site(f"LOC-{n:03d}", a_place(rng), can_ship=True, can_pickup=n % 5 != 0,
                       priority=rng.randint(0, 500),
                       capacity_left=None if n % 5 == 0 else rng.randint(100, 2000),
                       transfer_days=rng.randint(1, 3), rates=RATES)
                  for n in range(opts.locations))
    available = {(f"SKU-{s}", site.code): (0 if rng.random() < 0.3 else rng.randint(1, 40))
                 for s in range(opts.skus) for site in sites}
    terms = {f"SKU-{s}": Terms(backorderable=s % 10 == 0, lead_time_days=14)
             for s in range(opts.skus)}
    supply = tuple(Supply(f"SKU-{s}", 50, TODAY + timedelta(days=rng.randint(1, 20)),
                          f"PO-{s:06d}/1") for s in range(0, opts.skus, 10))
    return Network(sites, available, terms, supply)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--skus", type=int, default=2_000)
    parser.add_argument("--locations", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    opts = parser.parse_args()
    rng = random.Random(opts.seed)
    net = network(opts, rng)
    stores = [s.code for s in net.sites if s.can_pickup]
    left = dict(net.available)
    policy = Policy()
    times, shipments, splits, waits, refused = [], 0, 0, 0, 0
    started = time.perf_counter()
    for n in range(opts.orders):
        lines = tuple(Demand(f"{n}-{i}", f"SKU-{rng.randrange(opts.skus)}", rng.randint(1, 3))
                      for i in range(rng.randint(1, 5)))
        pickup = rng.choice(stores) if n % 10 == 0 else None
        request = Request(lines, TODAY, "GBP", None if pickup else a_place(rng), pickup)
        t0 = time.perf_counter()
        result = plan(request, Network(net.sites, left, net.terms, net.supply), policy)
        times.append((time.perf_counter() - t0) * 1000)
        for a in result.allocations:
            left[(a.sku, a.location)] -= a.quantity
        shipments += len(result.shipments)
        splits += sum(1 for line in lines
                      if len({a.location for a in result.allocations
                              if a.line_id == line.line_id}) > 1)
        waits += len({w.line_id for w in result.waits})
        refused += len(result.refusals)
    wall = time.perf_counter() - started
    print(f"{opts.orders:,} orders, {opts.skus:,} SKUs x {opts.locations} locations: "
          f"{wall:.2f} s, {opts.orders / wall:,.0f} orders/s")
    print(f"  per order  p50 {percentile(times, 50):.3f} ms  p95 {percentile(times, 95):.3f} ms  "
          f"p99 {percentile(times, 99):.3f} ms  mean {statistics.fmean(times):.3f} ms")
    print(f"  shipments per order {shipments / opts.orders:.2f}, split lines {splits}, "
          f"waiting lines {waits}, refused lines {refused}")


if __name__ == "__main__":
    main()
