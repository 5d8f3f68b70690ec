"""Cancelling units of a line on both databases, through the bus: the stock and the waits given
back, fulfilments not started shrunk, the order cancelled with its last line, and the money:
refunded to the minor unit when it was captured, never taken when it was only authorized."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from ordermesh.adapters.db import tables as t
from ordermesh.domain.errors import InvalidTransition, NotFound
from ordermesh.domain.orders import LineNotCancellable, Order
from ordermesh.services import commands as c
from ordermesh.services.bus import MessageBus
from tests.builders import a_location, a_product, an_order
from tests.races import together

PRICE, SHIPPING = 1999, 495  # the builders' unit price, and this file's shipping


@pytest.fixture
def store(bus: MessageBus) -> MessageBus:
    """A web channel on the `test` gateway, one warehouse with two products in stock, and a
    book sold on backorder with none in stock."""
    bus.handle(c.CreateChannel("test", "web", "Web"))
    bus.handle(c.UpdateChannel("test", "web", {"payment_gateway": "test"}))
    bus.handle(c.CreateLocation("test", a_location("WH-1")))
    for sku in ("TEE-1", "MUG-1"):
        bus.handle(c.CreateProduct("test", a_product(sku)))
        bus.handle(c.AdjustStockLevel("test", sku, "WH-1", 10))
    bus.handle(c.CreateProduct("test", a_product("BOOK-1", backorderable=True)))
    return bus


def taxed_on_top(bus: MessageBus, **policy: str) -> None:
    """21 % added on top of the prices, and the channel's capture and invoice policy."""
    bus.handle(c.PutTaxRate("test", "standard", "NL", None, "0.21", "VAT 21%"))
    bus.handle(c.UpdateChannel("test", "web", {"prices_include_tax": False, **policy}))


def place(bus: MessageBus, *lines: tuple[str, int], pay_with: str = "tok_visa") -> str:
    body = an_order(*lines, payment_token=pay_with, shipping_total=SHIPPING)
    return str(bus.handle(c.PlaceOrder("test", "web", body)).order_id)


def cancel(bus: MessageBus, order_id: str, line_no: int, quantity: int | None = None) -> str:
    return str(bus.handle(c.CancelOrderLine("agent-7", order_id, line_no, quantity,
                                            "customer changed their mind")))


def order_of(bus: MessageBus, order_id: str) -> Order:
    with bus.uow_factory() as uow:
        order = uow.orders.get(order_id)
    assert order is not None
    return order


def reserved(engine: Engine, sku: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(t.stock_levels.c.reserved).where(
            t.stock_levels.c.sku == sku)).scalar_one())


def ledger(engine: Engine, reason: str) -> list[tuple[str, int, str]]:
    m = t.stock_movements.c
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(m.sku, m.reserved_delta, m.reference)
                                               .where(m.reason == reason).order_by(m.id))]


def events(engine: Engine, order_id: str) -> list[tuple[str, dict[str, Any]]]:
    e = t.events.c
    with engine.connect() as conn:
        return [(r.type, r.data) for r in conn.execute(
            select(e.type, e.data).where(e.stream_id == order_id).order_by(e.seq))]


def cancelled_events(engine: Engine, order_id: str) -> list[dict[str, Any]]:
    return [data for kind, data in events(engine, order_id) if kind == "order.line_cancelled"]


def money(engine: Engine, order_id: str) -> list[tuple[str, int, str]]:
    x, p, o = t.payment_transactions.c, t.payments.c, t.orders.c
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            select(x.kind, x.amount, x.outcome).join(t.payments, p.id == x.payment_id)
            .join(t.orders, o.seq == p.order_seq).where(o.id == order_id).order_by(x.id))]


