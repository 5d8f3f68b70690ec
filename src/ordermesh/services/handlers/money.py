"""Tax rates, and the money jobs that run as time passes: orders whose payment failed give
their stock back, authorizations about to lapse are flagged (and renewed where the gateway
allows), and the gateways' payouts are imported for reconciliation."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal, InvalidOperation

from ordermesh.domain.errors import InvalidInput, NotFound
from ordermesh.domain.events import utcnow
from ordermesh.domain.orders import OrderStatus, format_order_number
from ordermesh.domain.payments import PaymentStatus
from ordermesh.domain.tax import TaxRate
from ordermesh.services import commands as c
from ordermesh.services.handlers.credits import void_payment
from ordermesh.services.handlers.orders import change_order_status
from ordermesh.services.handlers.payments import (
    PAYMENT_FAILED,
    MoneySetup,
    _gateway,
    begin_authorization,
    begin_void,
    finish,
    status_of,
)
from ordermesh.services.ports import UnitOfWork


def put_tax_rate(cmd: c.PutTaxRate, uow: UnitOfWork) -> None:
    try:
        rate = Decimal(cmd.rate)
    except InvalidOperation as exc:
        raise InvalidInput(f"a tax rate is a decimal like 0.21, not {cmd.rate!r}") from exc
    TaxRate(cmd.tax_class, cmd.country, rate, cmd.name, cmd.region)  # the domain's checks
    with uow:
        uow.tax.put(cmd.tax_class, cmd.country, cmd.region, str(rate), cmd.name)
        uow.commit()


def remove_tax_rate(cmd: c.RemoveTaxRate, uow: UnitOfWork) -> None:
    with uow:
        if not uow.tax.remove(cmd.tax_class, cmd.country, cmd.region):
            raise NotFound(f"no {cmd.tax_class!r} rate for {cmd.country} {cmd.region or ''}")
        uow.commit()


def release_unpaid_orders(cmd: c.ReleaseUnpaidOrders, uow: UnitOfWork,
                          setup: MoneySetup) -> list[str]:
    """Cancel the orders held for a failed payment longer than their channel's
    payment_failure_release_minutes: their stock goes back to be sold."""
    with uow:
        due = uow.payments.unpaid_holds(utcnow(), cmd.limit)
    cancelled = []
    for order_id in due:
        cancel = c.ChangeOrderStatus(actor=cmd.actor, order_id=order_id, action="cancel",
                                     reason="payment_not_received", when_held_for=PAYMENT_FAILED)
        change_order_status(cancel, uow)
        if _cancelled(uow, order_id):
            void_payment(c.VoidPayment(cmd.actor, order_id), uow, setup)
            cancelled.append(order_id)
    return cancelled


def _cancelled(uow: UnitOfWork, order_id: str) -> bool:
    with uow:
        order = uow.orders.get(order_id)
        return order is not None and order.status is OrderStatus.CANCELLED


def flag_expiring_authorizations(cmd: c.FlagExpiringAuthorizations, uow: UnitOfWork,
                                 setup: MoneySetup) -> list[str]:
    """Authorizations that lapse within `within_hours` and still have something to capture:
    each is flagged once in its order's timeline, and a new authorization is asked for the
    order's total with the same token (gateways that allow it answer; the old one is left to
    lapse). Returns the ids of the payments flagged."""
    now = utcnow()
    with uow:
        expiring = uow.payments.expiring(now + timedelta(hours=cmd.within_hours), cmd.limit)
    flagged, renew = [], []
    for payment in expiring:
        with uow:
            current = uow.payments.get(payment["id"])
            assert current is not None
            order = uow.orders.get(format_order_number(payment["order_seq"]))
            uow.payments.flag_expiry(payment["id"], now)
            capturable = status_of(current) in (PaymentStatus.AUTHORIZED,
                                                PaymentStatus.PARTIALLY_CAPTURED)
            if order is not None and capturable:
                order.note("payment.authorization_expiring", cmd.actor, payment_id=payment["id"],
                           authorized_until=payment["authorized_until"].isoformat())
                if not any(t["kind"] == "capture" for t in current["transactions"]):
                    renew.append(order.id)
                uow.orders.save(order)
            uow.commit()
        flagged.append(payment["id"])
    for order_id in renew:
        _renew(uow, setup, order_id, cmd.actor)
    return flagged


def _renew(uow: UnitOfWork, setup: MoneySetup, order_id: str, actor: str) -> None:
    """A new authorization of the whole order with its token. The old one is voided first (an
    order has one live authorization); a refusal of the new one holds the order for payment
    like any refused payment."""
    with uow:
        order = uow.orders.get(order_id)
        assert order is not None and order.seq is not None
        old = uow.payments.for_order(order.seq)[-1]
        old_void = begin_void(uow, order, actor)
        uow.orders.save(order)
        uow.commit()
    if old_void is not None:
        finish(uow, setup, old_void, actor)
    with uow:
        order = uow.orders.get(order_id)
        assert order is not None
        key = begin_authorization(uow, order, old["token"], actor)
        uow.orders.save(order)
        uow.commit()
    finish(uow, setup, key, actor)


def import_payouts(cmd: c.ImportPayouts, uow: UnitOfWork, setup: MoneySetup) -> list[str]:
    """Import the gateway's payouts since a day, each once; returns the new payouts' ids."""
    gateway = _gateway(setup, cmd.gateway)
    imported = []
    for payout in gateway.payouts(cmd.since):
        with uow:
            payout_id = str(uuid.uuid4())
            if uow.payouts.add(cmd.gateway, payout, payout_id):
                imported.append(payout_id)
            uow.commit()
    return imported

