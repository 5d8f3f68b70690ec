"""Races for concurrency tests: jobs from as many threads, released by one barrier."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier
from typing import Any


def together(jobs: list[Any], expected: type[Exception] | tuple[type[Exception], ...]
             ) -> list[Any]:
    """Run the jobs at once; an `expected` refusal is returned, anything else raised."""
    barrier = Barrier(len(jobs))

    def run(job: Any) -> Any:
        barrier.wait()
        try:
            return job()
        except expected as exc:
            return exc

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        return list(pool.map(run, jobs))
