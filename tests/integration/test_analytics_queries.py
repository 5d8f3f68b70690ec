"""Analytics queries on both databases, against a fixed set of orders, events, fulfilments,
payments and webhook attempts written straight into the tables, with every expected figure
worked out by hand below. The period is 1-2 March 2026 (UTC), [Mar 1 00:00, Mar 3 00:00).

Times are minutes after each order was placed; "shipped" is the order's `order.shipped` (its
last unit left), a pickup's dispatch is `order.ready_for_pickup`.

| order | placed (UTC) | chan | lines (unit price) | alloc | dispatched | delivered | promise | status |
| O0 | Feb 28 10:00 | web | A x1 (1000) | +5 | +60 | - | Mar 1 | shipped |
| O1 | Mar 1 10:00 | web | A x2 (1000) | +2 | +60 | +1440 (Mar 2) | Mar 1 | delivered |
| O2 | Mar 1 11:00 | web | A x1 (1000), B x2 (500) | +4 | +120 | +2880 (Mar 3) | Mar 2, 3 | delivered |
| O3 | Mar 1 12:00 | web | A x1 (1000) | +6 | +180 | - | Mar 3 | shipped |
| O9 | Mar 1 23:30 | pos | A x1 (1000) | +3 | +100 | +400 (Mar 2) | none | delivered |
| O4 | Mar 2 12:00 | pos | A x1 (1000), pickup | +1 | ready +30 | collected +1500 | Mar 2 | delivered |
| O5 | Mar 2 08:00 | web | B x3 (500) | backordered: 1 allocated, 2 wait | Mar 4 | backordered |
| O6 | Mar 2 09:00 | web | A x1 (1000) | +8 | cancelled +20 | Mar 3 | cancelled |
| O7 | Mar 2 14:00 | web | A x1 (1500 GBP) | +10 | - | - | Mar 4 | allocated |
| O8 | Mar 2 16:00 | web | P x1 (3000) | backordered: 1 pre-order wait | Apr 1 | backordered |
| O10 | Feb 27 10:00 | pos | A x1, pickup | ready at the counter | allocated |
| O11 | Feb 27 11:00 | web | A x1 | held | on_hold |

Fulfilments: O0 WH dispatched +60; O1 WH dispatched +60, delivered +1440; O2 WH dispatched +90,
delivered +1500 and ST dispatched +120, delivered +2880; O3 WH dispatched +180; O9 WH dispatched
+100, delivered +400; O4 ST (pickup) ready +30, collected +1500; O6 WH cancelled; O10 ST ready.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, text
from sqlalchemy.engine import Connection, Engine

from ordermesh.adapters.db import analytics_queries as q
from ordermesh.adapters.db import tables as t

SINCE, UNTIL = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 3, tzinfo=UTC)
NOW = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)
_ids = itertools.count(1)


def at(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


Order = tuple[str, int, list[str]]  # id, seq, line ids


def m(minutes: int) -> timedelta:
    return timedelta(minutes=minutes)


class Shop:
    """Rows written straight into the tables, with only what the queries read filled in."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.unpublished: set[str] = set()

    def setup(self) -> None:
        for code in ("web", "pos"):
            self.conn.execute(insert(t.channels).values(code=code, name=code, active=True,
                                                        created_at=at(1, 0, month=1)))
        for sku, preorder in (("A", False), ("B", False), ("P", True)):
            self.conn.execute(insert(t.products).values(
                sku=sku, name=sku, price_amount=1000, currency="EUR", tax_class="standard",
                preorder=preorder, backorderable=True, active=True,
                created_at=at(1, 0, month=1), updated_at=at(1, 0, month=1)))
        for code, kind in (("WH", "warehouse"), ("ST", "store")):
            self.conn.execute(insert(t.locations).values(
                code=code, name=code, kind=kind, address={}, latitude=52.0, longitude=5.0,
                can_ship=True, can_pickup=kind == "store", priority=1, active=True,
                created_at=at(1, 0, month=1), updated_at=at(1, 0, month=1)))

    def order(self, placed: datetime, channel: str, status: str,
              lines: list[tuple[str, int, int]], currency: str = "EUR",
              pickup: bool = False) -> Order:
        order_id = str(uuid.uuid4())
        total = sum(qty * price for _, qty, price in lines)
        seq = self.conn.execute(insert(t.orders).values(
            id=order_id, channel_code=channel, status=status, customer_email="a@example.com",
            customer_name="A", billing_address={}, currency=currency, lines_total=total,
            fulfilment_method="pickup" if pickup else "ship",
            pickup_location_code="ST" if pickup else None, shipping_total=0,
            grand_total=total, version=1, created_at=placed, updated_at=placed,
        )).inserted_primary_key[0]
        line_ids = []
        for n, (sku, qty, price) in enumerate(lines, start=1):
            line_ids.append(str(uuid.uuid4()))
            self.conn.execute(insert(t.order_lines).values(
                id=line_ids[-1], order_seq=seq, line_no=n, sku=sku, quantity=qty,
                unit_price=price, line_total=qty * price, status="reserved"))
        return order_id, seq, line_ids

    def event(self, stream: str, stream_id: str, kind: str, when: datetime,
              published: bool = True, **data: Any) -> None:
        self.conn.execute(insert(t.events).values(
            id=str(uuid.uuid4()), stream=stream, stream_id=stream_id, type=kind, actor="test",
            data=data, occurred_at=when, published_at=when if published else None))

    def decided(self, order: Order, kind: str, when: datetime, allocated: tuple[int, ...],
                waits: tuple[int, ...] = (), published: bool = True) -> None:
        """The placement's decision event: units allocated, units waiting."""
        self.event("order", order[0], kind, when, published,
                   allocations=[{"quantity": n, "source": "stock"} for n in allocated],
                   waits=[{"quantity": n, "kind": "backorder"} for n in waits])

    def allocation(self, seq: int, line: str, sku: str, qty: int, promised: date | None,
                   status: str = "dispatched", location: str = "WH") -> None:
        self.conn.execute(insert(t.allocations).values(
            order_seq=seq, line_id=line, sku=sku, location_code=location, quantity=qty,
            source="stock", status=status, promised_on=promised, created_at=at(1, 0)))

    def wait(self, seq: int, line: str, sku: str, qty: int, kind: str, status: str,
             promised: date | None) -> None:
        self.conn.execute(insert(t.backorders).values(
            order_seq=seq, line_id=line, sku=sku, quantity=qty, kind=kind, status=status,
            promised_on=promised, created_at=at(1, 0)))

    def fulfilment(self, order: Order, location: str, status: str,
                   moves: list[tuple[str, datetime]], method: str = "ship") -> None:
        fulfilment_id = str(uuid.uuid4())
        self.conn.execute(insert(t.fulfilments).values(
            id=fulfilment_id, order_seq=order[1], location_code=location, method=method,
            status=status, version=1, created_at=at(1, 0), updated_at=at(1, 0)))
        for kind, when in moves:
            self.event("fulfilment", fulfilment_id, kind, when, order_id=order[0])

    def payment_call(self, seq: int, kind: str, outcome: str, when: datetime) -> None:
        payment_id = str(uuid.uuid4())
        self.conn.execute(insert(t.payments).values(
            id=payment_id, order_seq=seq, gateway="test", token="tok", currency="EUR",
            amount=1000, created_at=when))
        self.conn.execute(insert(t.payment_transactions).values(
            payment_id=payment_id, kind=kind, amount=1000, currency="EUR", outcome=outcome,
            idempotency_key=f"key-{next(_ids)}", actor="test", created_at=when))

    def delivery(self, status: str, created: datetime, attempts: list[tuple[datetime, int | None]]
                 ) -> None:
        delivery_id = self.conn.execute(insert(t.webhook_deliveries).values(
            subscription_id="sub-1", event_id=str(uuid.uuid4()), event_type="order.placed",
            status=status, attempts=len(attempts), created_at=created)).inserted_primary_key[0]
        for n, (when, code) in enumerate(attempts, start=1):
            self.conn.execute(insert(t.webhook_attempts).values(
                delivery_id=delivery_id, attempt=n, at=when, status_code=code, latency_ms=5,
                error=None if code else "timed out"))




