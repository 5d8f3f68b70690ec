"""The cart hold state machine, its clock rules, and the worker's loop."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest

from ordermesh.bootstrap import App
from ordermesh.domain.errors import InvalidInput, InvalidTransition
from ordermesh.domain.holds import (
    HOLD_ACTIONS,
    HOLD_EVENTS,
    HOLD_TRANSITIONS,
    CartHold,
    HoldExpired,
    HoldLine,
    HoldNotActive,
    HoldNotDue,
    HoldsNotAllowed,
    HoldStatus,
    hold_expiry,
    transition_diagram,
)
from ordermesh.entrypoints.worker import Job, Worker
from tests.builders import utc

NOW = utc(2026, 11, 26, 12, 0)
LINES = (HoldLine("TEE-1", "WH-1", 2),)


def a_hold(status: HoldStatus = HoldStatus.ACTIVE, minutes: int = 15) -> CartHold:
    hold = CartHold.place("hold-1", "web", LINES, NOW, hold_expiry(NOW, minutes), "test")
    hold.status = status
    return hold


def moment_for(action: str) -> Any:
    """A moment at which the clock allows the action: expiry only once due, the rest before."""
    return NOW + timedelta(minutes=20 if action == "expire" else 5)


@pytest.mark.parametrize("status", list(HoldStatus))
@pytest.mark.parametrize("action", HOLD_ACTIONS)
def test_every_state_and_action_pair_follows_the_table(status: HoldStatus, action: str) -> None:
    hold = a_hold(status)
    order_id = "order-1" if action == "convert" else None
    allowed = HOLD_TRANSITIONS[status]
    if action in allowed:
        hold.apply(action, "test", moment_for(action), order_id=order_id)
        assert hold.status is allowed[action]
        assert hold.ended_at == moment_for(action)
        assert hold.order_id == order_id
        assert hold.events[-1].type == HOLD_EVENTS[action]
    else:
        expected = HoldExpired if status is HoldStatus.EXPIRED else HoldNotActive
        with pytest.raises(expected) as refused:
            hold.apply(action, "test", moment_for(action), order_id=order_id)
        assert isinstance(refused.value, InvalidTransition)  # 409, never a silent no-op
        assert hold.status is status and len(hold.events) == 1


def test_only_an_active_hold_can_end() -> None:
    assert all(HOLD_TRANSITIONS[s] == {} for s in HoldStatus if s is not HoldStatus.ACTIVE)
    assert set(HOLD_TRANSITIONS[HoldStatus.ACTIVE]) == set(HOLD_ACTIONS)


def test_a_hold_past_its_expiry_cannot_be_converted_even_before_the_worker_saw_it() -> None:
    hold = a_hold(minutes=15)
    with pytest.raises(HoldExpired):
        hold.apply("convert", "test", NOW + timedelta(minutes=15), order_id="order-1")
    assert hold.status is HoldStatus.ACTIVE
    # but the channel may still let it go
    hold.apply("release", "test", NOW + timedelta(minutes=16))
    assert hold.status is HoldStatus.RELEASED


def test_a_hold_expires_at_its_expiry_and_not_a_moment_before() -> None:
    hold = a_hold(minutes=15)
    assert not hold.is_due(NOW + timedelta(minutes=15) - timedelta(microseconds=1))
    with pytest.raises(HoldNotDue):
        hold.apply("expire", "worker", NOW + timedelta(minutes=14))
    hold.apply("expire", "worker", NOW + timedelta(minutes=15))
    assert hold.status is HoldStatus.EXPIRED


def test_the_channel_setting_decides_how_long_a_hold_lasts() -> None:
    assert hold_expiry(NOW, 15) == NOW + timedelta(minutes=15)
    with pytest.raises(HoldsNotAllowed) as refused:
        hold_expiry(NOW, None)
    assert isinstance(refused.value, InvalidInput) and refused.value.code == "cart_hold.not_allowed"
    for minutes in (0, -5, 24 * 60 + 1):
        with pytest.raises(InvalidInput):
            hold_expiry(NOW, minutes)


def test_placing_records_an_event_and_conversion_names_the_order() -> None:
    hold = a_hold()
    assert [e.type for e in hold.events] == ["cart_hold.placed"]
    with pytest.raises(ValueError):
        hold.apply("convert", "test", NOW)  # no order to convert into
    with pytest.raises(ValueError):
        hold.apply("release", "test", NOW, order_id="order-1")
    hold.apply("convert", "test", NOW, order_id="order-1")
    assert hold.events[-1].data == {"to": "converted", "order_id": "order-1"}


def test_a_hold_needs_lines_of_at_least_one_unit() -> None:
    with pytest.raises(InvalidInput):
        CartHold.place("h", "web", (), NOW, NOW + timedelta(minutes=1), "test")
    with pytest.raises(InvalidInput):
        HoldLine("TEE-1", "WH-1", 0)


def test_the_worker_runs_each_job_on_its_interval_until_stopped() -> None:
    runs: list[str] = []
    worker: Worker

    def job(_app: App) -> str:
        runs.append("tick")
        if len(runs) == 3:
            worker.stop()
        return "ticked"

    worker = Worker(cast(App, None), [Job("tick", 0.01, job)])
    thread = threading.Thread(target=worker.run_forever)
    thread.start()
    thread.join(5)
    assert not thread.is_alive() and runs == ["tick"] * 3


def test_a_failing_job_is_logged_and_the_others_still_run(caplog: pytest.LogCaptureFixture
                                                          ) -> None:
    def broken(_app: App) -> str:
        raise RuntimeError("database went away")

    worker = Worker(cast(App, None), [Job("broken", 30, broken), Job("fine", 30, lambda _: "ok")])
    with caplog.at_level("INFO", logger="ordermesh.worker"):
        assert worker.run_once() is False
    assert "broken failed" in caplog.text and "fine: ok" in caplog.text


def test_lifecycle_doc_shows_the_cart_hold_table() -> None:
    doc = Path(__file__).parents[2] / "docs" / "order-lifecycle.md"
    assert f"```mermaid\n{transition_diagram()}\n```" in doc.read_text()
