"""Sending webhooks over HTTP: signed per Standard Webhooks (the `standardwebhooks` library:
`webhook-id`, `webhook-timestamp`, `webhook-signature`, HMAC-SHA256 with the subscription's
`whsec_` secret), to public addresses only unless private ones are allowed (an outbound URL
must not reach into the network Ordermesh runs in), without following redirects.

The name is checked when a subscription is made and before each send, and the connection
itself resolves it once more and goes to the very address it checked: a name that answers a
public address to the check and a private one a moment later (DNS rebinding) is not reached."""

from __future__ import annotations

import base64
import secrets
import socket
import time
from collections.abc import Iterable
from datetime import datetime
from urllib.parse import urlsplit

import httpcore
import httpx
from standardwebhooks.webhooks import Webhook

from ordermesh.adapters.metrics import WEBHOOK_FAILURES
from ordermesh.domain.errors import InvalidInput
from ordermesh.domain.webhooks import Sent, is_public


def new_secret() -> str:
    """A `whsec_` secret of 24 random bytes, as Standard Webhooks libraries expect."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


class NotPublic(Exception):
    """A host name that does not resolve, or resolves to an address that is not public."""


def public_addresses(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to, every one of them public, or NotPublic."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError) as exc:
        raise NotPublic(f"the webhook host {host!r} does not resolve") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
    if not addresses or not all(is_public(a) for a in addresses):
        raise NotPublic(f"the webhook host {host!r} is not on the public internet")
    return addresses


class PublicOnly(httpcore.SyncBackend):
    """Opens the HTTP client's connections: resolves the host itself and connects to an address
    it has just found public, so no second lookup can lead elsewhere. TLS still names the host
    (the client passes it as the server name), and `Host` is the URL's."""

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None
                    ) -> httpcore.NetworkStream:
        try:
            addresses = public_addresses(host, port)
        except NotPublic as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        failure: Exception | None = None
        for address in addresses:
            try:
                return super().connect_tcp(address, port, timeout, local_address,
                                           socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure


def public_only_client(timeout: float) -> httpx.Client:
    """An HTTP client whose direct connections go to public addresses only (`PublicOnly`),
    not following redirects. A proxy set in the environment (HTTPS_PROXY, NO_PROXY) is the
    operator's: httpx routes through it as usual, and the guard sees the rest."""
    client = httpx.Client(timeout=timeout, follow_redirects=False)
    # httpx takes no network backend of its own, the pool of its direct transport does (kept
    # beside the proxies' transports; tests prove both are used)
    client._transport._pool._network_backend = PublicOnly()  # type: ignore[attr-defined]
    return client


class WebhookSender:
    def __init__(self, allow_private: bool = False, timeout: float = 10.0) -> None:
        self.allow_private = allow_private
        self.timeout = timeout
        # one client for every send (making one costs an SSL context): safe across threads
        self.client = (httpx.Client(timeout=timeout, follow_redirects=False) if allow_private
                       else public_only_client(timeout))

    def check_url(self, url: str) -> None:
        """Refuse a URL that is not http(s), or whose host resolves to an address that is not
        public (unless private addresses are allowed)."""
        if any(ord(ch) < 33 or ord(ch) == 127 for ch in url):
            raise InvalidInput("a webhook URL has no spaces or control characters", field="url")
        try:
            httpx.URL(url)  # what the client will make of it
        except (httpx.InvalidURL, ValueError) as exc:
            raise InvalidInput(f"not a URL: {exc}", field="url") from exc
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise InvalidInput("a webhook URL is an http or https URL with a host", field="url")
        if parts.username or parts.password:
            raise InvalidInput("a webhook URL carries no credentials", field="url")
        if self.allow_private:
            return
        try:
            public_addresses(parts.hostname, parts.port or
                             (443 if parts.scheme == "https" else 80))
        except (NotPublic, ValueError) as exc:
            raise InvalidInput(str(exc), field="url") from exc

    def send(self, url: str, secret: str, message_id: str, body: str,
             timestamp: datetime) -> Sent:
        """POST one signed message; the answer, or why there was none (never raises)."""
        sent = self._send(url, secret, message_id, body, timestamp)
        if not sent.ok:
            WEBHOOK_FAILURES.labels(reason="no_answer" if sent.status_code is None
                                    else f"http_{sent.status_code // 100}xx").inc()
        return sent

    def _send(self, url: str, secret: str, message_id: str, body: str,
              timestamp: datetime) -> Sent:
        started = time.perf_counter()
        try:
            self.check_url(url)  # again at sending: names may resolve elsewhere by now
        except InvalidInput as exc:
            return Sent(None, 0, str(exc.detail))
        headers = {"content-type": "application/json", "user-agent": "Ordermesh-Webhooks/1",
                   "webhook-id": message_id,
                   "webhook-timestamp": str(int(timestamp.timestamp())),
                   "webhook-signature": Webhook(secret).sign(message_id, timestamp, body)}
        try:
            answer = self.client.post(url, content=body.encode(), headers=headers)
        except Exception as exc:  # any failure is this attempt's: a timeout, a refused
            # connection, a URL the client will not take
            return Sent(None, _ms(started), f"{type(exc).__name__}: {exc}"[:500])
        error = None if 200 <= answer.status_code < 300 else f"HTTP {answer.status_code}"
        return Sent(answer.status_code, _ms(started), error)


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