def orders_of_march_first(shop: Shop) -> dict[str, Order]:
    o0 = shop.order(at(28, 10, month=2), "web", "shipped", [("A", 1, 1000)])
    shop.decided(o0, "order.allocated", at(28, 10, 5, month=2), (1,))
    shop.event("order", o0[0], "order.shipped", at(28, 11, month=2))
    shop.allocation(o0[1], o0[2][0], "A", 1, date(2026, 3, 1))
    shop.wait(o0[1], o0[2][0], "A", 1, "backorder", "replaced", None)
    shop.fulfilment(o0, "WH", "dispatched", [("fulfilment.dispatched", at(28, 11, month=2))])

    o1 = shop.order(at(1, 10), "web", "delivered", [("A", 2, 1000)])
    shop.decided(o1, "order.allocated", at(1, 10) + m(2), (2,))
    shop.event("order", o1[0], "order.shipped", at(1, 10) + m(60))
    shop.event("order", o1[0], "order.delivered", at(1, 10) + m(1440))
    shop.allocation(o1[1], o1[2][0], "A", 2, date(2026, 3, 1))
    shop.fulfilment(o1, "WH", "delivered", [("fulfilment.dispatched", at(1, 10) + m(60)),
                                            ("fulfilment.delivered", at(1, 10) + m(1440))])

    o2 = shop.order(at(1, 11), "web", "delivered", [("A", 1, 1000), ("B", 2, 500)])
    shop.decided(o2, "order.allocated", at(1, 11) + m(4), (1, 2))
    shop.event("order", o2[0], "order.dispatched", at(1, 11) + m(90))  # the first parcel
    shop.event("order", o2[0], "order.shipped", at(1, 11) + m(120))  # the last
    shop.event("order", o2[0], "order.delivered", at(1, 11) + m(2880))
    shop.allocation(o2[1], o2[2][0], "A", 1, date(2026, 3, 2))
    shop.allocation(o2[1], o2[2][1], "B", 2, date(2026, 3, 3), location="ST")
    shop.fulfilment(o2, "WH", "delivered", [("fulfilment.dispatched", at(1, 11) + m(90)),
                                            ("fulfilment.delivered", at(1, 11) + m(1500))])
    shop.fulfilment(o2, "ST", "delivered", [("fulfilment.dispatched", at(1, 11) + m(120)),
                                            ("fulfilment.delivered", at(1, 11) + m(2880))])

    o3 = shop.order(at(1, 12), "web", "shipped", [("A", 1, 1000)])
    shop.decided(o3, "order.allocated", at(1, 12) + m(6), (1,))
    shop.event("order", o3[0], "order.shipped", at(1, 12) + m(180))
    shop.allocation(o3[1], o3[2][0], "A", 1, date(2026, 3, 3))
    shop.fulfilment(o3, "WH", "dispatched", [("fulfilment.dispatched", at(1, 12) + m(180))])

    o9 = shop.order(at(1, 23, 30), "pos", "delivered", [("A", 1, 1000)])
    shop.decided(o9, "order.allocated", at(1, 23, 30) + m(3), (1,))
    shop.event("order", o9[0], "order.shipped", at(1, 23, 30) + m(100))
    shop.event("order", o9[0], "order.delivered", at(1, 23, 30) + m(400))
    shop.allocation(o9[1], o9[2][0], "A", 1, None)
    shop.fulfilment(o9, "WH", "delivered", [("fulfilment.dispatched", at(1, 23, 30) + m(100)),
                                            ("fulfilment.delivered", at(1, 23, 30) + m(400))])
    return {"o1": o1, "o2": o2}


