"""The plan of a simulated retail day: who orders what, through which channel, when, how they
pay and whether they come for their parcel. Pure: the same seed, day and catalogue give the
same plan, so `ordermesh simulate --seed` is repeatable and the mix can be tested without a
database. `ordermesh.entrypoints.simulate` carries the plan out through the API.

The mix follows what a mid-sized Dutch omnichannel retailer sees: most orders on the web, a
fifth in the app, the rest at the call centre, the tills and a marketplace; one to four lines,
a few articles selling far more than the rest (a Zipf-like popularity), some click & collect,
a few cards refused, a few picks that come up short.
"""

from __future__ import annotations

import random
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar

T = TypeVar("T")
MARKETPLACE = "marketplace:bol"
CHANNEL_SHARES: Mapping[str, float] = {
    "web": 0.55, "mobile": 0.20, "call_centre": 0.10, "pos": 0.10, MARKETPLACE: 0.05}

# Orders per hour of the day (UTC), relative, for each channel: the trading hours are the hours
# listed. The webshop peaks at lunch and in the evening, the app later in the evening; the call
# centre and the stores keep office and opening hours.
_WEB = {6: 1, 7: 2, 8: 3, 9: 4, 10: 5, 11: 6, 12: 8, 13: 7, 14: 5, 15: 5, 16: 5, 17: 5, 18: 6,
        19: 8, 20: 9, 21: 8, 22: 5, 23: 2}
HOURLY: Mapping[str, Mapping[int, int]] = {
    "web": _WEB,
    "mobile": {**_WEB, 6: 1, 7: 3, 8: 3, 12: 6, 20: 10, 21: 11, 22: 8, 23: 4},
    "call_centre": {9: 6, 10: 8, 11: 8, 12: 5, 13: 6, 14: 8, 15: 7, 16: 5},
    "pos": {10: 3, 11: 5, 12: 7, 13: 8, 14: 8, 15: 8, 16: 9, 17: 7},
    MARKETPLACE: {h: w for h, w in _WEB.items() if 7 <= h <= 22},
}

LINE_COUNTS = {1: 50, 2: 28, 3: 14, 4: 8}  # relative weights of 1..4 lines
TILL_LINE_COUNTS = {1: 70, 2: 25, 3: 5}
QUANTITIES = {1: 85, 2: 12, 3: 3}
ZIPF_EXPONENT = 1.07  # the k-th most popular article sells about 1/k as often as the first
PICKUP_SHARE = {"web": 0.15, "mobile": 0.12, "call_centre": 0.05}
STORES = {"store-amsterdam": 45, "store-rotterdam": 30, "store-utrecht": 25}
DECLINE_SHARE = 0.05  # cards refused at the first try
RETRY_SHARE = 0.6  # of those, paid with another card within the hour
SHORT_PICK_SHARE = 0.05  # orders whose first pick finds one unit fewer than reserved
NOT_COLLECTED_SHARE = 0.12  # click & collect orders nobody comes for
CARDS = {"tok_visa": 60, "tok_mastercard": 30, "tok_amex": 10}
REFUSALS = ("tok_declined", "tok_insufficient_funds", "tok_expired_card")
FREE_DELIVERY_FROM, DELIVERY_CHARGE = 5000, 495  # minor units
AGENTS = ("anouk", "bram", "fatima", "joris", "lotte", "mehmet")

FIRST = ("Sanne", "Daan", "Emma", "Lucas", "Julia", "Sem", "Tess", "Milan", "Fleur", "Noah",
         "Lieke", "Thijs", "Anna", "Jesse", "Roos", "Bas", "Yara", "Ruben", "Noor", "Mohamed")
LAST = ("de Jong", "Jansen", "de Vries", "van den Berg", "Bakker", "Visser", "Smit", "Meijer",
        "de Boer", "Mulder", "de Groot", "Bos", "Vos", "Peters", "Hendriks", "Dekker",
        "van Dijk", "Yilmaz", "El Amrani", "Kramer")
