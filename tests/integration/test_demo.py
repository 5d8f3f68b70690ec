"""The demo retailer: seeded through the bus, believable, and a second run changes nothing.

Seeding takes a second or more, so one test seeds once and checks each part with a helper.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Table, func, select
from sqlalchemy.engine import Engine
from stdnum import ean

from ordermesh.adapters.db import queries
from ordermesh.adapters.db import tables as t
from ordermesh.entrypoints.demo import demo_products, seed_demo
from ordermesh.services.bus import MessageBus
from ordermesh.services.handlers.setup import hash_api_key

Row = dict[str, Any]
ADDRESS_KEYS = {"name", "company", "line1", "line2", "city", "postal_code", "region", "country"}


def rows(engine: Engine, table: Table) -> list[Row]:
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(select(table))]


def row_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
                for table in t.metadata.sorted_tables}


def test_demo_seed_builds_a_small_retailer_once(bus: MessageBus, engine: Engine) -> None:
    # given an empty database, when the demo is seeded
    keys = seed_demo(bus)

    # then it holds a believable retailer, with keys that work
    products = {p["sku"]: p for p in rows(engine, t.products)}
    check_catalogue(list(products.values()))
    locations = rows(engine, t.locations)
    check_locations(locations)
    levels = rows(engine, t.stock_levels)
    check_stock(products, locations, levels)
    check_ledger(levels, rows(engine, t.stock_movements))
    check_channels_and_keys(engine, keys)
    check_purchasing(engine, products)

    # and when it is seeded again, nothing is added
    before = row_counts(engine)
    assert seed_demo(bus) == {}
    assert row_counts(engine) == before


def check_purchasing(engine: Engine, products: dict[str, Row]) -> None:
    """Suppliers for every product; sent and draft purchase orders for what runs low."""
    assert {s["code"] for s in rows(engine, t.suppliers)} == {
        p["supplier_code"] for p in products.values()}
    statuses = Counter(po["status"] for po in rows(engine, t.purchase_orders))
    assert statuses["sent"] >= 1 and statuses["draft"] >= 1
    assert all(po["expected_on"] for po in rows(engine, t.purchase_orders)
               if po["status"] == "sent")
    channels = {ch["code"]: ch for ch in rows(engine, t.channels)}
    assert channels["mobile"]["cart_hold_minutes"] == 15
    dc_levels = [lv for lv in rows(engine, t.stock_levels) if lv["location_code"] == "dc-tilburg"]
    assert dc_levels and all(lv["reorder_point"] == 8 and lv["reorder_quantity"] == 24
                             for lv in dc_levels)
    assert channels["pos"]["allow_backorder"] is False


def check_catalogue(products: list[Row]) -> None:
    assert 180 <= len(products) <= 220
    assert 4 <= len({p["category"] for p in products}) <= 6
    gtins = [p["gtin"] for p in products]
    assert all(len(g) == 13 and ean.is_valid(g) for g in gtins)
    assert len(set(gtins)) == len(gtins)
    assert len({p["name"] for p in products}) == len(products)
    assert all(p["currency"] == "EUR" and 0 < p["price_amount"] < 100_000 for p in products)
    assert all(type(p["price_amount"]) is int for p in products)
    tax = Counter(p["tax_class"] for p in products)
    assert set(tax) == {"standard", "reduced"} and tax["standard"] > tax["reduced"]
    dimensions = ("weight_grams", "length_mm", "width_mm", "height_mm")
    assert all(p[d] > 0 for p in products for d in dimensions)
    assert all(p["active"] for p in products)
    today = datetime.now(UTC).date()
    preorders = [p for p in products if p["preorder"]]
    assert 3 <= len(preorders) <= 10
    assert all(p["release_date"] > today and not p["backorderable"] for p in preorders)
    assert all(p["release_date"] is None for p in products if not p["preorder"])
    assert any(p["backorderable"] for p in products)


def check_locations(locations: list[Row]) -> None:
    kinds = Counter(loc["kind"] for loc in locations)
    assert kinds == {"warehouse": 1, "store": 3}
    warehouse = next(loc for loc in locations if loc["kind"] == "warehouse")
    stores = [loc for loc in locations if loc["kind"] == "store"]
    assert warehouse["can_ship"] and not warehouse["can_pickup"]
    assert all(warehouse["priority"] > store["priority"] for store in stores)
    assert all(store["can_pickup"] for store in stores)
    assert 1 <= sum(store["can_ship"] for store in stores) <= 2
    for loc in locations:
        assert set(loc["address"]) == ADDRESS_KEYS
        assert loc["address"]["country"] == "NL" and loc["address"]["line1"]
        # inside the Netherlands
        assert 50.7 < loc["latitude"] < 53.6 and 3.3 < loc["longitude"] < 7.3
        assert loc["daily_order_capacity"] > 0 and loc["active"]


def check_stock(products: dict[str, Row], locations: list[Row], levels: list[Row]) -> None:
    warehouse = next(loc["code"] for loc in locations if loc["kind"] == "warehouse")
    released = {sku for sku, p in products.items() if not p["preorder"]}
    by_location: dict[str, dict[str, Row]] = defaultdict(dict)
    for level in levels:
        by_location[level["location_code"]][level["sku"]] = level
    assert set(by_location[warehouse]) == released
    stores = set(by_location) - {warehouse}
    assert len(stores) == 3
    assert all(len(by_location[store]) > len(released) / 2 for store in stores)
    assert not any(lv["sku"] in products and products[lv["sku"]]["preorder"] for lv in levels)
    in_stock = {lv["sku"] for lv in levels if lv["on_hand"] > 0}
    assert 1 <= len(released - in_stock) <= 20
    assert all(lv["reserved"] == 0 and lv["on_hand"] >= lv["safety_stock"] for lv in levels)
    assert all(lv["safety_stock"] == 0 for lv in by_location[warehouse].values())
    assert any(lv["safety_stock"] > 0 for store in stores for lv in by_location[store].values())


def check_ledger(levels: list[Row], movements: list[Row]) -> None:
    """Each stock row with stock came from one count in the sync; the ledger adds up to it."""
    assert len(movements) == sum(1 for lv in levels if lv["on_hand"] != 0)
    on_hand_from_ledger: Counter[tuple[str, str]] = Counter()
    for m in movements:
        assert m["reason"] == "sync_absolute" and m["reserved_delta"] == 0
        assert m["reference"] == f"demo-seed-{m['sku']}-{m['location_code']}"
        on_hand_from_ledger[(m["sku"], m["location_code"])] += m["on_hand_delta"]
    assert all(on_hand_from_ledger[(lv["sku"], lv["location_code"])] == lv["on_hand"]
               for lv in levels)


def check_channels_and_keys(engine: Engine, keys: dict[str, str]) -> None:
    channels = {ch["code"]: ch["name"] for ch in rows(engine, t.channels)}
    assert channels == {"web": "Webshop", "mobile": "Mobile app", "pos": "Shop floor",
                        "call_centre": "Call centre"}
    assert set(keys) == {*channels, "operator", "admin"}
    assert len(set(keys.values())) == 6
    with engine.connect() as conn:
        for name, key in keys.items():
            principal = queries.principal(conn, hash_api_key(key))
            assert principal is not None, name
            if name in channels:
                assert (principal["role"], principal["channel_code"]) == ("channel", name)
            else:
                assert (principal["role"], principal["channel_code"]) == (name, None)
        assert queries.principal(conn, hash_api_key(keys["web"] + "x")) is None


def test_the_same_seed_gives_the_same_catalogue() -> None:
    today = date(2030, 1, 15)
    first = demo_products(random.Random(7), today)
    assert demo_products(random.Random(7), today) == first
    assert demo_products(random.Random(8), today) != first


def test_a_seed_that_stopped_half_way_completes_on_a_re_run(bus: MessageBus,
                                                            engine: Engine) -> None:
    import random

    from ordermesh.domain.events import utcnow
    from ordermesh.entrypoints.demo import demo_locations, demo_products
    from ordermesh.entrypoints.demo_data import SUPPLIERS
    from ordermesh.services import commands as c

    # given a seed that stopped after the first location and the first 20 products
    bus.handle(c.CreateChannel("demo", "pos", "Shop floor"))
    for supplier in SUPPLIERS:
        bus.handle(c.CreateSupplier("demo", supplier))
    bus.handle(c.CreateLocation("demo", demo_locations()[0]))
    for product in demo_products(random.Random(7), utcnow().date())[:20]:
        bus.handle(c.CreateProduct("demo", product))
    # when the demo is seeded again
    keys = seed_demo(bus)
    # then it completes: every product, location and channel, and all six keys
    assert set(keys) == {"web", "mobile", "pos", "call_centre", "operator", "admin"}
    assert len(rows(engine, t.products)) == len(demo_products(random.Random(7), utcnow().date()))
    assert len(rows(engine, t.locations)) == 4
    assert len(rows(engine, t.channels)) == 4