def written(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        counts = {table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
                  for table in (t.events, t.stock_movements, t.allocations, t.backorders,
                                t.payment_transactions, t.invoices)}
        counts["cancelled"] = conn.execute(select(func.coalesce(
            func.sum(t.order_lines.c.cancelled), 0))).scalar_one()
    return counts


# -- units and stock -----------------------------------------------------------------------------


def test_part_of_a_line_is_cancelled_its_stock_released_and_the_total_goes_down(
        store: MessageBus, engine: Engine) -> None:
    # given an order of three tees and a mug, all reserved
    order_id = place(store, ("TEE-1", 3), ("MUG-1", 1))
    assert reserved(engine, "TEE-1") == 3
    # when the customer no longer wants two of the tees
    cancel(store, order_id, 1, 2)
    # then the line keeps one, the two are available again through the ledger
    order = order_of(store, order_id)
    assert (order.lines[0].cancelled, order.lines[0].status, order.status) == (
        2, "reserved", "allocated")
    assert reserved(engine, "TEE-1") == 1
    assert ledger(engine, "line_cancelled") == [("TEE-1", -2, order.number)]
    # and the order is worth two tees less, which the timeline says
    assert order.grand_total.amount == 2 * PRICE + SHIPPING
    [data] = cancelled_events(engine, order_id)
    assert {k: data[k] for k in ("line_no", "sku", "quantity", "reason", "refunded",
                                 "grand_total")} == {
        "line_no": 1, "sku": "TEE-1", "quantity": 2, "reason": "customer changed their mind",
        "refunded": 0, "grand_total": 2 * PRICE + SHIPPING}


def test_the_last_line_cancelled_cancels_the_order_and_releases_its_authorization(
        store: MessageBus, engine: Engine) -> None:
    # given an order of two lines, authorized
    order_id = place(store, ("TEE-1", 3), ("MUG-1", 1))
    # when the mug goes, all of it, the order goes on
    cancel(store, order_id, 2)
    assert (order_of(store, order_id).lines[1].status, order_of(store, order_id).status) == (
        "cancelled", "allocated")
    # when the tees go too
    cancel(store, order_id, 1)
    # then the order is cancelled as a whole cancel would, its stock and money released
    assert order_of(store, order_id).status == "cancelled"
    assert [k for k, _ in events(engine, order_id)][-4:] == [
        "order.line_cancelled", "order.cancelled", "payment.void_requested", "payment.voided"]
    assert (reserved(engine, "TEE-1"), reserved(engine, "MUG-1")) == (0, 0)
    total = 4 * PRICE + SHIPPING
    assert money(engine, order_id) == [("authorize", total, "succeeded"),
                                       ("void", total, "succeeded")]


def test_cancelled_units_waiting_for_supply_end_their_wait(store: MessageBus,
                                                           engine: Engine) -> None:
    # given an order whose two books wait for supply
    order_id = place(store, ("TEE-1", 1), ("BOOK-1", 2))
    assert order_of(store, order_id).status == "backordered"
    # when one book is cancelled, one still waits
    cancel(store, order_id, 2, 1)
    with engine.connect() as conn:
        waits = conn.execute(select(t.backorders.c.quantity, t.backorders.c.status)
                             .order_by(t.backorders.c.id)).all()
    assert [tuple(w) for w in waits] == [(2, "cancelled"), (1, "waiting")]
    assert order_of(store, order_id).status == "backordered"
    # when the other goes too, nothing waits and the order is allocated
    cancel(store, order_id, 2)
    assert order_of(store, order_id).status == "allocated"
    assert reserved(engine, "TEE-1") == 1


# -- fulfilments ---------------------------------------------------------------------------------


def test_units_of_a_fulfilment_not_started_are_taken_out_of_it(store: MessageBus,
                                                               engine: Engine) -> None:
    # given an order released to the warehouse, not picked yet
    order_id = place(store, ("TEE-1", 3), ("MUG-1", 1))
    [fulfilment_id] = store.handle(c.ReleaseFulfilments("test"))
    # when a tee and the mug are cancelled
    cancel(store, order_id, 1, 1)
    cancel(store, order_id, 2)
    # then the fulfilment holds what is left, still pending
    fl = t.fulfilment_lines.c
    with engine.connect() as conn:
        lines = conn.execute(select(fl.sku, fl.quantity).where(fl.fulfilment_id == fulfilment_id))
        assert [tuple(r) for r in lines] == [("TEE-1", 2)]
    # and when the last tees go, the fulfilment is cancelled with the order
    cancel(store, order_id, 1)
    with engine.connect() as conn:
        status = conn.execute(select(t.fulfilments.c.status)).scalar_one()
    assert (status, order_of(store, order_id).status) == ("cancelled", "cancelled")


@pytest.mark.parametrize("start", ["picking", "leased"])
def test_units_being_picked_are_refused_with_nothing_written(store: MessageBus, engine: Engine,
                                                             start: str) -> None:
    # given an order whose fulfilment is being picked, or leased to a warehouse system
    order_id = place(store, ("TEE-1", 3))
    [fulfilment_id] = store.handle(c.ReleaseFulfilments("test"))
    if start == "picking":
        store.handle(c.ChangeFulfilment("test", fulfilment_id, "start_picking"))
    else:
        store.handle(c.LeaseFulfilments("test", "WH-1", "wms-1"))
    before = written(engine)
    # when a tee is cancelled, then it is refused: nothing is free to cancel
    with pytest.raises(LineNotCancellable) as refused:
        cancel(store, order_id, 1, 1)
    assert (refused.value.code, refused.value.extra["cancellable"]) == (
        "order.line_not_cancellable", 0)
    assert written(engine) == before


def test_more_units_than_are_left_or_a_line_sent_are_refused(store: MessageBus,
                                                             engine: Engine) -> None:
    # given an order whose mug was sent
    order_id = place(store, ("TEE-1", 3), ("MUG-1", 1))
    store.handle(c.DispatchShipment("test", order_id, "S1", ((2, 1),)))
    before = written(engine)
    # then four tees of three, the mug, or a line it does not have cannot be cancelled
    with pytest.raises(LineNotCancellable):
        cancel(store, order_id, 1, 4)
    with pytest.raises(InvalidTransition) as sent:
        cancel(store, order_id, 2)
    assert sent.value.code == "order.invalid_transition"
    with pytest.raises(NotFound):
        cancel(store, order_id, 3)
    assert written(engine) == before


def test_the_same_line_cancelled_from_two_threads_is_cancelled_once(store: MessageBus,
                                                                    engine: Engine) -> None:
    # given an order of three tees and a mug
    order_id = place(store, ("TEE-1", 3), ("MUG-1", 1))
    # when two agents cancel the tees at the same moment
    results = together([lambda: cancel(store, order_id, 1)] * 2, InvalidTransition)
    # then one did it and the other was told nothing was left
    assert sorted(type(r).__name__ for r in results) == ["InvalidTransition", "str"]
    assert len(cancelled_events(engine, order_id)) == 1
    assert ledger(engine, "line_cancelled") == [("TEE-1", -3, order_of(store, order_id).number)]
    assert reserved(engine, "TEE-1") == 0


# -- money ---------------------------------------------------------------------------------------


def test_units_paid_at_placement_are_refunded_to_the_minor_unit(store: MessageBus,
                                                                engine: Engine) -> None:
    # given three tees taxed 21 % on top, captured at placement: 5997 + 1259 tax, and the
    # shipping 495 + 104 tax
    taxed_on_top(store, capture_on="placement")
    order_id = place(store, ("TEE-1", 3))
    captured = 5997 + 1259 + SHIPPING + 104
    assert money(engine, order_id)[-1] == ("capture", captured, "succeeded")
    # when one tee is cancelled
    cancel(store, order_id, 1, 1)
    # then it is refunded at what the invoicing rules bill it: 1999 and 1259 - 840 of tax
    # (two tees are taxed 840), 2418 (not 2419, 21 % of one tee on its own)
    assert money(engine, order_id)[-1] == ("refund", 2418, "succeeded")
    assert cancelled_events(engine, order_id)[0]["refunded"] == 2418
    assert order_of(store, order_id).grand_total.amount == captured - 2418
    # and shipping the rest captures nothing more nor refunds anything
    store.handle(c.DispatchShipment("test", order_id, "S1", ((1, 2),)))
    assert [m[0] for m in money(engine, order_id)] == ["authorize", "capture", "refund"]


def test_units_invoiced_and_paid_at_placement_are_credited_and_refunded(
        store: MessageBus, engine: Engine) -> None:
    # given three tees taxed on top, invoiced and captured at placement
    taxed_on_top(store, capture_on="placement", invoice_on="placement")
    order_id = place(store, ("TEE-1", 3))
    # when one tee is cancelled
    cancel(store, order_id, 1, 1)
    # then a credit note credits it at what the invoice billed (a third of its 1259 of tax is
    # 420), and its refund is exactly the credit note
    i = t.invoices.c
    with engine.connect() as conn:
        invoice, note = conn.execute(select(i.id, i.gross, i.tax, i.corrects_id, i.reference,
                                            i.payment_transaction_id).order_by(i.seq)).all()
    assert (note.gross, note.tax, note.corrects_id, note.reference) == (
        2419, 420, invoice.id, "line-cancel:1:1")
    assert money(engine, order_id)[-1] == ("refund", 2419, "succeeded")
    assert note.payment_transaction_id is not None


def test_the_last_line_paid_at_placement_gives_back_the_shipping_too(store: MessageBus,
                                                                     engine: Engine) -> None:
    # given one line captured at placement
    store.handle(c.UpdateChannel("test", "web", {"capture_on": "placement"}))
    order_id = place(store, ("TEE-1", 2))
    # when it is cancelled, the order is, and everything captured is refunded
    cancel(store, order_id, 1)
    total = 2 * PRICE + SHIPPING
    assert money(engine, order_id) == [("authorize", total, "succeeded"),
                                       ("capture", total, "succeeded"),
                                       ("refund", total, "succeeded")]
    assert order_of(store, order_id).status == "cancelled"


def test_units_only_authorized_are_never_captured(store: MessageBus, engine: Engine) -> None:
    # given three tees and a mug authorized, captured on dispatch
    order_id = place(store, ("TEE-1", 3), ("MUG-1", 1))
    # when two tees are cancelled, nothing moves
    cancel(store, order_id, 1, 2)
    assert [m[0] for m in money(engine, order_id)] == ["authorize"]
    # then the dispatch of what is left captures that only, and releases the rest
    store.handle(c.DispatchShipment("test", order_id, "S1", ((1, 1), (2, 1))))
    authorized, shipped = 4 * PRICE + SHIPPING, 2 * PRICE + SHIPPING
    assert money(engine, order_id) == [("authorize", authorized, "succeeded"),
                                       ("capture", shipped, "succeeded"),
                                       ("void", authorized - shipped, "succeeded")]
    assert order_of(store, order_id).status == "shipped"


@pytest.mark.parametrize("capture_on", ["dispatch", "placement"])
def test_the_rest_of_a_line_partly_sent_ends_the_order(store: MessageBus, engine: Engine,
                                                       capture_on: str) -> None:
    # given three tees of which one was sent
    store.handle(c.UpdateChannel("test", "web", {"capture_on": capture_on}))
    order_id = place(store, ("TEE-1", 3))
    store.handle(c.DispatchShipment("test", order_id, "S1", ((1, 1),)))
    # when the other two are cancelled
    cancel(store, order_id, 1)
    # then the order is shipped with the one sent, and the two are not paid for: released if
    # only authorized, refunded if captured (the shipping stays: a tee was sent)
    assert order_of(store, order_id).status == "shipped"
    authorized, sent = 3 * PRICE + SHIPPING, PRICE + SHIPPING
    assert money(engine, order_id) == [
        ("authorize", authorized, "succeeded"),
        *([("capture", sent, "succeeded"), ("void", 2 * PRICE, "succeeded")]
          if capture_on == "dispatch" else
          [("capture", authorized, "succeeded"), ("refund", 2 * PRICE, "succeeded")])]


def test_a_payment_waiting_for_the_gateway_refuses_the_cancellation(store: MessageBus,
                                                                    engine: Engine) -> None:
    # given an order whose authorization is still to be answered
    order_id = place(store, ("TEE-1", 1), ("MUG-1", 1), pay_with="tok_async")
    before = written(engine)
    # then a line cannot be cancelled until the gateway has answered
    with pytest.raises(InvalidTransition, match="gateway"):
        cancel(store, order_id, 1)
    assert written(engine) == before
