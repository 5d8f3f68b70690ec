"""The jeopardy check on both databases, at a `now` the test chooses: each stage and reason read
from real orders, a flag and its `order.in_jeopardy` event written once per order and stage
(also by concurrent checks), cleared when the order moves on and raised again when it comes
back, the event relayed to a webhook subscription, the worker's job, the SLAs and the reads."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from ordermesh.adapters.db import jeopardy_queries as jq
from ordermesh.adapters.db import tables as t
from ordermesh.adapters.db.engine import retry_reason
from ordermesh.adapters.db.unit_of_work import SqlUnitOfWork
from ordermesh.bootstrap import App
from ordermesh.domain.carriers import TrackingEvent
from ordermesh.domain.errors import InvalidInput, NotFound
from ordermesh.domain.events import utcnow
from ordermesh.domain.jeopardy import Stage
from ordermesh.entrypoints.worker import flag_jeopardy
from ordermesh.services import commands as c
from ordermesh.services.bus import MessageBus
from ordermesh.services.handlers.jeopardy import JeopardyRun
from ordermesh.services.handlers.webhooks import WebhookSetup
from ordermesh.services.jeopardy_commands import (
    FlagJeopardies,
    PutStageSla,
    RemoveStageSla,
)
from tests.builders import Shop, a_shop, place
from tests.races import together


@pytest.fixture
def shop(bus: MessageBus) -> Shop:
    shop = a_shop(bus).location("WH-1").location("ST-AMS", kind="store", can_pickup=True)
    shop.product("TEE-1").product("MUG-1", backorderable=True)
    return shop.stock("TEE-1", "WH-1", 20).stock("TEE-1", "ST-AMS", 3)


def every_stage_takes(bus: MessageBus, minutes: int) -> None:
    for stage in Stage:
        bus.handle(PutStageSla("test", "*", str(stage), minutes))


def flag(bus: MessageBus, minutes: float) -> JeopardyRun:
    """Run the check `minutes` from now."""
    run: JeopardyRun = bus.handle(FlagJeopardies("worker", now=utcnow() + timedelta(
        minutes=minutes)))
    return run


def flags(engine: Engine) -> dict[tuple[str, str], dict[str, Any]]:
    with engine.connect() as conn:
        return {(r.order_id, r.stage): dict(r._mapping)
                for r in conn.execute(select(t.order_jeopardies))}


def open_reasons(engine: Engine) -> dict[tuple[str, str], str]:
    return {key: row["reason"] for key, row in flags(engine).items()
            if row["cleared_at"] is None}


def jeopardy_events(engine: Engine) -> list[tuple[str, dict[str, Any]]]:
    with engine.connect() as conn:
        return [(r.stream_id, r.data) for r in conn.execute(
            select(t.events.c.stream_id, t.events.c.data)
            .where(t.events.c.type == "order.in_jeopardy").order_by(t.events.c.seq))]


def released(bus: MessageBus, *lines: tuple[str, int], **overrides: Any) -> tuple[str, str]:
    order = place(bus, *lines, **overrides)
    [fulfilment] = bus.handle(c.ReleaseFulfilments("test", order_id=order.order_id))
    return order.order_id, fulfilment


def dispatched(bus: MessageBus, number: str) -> tuple[str, str]:
    """An order picked, packed, booked by hand (tracking number `number`) and dispatched."""
    order_id, fulfilment = released(bus, ("TEE-1", 1))
    bus.handle(c.ChangeFulfilment("test", fulfilment, "start_picking"))
    bus.handle(c.PackFulfilment("test", fulfilment))
    bus.handle(c.BookShipment("test", fulfilment, manual=c.ManualBooking("Vans", (number,))))
    bus.handle(c.DispatchShipment("test", order_id, f"fulfilment:{fulfilment}", (),
                                  fulfilment_id=fulfilment))
    return order_id, fulfilment


def exception(bus: MessageBus, fulfilment: str, number: str) -> None:
    scan = TrackingEvent(f"scan-{number}", number, "exception", utcnow())
    bus.handle(c.ApplyTracking("test", "manual", (scan,), fulfilment))


def test_each_stage_is_flagged_with_the_reason_the_orders_facts_give(
        shop: Shop, bus: MessageBus, engine: Engine) -> None:
    # given orders in every stage, for each reason
    every_stage_takes(bus, 100)
    unanswered = place(bus, ("TEE-1", 1), payment_token="tok_async").order_id
    refused = place(bus, ("TEE-1", 1), payment_token="tok_declined").order_id
    waiting = place(bus, ("MUG-1", 1)).order_id
    slow = place(bus, ("TEE-1", 1)).order_id
    short, fulfilment = released(bus, ("TEE-1", 2))
    bus.handle(c.ChangeFulfilment("test", fulfilment, "start_picking"))
    bus.handle(c.ShortPick("test", fulfilment, ((1, 1),)))
    on_the_road, _ = dispatched(bus, "V-0001")
    stuck_parcel, parcel = dispatched(bus, "V-0002")
    exception(bus, parcel, "V-0002")
    counter, pickup = released(bus, ("TEE-1", 1), shipping_address=None,
                               fulfilment={"method": "pickup", "location": "ST-AMS"})
    bus.handle(c.ChangeFulfilment("test", pickup, "start_picking"))
    bus.handle(c.PackFulfilment("test", pickup))
    bus.handle(c.ChangeFulfilment("test", pickup, "make_ready"))
    # when the check runs before 80 % of the SLA, then at 80 %
    assert flag(bus, 70).flagged == []
    run = flag(bus, 81)
    # then each is flagged once, with the reason its facts give
    expected = {(unanswered, "payment"): "slow", (refused, "payment"): "payment_failed",
                (waiting, "allocation"): "awaiting_stock", (slow, "dispatch"): "slow",
                (short, "dispatch"): "short_pick", (on_the_road, "delivery"): "slow",
                (stuck_parcel, "delivery"): "carrier_exception",
                (counter, "collection"): "pickup_not_collected"}
    found = open_reasons(engine)
    assert {key: found[key] for key in expected if key in found} == expected
    # (the unit missing at the short pick waits for stock: that is a stage of its own)
    assert set(found) - set(expected) <= {(short, "allocation")}
    assert sorted((f.order_id, f.stage) for f in run.flagged) == sorted(found)
    assert sorted((order_id, data["stage"]) for order_id, data in jeopardy_events(engine)) \
        == sorted(found)


def test_a_flag_is_raised_once_and_cleared_when_the_order_moves_on(
        shop: Shop, bus: MessageBus, engine: Engine) -> None:
    # given an order waiting for dispatch on a channel that dispatches within the hour
    bus.handle(PutStageSla("test", "web", "dispatch", 60))
    order_id, fulfilment = released(bus, ("TEE-1", 1))
    # when the check runs at 50 minutes, then again later
    [first] = flag(bus, 50).flagged
    assert flag(bus, 70) == JeopardyRun([], 0)
    # then one flag and one event, with what the clock said at the first run
    assert (first.order_id, first.stage, first.reason, first.overdue) == (
        order_id, "dispatch", "slow", False)
    [(stream_id, data)] = jeopardy_events(engine)
    assert stream_id == order_id and data["sla_minutes"] == 60 and data["minutes"] in (-11, -10)
    assert data["due_at"] == first.due_at.isoformat()
    # when the parcel leaves, the next check clears the flag (and raises none for delivery)
    bus.handle(c.ChangeFulfilment("test", fulfilment, "start_picking"))
    bus.handle(c.PackFulfilment("test", fulfilment))
    bus.handle(c.BookShipment("test", fulfilment, manual=c.ManualBooking("Vans", ("V-1",))))
    bus.handle(c.DispatchShipment("test", order_id, f"fulfilment:{fulfilment}", (),
                                  fulfilment_id=fulfilment))
    assert flag(bus, 71) == JeopardyRun([], 1)
    assert flags(engine)[(order_id, "dispatch")]["cleared_at"] is not None
    assert len(jeopardy_events(engine)) == 1


def test_a_stage_left_and_entered_again_is_flagged_again(
        shop: Shop, bus: MessageBus, engine: Engine) -> None:
    # given a backordered order flagged for the stock it awaits
    bus.handle(PutStageSla("test", "*", "allocation", 60))
    order_id = place(bus, ("MUG-1", 1)).order_id
    assert [f.stage for f in flag(bus, 50).flagged] == ["allocation"]
    # when the stock comes in, the flag is cleared
    shop.stock("MUG-1", "WH-1", 1)
    assert flag(bus, 51).cleared == 1
    # and when the count falls again, the order waits again and is flagged again
    shop.stock("MUG-1", "WH-1", 0)
    [again] = flag(bus, 52).flagged
    assert (again.order_id, again.stage, again.reason) == (order_id, "allocation",
                                                           "awaiting_stock")
    row = flags(engine)[(order_id, "allocation")]
    assert row["cleared_at"] is None and len(flags(engine)) == 1
    assert [data["stage"] for _, data in jeopardy_events(engine)] == ["allocation"] * 2


def test_an_open_flag_takes_a_new_reason_without_a_second_alert(
        shop: Shop, bus: MessageBus, engine: Engine) -> None:
    # given a parcel flagged as slow on the road
    bus.handle(PutStageSla("test", "*", "delivery", 100))
    order_id, fulfilment = dispatched(bus, "V-0001")
    assert [f.reason for f in flag(bus, 85).flagged] == ["slow"]
    # when the carrier reports an exception
    exception(bus, fulfilment, "V-0001")
    assert flag(bus, 86).flagged == []
    # then the flag says so, and the alert is not given twice
    assert open_reasons(engine) == {(order_id, "delivery"): "carrier_exception"}
    assert len(jeopardy_events(engine)) == 1


def test_concurrent_checks_flag_each_stage_once_with_one_event(
        shop: Shop, bus: MessageBus, engine: Engine) -> None:
    # given five orders waiting for dispatch past their SLA
    bus.handle(PutStageSla("test", "*", "dispatch", 30))
    orders = {place(bus, ("TEE-1", 1)).order_id for _ in range(5)}
    now = utcnow() + timedelta(minutes=45)
    # when four workers check at once
    runs = together([lambda: bus.handle(FlagJeopardies("worker", now=now))] * 4, ())
    # then each order is flagged by exactly one of them, with one event
    assert sorted(f.order_id for run in runs for f in run.flagged) == sorted(orders)
    assert set(open_reasons(engine)) == {(o, "dispatch") for o in orders}
    assert sorted(order_id for order_id, _ in jeopardy_events(engine)) == sorted(orders)


def test_the_event_is_relayed_to_a_webhook_subscribed_to_it(
        shop: Shop, engine: Engine, bus: MessageBus) -> None:
    # given subscriptions to order.in_jeopardy, to all order events and to placements only
    hooks = MessageBus(lambda: SqlUnitOfWork(engine), retry_reason=retry_reason,
                       webhooks=WebhookSetup())  # no sender: deliveries wait, unsent
    subscribed = {types: hooks.handle(c.CreateWebhookSubscription(
        "test", "https://hooks.example.com/om", types))["id"]
        for types in (("order.in_jeopardy",), ("order.*",), ("order.placed",))}
    bus.handle(PutStageSla("test", "*", "dispatch", 30))
    order_id = place(bus, ("TEE-1", 1)).order_id
    # when the order is flagged and the outbox relayed
    flag(bus, 25)
    flag(bus, 40)
    while hooks.handle(c.RelayEvents("worker", limit=100)):
        pass
    # then the jeopardy subscriptions get the event once; the placement one does not
    with engine.connect() as conn:
        delivered = conn.execute(select(t.webhook_deliveries.c.subscription_id)
                                 .where(t.webhook_deliveries.c.event_type
                                        == "order.in_jeopardy")).scalars().all()
    assert sorted(delivered) == sorted([subscribed[("order.in_jeopardy",)],
                                        subscribed[("order.*",)]])
    [(stream_id, _)] = jeopardy_events(engine)
    assert stream_id == order_id


def test_the_worker_job_says_something_only_when_it_flagged_something(
        shop: Shop, bus: MessageBus, engine: Engine, ordermesh: App) -> None:
    # given an order waiting for dispatch, and a check with nothing at risk
    place(bus, ("TEE-1", 1))
    assert flag_jeopardy(ordermesh) == ""
    # when its clock started two hours ago on a channel that dispatches within the hour
    bus.handle(PutStageSla("test", "web", "dispatch", 60))
    two_hours_ago = utcnow() - timedelta(hours=2)
    with engine.begin() as conn:
        conn.execute(update(t.allocations).values(created_at=two_hours_ago))
        conn.execute(update(t.payment_transactions).values(completed_at=two_hours_ago))
    # then the job flags it and says so, once
    assert flag_jeopardy(ordermesh) == "1 order stage(s) in jeopardy flagged, 0 cleared"
    assert flag_jeopardy(ordermesh) == ""


def test_the_reads_list_stuck_and_flagged_orders_with_their_counts(
        shop: Shop, bus: MessageBus, engine: Engine) -> None:
    # given two orders waiting for dispatch, one placed earlier, and one waiting for stock
    every_stage_takes(bus, 100)
    bus.handle(c.CreateChannel("test", "pos-2", "Till 2"))
    first = place(bus, ("TEE-1", 1)).order_id
    second = place(bus, ("TEE-1", 1)).order_id
    waiting = place(bus, ("MUG-1", 1)).order_id
    now = utcnow() + timedelta(minutes=120)
    flag(bus, 120)
    with engine.connect() as conn:
        stuck = jq.stuck(conn, now)
        dispatch = jq.stuck(conn, now, stage=Stage.DISPATCH)
        none = jq.stuck(conn, now, channel="pos-2")
        early = jq.stuck(conn, utcnow() + timedelta(minutes=70))
        flagged = jq.open_jeopardies(conn, now=now)
        counts = jq.jeopardy_counts(conn)
    # then the most late come first, each with its stage and reason
    assert [r["order_id"] for r in dispatch] == [first, second]
    assert {(r["order_id"], r["stage"], r["reason"]) for r in stuck} == {
        (first, "dispatch", "slow"), (second, "dispatch", "slow"),
        (waiting, "allocation", "awaiting_stock")}
    assert all(r["overdue"] and r["minutes"] in (19, 20) for r in stuck)
    assert none == [] and early == []
    assert {(r["order_id"], r["stage"]) for r in flagged} == {
        (first, "dispatch"), (second, "dispatch"), (waiting, "allocation")}
    assert all(r["number"].startswith("OM-") and r["channel"] == "web" for r in flagged)
    assert counts == [{"stage": "allocation", "reason": "awaiting_stock", "count": 1},
                      {"stage": "dispatch", "reason": "slow", "count": 2}]


def test_stage_slas_are_set_per_channel_changed_and_removed(
        shop: Shop, bus: MessageBus, engine: Engine) -> None:
    bus.handle(PutStageSla("test", "*", "dispatch", 600))
    bus.handle(PutStageSla("test", "web", "dispatch", 60))
    bus.handle(PutStageSla("test", "web", "dispatch", 90))
    with engine.connect() as conn:
        assert jq.slas(conn) == {("*", "dispatch"): 600, ("web", "dispatch"): 90}
    bus.handle(RemoveStageSla("test", "web", "dispatch"))
    with pytest.raises(NotFound):
        bus.handle(RemoveStageSla("test", "web", "dispatch"))
    with pytest.raises(NotFound):
        bus.handle(PutStageSla("test", "no-such-channel", "dispatch", 60))
    for stage, minutes in (("packing", 60), ("dispatch", 0)):
        with pytest.raises(InvalidInput):
            bus.handle(PutStageSla("test", "web", stage, minutes))
    with engine.connect() as conn:
        assert jq.slas(conn) == {("*", "dispatch"): 600}
