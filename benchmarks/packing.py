"""How long choosing the boxes of a fulfilment takes: `domain.packing.pack` over random units
and box types (sizes in mm, weights in grams), repeated, with percentiles.

    .venv/bin/python benchmarks/packing.py --units 500 --types 20 --runs 200
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from figures import percentile

from ordermesh.domain.packing import Item, PackageType, pack


def case(rng: random.Random, units: int, types: int) -> tuple[list[Item], list[PackageType]]:
    boxes = [PackageType(f"T{k}", rng.randint(100, 800), rng.randint(100, 600),
                         rng.randint(50, 500), rng.randint(2_000, 30_000)) for k in range(types)]
    items = [Item(f"S{n % 40}", rng.randint(10, 100), rng.randint(10, 100), rng.randint(10, 100),
                  rng.randint(1, 2_000)) for n in range(units)]
    return items, boxes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--units", type=int, default=500)
    parser.add_argument("--types", type=int, default=20)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=5)
    opts = parser.parse_args()
    rng = random.Random(opts.seed)
    timings, packages = [], []
    for _ in range(opts.runs):
        items, boxes = case(rng, opts.units, opts.types)
        started = time.perf_counter()
        result = pack(items, boxes)
        timings.append((time.perf_counter() - started) * 1000)
        packages.append(len(result))
    print("| units | box types | runs | p50 ms | p95 ms | max ms | packages (mean) |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    print(f"| {opts.units} | {opts.types} | {opts.runs} | {percentile(timings, 50):.2f} | "
          f"{percentile(timings, 95):.2f} | {max(timings):.2f} | "
          f"{sum(packages) / len(packages):.1f} |")


if __name__ == "__main__":
    main()
