"""Gapless document numbers: unique and without gaps when many are taken at once and some of
the transactions that took one roll back."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import pytest
from sqlalchemy.engine import Engine

from ordermesh.adapters.db.unit_of_work import SqlUnitOfWork
from ordermesh.domain.errors import InvalidInput
from ordermesh.domain.numbering import format_document_number, parse_document_number


def take(engine: Engine, series: str, year: int, commit: bool = True) -> int:
    with SqlUnitOfWork(engine) as uow:
        number = uow.numbering.next(series, year)
        if commit:
            uow.commit()
    return number


def test_each_series_and_year_counts_on_its_own(engine: Engine) -> None:
    assert [take(engine, "INV", 2026) for _ in range(3)] == [1, 2, 3]
    assert take(engine, "CN", 2026) == 1
    assert take(engine, "INV", 2027) == 1
    assert take(engine, "INV", 2026) == 4


def test_a_rolled_back_number_is_given_again(engine: Engine) -> None:
    assert take(engine, "INV", 2026) == 1
    assert take(engine, "INV", 2026, commit=False) == 2
    assert take(engine, "INV", 2026) == 2


def test_concurrent_issuers_with_rollbacks_leave_no_gap_and_no_twin(engine: Engine) -> None:
    # given 32 issuers at once, every third of which rolls back after taking its number
    clients = 32
    barrier = Barrier(clients)

    def issue(n: int) -> int | None:
        barrier.wait()
        with SqlUnitOfWork(engine) as uow:
            number = uow.numbering.next("INV", 2026)
            if n % 3 == 0:
                return None  # leaves without committing: the number is not used
            uow.commit()
        return number

    with ThreadPoolExecutor(max_workers=clients) as pool:
        issued = [n for n in pool.map(issue, range(clients)) if n is not None]
    # then the committed numbers are exactly 1..N: unique, and without a gap
    assert sorted(issued) == list(range(1, len(issued) + 1))
    assert take(engine, "INV", 2026) == len(issued) + 1


def test_numbers_read_and_write_as_series_year_sequence() -> None:
    assert format_document_number("INV", 2026, 1) == "INV-2026-000001"
    assert parse_document_number("CN-2027-1234567") == ("CN", 2027, 1234567)
    assert parse_document_number("INV-26-1") is None
    with pytest.raises(InvalidInput):
        format_document_number("inv", 2026, 1)
