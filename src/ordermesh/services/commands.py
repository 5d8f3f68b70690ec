"""Commands: what a caller asks Ordermesh to do. One command, one handler, one transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from ordermesh.domain.geo import Point
from ordermesh.domain.inventory import StockUpdate
from ordermesh.domain.payables import DEFAULT_TOLERANCE, Tolerance


@dataclass(frozen=True)
class Command:
    actor: str


@dataclass(frozen=True)
class CreateChannel(Command):
    code: str
    name: str


@dataclass(frozen=True)
class UpdateChannel(Command):
    code: str
    changes: dict[str, Any]


@dataclass(frozen=True)
class CreateApiKey(Command):
    name: str
    role: str
    channel: str | None = None


@dataclass(frozen=True)
class RevokeApiKey(Command):
    key_id: str


@dataclass(frozen=True)
class CreateProduct(Command):
    values: dict[str, Any]


@dataclass(frozen=True)
class UpdateProduct(Command):
    sku: str
    changes: dict[str, Any]


@dataclass(frozen=True)
class CreateLocation(Command):
    values: dict[str, Any]


@dataclass(frozen=True)
class UpdateLocation(Command):
    code: str
    changes: dict[str, Any]


@dataclass(frozen=True)
class AdjustStockLevel(Command):
    """Set a stock level by hand: a counted on-hand figure or a change of on hand by a number
    (`on_hand_delta`, applied to on hand as it is when the row is locked, so a sale landing
    meanwhile is kept), the safety stock, and/or the reorder point with the quantity to
    reorder (those two together)."""

    sku: str
    location: str
    on_hand: int | None = None
    safety_stock: int | None = None
    reference: str = "manual adjustment"
    reorder_point: int | None = None
    reorder_quantity: int | None = None
    on_hand_delta: int | None = None


@dataclass(frozen=True)
class SyncStock(Command):
    updates: tuple[StockUpdate, ...]


@dataclass(frozen=True)
class PlaceOrder(Command):
    channel: str
    order: dict[str, Any]  # the validated order fields, amounts in minor units
    idempotency_key: str | None = None
    request_hash: str = ""
    # a sale at the pickup store's till: from its own shelves, whatever its daily capacity,
    # or refused (services/till.py)
    at_counter: bool = False


@dataclass(frozen=True)
class ChangeOrderStatus(Command):
    order_id: str
    action: str
    reason: str | None = None
    channel: str | None = None  # set when a channel key asks: it sees only its own orders
    data: dict[str, Any] = field(default_factory=dict)
    # only if the order is still on hold for this reason (a job acting on what it read)
    when_held_for: str | None = None


@dataclass(frozen=True)
class CreateSupplier(Command):
    values: dict[str, Any]


@dataclass(frozen=True)
class UpdateSupplier(Command):
    code: str
    changes: dict[str, Any]


@dataclass(frozen=True)
class CreatePurchaseOrder(Command):
    """values: supplier, deliver_to, lines [{sku, quantity, unit_cost}], optional expected_on
    and currency (which must be the supplier's)."""

    values: dict[str, Any]


@dataclass(frozen=True)
class SendPurchaseOrder(Command):
    po_id: str  # id or number


@dataclass(frozen=True)
class ReceivePurchaseOrder(Command):
    """Goods arrive at the purchase order's deliver_to location; `location`, if given, must be it."""

    po_id: str
    quantities: dict[int, int]  # line_no -> quantity
    allow_over_receipt: bool = False
    reference: str | None = None  # the delivery note, say
    location: str | None = None


@dataclass(frozen=True)
class ClosePurchaseOrder(Command):
    po_id: str
    reason: str | None = None


@dataclass(frozen=True)
class CancelPurchaseOrder(Command):
    po_id: str
    reason: str | None = None


@dataclass(frozen=True)
class ProposeReplenishment(Command):
    """Work out what to buy; with create_drafts, draft the purchase orders too."""

    create_drafts: bool = False


@dataclass(frozen=True)
class ResourceLine(Command):
    """A location cannot fulfil (part of) a line: source that quantity again, elsewhere."""

    order_id: str
    line_no: int
    location: str
    reason: str
    quantity: int | None = None  # None: all the line holds there
    channel: str | None = None


@dataclass(frozen=True)
class HoldCart(Command):
    """Reserve a cart for the channel's cart_hold_minutes; only what is in stock now."""

    channel: str
    lines: tuple[tuple[str, int], ...]  # (sku, quantity)
    destination: Point | None = None
    pickup_location: str | None = None
    currency: str | None = None  # for shipping costs; default: the first product's
    idempotency_key: str | None = None
    request_hash: str = ""


@dataclass(frozen=True)
class ReleaseCartHold(Command):
    hold_id: str
    channel: str | None = None  # set when a channel key asks: it sees only its own holds


@dataclass(frozen=True)
class ExpireCartHolds(Command):
    """Give back the units of up to `limit` active holds past their expiry at `now`."""

    now: datetime | None = None  # None: the clock
    limit: int = 200


@dataclass(frozen=True)
class CreateSupplierBill(Command):
    """Enter the supplier's bill for a purchase order; it is matched against what was ordered
    and received and held for review if it does not match."""

    number: str  # the supplier's own bill number
    purchase_order: str  # id or number
    bill_date: date
    lines: tuple[tuple[int, int, int], ...]  # (PO line_no, quantity, unit cost in minor units)
    currency: str | None = None  # if given, must be the purchase order's
    tolerance: Tolerance = DEFAULT_TOLERANCE


@dataclass(frozen=True)
class ApproveSupplierBill(Command):
    bill_id: str
    reason: str | None = None  # required for a held bill


@dataclass(frozen=True)
class RejectSupplierBill(Command):
    bill_id: str
    reason: str | None = None


@dataclass(frozen=True)
class RecordSupplierPayment(Command):
    """Record a payment of (part of) what a bill still owes; never more."""

    bill_id: str
    amount: int  # minor units
    paid_on: date
    reference: str  # the bank transfer, say: one reference pays a bill once
    currency: str | None = None  # if given, must be the bill's


# -- money ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PutTaxRate(Command):
    tax_class: str
    country: str
    region: str | None
    rate: str  # decimal text: "0.21"
    name: str


@dataclass(frozen=True)
class RemoveTaxRate(Command):
    tax_class: str
    country: str
    region: str | None = None


@dataclass(frozen=True)
class AuthorizePayment(Command):
    """Authorize the order's total; with a new token after a refusal, or the order's own."""

    order_id: str
    token: str | None = None
    channel: str | None = None


@dataclass(frozen=True)
class CapturePayment(Command):
    order_id: str
    reference: str  # what the capture is for: the same reference never captures twice
    amount: int | None = None  # None: all that is authorized and not captured
    final: bool = False  # the last capture: what is left of the authorization is released
    channel: str | None = None


@dataclass(frozen=True)
class VoidPayment(Command):
    order_id: str
    channel: str | None = None


@dataclass(frozen=True)
class RefundPayment(Command):
    """Give money back, with the credit note that documents it: for returned units
    (line number -> units, and the shipping), or an amount (a price adjustment)."""

    order_id: str
    reference: str  # the same reference never refunds twice
    reason: str
    lines: tuple[tuple[int, int], ...] = ()
    include_shipping: bool = False
    amount: int | None = None
    invoice: str | None = None  # the invoice corrected (id or number); default: the latest
    channel: str | None = None


@dataclass(frozen=True)
class DispatchShipment(Command):
    """Units leave the building: stock goes down, the shipment is invoiced and captured as the
    channel's policy says."""

    order_id: str
    reference: str  # the shipment's own reference: dispatching it again changes nothing
    lines: tuple[tuple[int, int], ...]  # (line number, units)
    channel: str | None = None
    # a packed fulfilment of the order: its lines are the shipment, its location the only one
    # the stock leaves, and it becomes dispatched in the same transaction
    fulfilment_id: str | None = None
    pickup_code: str | None = None  # a pickup fulfilment is collected with its code
    location: str | None = None  # set when a store's staff asks: it sees only its own


@dataclass(frozen=True)
class ApplyGatewayNotice(Command):
    gateway: str
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class RecoverPayments(Command):
    older_than_seconds: float = 60.0
    limit: int = 100


@dataclass(frozen=True)
class ReleaseUnpaidOrders(Command):
    """Cancel orders held for a failed payment longer than their channel allows."""

    limit: int = 100


@dataclass(frozen=True)
class FlagExpiringAuthorizations(Command):
    within_hours: int = 24
    limit: int = 100


@dataclass(frozen=True)
class ImportPayouts(Command):
    gateway: str
    since: date


# -- fulfilment -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReleaseFulfilments(Command):
    location: str | None = None  # None: every location
    limit: int = 200  # orders per run
    wave: str | None = None  # the wave's id, on each fulfilment it releases (pick lists by wave)
    order_id: str | None = None  # only this order (a sale at the till)


@dataclass(frozen=True)
class ChangeFulfilment(Command):
    fulfilment_id: str
    action: str  # an action of domain.fulfilments.TRANSITIONS
    reason: str | None = None
    location: str | None = None  # set when a store's staff asks: it sees only its own
    confirmation: tuple[str, str] | None = None  # a WMS's (reference, request hash)


@dataclass(frozen=True)
class ShortPick(Command):
    """Fewer units were found than reserved: the stock count goes down by the missing units
    through the ledger, and those units are sourced again."""

    fulfilment_id: str
    found: tuple[tuple[int, int], ...]  # (order line number, units found)
    location: str | None = None
    confirmation: tuple[str, str] | None = None  # a WMS's (reference, request hash)


@dataclass(frozen=True)
class RejectFulfilment(Command):
    """A store (or warehouse) cannot do a fulfilment: it is cancelled and its units are sourced
    again, never from there."""

    fulfilment_id: str
    reason: str
    location: str | None = None


@dataclass(frozen=True)
class PackageIn:
    items: tuple[tuple[str, int], ...]  # (sku, units)
    package_type: str | None = None
    weight_grams: int | None = None  # None: the items' weights and the box's own


@dataclass(frozen=True)
class PackFulfilment(Command):
    """Picked units go into packages: the ones given, or the smallest box set that holds them."""

    fulfilment_id: str
    packages: tuple[PackageIn, ...] | None = None
    location: str | None = None
    confirmation: tuple[str, str] | None = None  # a WMS's (reference, request hash)


@dataclass(frozen=True)
class ManualBooking:
    carrier_name: str
    tracking_numbers: tuple[str, ...]  # one per package, in package order
    service: str = "standard"
    tracking_url: str | None = None


@dataclass(frozen=True)
class BookShipment(Command):
    """Buy the label: the packed fulfilment's packages are quoted by the carriers and booked
    with the quote the channel prefers that keeps the promised date (or as entered by hand)."""

    fulfilment_id: str
    carrier: str | None = None  # None: every carrier set up
    service: str | None = None
    manual: ManualBooking | None = None
    location: str | None = None
    confirmation: tuple[str, str] | None = None  # a WMS's (reference, request hash)


@dataclass(frozen=True)
class ApplyTracking(Command):
    carrier: str
    events: tuple[Any, ...]  # domain.carriers.TrackingEvent
    fulfilment_id: str | None = None  # entered by hand for this fulfilment's packages


@dataclass(frozen=True)
class ApplyCarrierWebhook(Command):
    carrier: str
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class PollCarriers(Command):
    limit: int = 200  # parcels per run


@dataclass(frozen=True)
class CancelLabels(Command):
    limit: int = 100


@dataclass(frozen=True)
class ReturnUncollected(Command):
    """Pickups left at the counter past their time go back on the shelf (or this one)."""

    limit: int = 100
    fulfilment_id: str | None = None
    location: str | None = None


@dataclass(frozen=True)
class LeaseFulfilments(Command):
    location: str
    owner: str  # the WMS worker
    seconds: int = 300
    limit: int = 20


@dataclass(frozen=True)
class PutPackageType(Command):
    code: str
    name: str
    length_mm: int
    width_mm: int
    height_mm: int
    max_weight_grams: int
    tare_grams: int = 0
    active: bool = True


# -- the outbox and webhooks -------------------------------------------------------------------


@dataclass(frozen=True)
class CreateWebhookSubscription(Command):
    url: str
    event_types: tuple[str, ...]
    description: str | None = None


@dataclass(frozen=True)
class UpdateWebhookSubscription(Command):
    subscription_id: str
    changes: dict[str, Any]  # url, event_types, description, active


@dataclass(frozen=True)
class RelayEvents(Command):
    limit: int = 500


@dataclass(frozen=True)
class SendWebhooks(Command):
    limit: int = 100


@dataclass(frozen=True)
class ReplayWebhookDelivery(Command):
    delivery_id: int


@dataclass(frozen=True)
class SendNotifications(Command):
    limit: int = 100


@dataclass(frozen=True)
class StreamEvents(Command):
    limit: int = 500


# -- cancelling part of an order ---------------------------------------------------------------


@dataclass(frozen=True)
class CancelOrderLine(Command):
    """Cancel units of a line not sent yet (the customer changed their mind), with the money
    put right: what was captured for them is refunded, what was only authorized not taken."""

    order_id: str
    line_no: int
    quantity: int | None  # None: all of the line that can still be cancelled
    reason: str
    channel: str | None = None  # set when a channel key asks: it sees only its own orders