def orders_of_march_second(shop: Shop) -> dict[str, Order]:
    o4 = shop.order(at(2, 12), "pos", "delivered", [("A", 1, 1000)], pickup=True)
    shop.decided(o4, "order.allocated", at(2, 12) + m(1), (1,))
    shop.event("order", o4[0], "order.ready_for_pickup", at(2, 12) + m(30))
    for kind in ("order.dispatched", "order.shipped", "order.delivered"):  # collected
        shop.event("order", o4[0], kind, at(2, 12) + m(1500))
    shop.allocation(o4[1], o4[2][0], "A", 1, date(2026, 3, 2), location="ST")
    shop.fulfilment(o4, "ST", "collected", [("fulfilment.ready_for_pickup", at(2, 12) + m(30)),
                                            ("fulfilment.collected", at(2, 12) + m(1500))],
                    method="pickup")

    o5 = shop.order(at(2, 8), "web", "backordered", [("B", 3, 500)])
    shop.decided(o5, "order.backordered", at(2, 8), (1,), (2,))
    shop.allocation(o5[1], o5[2][0], "B", 1, date(2026, 3, 4), status="active")
    shop.wait(o5[1], o5[2][0], "B", 2, "backorder", "waiting", None)

    o6 = shop.order(at(2, 9), "web", "cancelled", [("A", 1, 1000)])
    shop.decided(o6, "order.allocated", at(2, 9) + m(8), (1,))
    shop.event("order", o6[0], "order.cancelled", at(2, 9) + m(20))
    shop.allocation(o6[1], o6[2][0], "A", 1, date(2026, 3, 3), status="released")
    shop.fulfilment(o6, "WH", "cancelled", [("fulfilment.cancelled", at(2, 9) + m(20))])

    o7 = shop.order(at(2, 14), "web", "allocated", [("A", 1, 1500)], currency="GBP")
    shop.decided(o7, "order.allocated", at(2, 14) + m(10), (1,), published=False)
    shop.allocation(o7[1], o7[2][0], "A", 1, date(2026, 3, 4), status="active")

    o8 = shop.order(at(2, 16), "web", "backordered", [("P", 1, 3000)])
    shop.decided(o8, "order.backordered", at(2, 16), (), (1,), published=False)
    shop.wait(o8[1], o8[2][0], "P", 1, "preorder", "waiting", date(2026, 4, 1))

    o10 = shop.order(at(27, 10, month=2), "pos", "allocated", [("A", 1, 1000)], pickup=True)
    shop.fulfilment(o10, "ST", "ready_for_pickup", [], method="pickup")
    shop.order(at(27, 11, month=2), "web", "on_hold", [("A", 1, 1000)])
    return {"o5": o5, "o6": o6}


