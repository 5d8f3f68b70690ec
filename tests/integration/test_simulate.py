"""`ordermesh simulate` on the demo retailer, on both databases: a small day through the API
leaves orders from every channel, a refused card, a short pick, parcels dispatched and
delivered, all dated inside the simulated span, and stock that agrees with its allocations.
A database that cannot carry a day is refused with a message and exit code 2."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from ordermesh.adapters.db import tables as t
from ordermesh.config import Settings
from ordermesh.domain.events import utcnow
from ordermesh.entrypoints.cli import app as cli
from ordermesh.entrypoints.demo import seed_demo
from ordermesh.entrypoints.simulate import Summary, simulate
from ordermesh.services.bus import MessageBus


def simulator_settings(database_url: str, folder: Path) -> Settings:
    """The configured database; the test gateway's and courier's books and the mailbox in
    the test's own folder."""
    return Settings(database_url=database_url, mailbox_dir=str(folder / "mailbox"),
                    test_gateway_url=f"sqlite:///{folder / 'sim-gateway.db'}",
                    courier_url=f"sqlite:///{folder / 'sim-courier.db'}")


@pytest.fixture
def environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The command's environment: only these settings, and files in the test's folder."""
    keep = ("ORDERMESH_TEST_POSTGRES_URL", "ORDERMESH_TEST_REQUIRE_POSTGRES")  # the suite's own
    for name in [n for n in os.environ if n.startswith("ORDERMESH_") and n not in keep]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("ORDERMESH_MAILBOX_DIR", str(tmp_path / "mailbox"))
    monkeypatch.setenv("ORDERMESH_TEST_GATEWAY_URL", f"sqlite:///{tmp_path / 'gw.db'}")
    monkeypatch.setenv("ORDERMESH_COURIER_URL", f"sqlite:///{tmp_path / 'courier.db'}")
    yield


def test_a_simulated_day_leaves_a_believable_picture(
        bus: MessageBus, engine: Engine, database_url: str, tmp_path: Path) -> None:
    # given the demo retailer
    seed_demo(bus)
    with engine.connect() as conn:
        before = conn.execute(select(func.coalesce(func.max(t.events.c.seq), 0))).scalar_one()
    # when a day of 30 orders a week ago is simulated
    day = datetime.now(UTC).date() - timedelta(days=7)
    summary = simulate(simulator_settings(database_url, tmp_path), orders=30, seed=4, day=day,
                       show=False)
    # then the database holds it
    check_orders(engine, summary)
    check_timestamps(engine, summary, before)
    check_stock(engine)
    # and the clock is the real one again
    assert abs(utcnow() - datetime.now(UTC)) < timedelta(minutes=5)


def check_orders(engine: Engine, summary: Summary) -> None:
    with engine.connect() as conn:
        channels = set(conn.execute(select(t.orders.c.channel_code).distinct()).scalars())
        refused = conn.execute(select(func.count()).select_from(t.payment_transactions).where(
            t.payment_transactions.c.kind == "authorize",
            t.payment_transactions.c.outcome == "failed")).scalar_one()
        # a pick that found some is a short pick; one that found nothing cancels its fulfilment
        picks = conn.execute(select(t.events.c.data).where(t.events.c.type.in_(
            ["fulfilment.short_picked", "fulfilment.cancelled"]))).scalars().all()
        short = sum(1 for data in picks if any("found" in line for line in data.get("lines", [])))
        statuses = dict(conn.execute(select(t.fulfilments.c.status, func.count())
                                     .group_by(t.fulfilments.c.status)).all())
        dispatched = conn.execute(select(func.count()).select_from(t.events).where(
            t.events.c.type == "fulfilment.dispatched")).scalar_one()
    assert len(channels) >= 4, channels
    assert refused >= 1 and summary.declined == refused
    assert short >= 1 and summary.short_picks == short
    assert dispatched >= 10 and summary.dispatched == dispatched
    assert statuses.get("delivered", 0) >= 10 and summary.delivered >= 10
    placed_or_not = sum(summary.channels.values()) + summary.sold_out + summary.till_unfinished
    assert placed_or_not == summary.planned == 30


def check_timestamps(engine: Engine, summary: Summary, before: int) -> None:
    """Every event of the run is dated inside the simulated span, spread over the day."""
    with engine.connect() as conn:
        first, last = conn.execute(select(func.min(t.events.c.occurred_at),
                                          func.max(t.events.c.occurred_at))
                                   .where(t.events.c.seq > before)).one()
        placed = conn.execute(select(t.orders.c.created_at)).scalars().all()
    assert summary.start <= first and last <= summary.end, (first, last, summary)
    assert last - first > timedelta(hours=8)
    assert max(placed) - min(placed) > timedelta(hours=8)
    assert summary.end < datetime.now(UTC)


def check_stock(engine: Engine) -> None:
    """Nothing negative (available included), and what is reserved is what the active
    allocations hold."""
    levels = t.stock_levels.c
    allocations = t.allocations.c
    with engine.connect() as conn:
        rows = conn.execute(select(levels.sku, levels.location_code, levels.on_hand,
                                   levels.reserved, levels.safety_stock)).all()
        held = dict(conn.execute(
            select(allocations.sku + "@" + allocations.location_code,
                   func.sum(allocations.quantity))
            .where(allocations.status == "active")
            .group_by(allocations.sku, allocations.location_code)).all())
    assert all(0 <= row.reserved <= row.on_hand for row in rows)
    assert all(row.on_hand - row.reserved - row.safety_stock >= 0 for row in rows)
    reserved = {f"{row.sku}@{row.location_code}": row.reserved for row in rows if row.reserved}
    assert reserved == {key: n for key, n in held.items() if n}


def test_a_database_without_the_demo_is_refused(database_url: str, tmp_path: Path,
                                                environment: None,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # given a migrated database without the demo retailer
    monkeypatch.setenv("ORDERMESH_DATABASE_URL", database_url)
    # when the day is simulated, then it is refused: what to run, no traceback
    result = CliRunner().invoke(cli, ["simulate", "--orders", "5"])
    assert result.exit_code == 2, result.output
    assert "ordermesh demo" in result.output and "Traceback" not in result.output


def test_an_unmigrated_database_is_refused(database_url: str, engine: Engine,
                                           environment: None,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    # given a database whose schema is not at this code's migrations (its version is unknown)
    monkeypatch.setenv("ORDERMESH_DATABASE_URL", database_url)
    with engine.begin() as conn:
        versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        conn.execute(text("DELETE FROM alembic_version"))
    try:
        # when the day is simulated, then it is refused with what to run
        result = CliRunner().invoke(cli, ["simulate", "--orders", "5"])
    finally:  # the PostgreSQL database serves the next tests
        with engine.begin() as conn:
            for version in versions:
                conn.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"),
                             {"v": version})
    assert result.exit_code == 2, result.output
    assert "not migrated" in result.output and "ordermesh migrate" in result.output
    assert "Traceback" not in result.output


def test_a_day_to_come_is_refused(environment: None) -> None:
    tomorrow = (datetime.now(UTC).date() + timedelta(days=1)).isoformat()
    result = CliRunner().invoke(cli, ["simulate", "--day", tomorrow])
    assert result.exit_code == 2 and "future" in result.output
