"""The plan of a simulated day: the channel mix, the trading hours, the lines and the few
things that go wrong, all from a seed; and the working hours the plan is carried out in."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime

from ordermesh.entrypoints.simulate_plan import (
    CHANNEL_SHARES,
    HOURLY,
    MARKETPLACE,
    REFUSALS,
    STORE_HOURS,
    STORES,
    Catalogue,
    PlannedOrder,
    before_cutoff,
    order_body,
    plan_day,
    within,
)

DAY = date(2030, 3, 14)


def a_catalogue(articles: int = 120) -> Catalogue:
    """Articles SKU-001.. at 10.00 to 129.00; each store has 4 of every third one."""
    prices = {f"SKU-{n:03d}": 1000 + 100 * n for n in range(1, articles + 1)}
    skus = sorted(prices)
    shelves = {store: dict.fromkeys(skus[k::3], 4) for k, store in enumerate(sorted(STORES))}
    return Catalogue(prices, shelves)


def test_a_day_of_a_thousand_orders_has_the_channel_mix() -> None:
    # when a day of 1,000 orders is planned
    plan = plan_day(DAY, 1000, a_catalogue(), seed=42)
    # then every channel has its share, within a percentage point
    counts = Counter(order.channel for order in plan)
    assert len(plan) == 1000
    for channel, share in CHANNEL_SHARES.items():
        assert abs(counts[channel] / 1000 - share) <= 0.01, (channel, counts[channel])


def test_a_small_day_still_has_every_channel_a_refused_card_and_a_short_pick() -> None:
    plan = plan_day(DAY, 30, a_catalogue(), seed=3)
    assert set(Counter(order.channel for order in plan)) == set(CHANNEL_SHARES)
    assert any(order.token in REFUSALS for order in plan)
    assert any(order.short_pick for order in plan)


def test_the_same_seed_gives_the_same_day_and_another_seed_another() -> None:
    first = plan_day(DAY, 200, a_catalogue(), seed=7)
    assert plan_day(DAY, 200, a_catalogue(), seed=7) == first
    assert plan_day(DAY, 200, a_catalogue(), seed=8) != first


def test_orders_arrive_in_their_channels_trading_hours_in_order() -> None:
    plan = plan_day(DAY, 1000, a_catalogue(), seed=11)
    for order in plan:
        assert order.at.date() == DAY and order.at.tzinfo is UTC
        assert order.at.hour in HOURLY[order.channel], order
    assert [order.at for order in plan] == sorted(order.at for order in plan)
    assert [order.n for order in plan] == list(range(1, 1001))
    # the stores' tills keep opening hours; the webshop takes orders late in the evening
    assert all(10 <= o.at.hour < 18 for o in plan if o.channel == "pos")
    assert any(o.at.hour >= 21 for o in plan if o.channel == "web")


def test_orders_have_one_to_four_different_lines_popular_articles_more_often() -> None:
    catalogue = a_catalogue()
    plan = plan_day(DAY, 1000, catalogue, seed=5)
    for order in plan:
        skus = [sku for sku, _, _ in order.lines]
        assert 1 <= len(skus) <= 4 and len(set(skus)) == len(skus)
        assert all(price == catalogue.prices[sku] and 1 <= qty <= 3
                   for sku, qty, price in order.lines)
    sold = Counter(sku for order in plan for sku, _, _ in order.lines)
    top_tenth = sum(n for _, n in sold.most_common(len(catalogue.prices) // 10))
    # Zipf-like: a tenth of the range sells over a third of the lines (evenly: a tenth)
    assert top_tenth > 0.35 * sum(sold.values())
    assert Counter(len(order.lines) for order in plan).most_common(1)[0][0] == 1


def test_the_best_sellers_are_the_articles_kept_in_depth() -> None:
    # given a tenth of the range kept by the hundred, the rest by the handful
    catalogue = a_catalogue()
    deep = set(sorted(catalogue.prices)[::10])
    stocked = Catalogue(catalogue.prices, catalogue.shelves,
                        {sku: 500 if sku in deep else 5 for sku in catalogue.prices})
    # when a day is planned, then those sell the most
    sold = Counter(sku for order in plan_day(DAY, 1000, stocked, seed=2)
                   for sku, _, _ in order.lines)
    best = {sku for sku, _ in sold.most_common(len(deep))}
    assert len(best & deep) >= len(deep) * 0.8


def test_tills_sell_from_their_shelves_and_only_web_app_and_phone_orders_are_collected(
        ) -> None:
    catalogue = a_catalogue()
    plan = plan_day(DAY, 1000, catalogue, seed=9)
    tills = [o for o in plan if o.channel == "pos"]
    assert all(o.store in STORES and o.token and o.token not in REFUSALS for o in tills)
    assert all(sku in catalogue.shelves[o.store] for o in tills if o.store
               for sku, _, _ in o.lines)
    pickups = [o for o in plan if o.store and o.channel != "pos"]
    assert {o.channel for o in pickups} <= {"web", "mobile", "call_centre"}
    assert 0.08 < len(pickups) / len(plan) < 0.15
    not_collected = [o for o in pickups if o.collected_after is None]
    assert 0 < len(not_collected) < len(pickups) / 5
    assert all(o.token is None for o in plan if o.channel == MARKETPLACE)
    assert all(o.agent for o in plan if o.channel == "call_centre")


def test_a_few_cards_are_refused_and_most_of_those_paid_again() -> None:
    plan = plan_day(DAY, 1000, a_catalogue(), seed=13)
    refused = [o for o in plan if o.token in REFUSALS]
    assert 20 <= len(refused) <= 60
    again = [o for o in refused if o.retry_token]
    assert len(refused) / 3 < len(again) < len(refused)
    assert all(o.retry_after and o.retry_token not in REFUSALS for o in again)
    assert 20 <= sum(o.short_pick for o in plan) <= 60


def test_order_bodies_are_delivered_or_collected() -> None:
    plan = plan_day(DAY, 200, a_catalogue(), seed=1)
    delivered = next(o for o in plan if o.channel == "web" and o.store is None)
    body = order_body(delivered, "SIM-1")
    assert body["fulfilment"] == {"method": "ship"}
    assert body["shipping_address"]["latitude"] and "latitude" not in body["billing_address"]
    collected: PlannedOrder = next(o for o in plan if o.store and o.channel != "pos")
    body = order_body(collected, "SIM-2")
    assert body["fulfilment"] == {"method": "pickup", "location": collected.store}
    assert body["shipping_address"] is None and body["shipping_total"] == 0


def test_work_waits_for_opening_hours_and_late_parcels_for_tomorrow() -> None:
    at = datetime(2030, 3, 14, 20, 15, tzinfo=UTC)
    assert within(STORE_HOURS, at) == datetime(2030, 3, 15, 9, tzinfo=UTC)
    assert within(STORE_HOURS, at.replace(hour=7)) == datetime(2030, 3, 14, 9, tzinfo=UTC)
    assert within(STORE_HOURS, at.replace(hour=12)) == at.replace(hour=12)
    assert before_cutoff(at.replace(hour=17)) == at.replace(hour=17)
    assert before_cutoff(at.replace(hour=17, minute=45)) == datetime(2030, 3, 15, 7,
                                                                     tzinfo=UTC)