def payments_and_webhooks(shop: Shop, placed: dict[str, Order]) -> None:
    o1, o2, o5, o6 = (placed[name][1] for name in ("o1", "o2", "o5", "o6"))
    shop.payment_call(o1, "authorize", "succeeded", at(1, 10, 1))
    shop.payment_call(o2, "authorize", "failed", at(1, 11, 1))
    shop.payment_call(o2, "authorize", "succeeded", at(1, 11, 5))
    shop.payment_call(o5, "authorize", "pending", at(2, 8, 1))
    shop.payment_call(o6, "authorize", "failed", at(2, 9, 1))
    shop.payment_call(o1, "capture", "failed", at(2, 10))
    shop.payment_call(o1, "authorize", "failed", at(28, 10, month=2))  # before the period
    shop.conn.execute(insert(t.webhook_subscriptions).values(
        id="sub-1", url="https://example.com/hooks", secret="whsec_x", event_types=["*"],
        active=True, failures=0, created_at=at(1, 0, month=1), updated_at=at(1, 0, month=1)))
    shop.delivery("delivered", at(1, 10), [(at(1, 10, 1), 500), (at(1, 10, 6), 200)])
    shop.delivery("failed", at(1, 12), [(at(1, 12), None), (at(2, 1), 404)])
    shop.delivery("pending", at(2, 15), [(at(2, 15, 1), 503)])
    shop.delivery("pending", at(2, 17), [])
    shop.delivery("delivered", at(28, 9, month=2), [(at(28, 9, month=2), 500)])  # before


