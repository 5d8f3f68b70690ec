"""Rate limits on the doors people try to force: console sign-in attempts (per email and client
address, and per address whatever the email), API requests with an unknown key (per address)
and orders placed (per API key).

The counting is the `limits` library's moving window, kept in this process's memory, or in
Redis when ORDERMESH_RATE_LIMIT_STORAGE is a redis:// URL, so that every API process behind a
load balancer counts against the same budget. The hooks are small on purpose: `get_principal`
calls `refuse_unknown_key`, the order create route `limit_orders`, and the console's sign-in
`sign_in_wait` before it checks a password (so refused attempts cost no password hashing).

If the storage does not answer (Redis down), requests go through and a warning is logged: a
broken counter must not take the shop down with it.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any
from urllib.parse import urlsplit

from fastapi import HTTPException, Request
from limits import RateLimitItem, parse
from limits.errors import StorageError
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from ordermesh.config import Settings

log = logging.getLogger("ordermesh.api")

# A Redis that hangs must not hold requests up for long: the counter then gives way.
REDIS_OPTIONS: dict[str, Any] = {"socket_connect_timeout": 1.0, "socket_timeout": 1.0}
_made = threading.Lock()


class RateLimits:
    """One application's limits and their counter."""

    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.rate_limit_enabled
        storage = settings.rate_limit_storage
        options = REDIS_OPTIONS if urlsplit(storage).scheme.startswith("redis") else {}
        self.limiter = MovingWindowRateLimiter(
            storage_from_string(storage, wrap_exceptions=True, **options))
        self.sign_in = parse(settings.rate_limit_sign_in)
        self.sign_in_per_address = parse(settings.rate_limit_sign_in_per_address)
        self.unknown_keys = parse(settings.rate_limit_unknown_keys)
        self.orders = parse(settings.rate_limit_orders)

    def wait(self, limit: RateLimitItem, *who: str) -> int | None:
        """Count one attempt: None while it is within the limit, else how many seconds until
        the oldest attempt in the window leaves it (at least 1)."""
        if not self.enabled:
            return None
        try:
            if self.limiter.hit(limit, *who):
                return None
            reset_at = self.limiter.get_window_stats(limit, *who).reset_time
        except StorageError as exc:
            log.warning("rate limits not counted, the counter does not answer: %s", exc)
            return None
        log.warning("rate limit %s reached: %s", limit, " ".join(who[:2]))  # never an email
        return min(max(1, math.ceil(reset_at - time.time())), limit.get_expiry())


def rate_limits(request: Request) -> RateLimits:
    """The application's limits, made from its settings on first use."""
    state = request.app.state
    found: RateLimits | None = getattr(state, "rate_limits", None)
    if found is None:
        with _made:
            found = getattr(state, "rate_limits", None)
            if found is None:
                found = state.rate_limits = RateLimits(state.ordermesh.settings)
    return found


def client_address(request: Request) -> str:
    """The client's address as the server sees it (behind a proxy: run uvicorn with
    --proxy-headers and --forwarded-allow-ips so that it is the client's, not the proxy's)."""
    return request.client.host if request.client else "unknown"


class TooManyRequests(HTTPException):
    """429, answered as problem+json with Retry-After by the API's error handler."""

    def __init__(self, what: str, wait: int) -> None:
        super().__init__(429, f"Too many {what}: try again in {wait} s",
                         headers={"Retry-After": str(wait)})


def refuse_unknown_key(request: Request) -> None:
    """Count a request with a key nobody holds; 429 instead of 401 once its address sent too
    many. A valid key is never counted or refused: a till that shares its address with a
    misconfigured one keeps working."""
    limits = rate_limits(request)
    wait = limits.wait(limits.unknown_keys, "unknown-key", client_address(request))
    if wait is not None:
        raise TooManyRequests("requests with an unknown API key", wait)


def limit_orders(request: Request, key_id: str) -> None:
    """Count an order placed with this key; 429 once the key placed too many in the window."""
    limits = rate_limits(request)
    wait = limits.wait(limits.orders, "orders", key_id)
    if wait is not None:
        raise TooManyRequests("orders placed with this API key", wait)


def sign_in_wait(request: Request, email: str) -> int | None:
    """Count a console sign-in attempt, before the password is checked: None if it may go on,
    else the seconds to wait. Limited per email and address, and per address (one address
    trying many emails)."""
    limits = rate_limits(request)
    address = client_address(request)
    return (limits.wait(limits.sign_in_per_address, "sign-in", address)
            or limits.wait(limits.sign_in, "sign-in", address, email.strip().casefold()))
