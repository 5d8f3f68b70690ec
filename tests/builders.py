"""Small builders for test data. Each returns plain values with sensible defaults."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from stdnum import ean

from ordermesh.services import commands as c
from ordermesh.services.bus import MessageBus

ADDRESS = {"name": "Ann de Vries", "line1": "Keizersgracht 1", "city": "Amsterdam",
           "postal_code": "1015 CJ", "country": "NL"}


@dataclass
class Clock:
    """A simulator's time (test gateway, courier), moved by the test."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class RunningClock:
    """The real time, moved ahead by the test: what happens now is due at once, and a wait
    can be skipped."""

    ahead: timedelta = field(default_factory=timedelta)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.ahead

    @property
    def now(self) -> datetime:
        return self()

    def advance(self, **delta: float) -> None:
        self.ahead += timedelta(**delta)


def a_gtin(n: int) -> str:
    body = f"871{n:09d}"
    return body + ean.calc_check_digit(body)


def a_product(sku: str = "SKU-1", **overrides: Any) -> dict[str, Any]:
    return {"sku": sku, "name": f"Product {sku}", "category": "apparel", "gtin": None,
            "price_amount": 1999, "currency": "EUR", "tax_class": "standard",
            "weight_grams": 300, "length_mm": 300, "width_mm": 200, "height_mm": 50,
            "preorder": False, "release_date": None, "backorderable": False, "active": True,
            **overrides}


def a_location(code: str = "WH-1", **overrides: Any) -> dict[str, Any]:
    return {"code": code, "name": f"Location {code}", "kind": "warehouse",
            "address": {"line1": "Industrieweg 1", "city": "Tilburg", "country": "NL"},
            "latitude": 51.56, "longitude": 5.09, "can_ship": True, "can_pickup": False,
            "priority": 100, "daily_order_capacity": None, "active": True, **overrides}


def an_order(*lines: tuple[str, int], **overrides: Any) -> dict[str, Any]:
    """An order body as a channel sends it: lines are (sku, quantity) at 1999 each."""
    return {
        "currency": "EUR",
        "customer": {"email": "ann@example.com", "name": "Ann de Vries", "phone": "+31 20 1234567"},
        "billing_address": ADDRESS,
        "shipping_address": ADDRESS,
        "delivery_instructions": "Leave with the neighbours at number 3",
        "payment_token": "tok_visa_4242",
        "fulfilment": {"method": "ship"},
        "lines": [{"sku": sku, "quantity": qty, "unit_price": 1999}
                  for sku, qty in (lines or (("SKU-1", 1),))],
        **overrides,
    }


@dataclass
class Shop:
    """A small retailer: keys for every role, two channels, products, locations and stock."""

    bus: MessageBus
    keys: dict[str, str] = field(default_factory=dict)

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}

    def product(self, sku: str, **overrides: Any) -> Shop:
        self.bus.handle(c.CreateProduct("test", a_product(sku, **overrides)))
        return self

    def location(self, code: str, **overrides: Any) -> Shop:
        self.bus.handle(c.CreateLocation("test", a_location(code, **overrides)))
        return self

    def stock(self, sku: str, location: str, on_hand: int, safety_stock: int = 0) -> Shop:
        self.bus.handle(c.AdjustStockLevel("test", sku, location, on_hand, safety_stock))
        return self


def a_shop(bus: MessageBus, channels: tuple[str, ...] = ("web", "pos")) -> Shop:
    shop = Shop(bus)
    shop.keys["admin"] = bus.handle(c.CreateApiKey("test", "admin", "admin")).key
    shop.keys["operator"] = bus.handle(c.CreateApiKey("test", "operator", "operator")).key
    for channel in channels:  # taking cards through the built-in test gateway
        bus.handle(c.CreateChannel("test", channel, channel.title()))
        bus.handle(c.UpdateChannel("test", channel, {"payment_gateway": "test"}))
        shop.keys[channel] = bus.handle(c.CreateApiKey("test", channel, "channel", channel)).key
    return shop


def place(bus: MessageBus, *lines: tuple[str, int], channel: str = "web",
          key: str | None = None, **overrides: Any) -> Any:
    return bus.handle(c.PlaceOrder("test", channel, an_order(*lines, **overrides),
                                   idempotency_key=key, request_hash="h"))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def hold(bus: MessageBus, *lines: tuple[str, int], channel: str = "web", **overrides: Any) -> str:
    """Hold a cart (lines are (sku, quantity)); returns the hold's id."""
    held = bus.handle(c.HoldCart("test", channel, lines or (("SKU-1", 1),), **overrides))
    return str(held.hold_id)
