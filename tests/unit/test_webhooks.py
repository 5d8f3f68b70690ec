"""Webhooks, the pure parts: the retry schedule, which events a subscription takes, the
payload, and which addresses are public."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from ordermesh.domain.errors import InvalidInput
from ordermesh.domain.events import Event
from ordermesh.domain.webhooks import (
    RETRY_SCHEDULE,
    check_event_types,
    is_public,
    matches,
    next_attempt,
    payload,
    retry_window,
)

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def test_a_failed_delivery_is_tried_for_more_than_a_day_then_given_up() -> None:
    assert retry_window() >= timedelta(hours=24)
    rng = random.Random(3)
    waits = [next_attempt(n, NOW, rng) for n in range(1, len(RETRY_SCHEDULE) + 1)]
    assert all(w is not None for w in waits)
    for n, when in enumerate(waits):
        assert when is not None
        assert RETRY_SCHEDULE[n] * 0.8 <= when - NOW <= RETRY_SCHEDULE[n] * 1.2
    assert next_attempt(len(RETRY_SCHEDULE) + 1, NOW) is None
    with pytest.raises(InvalidInput):
        next_attempt(0, NOW)


def test_retries_are_spread_so_failures_do_not_come_back_together() -> None:
    rng = random.Random(1)
    assert len({next_attempt(3, NOW, rng) for _ in range(20)}) == 20


@pytest.mark.parametrize(("wanted", "event_type", "taken"), [
    (["*"], "order.placed", True),
    (["order.*"], "order.placed", True),
    (["order.*"], "orders.placed", False),
    (["order.*"], "fulfilment.delivered", False),
    (["order.placed"], "order.placed", True),
    (["order.placed"], "order.placed_again", False),
    (["payment.*", "fulfilment.delivered"], "fulfilment.delivered", True),
])
def test_a_subscription_takes_the_events_it_names(wanted: list[str], event_type: str,
                                                  taken: bool) -> None:
    assert matches(wanted, event_type) is taken


@pytest.mark.parametrize("bad", [[], ["order..placed"], ["order.pla ced"], ["*.placed"], [""]])
def test_event_types_are_checked(bad: list[str]) -> None:
    with pytest.raises(InvalidInput):
        check_event_types(bad)


def test_the_payload_names_its_version_type_time_and_data() -> None:
    event = Event("order.placed", "order", "o-1", "web", {"number": "OM-000001"}, NOW, "e-1")
    assert payload(event) == {"type": "order.placed", "timestamp": NOW.isoformat(),
                              "version": "1", "data": {"id": "e-1", "stream": "order",
                                                       "stream_id": "o-1", "actor": "web",
                                                       "number": "OM-000001"}}


@pytest.mark.parametrize(("address", "public"), [
    ("93.184.216.34", True), ("2606:2800:220:1:248:1893:25c8:1946", True),
    ("127.0.0.1", False), ("10.1.2.3", False), ("172.16.0.1", False), ("192.168.1.1", False),
    ("169.254.169.254", False), ("::1", False), ("fe80::1", False),
    ("0.0.0.0", False),  # noqa: S104 - an address to refuse, not one to bind
    ("fc00::1", False), ("::ffff:127.0.0.1", False), ("::ffff:10.0.0.1", False),
    ("100.64.0.1", False), ("224.0.0.1", False), ("255.255.255.255", False),
    ("64:ff9b::a9fe:a9fe", False), ("::a9fe:a9fe", False), ("2002:a9fe:a9fe::", False),
    ("64:ff9b:1::a00:1", False), ("fec0::1", False), ("2002:5db8:d822::", True),
])
def test_only_public_addresses_are_public(address: str, public: bool) -> None:
    assert is_public(address) is public