STREETS = ("Kerkstraat", "Dorpsstraat", "Molenweg", "Stationsweg", "Schoolstraat",
           "Julianastraat", "Wilhelminalaan", "Beatrixlaan", "Nieuwstraat", "Parkweg",
           "Lindenlaan", "Prinsengracht")
# (city, postal-code digits, latitude, longitude, relative weight)
CITIES = (("Amsterdam", 1012, 52.370, 4.895, 18), ("Rotterdam", 3011, 51.922, 4.479, 13),
          ("Den Haag", 2511, 52.078, 4.288, 11), ("Utrecht", 3511, 52.091, 5.122, 10),
          ("Eindhoven", 5611, 51.441, 5.470, 7), ("Groningen", 9711, 53.219, 6.567, 6),
          ("Tilburg", 5038, 51.560, 5.091, 5), ("Breda", 4811, 51.589, 4.776, 5),
          ("Nijmegen", 6511, 51.842, 5.853, 5), ("Haarlem", 2011, 52.387, 4.646, 5),
          ("Arnhem", 6811, 51.985, 5.899, 4), ("Zwolle", 8011, 52.517, 6.083, 4),
          ("Maastricht", 6211, 50.851, 5.691, 4), ("Leiden", 2311, 52.160, 4.497, 3))


@dataclass(frozen=True)
class Catalogue:
    """What can be sold: the price of every article on offer (in stock somewhere, or taken on
    backorder), the articles on each store's shelves (what its till can sell), and how many
    units of each are available (a retailer stocks most of what sells most)."""

    prices: Mapping[str, int]
    shelves: Mapping[str, Mapping[str, int]]  # store -> units available on its shelves
    stock: Mapping[str, int] = field(default_factory=dict)  # units available, all locations


@dataclass(frozen=True)
class PlannedOrder:
    n: int  # its place in the day, from 1
    at: datetime
    channel: str
    lines: tuple[tuple[str, int, int], ...]  # (sku, quantity, unit price)
    customer: Mapping[str, Any]  # name, email, phone, address (with coordinates)
    store: str | None = None  # collected at (click & collect), or sold at (a till)
    token: str | None = None  # the card's token; None: paid on the marketplace
    retry_token: str | None = None  # another card, after a refusal
    retry_after: timedelta | None = None
    short_pick: bool = False
    collected_after: timedelta | None = None  # after it is ready; None: nobody comes
    agent: str | None = None  # the call centre's agent


def plan_day(day: date, orders: int, catalogue: Catalogue, seed: int) -> list[PlannedOrder]:
    """`orders` orders over the trading hours of `day`, in the order they arrive. The shares
    of click & collect, refused cards, short picks and pickups nobody collects are exact
    (at least one refused card and one short pick), so a small day still shows them."""
    rng = random.Random(seed)
    popularity = _popularity(rng, catalogue)
    drafts = [_order(rng, day, channel, catalogue, popularity)
              for channel in _channel_mix(rng, orders)]
    carded = [o for o in drafts if o["channel"] not in ("pos", MARKETPLACE)]
    for order in _some(rng, carded, DECLINE_SHARE):
        order.update(_refusal(rng, order["token"]))
    for order in _some(rng, [o for o in drafts if o["channel"] != "pos"], SHORT_PICK_SHARE):
        order["short_pick"] = True
    for channel, share in PICKUP_SHARE.items():
        for order in _some(rng, [o for o in drafts if o["channel"] == channel], share, 0):
            order["store"] = _weighted(rng, STORES)
            order["collected_after"] = timedelta(minutes=rng.randint(90, 28 * 60))
    pickups = [o for o in drafts if o["store"] and o["channel"] != "pos"]
    for order in _some(rng, pickups, NOT_COLLECTED_SHARE, 0):
        order["collected_after"] = None
    drafts.sort(key=lambda o: o["at"])
    return [PlannedOrder(n=n, **o) for n, o in enumerate(drafts, start=1)]


