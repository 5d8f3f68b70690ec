"""A label bought through the EasyPost adapter (against recorded HTTP at the SDK boundary) is
kept with its package and printed instead of Ordermesh's own; on both databases."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import responses
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from ordermesh.adapters.carriers.easypost_carrier import EasyPostCarrier, booking_reference
from ordermesh.adapters.db.engine import retry_reason
from ordermesh.adapters.db.unit_of_work import SqlUnitOfWork
from ordermesh.adapters.payments.test_gateway import TestGateway
from ordermesh.bootstrap import App
from ordermesh.config import Settings
from ordermesh.entrypoints.api.app import create_app
from ordermesh.services import commands as c
from ordermesh.services.bus import MessageBus
from ordermesh.services.handlers.payments import MoneySetup
from ordermesh.services.handlers.shipping import ShippingSetup
from tests.builders import a_shop, place
from tests.conftest import SELLER
from tests.integration.test_easypost_carrier import (
    API,
    API_KEY,
    LABEL_URL,
    PDF,
    SECRET,
    SHP,
    recorded,
)

US_WAREHOUSE = {"company": "Ordermesh DC", "line1": "388 Townsend St", "city": "San Francisco",
                "region": "CA", "postal_code": "94107", "country": "US"}
US_CUSTOMER = {"name": "Ann Lee", "line1": "179 N Harbor Dr", "city": "Redondo Beach",
               "region": "CA", "postal_code": "90277", "country": "US"}


@pytest.fixture
def http() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def easypost_bus(engine: Engine, gateway: TestGateway) -> MessageBus:
    return MessageBus(lambda: SqlUnitOfWork(engine), retry_reason=retry_reason,
                      setup=MoneySetup({"test": gateway}, SELLER),
                      shipping=ShippingSetup({"easypost": EasyPostCarrier(API_KEY, SECRET)}))


def test_the_carriers_own_label_is_kept_and_printed(http: responses.RequestsMock,
                                                    easypost_bus: MessageBus, engine: Engine,
                                                    database_url: str) -> None:
    bus = easypost_bus
    shop = a_shop(bus).location("SF-1", address=US_WAREHOUSE)
    shop.product("TEE-1", currency="USD").stock("TEE-1", "SF-1", 5)
    order = place(bus, ("TEE-1", 1), currency="USD", shipping_address=US_CUSTOMER,
                  billing_address=US_CUSTOMER)
    [fulfilment] = bus.handle(c.ReleaseFulfilments("test"))
    bus.handle(c.ChangeFulfilment("test", fulfilment, "start_picking"))
    bus.handle(c.PackFulfilment("test", fulfilment))
    # EasyPost quotes the parcel, and the cheapest rate is bought, once
    http.post(f"{API}/shipments", json=recorded("shipment_created.json"), status=201)
    reference = booking_reference(fulfilment, f"fulfilment:{fulfilment}")
    http.get(f"{API}/shipments/{reference}", json=recorded("error_404.json"), status=404)
    http.post(f"{API}/shipments/{SHP}/buy", json=recorded("shipment_bought.json"))
    http.get(LABEL_URL, body=PDF, content_type="application/pdf")
    shipment = bus.handle(c.BookShipment("test", fulfilment, carrier="easypost"))
    assert (shipment["carrier"], shipment["service"]) == ("easypost", "USPS Priority")
    # the label printed is EasyPost's, as fetched
    app = App(Settings(database_url=database_url), engine, bus)
    key = shop.keys["operator"]
    with TestClient(create_app(app)) as client:
        detail = client.get(f"/api/v1/fulfilments/{fulfilment}",
                            headers={"Authorization": f"Bearer {key}"}).json()
        assert [(p["tracking_number"], p["carrier_label"]) for p in detail["packages"]] == [
            ("9400100105442285876350", True)]
        label = client.get(f"/api/v1/fulfilments/{fulfilment}/packages/1/label.pdf",
                           headers={"Authorization": f"Bearer {key}"})
        assert (label.status_code, label.content) == (200, PDF)
    sent = bus.handle(c.DispatchShipment("test", order.order_id, f"fulfilment:{fulfilment}", (),
                                         fulfilment_id=fulfilment))
    assert sent[1] is not None and sent[1].outcome == "succeeded"
