"""The message bus: finds the handler of a command and runs it in a fresh unit of work,
running it again from the start when the database reports a conflict."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from ordermesh.domain.errors import ConcurrentUpdate
from ordermesh.services import commands as c
from ordermesh.services import import_commands as ic
from ordermesh.services import jeopardy_commands as jc
from ordermesh.services import notification_commands as nc
from ordermesh.services import user_commands as uc
from ordermesh.services.audit import audit_entry, is_user
from ordermesh.services.handlers import (
    counter,
    credits,
    fulfilment,
    holds,
    imports,
    invoicing,
    jeopardy,
    line_cancellation,
    money,
    notifications,
    orders,
    payables,
    payment_answers,
    payments,
    purchasing,
    replenishment,
    resourcing,
    setup,
    shipping,
    stock,
    streaming,
    tracking,
    users,
    webhooks,
)
from ordermesh.services.handlers.notifications import NotifySetup
from ordermesh.services.handlers.payments import MoneySetup
from ordermesh.services.handlers.shipping import ShippingSetup
from ordermesh.services.handlers.streaming import StreamSetup
from ordermesh.services.handlers.webhooks import WebhookSetup
from ordermesh.services.ports import UnitOfWork

R = TypeVar("R")

HANDLERS: dict[type[c.Command], Callable[[Any, UnitOfWork], Any]] = {
    c.CreateChannel: setup.create_channel,
    c.UpdateChannel: setup.update_channel,
    c.CreateApiKey: setup.create_api_key,
    c.RevokeApiKey: setup.revoke_api_key,
    c.CreateProduct: setup.create_product,
    c.UpdateProduct: setup.update_product,
    c.CreateLocation: setup.create_location,
    c.UpdateLocation: setup.update_location,
    c.AdjustStockLevel: stock.adjust_stock_level,
    c.SyncStock: stock.sync_stock,
    c.ChangeOrderStatus: orders.change_order_status,
    c.CreateSupplier: purchasing.create_supplier,
    c.UpdateSupplier: purchasing.update_supplier,
    c.CreatePurchaseOrder: purchasing.create_purchase_order,
    c.SendPurchaseOrder: purchasing.send_purchase_order,
    c.ReceivePurchaseOrder: purchasing.receive_purchase_order,
    c.ClosePurchaseOrder: purchasing.close_purchase_order,
    c.CancelPurchaseOrder: purchasing.cancel_purchase_order,
    c.ResourceLine: resourcing.resource_line,
    c.ProposeReplenishment: replenishment.propose_replenishment,
    c.HoldCart: holds.hold_cart,
    c.ReleaseCartHold: holds.release_cart_hold,
    c.ExpireCartHolds: holds.expire_cart_holds,
    c.CreateSupplierBill: payables.create_supplier_bill,
    c.ApproveSupplierBill: payables.approve_supplier_bill,
    c.RejectSupplierBill: payables.reject_supplier_bill,
    c.RecordSupplierPayment: payables.record_supplier_payment,
    c.PutTaxRate: money.put_tax_rate,
    c.RemoveTaxRate: money.remove_tax_rate,
    c.ReleaseFulfilments: fulfilment.release_fulfilments,
    c.ChangeFulfilment: fulfilment.change_fulfilment,
    c.ShortPick: shipping.short_pick,
    c.RejectFulfilment: shipping.reject_fulfilment,
    c.PackFulfilment: shipping.pack_fulfilment,
    c.LeaseFulfilments: counter.lease_fulfilments,
    c.PutPackageType: shipping.put_package_type,
    c.ReplayWebhookDelivery: webhooks.replay_delivery,
    jc.PutStageSla: jeopardy.put_stage_sla,
    jc.RemoveStageSla: jeopardy.remove_stage_sla,
    jc.FlagJeopardies: jeopardy.flag_jeopardies,
    uc.CreateUser: users.create_user,
    uc.UpdateUser: users.update_user,
    uc.SignIn: users.sign_in,
    uc.SignOut: users.sign_out,
}

# Handlers that also need the carriers.
SHIPPING_HANDLERS: dict[type[c.Command], Callable[[Any, UnitOfWork, ShippingSetup], Any]] = {
    c.BookShipment: shipping.book_shipment,
    c.ApplyCarrierWebhook: tracking.apply_carrier_webhook,
    c.PollCarriers: tracking.poll_carriers,
    c.CancelLabels: tracking.cancel_labels,
    c.ApplyTracking: tracking.apply_tracking,
}

# Handlers that also need the payment gateways and the seller's details.
MONEY_HANDLERS: dict[type[c.Command], Callable[[Any, UnitOfWork, MoneySetup], Any]] = {
    c.PlaceOrder: orders.place_order,
    c.AuthorizePayment: payments.authorize_payment,
    c.CapturePayment: payments.capture_payment,
    c.VoidPayment: credits.void_payment,
    c.RefundPayment: credits.refund_payment,
    c.DispatchShipment: invoicing.dispatch_shipment,
    c.ApplyGatewayNotice: payment_answers.apply_gateway_notice,
    c.RecoverPayments: payment_answers.recover_payments,
    c.ReleaseUnpaidOrders: money.release_unpaid_orders,
    c.FlagExpiringAuthorizations: money.flag_expiring_authorizations,
    c.ImportPayouts: money.import_payouts,
    c.ReturnUncollected: counter.return_uncollected,
    c.CancelOrderLine: line_cancellation.cancel_order_line,
    ic.ImportOrders: imports.import_orders,
}


def _with(handler: Callable[[Any, UnitOfWork, Any], Any], setup: Any, cmd: Any,
          uow: UnitOfWork) -> Any:
    return handler(cmd, uow, setup)


# Handlers that also need the webhook sender.
WEBHOOK_HANDLERS: dict[type[c.Command], Callable[[Any, UnitOfWork, WebhookSetup], Any]] = {
    c.CreateWebhookSubscription: webhooks.create_subscription,
    c.UpdateWebhookSubscription: webhooks.update_subscription,
    c.SendWebhooks: webhooks.send_webhooks,
    c.RelayEvents: webhooks.relay_events,
}


# Handlers that also need the customer notifier, and the event stream.
NOTIFY_HANDLERS: dict[type[c.Command], Callable[[Any, UnitOfWork, NotifySetup], Any]] = {
    c.SendNotifications: notifications.send_notifications,
    nc.ResendNotification: notifications.resend_notification,
}
STREAM_HANDLERS: dict[type[c.Command], Callable[[Any, UnitOfWork, StreamSetup], Any]] = {
    c.StreamEvents: streaming.stream_events,
}
# Each table of handlers that needs a setup, with the name of the bus's attribute holding it.
WITH_SETUP: tuple[tuple[dict[type[c.Command], Callable[..., Any]], str], ...] = (
    (MONEY_HANDLERS, "setup"), (SHIPPING_HANDLERS, "shipping"), (WEBHOOK_HANDLERS, "webhooks"),
    (NOTIFY_HANDLERS, "notify"), (STREAM_HANDLERS, "streams"))


class MessageBus:
    def __init__(
        self,
        uow_factory: Callable[[], UnitOfWork],
        retry_reason: Callable[[BaseException], str | None] = lambda exc: None,
        attempts: int = 8,
        setup: MoneySetup | None = None,
        shipping: ShippingSetup | None = None,
        webhooks: WebhookSetup | None = None,
        notify: NotifySetup | None = None,
        streams: StreamSetup | None = None,
    ) -> None:
        self.uow_factory = uow_factory
        self.setup = setup or MoneySetup()
        self.shipping = shipping or ShippingSetup()
        self.webhooks = webhooks or WebhookSetup()
        self.notify = notify or NotifySetup()
        self.streams = streams or StreamSetup()
        self.retry_reason = retry_reason
        self.attempts = attempts
        # How often commands were run again, and why: a number operators and tests watch.
        self.retried: Counter[str] = Counter()
        # Told of every command done (its change committed), e.g. so that an API error after
        # it is not answered as if the request changed nothing.
        self.done: list[Callable[[c.Command], None]] = []

    def _reason(self, exc: BaseException) -> str | None:
        return "concurrent_update" if isinstance(exc, ConcurrentUpdate) else self.retry_reason(exc)

    def _count(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        if exc is not None:
            self.retried[self._reason(exc) or "unknown"] += 1

    def handle(self, command: c.Command) -> Any:
        handler: Callable[[Any, UnitOfWork], Any] = HANDLERS.get(type(command))  # type: ignore[assignment]
        for table, name in WITH_SETUP:
            if (needs_setup := table.get(type(command))) is not None:
                handler = partial(_with, needs_setup, getattr(self, name))
        if handler is None:
            raise KeyError(f"no handler for {type(command).__name__}")
        retrying = Retrying(
            retry=retry_if_exception(lambda exc: self._reason(exc) is not None),
            stop=stop_after_attempt(self.attempts),
            before_sleep=self._count,
            wait=wait_random_exponential(multiplier=0.01, max=0.5),
            reraise=True,
        )
        result = retrying(lambda: handler(command, self._uow_for(command)))
        for observer in self.done:
            observer(command)
        return result

    def _uow_for(self, command: c.Command) -> UnitOfWork:
        uow = self.uow_factory()
        if is_user(command.actor):
            uow.record(audit_entry(command))
        return uow