def _some(rng: random.Random, orders: list[dict[str, Any]], share: float, least: int = 1
          ) -> list[dict[str, Any]]:
    """`share` of the orders, rounded, at least `least` of them (if there are that many)."""
    return rng.sample(orders, min(len(orders), max(least, round(share * len(orders)))))


def _channel_mix(rng: random.Random, orders: int) -> list[str]:
    """Exactly the channels' shares (largest remainders), in a random order: even a small day
    has every channel."""
    exact = {ch: share * orders for ch, share in CHANNEL_SHARES.items()}
    counts = {ch: int(x) for ch, x in exact.items()}
    for ch in sorted(exact, key=lambda c: counts[c] - exact[c])[:orders - sum(counts.values())]:
        counts[ch] += 1
    mix = [ch for ch, count in counts.items() for _ in range(count)]
    rng.shuffle(mix)
    return mix


def _popularity(rng: random.Random, catalogue: Catalogue) -> dict[str, float]:
    """A Zipf-like weight per article: ranked by the stock kept of it, give or take (a shop
    keeps most of what sells best, not exactly in order), weight 1/rank^s."""
    depth = {sku: (catalogue.stock.get(sku, 0) + 1) * rng.lognormvariate(0, 0.5)
             for sku in sorted(catalogue.prices)}
    ranked = sorted(depth, key=lambda sku: (-depth[sku], sku))
    return {sku: 1 / (rank ** ZIPF_EXPONENT) for rank, sku in enumerate(ranked, start=1)}


def _order(rng: random.Random, day: date, channel: str, catalogue: Catalogue,
           popularity: Mapping[str, float]) -> dict[str, Any]:
    store = _till(rng, catalogue) if channel == "pos" else None
    # a walk-in takes what is on the shelves, each unit as likely as another
    shelf = {sku: float(n) for sku, n in catalogue.shelves.get(store or "", {}).items()
             if sku in catalogue.prices}
    counts = TILL_LINE_COUNTS if channel == "pos" else LINE_COUNTS
    skus = _distinct(rng, shelf if channel == "pos" else popularity, _weighted(rng, counts))
    lines = tuple((sku, min(_weighted(rng, QUANTITIES), int(shelf.get(sku, 3))),
                   catalogue.prices[sku]) for sku in skus)
    order: dict[str, Any] = {"at": _arrival(rng, day, channel), "channel": channel,
                             "lines": lines, "customer": _customer(rng), "store": store}
    if channel != MARKETPLACE:  # the marketplace is paid on the marketplace
        order["token"] = _weighted(rng, CARDS)
    if channel == "call_centre":
        order["agent"] = rng.choice(AGENTS)
    return order


def _till(rng: random.Random, catalogue: Catalogue) -> str | None:
    """The store a till sale happens in: one with goods on its shelves."""
    stocked = {s: w for s, w in STORES.items() if catalogue.shelves.get(s)}
    return _weighted(rng, stocked) if stocked else None


def _refusal(rng: random.Random, card: str) -> dict[str, Any]:
    """A card refused; most customers pay with another one within the hour."""
    refused: dict[str, Any] = {"token": rng.choice(REFUSALS)}
    if rng.random() < RETRY_SHARE:
        refused.update(retry_token=card, retry_after=timedelta(minutes=rng.randint(4, 45)))
    return refused


def _arrival(rng: random.Random, day: date, channel: str) -> datetime:
    hour = _weighted(rng, HOURLY[channel])
    return datetime.combine(day, time(hour), UTC) + timedelta(seconds=rng.randrange(3600))