@pytest.fixture
def conn(engine: Engine) -> Iterator[Connection]:
    with engine.begin() as conn:
        shop = Shop(conn)
        shop.setup()
        placed = orders_of_march_first(shop) | orders_of_march_second(shop)
        payments_and_webhooks(shop, placed)
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":  # UTC days, whatever the session's time zone
            conn.execute(text("SET TIME ZONE 'Asia/Tokyo'"))
        yield conn


def stages(*figures: tuple[int, int | None, int | None]) -> list[tuple[str, int, Any, Any]]:
    """Expected rows of one group: (count, p50, p90) in minutes, per stage in order."""
    names = ("placed_to_allocated", "allocated_to_dispatched", "dispatched_to_delivered",
             "placed_to_delivered")
    return [(name, n, None if p50 is None else m(p50), None if p90 is None else m(p90))
            for name, (n, p50, p90) in zip(names, figures, strict=True)]


def rows_of(found: list[dict[str, Any]], key: str) -> list[tuple[Any, ...]]:
    return [(r[key], r["stage"], r["count"], r["p50"], r["p90"]) for r in found]


def test_stage_times_by_channel(conn: Connection) -> None:
    # When the stage times of 1-2 March are asked by channel (O0 was placed before: left out)
    found = q.stage_times(conn, SINCE, UNTIL, "channel")
    # Then, nearest rank (p50 rank ceil(n/2), p90 rank ceil(0.9n)):
    # pos (O9 ship, O4 pickup): placed->allocated [1, 3] -> 1, 3; allocated->dispatched O9
    #   100-3 = 97, O4 ready 30-1 = 29 -> [29, 97]; dispatched->delivered O9 400-100 = 300,
    #   O4 1500-30 = 1470; placed->delivered [400, 1500]
    # web: placed->allocated O1 2, O2 4, O3 6, O6 8, O7 10 -> rank 3 = 6, rank 5 = 10;
    #   allocated->dispatched (order.shipped, not O2's first parcel) 58, 116, 174 -> 116, 174;
    #   dispatched->delivered 1380, 2760 -> 1380, 2760; placed->delivered 1440, 2880
    assert rows_of(found, "group") == [
        *[("pos", *row) for row in stages((2, 1, 3), (2, 29, 97), (2, 300, 1470),
                                          (2, 400, 1500))],
        *[("web", *row) for row in stages((5, 6, 10), (3, 116, 174), (2, 1380, 2760),
                                          (2, 1440, 2880))]]


def test_stage_times_by_location_count_each_fulfilment_at_its_location(conn: Connection) -> None:
    found = q.stage_times(conn, SINCE, UNTIL, "location")
    # ST: O2's second parcel (allocated +4, sent +120, arrived +2880) and O4's pickup (+1,
    #   ready +30, collected +1500): [1, 4] -> 1, 4; [29, 116]; [1470, 2760]; [1500, 2880]
    # WH: O1 (+2, +60, +1440), O2's first parcel (+4, +90, +1500), O3 (+6, +180, -), O9 (+3,
    #   +100, +400); O6's cancelled fulfilment is left out. placed->allocated [2, 3, 4, 6] ->
    #   rank 2 = 3, rank 4 = 6; allocated->dispatched [58, 86, 97, 174] -> 86, 174;
    #   dispatched->delivered [300, 1380, 1410] -> 1380, 1410; placed->delivered
    #   [400, 1440, 1500] -> 1440, 1500
    assert rows_of(found, "group") == [
        *[("ST", *row) for row in stages((2, 1, 4), (2, 29, 116), (2, 1470, 2760),
                                         (2, 1500, 2880))],
        *[("WH", *row) for row in stages((4, 3, 6), (4, 86, 174), (3, 1380, 1410),
                                         (3, 1440, 1500))]]


