"""Settings from the environment (ORDERMESH_*). Nothing connects when this is imported."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated
from urllib.parse import urlsplit

import limits
from pydantic import AfterValidator, Field, NonNegativeInt, PositiveFloat, PositiveInt
from pydantic_settings import BaseSettings, SettingsConfigDict


def _rate_limit(value: str) -> str:
    """A rate limit as the `limits` library reads it: "10/minute", "600 per minute"."""
    try:
        limits.parse(value)
    except ValueError as exc:
        raise ValueError(f"not a rate limit like '10/minute': {value!r}") from exc
    return value


def _rate_limit_storage(value: str) -> str:
    """Counts in this process (memory://) or in Redis, shared by every process."""
    if urlsplit(value).scheme not in ("memory", "redis", "rediss", "redis+unix"):
        raise ValueError("rate limits are counted in memory:// or redis://host:6379/0")
    return value


RateLimit = Annotated[str, AfterValidator(_rate_limit)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ORDERMESH_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///ordermesh.db"
    db_pool_size: int = 10
    log_level: str = "INFO"
    log_json: bool = False  # one JSON object per log line (with request and order ids)
    public_url: str = "http://127.0.0.1:8000"  # where customers reach Ordermesh (/track/...)
    # The operator console (/console): how long a sign-in lasts, and whether its cookie is
    # marked Secure (browsers keep Secure cookies on https and on http://127.0.0.1/localhost).
    console_session_hours: PositiveInt = 8
    console_secure_cookies: bool = True
    # The event stream: nats://host:4222[/prefix] or redis://host:6379/0; empty: none.
    event_stream_url: str = ""
    # Customer mail: over SMTP when a host is set, else kept in a local mailbox folder.
    mail_from: str = "orders@ordermesh.example"
    mail_brand_colour: str = "#1d4ed8"
    mail_default_locale: str = "en_GB"
    smtp_host: str = ""
    smtp_port: PositiveInt = 587
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = True
    smtp_timeout_seconds: PositiveFloat = 10.0
    mailbox_dir: str = "var/mailbox"
    page_size_max: int = 200
    retailer_name: str = "Ordermesh retailer"  # the buyer on purchase orders, seller on invoices
    retailer_address: str = ""  # one line, as printed on invoices
    retailer_country: str = ""
    retailer_tax_id: str = ""  # e.g. a VAT number, printed on invoices
    invoice_payment_terms: str = "Due on receipt"
    # The built-in test payment gateway: its own books, in its own database. Empty: a SQLite
    # file beside a SQLite database (x.db -> x-test-gateway.db), else ordermesh-test-gateway.db.
    test_gateway_enabled: bool = False  # `make run` turns it on for the demo
    test_gateway_url: str = ""
    test_gateway_webhook_secret: str = ""  # empty: made at random by the gateway and kept
    test_gateway_fee_percent: Decimal = Decimal("0.029")
    test_gateway_fee_fixed: NonNegativeInt = 30
    test_gateway_authorization_days: PositiveInt = 7
    test_gateway_settlement_days: NonNegativeInt = 2
    # Stripe, when a key is set (docs/payments-stripe.md).
    stripe_api_key: str = ""
    stripe_webhook_secret: str = ""
    stripe_api_base: str | None = None
    stripe_multicapture: bool = True  # ask for several captures per authorization
    # The built-in `courier` carrier simulator, in its own database like the test gateway
    # (x.db -> x-courier.db). With webhooks off, the worker polls it instead.
    courier_enabled: bool = False  # `make run` turns it on for the demo
    courier_url: str = ""
    courier_webhook_secret: str = ""
    courier_webhooks: bool = True
    # EasyPost, when a key is set (docs/carriers-easypost.md).
    easypost_api_key: str = ""
    easypost_webhook_secret: str = ""
    easypost_timeout_seconds: PositiveInt = 30
    # Webhooks: outbound URLs reach public addresses only, unless private ones are allowed
    # (a demo or a test receiver on this machine); a subscription is disabled after this many
    # deliveries in a row failed after every retry.
    webhook_allow_private: bool = False
    webhook_disable_after: PositiveInt = 5
    webhook_timeout_seconds: PositiveFloat = 10.0
    # Three-way match of supplier bills: how far a billed unit price may exceed the purchase
    # order's (in per cent, or in minor units, whichever allows more) and still match.
    bill_price_tolerance_percent: Annotated[Decimal, Field(ge=0, le=100)] = Decimal("0")
    bill_price_tolerance_minor: NonNegativeInt = 0
    # Money jobs of the worker.
    worker_payment_jobs_seconds: PositiveFloat = 30.0
    worker_import_payouts_seconds: PositiveFloat = 3600.0
    # The worker's timed jobs (`ordermesh worker`, or `ordermesh serve --with-worker`).
    worker_expire_cart_holds_seconds: PositiveFloat = 30.0
    worker_batch_size: PositiveInt = 200  # rows per transaction in a job
    # Shipping jobs: carrier polling and webhooks of the courier simulator, waves released,
    # pickups not collected in time.
    worker_shipping_jobs_seconds: PositiveFloat = 60.0
    worker_release_waves: bool = True  # False: waves are released through the API only
    # The outbox relay and the webhook senders.
    worker_relay_seconds: PositiveFloat = 2.0
    # How long a sender holds the webhooks and mails it took: one that dies leaves them to the
    # next after this (longer than a send may take).
    worker_lease_seconds: PositiveFloat = 60.0
    # The jeopardy check: orders at risk of missing a stage's SLA flagged (docs/jeopardy.md).
    worker_jeopardy_seconds: PositiveFloat = 60.0
    # Rate limits (docs/security.md): counted in this process's memory, or in Redis
    # (redis://host:6379/0) so that several API processes share their counts.
    rate_limit_enabled: bool = True
    rate_limit_storage: Annotated[str, AfterValidator(_rate_limit_storage)] = "memory://"
    rate_limit_sign_in: RateLimit = "10/minute"  # console sign-in attempts per email and address
    rate_limit_sign_in_per_address: RateLimit = "30/minute"  # ... per address, any email
    rate_limit_unknown_keys: RateLimit = "60/minute"  # API requests with an unknown key, per address
    rate_limit_orders: RateLimit = "600/minute"  # orders placed per API key
