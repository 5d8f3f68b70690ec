"""Integrations: webhook subscriptions, their delivery log with replay, the demo mailbox.

Operators read; only an admin changes a subscription (as only an admin key may in the API).
The mailbox is the folder MailboxSender keeps the customer mail in (one `<Message-ID>.eml`
each): a mail is opened only by a name found in that folder's listing, never by a path built
from what the browser sent. Its HTML part is someone else's markup, so it is never put into a
console page: it is served alone, sandboxed (`Content-Security-Policy: sandbox`, no script,
nothing from elsewhere), for an `<iframe sandbox>` of the mail's page.
"""

from __future__ import annotations

import re
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Request
from fastapi import Path as InPath
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ordermesh.adapters.db import console_ops_queries as ops
from ordermesh.adapters.db import webhook_queries as wq
from ordermesh.domain.errors import NotFound
from ordermesh.entrypoints.api.deps import Bus, Db, read_connection
from ordermesh.entrypoints.api.routers.webhooks import SubscriptionIn
from ordermesh.entrypoints.console.rendering import SEQ_MAX, act, page
from ordermesh.entrypoints.console.session import Forbidden, User, need
from ordermesh.services import commands as c

router = APIRouter(prefix="/console", include_in_schema=False)

Ops = Annotated[User, need("integrations")]
MAILS_SHOWN = 200
# The mail's own markup, alone: no script, no plugin, nothing fetched, framed by us only.
SANDBOX = {"Content-Security-Policy": "sandbox; default-src 'none'; img-src data:; "
                                      "style-src 'unsafe-inline'; frame-ancestors 'self'",
           "X-Frame-Options": "SAMEORIGIN"}


def _admin_only(user: Ops) -> User:
    """Refused before the form is even read, as `need` refuses a role."""
    if user.role != "admin":
        raise Forbidden("only an admin changes webhook subscriptions")
    return user


Admin = Annotated[User, Depends(_admin_only)]


def _subscription(db: Db, subscription_id: str) -> dict[str, Any]:
    with read_connection(db) as conn:
        found = wq.subscriptions(conn, subscription_id)
    if not found:
        raise NotFound(f"webhook subscription {subscription_id!r} not found")
    return found[0]


@router.get("/integrations", response_class=HTMLResponse)
def integrations(request: Request, db: Db, user: Ops) -> HTMLResponse:
    with read_connection(db) as conn:
        subscriptions = wq.subscriptions(conn)
    return page(request, user, "integrations_list.html", subscriptions=subscriptions,
                mails=len(_mail_files(_folder(request))))


@router.post("/integrations/webhooks", response_model=None)
def create(request: Request, bus: Bus, db: Db, user: Admin,
           url: Annotated[str, Form(max_length=2000)],
           event_types: Annotated[str, Form(max_length=2000)],
           description: Annotated[str, Form(max_length=200)] = "") -> Response:
    """Subscribe a URL; the signing secret is on the answering page, and never again."""
    made: dict[str, Any] = {}

    def subscribe() -> None:
        body = SubscriptionIn(url=url, description=description.strip() or None,
                              event_types=[e for e in re.split(r"[\s,]+", event_types) if e])
        made.update(bus.handle(c.CreateWebhookSubscription(
            user.actor, body.url, tuple(body.event_types), body.description)))

    refused = act("/console/integrations", "", subscribe)
    if not made:
        return refused
    return page(request, user, "integrations_created.html", status_code=201,
                subscription=_subscription(db, made["id"]), secret=made["secret"])


@router.get("/integrations/webhooks/{subscription_id}", response_class=HTMLResponse)
def deliveries(request: Request, db: Db, user: Ops, subscription_id: str,
               status: Literal["", "pending", "delivered", "failed"] = "") -> HTMLResponse:
    """The delivery log, newest first: each delivery with its last attempt."""
    subscription = _subscription(db, subscription_id)
    with read_connection(db) as conn:
        log = wq.deliveries(conn, subscription_id, status or None, 100)
    return page(request, user, "integrations_deliveries.html", subscription=subscription,
                log=log, status=status)


