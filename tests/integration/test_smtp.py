"""Mail leaves through a real SMTP server: aiosmtpd's, on a free local port, started by its
Controller. What it received is parsed with the standard library's e-mail parser. STARTTLS and
login run against the same server with a certificate made here by `openssl`. The demo's
mailbox keeps one .eml file per Message-ID."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from ordermesh.adapters.notify.email import Branding, MailboxSender, SmtpSender, compose
from ordermesh.domain.notifications import NotificationFailed, NotificationRejected

BRAND = Branding("Acme Outdoor", "orders@acme.example", "#1d4ed8", "The Acme team")
TRACKING = "https://track.example/JD014600006281"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Inbox:
    """An aiosmtpd handler: keeps each envelope; some domains refuse, for the error tests."""

    received: list[tuple[str, list[str], EmailMessage]] = field(default_factory=list)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if address.endswith("@nowhere.example"):
            return "550 5.1.1 No such user here"
        if address.endswith("@busy.example"):
            return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = BytesParser(policy=policy.default).parsebytes(envelope.original_content)
        assert isinstance(parsed, EmailMessage)
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), parsed))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def context(kind: str, **extra: Any) -> dict[str, Any]:
    return {"event_id": f"evt-{kind}", "to": "ann@example.com", "customer_name": "Ann Lee",
            "order_number": "OM-000123", "currency": "EUR", "total": 123450,
            "lines": [{"name": "Tent 2p", "quantity": 1, "unit_price": 123450}],
            "carrier": "DHL", "tracking_numbers": ["JD014600006281"], "tracking_url": TRACKING,
            "pickup_code": "K7Q2P9", "location_name": "Acme Utrecht", **extra}


def body(message: EmailMessage, kind: str) -> str:
    part = message.get_body((kind,))
    assert part is not None
    return str(part.get_content())


def test_mails_are_sent_through_a_real_smtp_server(smtp_server: tuple[Inbox, int]) -> None:
    inbox, port = smtp_server
    sender = SmtpSender("127.0.0.1", port, timeout=5)
    dispatched = compose("dispatched", context("dispatched"), BRAND, "en_GB")
    pickup = compose("ready_for_pickup", context("ready_for_pickup"), BRAND, "nl_NL")
    sender.send(dispatched)
    sender.send(pickup)

    assert [(mail_from, rcpt) for mail_from, rcpt, _ in inbox.received] == [
        ("orders@acme.example", ["ann@example.com"])] * 2
    first, second = (message for _, _, message in inbox.received)
    assert first["Subject"] == "Your order OM-000123 is on its way"
    assert first["To"] == "Ann Lee <ann@example.com>"
    assert first["Message-ID"] == "<evt-dispatched.dispatched@acme.example>"
    assert first.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in first.iter_parts()] == ["text/plain", "text/html"]
    assert TRACKING in body(first, "plain") and f'href="{TRACKING}"' in body(first, "html")
    assert "€1,234.50" not in body(first, "plain")  # a dispatch mail lists no prices
    assert second["Subject"] == "Je bestelling OM-000123 ligt klaar om op te halen"
    assert "Ophaalcode: K7Q2P9" in body(second, "plain") and "K7Q2P9" in body(second, "html")
    assert 'lang="nl-NL"' in body(second, "html")


def test_refused_recipients_are_permanent_and_busy_servers_temporary(
        smtp_server: tuple[Inbox, int]) -> None:
    inbox, port = smtp_server
    sender = SmtpSender("127.0.0.1", port, timeout=5)
    with pytest.raises(NotificationRejected, match="550"):
        sender.send(compose("delivered", context("delivered", to="x@nowhere.example"), BRAND))
    with pytest.raises(NotificationFailed, match="451"):
        sender.send(compose("delivered", context("delivered", to="x@busy.example"), BRAND))
    assert inbox.received == []


def test_no_server_is_a_temporary_failure() -> None:
    sender = SmtpSender("127.0.0.1", free_port(), timeout=2)
    with pytest.raises(NotificationFailed, match="SMTP server"):
        sender.send(compose("delivered", context("delivered"), BRAND))


def test_starttls_without_support_on_the_server_fails_rather_than_send_in_clear(
        smtp_server: tuple[Inbox, int]) -> None:
    inbox, port = smtp_server
    with pytest.raises(NotificationFailed):
        SmtpSender("127.0.0.1", port, starttls=True, timeout=5).send(
            compose("delivered", context("delivered"), BRAND))
    assert inbox.received == []


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: no certificate for the STARTTLS server")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return cert, key


def test_starttls_and_login(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    logins: list[tuple[bytes, bytes]] = []

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str,
                     data: Any) -> AuthResult:
        assert isinstance(data, LoginPassword)
        logins.append((data.login, data.password))
        ok = (data.login, data.password) == (b"mailer", b"s3cret")
        return AuthResult(success=ok, handled=False)

    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, tls_context=server_tls,
                            require_starttls=True, authenticator=authenticate,
                            auth_required=True)
    controller.start()
    try:
        client_tls = ssl.create_default_context(cafile=str(cert))
        SmtpSender("127.0.0.1", port, "mailer", "s3cret", starttls=True, timeout=5,
                   ssl_context=client_tls).send(compose("delivered", context("delivered"), BRAND))
        with pytest.raises(NotificationFailed, match="login"):
            SmtpSender("127.0.0.1", port, "mailer", "wrong", starttls=True, timeout=5,
                       ssl_context=client_tls).send(
                compose("delivered", context("delivered"), BRAND))
        with pytest.raises(NotificationFailed):  # the server's certificate is not trusted
            SmtpSender("127.0.0.1", port, "mailer", "s3cret", starttls=True, timeout=5).send(
                compose("delivered", context("delivered"), BRAND))
    finally:
        controller.stop()
    # smtplib tries each mechanism the server offers (PLAIN, then LOGIN) before giving up
    assert logins[0] == (b"mailer", b"s3cret") and set(logins[1:]) == {(b"mailer", b"wrong")}
    assert len(inbox.received) == 1
    assert inbox.received[0][2]["Subject"] == "Your order OM-000123 has been delivered"


# -- the demo's mailbox --------------------------------------------------------------------------


def test_the_mailbox_keeps_one_file_per_message_id(tmp_path: Path) -> None:
    mailbox = MailboxSender(tmp_path / "mailbox")
    assert mailbox.messages() == []
    first = compose("dispatched", context("dispatched"), BRAND, "en_GB",
                    now=datetime(2026, 3, 1, tzinfo=UTC))
    mailbox.send(first)
    mailbox.send(compose("dispatched", context("dispatched"), BRAND, "en_GB"))  # a resend
    mailbox.send(compose("ready_for_pickup", context("ready_for_pickup"), BRAND, "de_DE"))

    files = sorted(p.name for p in (tmp_path / "mailbox").iterdir())
    assert files == ["evt-dispatched.dispatched@acme.example.eml",
                     "evt-ready_for_pickup.ready_for_pickup@acme.example.eml"]
    kept = BytesParser(policy=policy.default).parsebytes(
        (tmp_path / "mailbox" / files[0]).read_bytes())
    assert kept["Message-ID"] == first["Message-ID"]
    assert TRACKING in body(kept, "plain")
    subjects = sorted(str(m["Subject"]) for m in mailbox.messages())
    assert subjects == ["Ihre Bestellung OM-000123 liegt zur Abholung bereit",
                        "Your order OM-000123 is on its way"]


def test_the_mailbox_names_files_safely_and_needs_a_message_id(tmp_path: Path) -> None:
    mailbox = MailboxSender(tmp_path)
    assert mailbox.path_for("<../../etc/passwd@x>").parent == tmp_path
    assert mailbox.path_for("<../../etc/passwd@x>").name == "_.._etc_passwd@x.eml"
    message = compose("delivered", context("delivered"), BRAND)
    del message["Message-ID"]
    with pytest.raises(ValueError, match="Message-ID"):
        mailbox.send(message)


def test_a_mailbox_that_cannot_be_written_is_a_temporary_failure(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(NotificationFailed, match="mailbox"):
        MailboxSender(blocker).send(compose("delivered", context("delivered"), BRAND))
