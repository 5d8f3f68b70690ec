"""Tracking: carrier events (webhooks, polling, entered by hand) applied per parcel, and the
labels of shipments that will not leave cancelled with their carrier."""

from __future__ import annotations

import logging
from datetime import timedelta

from ordermesh.domain.carriers import CarrierUnavailable, TrackingEvent
from ordermesh.domain.errors import DomainError, InvalidInput, NotFound
from ordermesh.domain.fulfilments import ARRIVED, ParcelState
from ordermesh.services import commands as c
from ordermesh.services.handlers.fulfilment import follow_fulfilments, locked
from ordermesh.services.handlers.shipping import ShippingSetup
from ordermesh.services.ports import UnitOfWork

log = logging.getLogger("ordermesh.shipping")
FUTURE_TOLERANCE = timedelta(hours=1)  # clocks differ; beyond this an event is not applied


def apply_tracking(cmd: c.ApplyTracking, uow: UnitOfWork, setup: ShippingSetup) -> int:
    """Carrier tracking events, each in its own transaction: kept once per carrier event id,
    applied to its parcel when newer than the parcel's last, and the fulfilment follows its
    parcels (domain.fulfilments.parcel_summary); a delivered shipment may deliver the order.
    Events of parcels Ordermesh does not know are kept and change nothing. Answers how many
    moved a fulfilment."""
    moved = 0
    actor = f"carrier:{cmd.carrier}"
    for event in cmd.events:
        assert isinstance(event, TrackingEvent)
        with uow:
            row = {"carrier": cmd.carrier, "event_id": event.id,
                   "tracking_number": event.tracking_number, "event": event.event,
                   "at": event.at, "detail": event.detail[:1000]}
            found = (uow.shipping.parcel(cmd.carrier, event.tracking_number)
                     if cmd.fulfilment_id is None else {"fulfilment_id": cmd.fulfilment_id})
            if found is None:
                uow.shipping.record_event({**row, "fulfilment_id": None, "applied": False})
                uow.commit()
                continue
            order, fulfilment = locked(uow, found["fulfilment_id"], None)
            # read again under the fulfilment's lock: another event may have moved it since
            parcel = next((p for p in uow.shipping.packages(fulfilment.id)
                           if p["tracking_number"] == event.tracking_number), None)
            if parcel is None:
                raise InvalidInput(f"{event.tracking_number} is not a package of fulfilment "
                                   f"{fulfilment.id}")
            state = ParcelState(parcel["tracking_status"], parcel["tracked_at"])
            # an event dated ahead of now (a carrier's clock gone wrong) is kept, not applied:
            # it would hold the parcel there against every real scan after it
            future = event.at > setup.clock() + FUTURE_TOLERANCE
            newer = state.newer(event.at) and not future
            if not uow.shipping.record_event({**row, "fulfilment_id": fulfilment.id,
                                              "applied": newer}):
                continue  # heard before
            if newer:
                uow.shipping.set_parcel(parcel["id"], event.event, event.at)
            parcels = [ParcelState(p["tracking_status"], p["tracked_at"])
                       for p in uow.shipping.packages(fulfilment.id)]
            data = {"tracking_number": event.tracking_number, "detail": event.detail}
            if newer and fulfilment.follow(parcels, actor, **data):
                moved += 1
            elif not newer:
                fulfilment.note("fulfilment.tracking_ignored", actor, event=event.event,
                                carrier_time=event.at.isoformat(), status=str(fulfilment.status),
                                reason="dated in the future" if future
                                else "older than the parcel's last event", **data)
            uow.fulfilments.save(fulfilment)
            if fulfilment.status in ARRIVED:
                follow_fulfilments(uow, order, actor)
            uow.commit()
    return moved


def apply_carrier_webhook(cmd: c.ApplyCarrierWebhook, uow: UnitOfWork,
                          setup: ShippingSetup) -> int:
    """A carrier's webhook: its signature checked by the carrier's adapter, then its events
    applied."""
    carrier = setup.carriers.get(cmd.carrier)
    if carrier is None:
        raise NotFound(f"no carrier {cmd.carrier!r} is set up")
    events = carrier.parse_webhook(cmd.body, cmd.headers)
    return apply_tracking(c.ApplyTracking(cmd.actor, cmd.carrier, tuple(events)), uow, setup)


def cancel_labels(cmd: c.CancelLabels, uow: UnitOfWork, setup: ShippingSetup) -> int:
    """Labels bought for shipments that will not leave are cancelled with their carrier (one
    already picked up is refused: kept as `cancel_refused` for someone to look at); a carrier
    that does not answer is asked again next time. Answers how many were cancelled."""
    with uow:
        labels = uow.shipping.labels_to_cancel(cmd.limit)
    done = 0
    for label in labels:
        carrier = setup.carriers.get(label["carrier"])
        if carrier is None:
            continue
        try:
            cancelled = carrier.cancel(label["carrier_shipment_id"])
        except (CarrierUnavailable, DomainError) as exc:
            log.warning("label %s not cancelled yet: %s", label["id"], exc)
            continue
        with uow:
            uow.shipping.set_shipment_status(label["id"],
                                             "cancelled" if cancelled else "cancel_refused")
            fulfilment = uow.fulfilments.get(label["fulfilment_id"])
            if fulfilment is not None:
                fulfilment.note("fulfilment.label_cancelled" if cancelled
                                else "fulfilment.label_cancel_refused", cmd.actor,
                                shipment_id=label["id"])
                uow.fulfilments.save(fulfilment)
            uow.commit()
        done += cancelled
    return done


def poll_carriers(cmd: c.PollCarriers, uow: UnitOfWork, setup: ShippingSetup) -> int:
    """Ask carriers that send no webhooks where their parcels are; a carrier that does not
    answer is asked again at the next run."""
    polled = [name for name, carrier in setup.carriers.items()
              if not getattr(carrier, "webhooks", True)]
    if not polled:
        return 0
    with uow:
        parcels = uow.shipping.in_flight(polled, cmd.limit)
    moved = 0
    for carrier, number in parcels:
        try:  # one parcel the carrier cannot answer for does not stop the others
            events = setup.carriers[carrier].track(number)
            moved += apply_tracking(c.ApplyTracking(cmd.actor, carrier, tuple(events)), uow, setup)
        except (CarrierUnavailable, DomainError) as exc:
            log.warning("tracking %s with %s: %s", number, carrier, exc)
    return moved