@router.post("/integrations/webhooks/{subscription_id}/active")
def switch(bus: Bus, db: Db, user: Admin, subscription_id: str,
           active: Annotated[Literal["true", "false"], Form()]) -> RedirectResponse:
    """Switch deliveries off, or on again (with no failures counted)."""
    _subscription(db, subscription_id)
    on = active == "true"
    return act(f"/console/integrations/webhooks/{subscription_id}",
               "Switched on." if on else "Switched off.",
               lambda: bus.handle(c.UpdateWebhookSubscription(
                   user.actor, subscription_id, {"active": on})))


@router.post("/integrations/webhooks/{subscription_id}/deliveries/{delivery_id}/replay")
def replay(bus: Bus, db: Db, user: Admin, subscription_id: str,
           delivery_id: Annotated[int, InPath(ge=1, le=SEQ_MAX)]) -> RedirectResponse:
    with read_connection(db) as conn:
        owner = ops.delivery_subscription(conn, delivery_id)
    if owner != subscription_id:
        raise NotFound(f"delivery {delivery_id} of this subscription not found")
    return act(f"/console/integrations/webhooks/{subscription_id}",
               f"Delivery {delivery_id} is sent again shortly.",
               lambda: bus.handle(c.ReplayWebhookDelivery(user.actor, delivery_id)))


# -- the demo mailbox ------------------------------------------------------------------------


def _folder(request: Request) -> Path:
    return Path(request.app.state.ordermesh.settings.mailbox_dir)


def _mail_files(folder: Path) -> list[Path]:
    """The kept mails, newest first (MailboxSender writes each whole, then renames it)."""
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir()
             if p.suffix == ".eml" and p.is_file() and not p.is_symlink()]
    return sorted(found, key=lambda p: (p.stat().st_mtime, p.name), reverse=True)


def _read(path: Path, headers_only: bool = False) -> EmailMessage:
    parsed = BytesParser(policy=policy.default).parsebytes(path.read_bytes(),
                                                           headersonly=headers_only)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _summary(path: Path) -> dict[str, Any]:
    mail = _read(path, headers_only=True)
    try:
        sent = parsedate_to_datetime(str(mail["Date"])) if mail["Date"] else None
    except (TypeError, ValueError):
        sent = None
    return {"name": path.name, "subject": str(mail["Subject"] or "(no subject)"),
            "to": str(mail["To"] or ""), "sent": sent, "kind": str(mail["X-Ordermesh-Kind"] or "")}


def _mail(request: Request, name: str) -> tuple[dict[str, Any], EmailMessage]:
    """The mail of this name, if the mailbox folder lists one by it."""
    path = next((p for p in _mail_files(_folder(request)) if p.name == name), None)
    if path is None:
        raise NotFound("no mail of that name in the mailbox")
    return _summary(path), _read(path)


@router.get("/integrations/mailbox", response_class=HTMLResponse)
def mailbox(request: Request, user: Ops) -> HTMLResponse:
    files = _mail_files(_folder(request))
    return page(request, user, "integrations_mailbox.html",
                mails=[_summary(p) for p in files[:MAILS_SHOWN]], total=len(files))


@router.get("/integrations/mailbox/{name}", response_class=HTMLResponse)
def mail(request: Request, user: Ops, name: str) -> HTMLResponse:
    summary, message = _mail(request, name)
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    return page(request, user, "integrations_mail.html", mail=summary, text=_text_of(text),
                has_html=html is not None)


def _text_of(part: object) -> str:
    """A text part as text; a part in a charset Python does not know, as its bytes allow."""
    if not isinstance(part, EmailMessage):
        return ""
    try:
        return str(part.get_content())
    except (LookupError, ValueError):
        raw = part.get_payload(decode=True)
        return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else ""


@router.get("/integrations/mailbox/{name}/html")
def mail_html(request: Request, user: Ops, name: str) -> Response:
    _, message = _mail(request, name)
    html = message.get_body(("html",))
    if not isinstance(html, EmailMessage):
        raise NotFound("this mail has no HTML part")
    return Response(_text_of(html), media_type="text/html; charset=utf-8", headers=SANDBOX)