def test_stage_trend_per_day_of_placement(conn: Connection) -> None:
    found = q.stage_trend(conn, SINCE, UNTIL)
    # Mar 1 (O1, O2, O3, O9 placed at 23:30 UTC): [2, 3, 4, 6] -> 3, 6; [58, 97, 116, 174] ->
    #   97, 174; [300, 1380, 2760] -> 1380, 2760; [400, 1440, 2880] -> 1440, 2880
    # Mar 2 (O4, O5 and O8 never allocated, O6, O7): [1, 8, 10] -> 8, 10; then O4 alone
    assert rows_of(found, "day") == [
        *[(date(2026, 3, 1), *row) for row in stages((4, 3, 6), (4, 97, 174),
                                                     (3, 1380, 2760), (3, 1440, 2880))],
        *[(date(2026, 3, 2), *row) for row in stages((3, 8, 10), (1, 29, 29),
                                                     (1, 1470, 1470), (1, 1500, 1500))]]


def test_rates(conn: Connection) -> None:
    found = {r["name"]: (r["numerator"], r["denominator"], r["excluded"])
             for r in q.rates(conn, SINCE, UNTIL)}
    assert found == {
        # units allocated at placement / ordered: O1 2/2, O2 3/3, O3 1/1, O9 1/1, O4 1/1,
        # O5 1/3, O6 1/1, O7 1/1, O8 0/1 -> 11 / 14
        "fill_rate": (11, 14, 0),
        # fulfilments sent: O1 1, O2 2, O3 1, O9 1, O4 1 (collected); O6's was cancelled
        "split_shipment_rate": (1, 5, 0),
        # O5 waits for stock; O8's wait is a pre-order, not a backorder; 9 orders placed
        "backorder_rate": (1, 9, 0),
        "cancellation_rate": (1, 9, 0),  # O6
        # O1 arrived Mar 2, promised Mar 1: late. O2 arrived Mar 3, promised Mar 2 and Mar 3:
        # on time by its latest promise. O4 ready Mar 2 (collected Mar 3), promised Mar 2: on
        # time. O9 had no promise: excluded
        "on_time_delivery_rate": (2, 3, 1),
        # authorizations: O2 failed, O6 failed / those plus O1 and O2's retry succeeded;
        # O5's is pending (excluded); the failed capture is not an authorization
        "payment_failure_rate": (2, 4, 1),
        # attempts: 500, 200, no answer, 404, 503 -> 4 of 5 failed (Feb 28's is outside)
        "webhook_failure_rate": (4, 5, 0),
    }


def test_rates_of_an_empty_period_have_nothing_to_count(conn: Connection) -> None:
    found = q.rates(conn, datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 2, 1, tzinfo=UTC))
    assert {(r["numerator"], r["denominator"], r["excluded"]) for r in found} == {(0, 0, 0)}


