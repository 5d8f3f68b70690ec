"""The one place that wires adapters into the bus, from configuration."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.engine import Engine

from ordermesh.adapters.carriers.courier import Courier, CourierSettings
from ordermesh.adapters.db.engine import make_engine, retry_reason
from ordermesh.adapters.db.unit_of_work import SqlUnitOfWork
from ordermesh.adapters.notify.email import (
    Branding,
    MailboxSender,
    NotificationSender,
    SmtpSender,
)
from ordermesh.adapters.notify.notifier import EmailNotifier
from ordermesh.adapters.payments.test_gateway import TestGateway, TestGatewaySettings
from ordermesh.adapters.streams import publisher_for
from ordermesh.adapters.webhooks.sender import WebhookSender, new_secret
from ordermesh.config import Settings
from ordermesh.domain.invoicing import Party
from ordermesh.services.bus import MessageBus
from ordermesh.services.handlers.notifications import NotifySetup
from ordermesh.services.handlers.payments import MoneySetup
from ordermesh.services.handlers.shipping import ShippingSetup
from ordermesh.services.handlers.streaming import StreamSetup
from ordermesh.services.handlers.webhooks import WebhookSetup
from ordermesh.services.ports import Carrier, PaymentGateway


@dataclass
class App:
    settings: Settings
    engine: Engine
    bus: MessageBus


def bootstrap(settings: Settings | None = None) -> App:
    settings = settings or Settings()
    engine = make_engine(settings.database_url, pool_size=settings.db_pool_size)
    bus = MessageBus(lambda: SqlUnitOfWork(engine), retry_reason=retry_reason,
                     setup=money_setup(settings), shipping=shipping_setup(settings),
                     webhooks=webhook_setup(settings), notify=notify_setup(settings),
                     streams=StreamSetup(publisher_for(settings.event_stream_url)
                                         if settings.event_stream_url else None))
    return App(settings, engine, bus)


def money_setup(settings: Settings, gateways: dict[str, PaymentGateway] | None = None) -> MoneySetup:
    """The gateways by name (the test gateway when enabled; Stripe when a key is set) and the
    seller named on invoices."""
    if gateways is None:
        gateways = {}
        if settings.test_gateway_enabled:
            gateways["test"] = make_test_gateway(settings)
        if settings.stripe_api_key:
            from ordermesh.adapters.payments.stripe_gateway import StripeGateway

            gateways["stripe"] = StripeGateway(settings.stripe_api_key,
                                               settings.stripe_webhook_secret,
                                               api_base=settings.stripe_api_base,
                                               multicapture=settings.stripe_multicapture)
    address = {"line1": settings.retailer_address or None,
               "country": settings.retailer_country or None}
    seller = Party(settings.retailer_name, address, tax_id=settings.retailer_tax_id or None)
    return MoneySetup(gateways, seller, settings.invoice_payment_terms)


def shipping_setup(settings: Settings) -> ShippingSetup:
    """The carriers by name: the courier simulator when enabled; EasyPost when a key is set."""
    carriers: dict[str, Carrier] = {}
    if settings.courier_enabled:
        carriers["courier"] = Courier(CourierSettings(
            database_url=settings.courier_url or beside(settings.database_url, "courier"),
            webhook_secret=settings.courier_webhook_secret, webhooks=settings.courier_webhooks))
    if settings.easypost_api_key:
        from ordermesh.adapters.carriers.easypost_carrier import EasyPostCarrier

        carriers["easypost"] = EasyPostCarrier(settings.easypost_api_key,
                                               settings.easypost_webhook_secret,
                                               timeout=settings.easypost_timeout_seconds)
    return ShippingSetup(carriers)


def webhook_setup(settings: Settings) -> WebhookSetup:
    return WebhookSetup(WebhookSender(settings.webhook_allow_private,
                                      settings.webhook_timeout_seconds),
                        new_secret, settings.webhook_disable_after,
                        timedelta(seconds=settings.worker_lease_seconds))


def notify_setup(settings: Settings) -> NotifySetup:
    """Customer mail over SMTP when a host is set, else into the local mailbox folder."""
    sender: NotificationSender = (
        SmtpSender(settings.smtp_host, settings.smtp_port, settings.smtp_username,
                   settings.smtp_password, settings.smtp_starttls,
                   settings.smtp_timeout_seconds)
        if settings.smtp_host else MailboxSender(settings.mailbox_dir))
    branding = Branding(settings.retailer_name, settings.mail_from, settings.mail_brand_colour)
    return NotifySetup(EmailNotifier(sender, branding, settings.mail_default_locale),
                       settings.public_url, timedelta(seconds=settings.worker_lease_seconds))


def beside(main: str, name: str) -> str:
    """A SQLite file of a simulator's own, beside a SQLite database (x.db -> x-name.db)."""
    if main.startswith("sqlite:///") and main.endswith(".db"):
        return main.removesuffix(".db") + f"-{name}.db"
    return f"sqlite:///ordermesh-{name}.db"


def make_test_gateway(settings: Settings) -> TestGateway:
    url = settings.test_gateway_url or beside(settings.database_url, "test-gateway")
    return TestGateway(TestGatewaySettings(
        database_url=url,
        webhook_secret=settings.test_gateway_webhook_secret,
        fee_percent=settings.test_gateway_fee_percent, fee_fixed=settings.test_gateway_fee_fixed,
        authorization_days=settings.test_gateway_authorization_days,
        settlement_days=settings.test_gateway_settlement_days))