def _customer(rng: random.Random) -> dict[str, Any]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    city, digits, lat, lon, _ = rng.choices(CITIES, weights=[c[4] for c in CITIES])[0]
    handle = "".join(ch for ch in f"{first}.{last}".lower() if ch in string.ascii_lowercase + ".")
    return {
        "name": f"{first} {last}", "email": f"{handle}{rng.randint(1, 999)}@example.nl",
        "phone": f"+31 6 {rng.randint(10_000_000, 99_999_999)}",
        "address": {"name": f"{first} {last}",
                    "line1": f"{rng.choice(STREETS)} {rng.randint(1, 180)}",
                    "postal_code": f"{digits + rng.randint(0, 40)} "
                                   f"{rng.choice('ABCDEGHJKLMNPRSTVWXZ')}"
                                   f"{rng.choice('ABCDEGHJKLMNPRSTVWXZ')}",
                    "city": city, "country": "NL",
                    "latitude": round(lat + rng.uniform(-0.03, 0.03), 4),
                    "longitude": round(lon + rng.uniform(-0.03, 0.03), 4)},
    }


def _distinct(rng: random.Random, weights: Mapping[str, float], count: int) -> list[str]:
    """`count` different articles (fewer if there are fewer), by their weights."""
    chosen: list[str] = []
    candidates = sorted(weights)
    while candidates and len(chosen) < count:
        sku = rng.choices(candidates, weights=[weights[s] for s in candidates])[0]
        chosen.append(sku)
        candidates.remove(sku)
    return chosen


def _weighted(rng: random.Random, weights: Mapping[T, float]) -> T:
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


# -- the working day of the people who carry the plan out -----------------------------------

# (opening, closing) hours, UTC: the distribution centre picks and packs in two shifts, the
# stores between opening and closing; customers collect while the store is open.
WAREHOUSE_HOURS = (7, 22)
STORE_HOURS = (9, 18)
COUNTER_HOURS = (10, 18)
DISPATCH_CUTOFF = time(17, 30)  # the courier collects at 18:00; later parcels go tomorrow


def within(hours: tuple[int, int], at: datetime) -> datetime:
    """`at` if it falls within the working hours, else the next opening."""
    opening, closing = hours
    if at.hour < opening:
        return at.replace(hour=opening, minute=0, second=0, microsecond=0)
    if at.hour >= closing:
        next_day = at + timedelta(days=1)
        return next_day.replace(hour=opening, minute=0, second=0, microsecond=0)
    return at


def before_cutoff(at: datetime) -> datetime:
    """When a parcel packed at `at` is handed over: the same day before the courier comes,
    else the next morning."""
    if at.time() > DISPATCH_CUTOFF:
        return within(WAREHOUSE_HOURS, at.replace(hour=23, minute=0))
    return within(WAREHOUSE_HOURS, at)


# -- the plan in the API's words -------------------------------------------------------------

def order_body(order: PlannedOrder, reference: str) -> dict[str, Any]:
    """POST /api/v1/orders: delivered, or collected at a store; free delivery from 50 euros."""
    address = dict(order.customer["address"])
    total = sum(quantity * price for _, quantity, price in order.lines)
    pickup = order.store is not None
    return {
        "external_reference": reference, "currency": "EUR",
        "customer": {k: order.customer[k] for k in ("email", "name", "phone")},
        "billing_address": {k: v for k, v in address.items()
                            if k not in ("latitude", "longitude")},
        "shipping_address": None if pickup else address,
        "payment_token": order.token,
        "fulfilment": {"method": "pickup", "location": order.store} if pickup
        else {"method": "ship"},
        "lines": _lines(order),
        "shipping_total": 0 if pickup or total >= FREE_DELIVERY_FROM else DELIVERY_CHARGE,
    }


def till_body(order: PlannedOrder, receipt: str) -> dict[str, Any]:
    """POST /api/v1/pos-sales: a walk-in paying by card at the store's till."""
    return {"store": order.store, "receipt": receipt, "currency": "EUR",
            "lines": _lines(order), "payment_token": order.token}


def _lines(order: PlannedOrder) -> list[dict[str, Any]]:
    return [{"sku": sku, "quantity": quantity, "unit_price": price}
            for sku, quantity, price in order.lines]
