"""Seed a small demo retailer through the message bus, so a new installation has something to
show: channels, a distribution centre and three stores, about 200 products, stock and API keys.

Everything goes through the same commands an operator or a stock feed would send, so the demo
data obeys the same rules (and leaves the same stock ledger) as real data. The catalogue is drawn
from `random.Random(seed)`: the same seed gives the same products, only pre-order release dates
move with today's date.
"""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from stdnum import ean

from ordermesh.domain.errors import AlreadyExists
from ordermesh.domain.events import utcnow
from ordermesh.domain.inventory import StockUpdate, SyncMode, SyncOutcome
from ordermesh.entrypoints.api.schemas.catalogue import LocationIn, ProductIn
from ordermesh.entrypoints.demo_data import (
    ACTOR,
    BACKORDERABLE_SHARE,
    CATEGORIES,
    CATEGORY_SUPPLIER,
    CHANNEL_SETTINGS,
    CHANNELS,
    COLOURS,
    CURRENCY,
    DC_REORDER_POINT,
    DC_REORDER_QUANTITY,
    DEMO_PASSWORD,
    DEMO_USERS,
    FRAGILE_ITEMS,
    GS1_COMPANY_PREFIX,
    LOCATIONS,
    LOW_STOCK_THRESHOLD,
    OUT_OF_STOCK_COUNT,
    PACKAGE_TYPES,
    PREORDER_COUNT,
    STORE_RANGE,
    STORE_SAFETY_STOCK,
    SUPPLIERS,
    TAX_RATES,
    WAREHOUSE,
    Category,
    ItemType,
)
from ordermesh.services import commands as c
from ordermesh.services import user_commands as uc
from ordermesh.services.bus import MessageBus
from ordermesh.services.handlers.setup import IssuedKey

Product = dict[str, Any]
StockKey = tuple[str, str]  # (sku, location code)


@dataclass(frozen=True)
class StockPlan:
    on_hand: dict[StockKey, int]
    safety_stock: dict[StockKey, int]


def seed_demo(bus: MessageBus, seed: int = 7) -> dict[str, str]:
    """Create the demo retailer and return its API keys by name (shown once).

    The "web" channel is the marker that the demo is complete: it is created last, just before
    the keys, and when it exists already nothing is issued and the answer is an empty dict.
    Every earlier step skips what exists, so a seed that stopped half-way completes on a re-run.
    """
    for tax_class, country, rate, rate_name in TAX_RATES:
        bus.handle(c.PutTaxRate(ACTOR, tax_class, country, None, rate, rate_name))
    for box in PACKAGE_TYPES:
        bus.handle(c.PutPackageType(ACTOR, *box))
    for code, name in CHANNELS[1:]:
        _unless_exists(bus, c.CreateChannel(ACTOR, code, name))
        if code in CHANNEL_SETTINGS:
            bus.handle(c.UpdateChannel(ACTOR, code, CHANNEL_SETTINGS[code]))
    for supplier in SUPPLIERS:
        _unless_exists(bus, c.CreateSupplier(ACTOR, supplier))
    for location in demo_locations():
        _unless_exists(bus, c.CreateLocation(ACTOR, location))
    rng = random.Random(seed)
    products = demo_products(rng, utcnow().date())
    for product in products:
        _unless_exists(bus, c.CreateProduct(ACTOR, product))
    stock = demo_stock(rng, products)
    _seed_stock(bus, stock)
    first_code, first_name = CHANNELS[0]
    try:
        bus.handle(c.CreateChannel(ACTOR, first_code, first_name))
    except AlreadyExists:
        return {}
    bus.handle(c.UpdateChannel(ACTOR, first_code, CHANNEL_SETTINGS[first_code]))
    _order_running_low(bus, products, stock)
    _create_users(bus)
    return _issue_keys(bus)


def _create_users(bus: MessageBus) -> None:
    """The console's demo users, one per role (README lists them with DEMO_PASSWORD)."""
    for email, name, role, location in DEMO_USERS:
        bus.handle(uc.CreateUser(ACTOR, email, name, role, DEMO_PASSWORD, location))


