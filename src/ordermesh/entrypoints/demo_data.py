"""The demo retailer's fixed data: word lists for its catalogue, its locations and channels.

The demo retailer, "Kade & Co.", is fictional: a Dutch lifestyle shop with a distribution centre
near Tilburg and three city-centre stores. `ordermesh.entrypoints.demo` turns these tables into
commands.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

RETAILER = "Kade & Co."
ACTOR = "demo"
CURRENCY = "EUR"
# "87" is the GS1 Netherlands range; the rest of the company prefix is made up for the demo.
GS1_COMPANY_PREFIX = "8719874"


@dataclass(frozen=True)
class ItemType:
    """One kind of article; products are drawn from it with a kind, a colour and a price."""

    noun: str
    kinds: tuple[str, ...]  # material, flavour or theme: the first word of the name
    euros: tuple[int, int]  # price range in whole euros
    grams: tuple[int, int]  # shipping weight range
    size_mm: tuple[int, int, int]  # typical packed length, width, height
    tax_class: str = "standard"
    coloured: bool = True


@dataclass(frozen=True)
class Category:
    code: str
    sku_prefix: str
    count: int
    items: tuple[ItemType, ...]


COLOURS = ("Navy", "Charcoal", "Sand", "Olive", "Oat", "Rust", "Black", "Stone",
           "Forest Green", "Ochre", "Off-white", "Dusty Pink", "Denim Blue", "Burgundy")

CATEGORIES: tuple[Category, ...] = (
    Category("apparel", "APP", 60, (
        ItemType("T-shirt", ("Organic Cotton", "Slub Cotton", "Linen Blend"),
                 (15, 35), (150, 260), (300, 220, 25)),
        ItemType("Oxford Shirt", ("Cotton", "Linen", "Brushed Flannel"),
                 (45, 89), (280, 380), (330, 250, 40)),
        ItemType("Crew Jumper", ("Merino", "Lambswool", "Cotton Knit"),
                 (59, 129), (350, 600), (330, 270, 60)),
        ItemType("Hoodie", ("Loopback Cotton", "Recycled Fleece"),
                 (49, 89), (500, 750), (350, 280, 70)),
        ItemType("Chinos", ("Stretch Twill", "Cotton Canvas"),
                 (59, 99), (450, 650), (350, 280, 50)),
        ItemType("Jeans", ("Selvedge Denim", "Stretch Denim", "Rigid Denim"),
                 (69, 149), (600, 900), (360, 290, 50)),
        ItemType("Rain Jacket", ("Recycled Nylon", "Waxed Cotton"),
                 (99, 229), (450, 1200), (400, 320, 80)),
        ItemType("Knit Dress", ("Merino", "Viscose"),
                 (69, 139), (300, 550), (360, 280, 50)),
    )),
    Category("footwear", "FTW", 35, (
        ItemType("Sneakers", ("Leather", "Suede", "Canvas"),
                 (69, 149), (700, 1100), (330, 210, 120)),
        ItemType("Chelsea Boots", ("Full-grain Leather", "Suede"),
                 (129, 219), (1200, 1700), (340, 230, 130)),
        ItemType("Running Shoes", ("Recycled Mesh", "Knit"),
                 (89, 169), (550, 800), (330, 210, 120)),
        ItemType("Slippers", ("Wool Felt", "Shearling"),
                 (35, 69), (300, 500), (300, 180, 100)),
        ItemType("Sandals", ("Leather", "Cork"),
                 (45, 99), (400, 700), (310, 190, 90)),
    )),
    Category("home", "HOM", 45, (
        ItemType("Throw Blanket", ("Wool", "Waffle Cotton", "Mohair Blend"),
                 (49, 129), (800, 1500), (400, 300, 100)),
        ItemType("Cushion Cover", ("Linen", "Velvet", "Bouclé"),
                 (19, 45), (200, 400), (320, 260, 30)),
        ItemType("Mug", ("Stoneware", "Enamel", "Porcelain"),
                 (12, 24), (300, 450), (130, 130, 110)),
        ItemType("Table Lamp", ("Ceramic", "Rattan", "Brass"),
                 (59, 179), (1500, 3500), (450, 300, 300)),
        ItemType("Scented Candle", ("Fig", "Cedar", "Sea Salt", "Amber"),
                 (19, 39), (350, 600), (110, 110, 120)),
        ItemType("Tea Towel Set", ("Linen", "Cotton"),
                 (15, 29), (200, 300), (250, 200, 30)),
        ItemType("Cookbook", ("Weeknight", "Seasonal Vegetables", "Dutch Baking"),
                 (25, 39), (700, 1200), (260, 200, 30), tax_class="reduced", coloured=False),
        ItemType("Loose Leaf Tea", ("Earl Grey", "Rooibos", "Fresh Mint", "Sencha"),
                 (8, 16), (120, 200), (150, 80, 80), tax_class="reduced", coloured=False),
    )),
    Category("outdoor", "OUT", 35, (
        ItemType("Daypack 20L", ("Recycled Nylon", "Waxed Canvas"),
                 (59, 129), (600, 1000), (450, 300, 150)),
        ItemType("Insulated Bottle", ("Stainless Steel",),
                 (25, 45), (350, 500), (280, 90, 90)),
        ItemType("Trekking Poles", ("Aluminium", "Carbon"),
                 (49, 129), (450, 650), (700, 100, 80), coloured=False),
        ItemType("Sleeping Bag", ("Down", "Synthetic"),
                 (99, 299), (900, 1800), (450, 250, 250)),
        ItemType("Headlamp", ("Rechargeable", "Compact"),
                 (25, 59), (90, 180), (150, 100, 60), coloured=False),
        ItemType("Walking Guide", ("Veluwe", "Wadden Islands", "South Limburg"),
                 (18, 29), (300, 500), (210, 140, 20), tax_class="reduced", coloured=False),
    )),
    Category("accessories", "ACC", 25, (
        ItemType("Beanie", ("Merino", "Lambswool"), (19, 39), (80, 140), (250, 200, 30)),
        ItemType("Scarf", ("Wool", "Cashmere Blend"), (35, 119), (150, 300), (300, 250, 40)),
        ItemType("Belt", ("Leather", "Suede"), (39, 79), (200, 350), (300, 120, 60)),
        ItemType("Card Wallet", ("Leather", "Recycled Canvas"), (25, 59), (60, 120),
                 (150, 100, 25)),
        ItemType("Tote Bag", ("Canvas", "Leather"), (19, 149), (250, 900), (400, 350, 40)),
        ItemType("Umbrella", ("Compact", "Storm-proof"), (29, 59), (350, 600),
                 (350, 80, 80)),
    )),
)


def _address(line1: str, postal_code: str, city: str, region: str) -> dict[str, Any]:
    return {"name": None, "company": RETAILER, "line1": line1, "line2": None, "city": city,
            "postal_code": postal_code, "region": region, "country": "NL"}


# Parcel rates in euro cents by distance band; stores ship locally for less.
DC_RATES = [{"max_km": 100, "amount": 495, "currency": "EUR", "days": 1},
            {"max_km": None, "amount": 695, "currency": "EUR", "days": 2}]
STORE_RATES = [{"max_km": 30, "amount": 395, "currency": "EUR", "days": 1},
               {"max_km": 150, "amount": 595, "currency": "EUR", "days": 2}]

# Shaped like LocationIn. Priority: higher is tried first, so the distribution centre leads.
LOCATIONS: tuple[dict[str, Any], ...] = (
    {"code": "dc-tilburg", "name": f"{RETAILER} Distribution Centre Tilburg",
     "kind": "warehouse",
     "address": _address("Letostraat 12", "5048 AK", "Tilburg", "Noord-Brabant"),
     "latitude": 51.5962, "longitude": 5.0318, "can_ship": True, "can_pickup": False,
     "priority": 100, "daily_order_capacity": 2500, "transfer_days": 1,
     "shipping_rates": DC_RATES},
    {"code": "store-amsterdam", "name": f"{RETAILER} Amsterdam Kalverstraat", "kind": "store",
     "address": _address("Kalverstraat 118", "1012 PK", "Amsterdam", "Noord-Holland"),
     "latitude": 52.3686, "longitude": 4.8917, "can_ship": True, "can_pickup": True,
     "priority": 60, "daily_order_capacity": 60, "transfer_days": 2,
     "shipping_rates": STORE_RATES},
    {"code": "store-rotterdam", "name": f"{RETAILER} Rotterdam Lijnbaan", "kind": "store",
     "address": _address("Lijnbaan 74", "3012 ER", "Rotterdam", "Zuid-Holland"),
     "latitude": 51.9196, "longitude": 4.4757, "can_ship": True, "can_pickup": True,
     "priority": 50, "daily_order_capacity": 40, "transfer_days": 2,
     "shipping_rates": STORE_RATES},
    {"code": "store-utrecht", "name": f"{RETAILER} Utrecht Oudegracht", "kind": "store",
     "address": _address("Oudegracht 159", "3511 AZ", "Utrecht", "Utrecht"),
     "latitude": 52.0903, "longitude": 5.1204, "can_ship": False, "can_pickup": True,
     "priority": 40, "daily_order_capacity": 30, "transfer_days": 2},
)

WAREHOUSE = "dc-tilburg"
# The share of the range each store carries.
STORE_RANGE = {"store-amsterdam": 0.9, "store-rotterdam": 0.8, "store-utrecht": 0.7}
# Units a store keeps back from orders (its display and fitting pieces), where it has more.
STORE_SAFETY_STOCK = {"store-amsterdam": 2, "store-rotterdam": 1, "store-utrecht": 1}

# Who the retailer buys from, by category; shaped like the suppliers API takes them.
SUPPLIERS: tuple[dict[str, Any], ...] = (
    {"code": "noordwol", "name": "Noordwol Textiles B.V.", "email": "orders@noordwol.example",
     "currency": "EUR", "lead_time_days": 14, "payment_terms_days": 30},
    {"code": "steenkamp", "name": "Steenkamp Ceramics & Home", "email": "sales@steenkamp.example",
     "currency": "EUR", "lead_time_days": 21, "payment_terms_days": 45},
    {"code": "trailworks", "name": "Trailworks Europe GmbH", "email": "eu@trailworks.example",
     "currency": "EUR", "lead_time_days": 10, "payment_terms_days": 30},
)
CATEGORY_SUPPLIER = {"apparel": "noordwol", "accessories": "noordwol", "home": "steenkamp",
                     "footwear": "trailworks", "outdoor": "trailworks"}
LOW_STOCK_THRESHOLD = 5
DC_REORDER_POINT = 8
DC_REORDER_QUANTITY = 24

# Sourcing settings per channel (the web channel keeps the defaults). The call centre ships at
# the lowest cost; the shop floor takes no backorders; the app may hold a cart for 15 minutes.
# Money: every channel prices with tax included (Dutch consumer prices); the shop floor is paid
# at the till, so it captures and invoices when the sale is made.
# Every channel takes its payments through the built-in test gateway (`make run` enables it).
CHANNEL_SETTINGS: dict[str, dict[str, Any]] = {
    "web": {"payment_gateway": "test"},
    "mobile": {"cart_hold_minutes": 15, "payment_gateway": "test"},
    "pos": {"allow_backorder": False, "capture_on": "placement", "invoice_on": "placement",
            "payment_gateway": "test"},
    "call_centre": {"sourcing_rules": ["fewest_shipments", "lowest_cost", "priority"],
                    "payment_gateway": "test"},
}

# VAT by class in the countries the demo ships to: (class, country, rate, name).
TAX_RATES: tuple[tuple[str, str, str, str], ...] = (
    ("standard", "NL", "0.21", "BTW 21%"), ("reduced", "NL", "0.09", "BTW 9%"),
    ("zero", "NL", "0", "BTW 0%"),
    ("standard", "BE", "0.21", "BTW 21%"), ("reduced", "BE", "0.06", "BTW 6%"),
    ("standard", "DE", "0.19", "MwSt 19%"), ("reduced", "DE", "0.07", "MwSt 7%"),
)

CHANNELS: tuple[tuple[str, str], ...] = (
    ("web", "Webshop"),
    ("mobile", "Mobile app"),
    ("pos", "Shop floor"),
    ("call_centre", "Call centre"),
)

PREORDER_COUNT = 6
OUT_OF_STOCK_COUNT = 8
BACKORDERABLE_SHARE = 0.12

# The boxes every location packs into: (code, name, inner length, width, height in mm, the most
# it may weigh in g, its own weight in g). The largest holds a table lamp; none goes over the
# courier's 31.5 kg.
PACKAGE_TYPES: tuple[tuple[str, str, int, int, int, int, int], ...] = (
    ("mailer", "Mailer bag", 350, 250, 60, 2_000, 40),
    ("box-s", "Box S", 350, 250, 120, 5_000, 150),
    ("box-m", "Box M", 450, 350, 250, 15_000, 350),
    ("box-l", "Box L", 600, 400, 400, 30_000, 700),
)
# Articles packed with care: FRAGILE on their labels and packing slips.
FRAGILE_ITEMS = frozenset({"Mug", "Table Lamp", "Scented Candle"})

# The console's demo users: sign in at /console with any of them and DEMO_PASSWORD.
DEMO_PASSWORD = "ordermesh-demo"  # noqa: S105 - a published demo password, demo data only
DEMO_USERS = (
    ("admin@demo.ordermesh.example", "Ada Admin", "admin", None),
    ("operator@demo.ordermesh.example", "Otto Operator", "operator", None),
    ("agent@demo.ordermesh.example", "Carla Callcentre", "call_centre", None),
    ("amsterdam@demo.ordermesh.example", "Sam Store", "store_staff", "store-amsterdam"),
)