def test_sales_per_group_and_currency(conn: Connection) -> None:
    # Cancelled O6 is no sale. By channel: pos O9 + O4 = 2 orders, 2 units, 2000; web EUR
    # O1 2000 + O2 2000 + O3 1000 + O5 1500 + O8 3000 = 9500 over 10 units; web GBP O7
    assert q.sales(conn, SINCE, UNTIL, "channel") == [
        {"group": "pos", "currency": "EUR", "orders": 2, "units": 2, "revenue": 2000},
        {"group": "web", "currency": "EUR", "orders": 5, "units": 10, "revenue": 9500},
        {"group": "web", "currency": "GBP", "orders": 1, "units": 1, "revenue": 1500}]
    # By UTC day: O9 was placed at 23:30 UTC on Mar 1 (Mar 2 in Tokyo, the session's zone)
    assert q.sales(conn, SINCE, UNTIL, "day") == [
        {"group": "2026-03-01", "currency": "EUR", "orders": 4, "units": 7, "revenue": 6000},
        {"group": "2026-03-02", "currency": "EUR", "orders": 3, "units": 5, "revenue": 5500},
        {"group": "2026-03-02", "currency": "GBP", "orders": 1, "units": 1, "revenue": 1500}]
    # By SKU: A in O1 (2), O2, O3, O9, O4; B in O2 (2 x 500) and O5 (3 x 500); P in O8
    assert q.sales(conn, SINCE, UNTIL, "sku") == [
        {"group": "A", "currency": "EUR", "orders": 5, "units": 6, "revenue": 6000},
        {"group": "A", "currency": "GBP", "orders": 1, "units": 1, "revenue": 1500},
        {"group": "B", "currency": "EUR", "orders": 2, "units": 5, "revenue": 2500},
        {"group": "P", "currency": "EUR", "orders": 1, "units": 1, "revenue": 3000}]


def test_dashboard_at_six_in_the_evening_of_march_second(conn: Connection) -> None:
    found = q.dashboard(conn, NOW)
    assert found == {
        "now": NOW, "day": date(2026, 3, 2),
        # today: O4 (pos); O5 and O8 (web EUR, 3 + 1 units); O7 (GBP); O6 cancelled
        "orders_today": [
            {"group": "pos", "currency": "EUR", "orders": 1, "units": 1, "revenue": 1000},
            {"group": "web", "currency": "EUR", "orders": 2, "units": 4, "revenue": 4500},
            {"group": "web", "currency": "GBP", "orders": 1, "units": 1, "revenue": 1500}],
        # yesterday: O9 (pos); O1 2 x 1000, O2 1000 + 2 x 500, O3 1000 (web, 6 units, 5000)
        "orders_yesterday": [
            {"group": "pos", "currency": "EUR", "orders": 1, "units": 1, "revenue": 1000},
            {"group": "web", "currency": "EUR", "orders": 3, "units": 6, "revenue": 5000}],
        # O5, O8 backordered; O7 allocated; O0, O3 shipped; O10 allocated but its pickup is
        # ready at the counter; O11 held
        "waiting": {"placed_not_allocated": 2, "allocated_not_dispatched": 1,
                    "dispatched_not_delivered": 2, "ready_for_pickup_not_collected": 1,
                    "on_hold": 1},
        # O5's 2 units wait (O0's wait was replaced); O8's pre-order
        "open_backorders": {"orders": 1, "lines": 1, "units": 2},
        "open_preorders": {"orders": 1, "lines": 1, "units": 1},
        # O6's authorization at 09:01 and O1's capture at 10:00; O2's was yesterday
        "payment_failures_today": {"total": 2, "by_kind": {"authorize": 1, "capture": 1}},
        # O7's event at 14:10 and O8's at 16:00 not relayed: 18:00 - 14:10 = 13,800 s
        "outbox": {"unpublished": 2, "oldest_age_seconds": 13_800},
        # pending since 15:00 and 17:00: 3 h = 10,800 s; one given up on
        "webhooks": {"pending": 2, "failed": 1, "oldest_pending_age_seconds": 10_800},
    }


def test_an_unknown_grouping_is_refused(conn: Connection) -> None:
    with pytest.raises(ValueError):
        q.stage_times(conn, SINCE, UNTIL, "sku")
    with pytest.raises(ValueError):
        q.sales(conn, SINCE, UNTIL, "location")