def _order_running_low(bus: MessageBus, products: list[Product], stock: StockPlan) -> None:
    """Purchase orders for what the distribution centre is out of or low on, per supplier:
    every other one sent (so backorders are promised against it), the rest still drafts.
    Made once, after the marker channel, so a re-run never orders twice."""
    low = [p for p in products if not p["preorder"]
           and stock.on_hand.get((p["sku"], WAREHOUSE), 0) <= LOW_STOCK_THRESHOLD]
    by_supplier: dict[str, list[Product]] = {}
    for product in low:
        by_supplier.setdefault(product["supplier_code"], []).append(product)
    for n, (supplier, wanted) in enumerate(sorted(by_supplier.items())):
        po_id = bus.handle(c.CreatePurchaseOrder(ACTOR, {
            "supplier": supplier, "deliver_to": WAREHOUSE,
            "lines": [{"sku": p["sku"], "quantity": 24, "unit_cost": p["price_amount"] * 2 // 5}
                      for p in wanted[:6]]}))
        if n % 2 == 0:
            bus.handle(c.SendPurchaseOrder(ACTOR, po_id))


def _unless_exists(bus: MessageBus, command: c.Command) -> None:
    with contextlib.suppress(AlreadyExists):
        bus.handle(command)


def demo_locations() -> list[dict[str, Any]]:
    """The locations, in the shape the API stores them (address as plain JSON)."""
    return [LocationIn.model_validate(loc).model_dump(mode="json") for loc in LOCATIONS]


def demo_products(rng: random.Random, today: date) -> list[Product]:
    """The catalogue, validated as the products API would validate it."""
    names: set[str] = set()
    products: list[Product] = []
    for category in CATEGORIES:
        for n in range(category.count):
            products.append(_product(rng, category, n, len(products) + 1, names))
    for product in _preorder_candidates(rng, products):
        product["preorder"] = True
        product["release_date"] = today + timedelta(weeks=rng.randint(3, 10))
    for product in products:
        product["backorderable"] = (not product["preorder"]
                                    and rng.random() < BACKORDERABLE_SHARE)
    return [ProductIn.model_validate(p).model_dump(mode="python") for p in products]


def _product(rng: random.Random, category: Category, n: int, item_ref: int,
             names: set[str]) -> Product:
    item, name = _draw_article(rng, category, names)
    return {
        "sku": f"{category.sku_prefix}-{1001 + n}",
        "name": name,
        "category": category.code,
        "gtin": _gtin(item_ref),
        "price_amount": _price(rng, item),
        "currency": CURRENCY,
        "tax_class": item.tax_class,
        "weight_grams": round(rng.randint(*item.grams), -1),
        **_dimensions(rng, item),
        "fragile": item.noun in FRAGILE_ITEMS,
        "preorder": False,
        "release_date": None,
        "backorderable": False,
        "low_stock_threshold": LOW_STOCK_THRESHOLD,
        "supplier_code": CATEGORY_SUPPLIER[category.code],
        "active": True,
    }


def _draw_article(rng: random.Random, category: Category, names: set[str]
                  ) -> tuple[ItemType, str]:
    """An article type and a product name not used before in the catalogue."""
    for _ in range(1000):
        item = rng.choice(category.items)
        name = f"{rng.choice(item.kinds)} {item.noun}"
        if item.coloured:
            name = f"{name}, {rng.choice(COLOURS)}"
        if name not in names:
            names.add(name)
            return item, name
    raise ValueError(f"the word lists of {category.code!r} are too short for its count")


def _price(rng: random.Random, item: ItemType) -> int:
    """In minor units, priced like a shop does: 14.99, 74.95, 165.00."""
    euros = rng.randint(*item.euros)
    if euros >= 20:
        euros = 5 * round(euros / 5)
    return euros * 100 - rng.choice((1, 5, 5, 0))


def _gtin(item_ref: int) -> str:
    body = f"{GS1_COMPANY_PREFIX}{item_ref:05d}"
    return body + str(ean.calc_check_digit(body))


def _dimensions(rng: random.Random, item: ItemType) -> dict[str, int]:
    """The typical packed size, give or take 15%, longest side first."""
    sides = sorted((round(mm * rng.uniform(0.85, 1.15)) for mm in item.size_mm), reverse=True)
    return {"length_mm": sides[0], "width_mm": sides[1], "height_mm": sides[2]}


def _preorder_candidates(rng: random.Random, products: list[Product]) -> list[Product]:
    """New-season articles announced ahead of their release."""
    seasonal = [p for p in products
                if p["category"] in {"apparel", "footwear", "outdoor"}
                and p["tax_class"] == "standard"]
    return rng.sample(seasonal, PREORDER_COUNT)


def demo_stock(rng: random.Random, products: list[Product]) -> StockPlan:
    """Counts for the distribution centre (every released SKU) and the stores (most SKUs).

    Pre-order SKUs have no stock yet. A few SKUs are sold out everywhere; some of those are
    backorderable, so the demo shows both a refusal and a backorder.
    """
    released = [p for p in products if not p["preorder"]]
    sold_out = _sold_out(rng, released)
    plan = StockPlan({}, {})
    for product in released:
        sku = product["sku"]
        plan.on_hand[(sku, WAREHOUSE)] = 0 if sku in sold_out else _warehouse_count(rng)
        if sku in sold_out:
            continue
        for store, share in STORE_RANGE.items():
            if rng.random() < share:
                count = rng.randint(0, 12)
                plan.on_hand[(sku, store)] = count
                if count > STORE_SAFETY_STOCK[store]:
                    plan.safety_stock[(sku, store)] = STORE_SAFETY_STOCK[store]
    return plan


def _sold_out(rng: random.Random, released: list[Product]) -> set[str]:
    backorderable = [p["sku"] for p in released if p["backorderable"]]
    others = [p["sku"] for p in released if not p["backorderable"]]
    from_backorderable = rng.sample(backorderable, min(3, len(backorderable)))
    return {*from_backorderable,
            *rng.sample(others, OUT_OF_STOCK_COUNT - len(from_backorderable))}


def _warehouse_count(rng: random.Random) -> int:
    """Mostly a few dozen, sometimes a handful, now and then hundreds."""
    return min(800, 1 + int(rng.lognormvariate(3.6, 0.9)))


def _seed_stock(bus: MessageBus, plan: StockPlan) -> None:
    """Safety stock first, then all counts in one stock sync (one transaction).

    Setting the safety stock first creates those stock rows, which spares the sync a lookup
    and an insert per row; the result is the same as the other way round.
    """
    for (sku, location), safety_stock in sorted(plan.safety_stock.items()):
        bus.handle(c.AdjustStockLevel(ACTOR, sku, location, safety_stock=safety_stock,
                                      reference="demo seed"))
    # The distribution centre reorders by the case when it runs down to a few days' sales.
    for sku, location in sorted(key for key in plan.on_hand if key[1] == WAREHOUSE):
        bus.handle(c.AdjustStockLevel(ACTOR, sku, location, reorder_point=DC_REORDER_POINT,
                                      reorder_quantity=DC_REORDER_QUANTITY,
                                      reference="demo seed"))
    counted_at = utcnow()
    updates = tuple(
        StockUpdate(sku, location, SyncMode.ABSOLUTE, quantity,
                    f"demo-seed-{sku}-{location}", counted_at)
        for (sku, location), quantity in sorted(plan.on_hand.items()))
    results = bus.handle(c.SyncStock(ACTOR, updates))
    # A re-run sees its own rows again: "duplicate" means they were applied the first time.
    refused = [r.source_reference for r in results
               if r.outcome not in (SyncOutcome.APPLIED, SyncOutcome.DUPLICATE)]
    if refused:
        raise RuntimeError(f"the demo stock sync refused {len(refused)} rows: {refused[:5]}")


def _issue_keys(bus: MessageBus) -> dict[str, str]:
    keys: dict[str, str] = {}
    for code, name in CHANNELS:
        issued: IssuedKey = bus.handle(c.CreateApiKey(ACTOR, f"{name} (demo)", "channel", code))
        keys[code] = issued.key
    for role in ("operator", "admin"):
        issued = bus.handle(c.CreateApiKey(ACTOR, f"Demo {role}", role))
        keys[role] = issued.key
    return keys
