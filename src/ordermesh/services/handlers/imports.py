"""Order imports from marketplaces and webshops (docs/imports.md): each order of a batch is
placed by the order capture handler, in its own transaction, once per channel and external
reference."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from ordermesh.domain.errors import ConcurrentUpdate, DomainError, DuplicateOrder, InvalidInput
from ordermesh.domain.orders import format_order_number
from ordermesh.services import commands as c
from ordermesh.services import import_commands as ic
from ordermesh.services.handlers import orders
from ordermesh.services.handlers.payments import MoneySetup
from ordermesh.services.ports import UnitOfWork

Outcome = Literal["created", "duplicate", "refused"]
ATTEMPTS = 6  # tries of one order that met a concurrent change (a twin import, say)


@dataclass(frozen=True)
class ImportResult:
    """What became of one order of the batch."""

    index: int
    external_reference: str | None
    outcome: Outcome
    order_id: str | None = None
    number: str | None = None
    error: DomainError | None = None  # why it was refused


def import_orders(cmd: ic.ImportOrders, uow: UnitOfWork,
                  setup: MoneySetup | None = None) -> list[ImportResult]:
    """Place every order of the batch in turn, each in its own transaction, so that one
    refused order does not stop the others. An order whose external reference the channel
    used before is `duplicate` with the number of the order already there: the capture
    handler's check, and the unique key behind it, decide."""
    for index, order in enumerate(cmd.orders):
        if index not in cmd.progress:
            cmd.progress[index] = _import_one(cmd, index, order, uow, setup)
    return [cmd.progress[index] for index in range(len(cmd.orders))]


def _import_one(cmd: ic.ImportOrders, index: int, order: dict[str, Any], uow: UnitOfWork,
                setup: MoneySetup | None) -> ImportResult:
    reference = order.get("external_reference")
    if not reference:
        return ImportResult(index, None, "refused", error=InvalidInput(
            "an imported order needs its external_reference", field="external_reference"))
    place = c.PlaceOrder(actor=cmd.actor, channel=cmd.channel, order=order)
    retrying = Retrying(retry=retry_if_exception_type(ConcurrentUpdate),
                        stop=stop_after_attempt(ATTEMPTS),
                        wait=wait_random_exponential(multiplier=0.01, max=0.2), reraise=True)
    try:
        placed = retrying(orders.place_order, place, uow, setup)
    except DuplicateOrder as exc:
        existing = str(exc.extra["order_id"])
        return ImportResult(index, reference, "duplicate", existing, _number(uow, existing))
    except DomainError as exc:  # a concurrent change that outlasted the tries included
        return ImportResult(index, reference, "refused", error=exc)
    return ImportResult(index, reference, "created", placed.order_id,
                        _number(uow, placed.order_id))


def _number(uow: UnitOfWork, order_id: str) -> str | None:
    with uow:
        seen = uow.orders.peek(order_id)
    return format_order_number(seen[0]) if seen is not None else None
