"""A carrier's tracking event is kept once: the second copy is reported as seen, on SQLite and
on PostgreSQL (where an insert's row count cannot tell a row written from a conflict)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from ordermesh.adapters.db import tables as t
from ordermesh.adapters.db.shipping_repository import SqlShipping
from tests.builders import utc

pytestmark = pytest.mark.db


def test_the_same_tracking_event_twice_is_new_once(engine: Engine) -> None:
    event = {"carrier": "courier", "event_id": "ev-1", "tracking_number": "CR123",
             "fulfilment_id": None, "event": "in_transit", "at": utc(2026, 11, 26, 9),
             "detail": "scanned at the hub", "applied": True}
    with engine.begin() as conn:
        shipping = SqlShipping(conn)
        assert shipping.record_event(dict(event)) is True
        assert shipping.record_event(dict(event)) is False
        assert shipping.record_event({**event, "event_id": "ev-2"}) is True
        assert conn.execute(select(func.count()).select_from(t.tracking_events)).scalar() == 2
