"""Pages: the templates, the navigation, and the short notice a page shows after an action.

An action (a POST) answers with a redirect to the page it came from (post/redirect/get), and
leaves its outcome in a short-lived HTTP-only cookie that the next page shows and clears —
so a link cannot make the console say something it did not do.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, unquote

from fastapi import Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from ordermesh import __version__
from ordermesh.adapters.notify.email import format_money
from ordermesh.domain.errors import DomainError
from ordermesh.entrypoints.console.session import CSRF_FIELD, User

HERE = Path(__file__).parent
NOTICE = "om_notice"
SEQ_MAX = 2**63 - 1  # ids and sequences are 64-bit integers in both databases
# "older than this row": a page's keyset cursor, refused (422) beyond what a row id can be
Before = Annotated[int | None, Query(ge=1, le=SEQ_MAX)]

# (label, path, permission): the navigation, in the order it is shown
NAV = (
    ("Dashboard", "/console", "dashboard"),
    ("Orders", "/console/orders", "orders.view"),
    ("New order", "/console/orders/new", "orders.place"),
    ("Inventory", "/console/inventory", "inventory.view"),
    ("Purchasing", "/console/purchasing", "purchasing"),
    ("Fulfilment", "/console/fulfilment", "fulfilment"),
    ("Analytics", "/console/analytics", "analytics"),
    ("Integrations", "/console/integrations", "integrations"),
    ("Settings", "/console/settings", "settings"),
    ("Audit log", "/console/audit", "audit"),
)


def money(minor: int | None, currency: str | None) -> str:
    if minor is None or not currency:
        return "—"
    return format_money(int(minor), currency, "en_GB")


def when(value: datetime | date | str | None) -> str:
    """A moment as the console writes it: UTC, to the minute."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    return value.isoformat()


templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.filters["money"] = money
templates.env.filters["when"] = when
templates.env.globals["version"] = __version__
templates.env.globals["csrf_field"] = CSRF_FIELD


def page(request: Request, user: User | None, template: str, status_code: int = 200,
         **context: Any) -> HTMLResponse:
    """Render a page for the user, with the navigation they may use and any notice left by
    the action before it."""
    notice = _read_notice(request)
    nav = [(label, path) for label, path, what in NAV if user is not None and user.may(what)]
    response = templates.TemplateResponse(request, template, {
        "user": user, "nav": nav, "notice": notice, "path": request.url.path, **context},
        status_code=status_code)
    if notice is not None:
        response.delete_cookie(NOTICE, path="/console")
    return response


def _read_notice(request: Request) -> dict[str, str] | None:
    raw = request.cookies.get(NOTICE)
    if not raw or "|" not in unquote(raw):
        return None
    kind, _, text = unquote(raw).partition("|")
    return {"kind": "error" if kind == "error" else "ok", "text": text[:500]}


def redirect(url: str, notice: str | None = None, error: bool = False) -> RedirectResponse:
    """See other: back to a page, with a notice for it to show."""
    response = RedirectResponse(url, status_code=303)
    if notice:
        value = quote(f"{'error' if error else 'ok'}|{notice[:500]}")
        response.set_cookie(NOTICE, value, max_age=60, path="/console", httponly=True,
                            samesite="lax")
    return response


def act(back: str, done: str, action: Callable[[], object]) -> RedirectResponse:
    """Run an action; back to `back` saying `done`, or what refused it. A refused action
    changed nothing (each command is one transaction)."""
    try:
        action()
    except DomainError as exc:
        return redirect(back, exc.detail, error=True)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return redirect(back, problems or "the form is not filled in right", error=True)
    return redirect(back, done)
