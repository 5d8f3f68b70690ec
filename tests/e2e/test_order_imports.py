"""Channel integrations: a marketplace or webshop imports its orders as JSON documents read by
a mapping, or as a CSV of order lines; each order once per channel and external reference,
each on its own. On both databases."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from ordermesh.domain import imports as im
from ordermesh.domain.errors import InvalidInput
from ordermesh.entrypoints.api.schemas.orders import OrderIn
from ordermesh.services import commands as c
from ordermesh.services.bus import MessageBus
from ordermesh.services.handlers import imports as import_handlers
from ordermesh.services.import_commands import ImportOrders
from tests.builders import Shop, an_order

MARKETPLACE = "marketplace:bazaar"


@pytest.fixture
def market(shop: Shop, bus: MessageBus) -> Shop:
    """The shop, selling on a marketplace too (paid there: no gateway)."""
    bus.handle(c.CreateChannel("test", MARKETPLACE, "Bazaar"))
    shop.keys["bazaar"] = bus.handle(c.CreateApiKey("test", "bazaar", "channel", MARKETPLACE)).key
    return shop


def a_marketplace_order(ref: str, *items: tuple[str, int, str], **overrides: Any) -> dict[str, Any]:
    """A marketplace-v1 document; items are (offer_sku, quantity, unit_price)."""
    address = {"name": "Ann de Vries", "street": ["Keizersgracht 1", "3rd floor"],
               "city": "Amsterdam", "zip": "1015 CJ", "country": "NL"}
    return {
        "order_id": ref, "currency": "EUR",
        "buyer": {"email": "Ann@Example.com", "name": "Ann de Vries"},
        "invoice_address": address,
        "delivery": {"address": address, "price": "4.95", "instructions": "Ring twice"},
        "items": [{"offer_sku": sku, "quantity": qty, "unit_price": price}
                  for sku, qty, price in (items or (("TEE-1", 1, "19.99"),))],
        **overrides,
    }


def post_import(client: TestClient, shop: Shop, documents: list[Any], who: str = "bazaar",
                mapping: Any = "marketplace-v1") -> Any:
    return client.post("/api/v1/order-imports", json={"mapping": mapping, "orders": documents},
                       headers=shop.headers(who))


def get_order(client: TestClient, shop: Shop, number: str, who: str = "operator") -> Any:
    response = client.get(f"/api/v1/orders/{number}", headers=shop.headers(who))
    assert response.status_code == 200, response.text
    return response.json()


def count_orders(client: TestClient, shop: Shop) -> int:
    return len(client.get("/api/v1/orders", headers=shop.headers("operator")).json()["items"])


def test_importing_the_same_batch_twice_creates_each_order_once(client: TestClient,
                                                                market: Shop) -> None:
    batch = [a_marketplace_order("BZ-1", ("TEE-1", 2, "19.99")),
             a_marketplace_order("BZ-2", ("TEE-1", 1, "19.99"), ("MUG-1", 1, "7.50")),
             a_marketplace_order("BZ-3", ("CAP-1", 1, "12")),
             a_marketplace_order("BZ-1", ("TEE-1", 2, "19.99"))]  # sent twice in the batch too
    first = post_import(client, market, batch)
    assert first.status_code == 200, first.text
    body = first.json()
    assert [r["status"] for r in body["results"]] == ["created", "created", "created", "duplicate"]
    assert (body["created"], body["duplicate"], body["refused"]) == (3, 1, 0)
    numbers = [r["number"] for r in body["results"]]
    assert numbers[3] == numbers[0] and len(set(numbers[:3])) == 3
    assert [r["external_reference"] for r in body["results"]] == ["BZ-1", "BZ-2", "BZ-3", "BZ-1"]
    # the mapping read the document: decimal strings became minor units, never floats
    order = get_order(client, market, numbers[0], who="bazaar")
    assert order["channel"] == MARKETPLACE and order["external_reference"] == "BZ-1"
    assert order["customer"]["email"] == "ann@example.com"
    assert order["shipping_address"]["line1"] == "Keizersgracht 1"
    assert order["shipping_address"]["line2"] == "3rd floor"
    assert order["delivery_instructions"] == "Ring twice"
    assert order["lines"][0]["unit_price"] == 1999
    assert order["totals"]["shipping"] == 495 and order["totals"]["lines"] == 3998
    assert get_order(client, market, numbers[2])["lines"][0]["unit_price"] == 1200
    # when the marketplace sends the batch again (a retry after a timeout, say)
    again = post_import(client, market, batch).json()
    # then nothing is created: every order is a duplicate with the number it got the first time
    assert [r["status"] for r in again["results"]] == ["duplicate"] * 4
    assert [r["number"] for r in again["results"]] == numbers
    assert again["results"][0]["problem"] is None
    assert count_orders(client, market) == 3


def test_one_bad_document_is_refused_and_the_others_are_created(client: TestClient,
                                                                market: Shop) -> None:
    batch = [
        a_marketplace_order("BZ-1"),
        a_marketplace_order("BZ-2", ("TEE-1", 1, "19.999")),  # three decimals in EUR
        a_marketplace_order("BZ-3", buyer={"name": "No Email"}),  # required field missing
        a_marketplace_order("BZ-4", buyer={"email": "not-an-email", "name": "Bo"}),
        a_marketplace_order("BZ-5", ("CAP-1", 5, "12.00")),  # only 1 in stock
        "not a document",
        a_marketplace_order("BZ-6", ("TEE-1", 1, 19.99)),  # a binary float, from Python
        a_marketplace_order("BZ-7"),
    ]
    response = post_import(client, market, batch[:6] + batch[7:])
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == [
        "created", "refused", "refused", "refused", "refused", "refused", "created"]
    money, missing, email, stock, not_object = (r["problem"] for r in results[1:6])
    assert money["code"] == "request.invalid" and money["status"] == 422
    assert money["field"] == "lines[0].unit_price" and money["path"] == "items[0].unit_price"
    assert "EUR" in money["detail"]
    assert missing["field"] == "customer.email" and missing["path"] == "buyer.email"
    assert email["field"] == "customer.email" and email["path"] == "buyer.email"
    assert "not-an-email" not in json.dumps(email)  # the value sent is never echoed
    assert stock["code"] == "stock.insufficient" and stock["skus"] == ["CAP-1"]
    assert not_object["code"] == "request.invalid" and results[5]["external_reference"] is None
    assert results[1]["external_reference"] == "BZ-2" and results[1]["number"] is None
    assert count_orders(client, market) == 2
    # the refused ones can be sent again once fixed
    fixed = post_import(client, market, [a_marketplace_order("BZ-2", ("TEE-1", 1, "19.99"))])
    assert fixed.json()["results"][0]["status"] == "created"
    with pytest.raises(InvalidInput, match="binary floating-point"):
        im.map_order(batch[6], im.MARKETPLACE_V1)


def test_csv_rows_are_grouped_into_orders(client: TestClient, market: Shop) -> None:
    # 3 orders, 5 lines; the rows of an order need not follow one another, and its order
    # columns may be left empty after its first row
    csv_text = (
        "external_reference,currency,customer_email,customer_name,billing_line1,billing_city,"
        "billing_country,shipping_line1,shipping_city,shipping_country,shipping_total,sku,"
        "quantity,unit_price\r\n"
        "C-1,EUR,ann@example.com,Ann,Keizersgracht 1,Amsterdam,NL,Keizersgracht 1,Amsterdam,NL,"
        "4.95,TEE-1,2,19.99\r\n"
        "C-1,,,,,,,,,,,MUG-1,1,7.5\r\n"
        "C-2,EUR,bo@example.com,Bo,Damrak 2,Amsterdam,NL,Damrak 2,Amsterdam,NL,0,TEE-1,1,19.99\r\n"
        "C-3,EUR,cy@example.com,\"Cy, Jr.\",Dam 3,Amsterdam,nl,Dam 3,Amsterdam,nl,,CAP-1,1,12\r\n"
        "C-1,EUR,ann@example.com,,,,,,,,,TEE-1,1,18.00\r\n"
        ",,,,,,,,,,,,,\r\n")
    response = client.post("/api/v1/order-imports.csv", content=csv_text.encode(),
                           headers={**market.headers("bazaar"), "Content-Type": "text/csv"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["mapping"] == "csv-v1" and body["created"] == 3
    assert [(r["external_reference"], r["rows"]) for r in body["results"]] == [
        ("C-1", [2, 3, 6]), ("C-2", [4]), ("C-3", [5])]
    orders = [get_order(client, market, r["number"]) for r in body["results"]]
    assert [[(ln["sku"], ln["quantity"], ln["unit_price"]) for ln in o["lines"]] for o in orders] == [
        [("TEE-1", 2, 1999), ("MUG-1", 1, 750), ("TEE-1", 1, 1800)],
        [("TEE-1", 1, 1999)],
        [("CAP-1", 1, 1200)]]
    assert orders[0]["totals"]["shipping"] == 495
    assert orders[2]["customer"]["name"] == "Cy, Jr." and orders[2]["billing_address"]["country"] == "NL"
    # the same file again: all duplicates
    again = client.post("/api/v1/order-imports.csv", content=csv_text.encode(),
                        headers={**market.headers("bazaar"), "Content-Type": "text/csv"}).json()
    assert [r["status"] for r in again["results"]] == ["duplicate"] * 3


def test_csv_problems_name_the_row_and_column(client: TestClient, market: Shop) -> None:
    header = ("external_reference,currency,customer_email,customer_name,billing_line1,"
              "billing_city,billing_country,shipping_line1,shipping_city,shipping_country,"
              "sku,quantity,unit_price\n")
    row = "{ref},{cur},a@example.com,A,Dam 1,Amsterdam,NL,Dam 1,Amsterdam,NL,TEE-1,1,{price}\n"
    text = header + row.format(ref="D-1", cur="EUR", price="19.999") + row.format(
        ref="D-2", cur="EUR", price="1.00") + row.format(ref="D-2", cur="GBP", price="1.00") + (
        row.format(ref="D-3", cur="EUR", price="5"))
    headers = {**market.headers("bazaar"), "Content-Type": "text/csv; charset=utf-8"}
    results = client.post("/api/v1/order-imports.csv", content=text, headers=headers).json()[
        "results"]
    assert [r["status"] for r in results] == ["refused", "refused", "created"]
    assert results[0]["problem"]["field"] == "lines[0].unit_price"
    assert results[0]["problem"]["column"] == "unit_price" and results[0]["problem"]["row"] == 2
    assert results[1]["problem"]["column"] == "currency" and results[1]["problem"]["row"] == 4
    # a file that cannot be read as a whole is refused whole, with problem+json
    for bad, status in ((header.replace("sku", "skew"), 422), ("", 422),
                        (header + "E-1,EUR,a,b,c,d,NL,e,f,NL,TEE-1,1,1,extra\n", 422),
                        (header + ",EUR,a,b,c,d,NL,e,f,NL,TEE-1,1,1\n", 422)):
        refused = client.post("/api/v1/order-imports.csv", content=bad, headers=headers)
        assert refused.status_code == status, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
    wrong_type = client.post("/api/v1/order-imports.csv", content=text,
                             headers={**market.headers("bazaar"), "Content-Type": "application/json"})
    assert wrong_type.status_code == 415
    latin1 = client.post("/api/v1/order-imports.csv", content=text.replace("A,", "Ä,").encode(
        "latin-1"), headers=headers)
    assert latin1.status_code == 400
    assert count_orders(client, market) == 1


def test_money_converts_by_the_currency_exponent(client: TestClient, market: Shop) -> None:
    # a webshop-v1 order in Kuwaiti dinars (three decimals), prices as JSON numbers: read as
    # decimals, never as binary floats
    def webshop(ref: int, price: str, shipping: str) -> str:
        address = {"name": "Sara", "address1": "Gulf Road 1", "city": "Kuwait",
                   "country_code": "KW"}
        document = {"id": ref, "currency": "KWD", "email": "sara@example.com",
                    "billing_address": address,
                    "shipping_address": {**address, "latitude": "@LAT@", "longitude": 47},
                    "total_shipping_price_set": {"shop_money": {"amount": shipping}},
                    "line_items": [{"sku": "TEE-1", "quantity": 2, "price": "@PRICE@"}]}
        return json.dumps(document).replace('"@PRICE@"', price).replace('"@LAT@"', "29.3759")
    documents = [webshop(1001, "1.250", "0.5"), webshop(1002, "6.1", "2"),
                 webshop(1003, "1.2345", "1")]
    body = '{"mapping": "webshop-v1", "orders": [' + ", ".join(documents) + "]}"
    response = client.post("/api/v1/order-imports", content=body,
                           headers={**market.headers("bazaar"), "Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["created", "created", "refused"]
    assert results[0]["external_reference"] == "1001"
    first, second = (get_order(client, market, r["number"]) for r in results[:2])
    assert first["currency"] == "KWD" and first["lines"][0]["unit_price"] == 1250
    assert first["totals"]["shipping"] == 500
    assert second["lines"][0]["unit_price"] == 6100 and second["totals"]["shipping"] == 2000
    assert results[2]["problem"]["field"] == "lines[0].unit_price"
    assert "KWD" in results[2]["problem"]["detail"]
    # and the same rules in the domain: minor units by exponent, never rounded
    assert im.minor_units("19.99", "EUR") == 1999
    assert im.minor_units("19.990", "EUR") == 1999
    assert im.minor_units("1999", "JPY") == 1999
    assert im.minor_units("1999", "EUR", mode="minor") == 1999
    for amount, currency in (("19.999", "EUR"), ("1.5", "JPY"), ("-1", "EUR"), ("1e3", "EUR"),
                             ("19,99", "EUR"), ("1" * 30, "EUR")):
        with pytest.raises(InvalidInput):
            im.minor_units(amount, currency)


def test_another_channel_imports_the_same_reference_as_its_own_order(
        client: TestClient, market: Shop) -> None:
    bazaar = post_import(client, market, [a_marketplace_order("X-1")]).json()["results"][0]
    web = post_import(client, market, [a_marketplace_order("X-1")], who="web").json()["results"][0]
    assert bazaar["status"] == web["status"] == "created"
    assert bazaar["number"] != web["number"]
    assert get_order(client, market, web["number"])["channel"] == "web"
    # each channel sees only its own
    hidden = client.get(f"/api/v1/orders/{bazaar['number']}", headers=market.headers("web"))
    assert hidden.status_code == 404
    again = post_import(client, market, [a_marketplace_order("X-1")], who="web").json()
    assert again["results"][0]["status"] == "duplicate"
    assert again["results"][0]["number"] == web["number"]


def test_only_a_channel_key_imports(client: TestClient, market: Shop) -> None:
    batch = [a_marketplace_order("K-1")]
    for who, status in (("operator", 403), ("admin", 403)):
        response = post_import(client, market, batch, who=who)
        assert response.status_code == status
        assert response.headers["content-type"] == "application/problem+json"
    anonymous = client.post("/api/v1/order-imports", json={"mapping": "marketplace-v1",
                                                           "orders": batch})
    assert anonymous.status_code == 401
    assert count_orders(client, market) == 0


def test_bad_requests_are_problems_never_errors(client: TestClient, market: Shop) -> None:
    headers = {**market.headers("bazaar"), "Content-Type": "application/json"}
    cases: list[tuple[Any, int]] = [
        ({"mapping": "no-such-mapping", "orders": [a_marketplace_order("B-1")]}, 422),
        ({"mapping": "marketplace-v1", "orders": []}, 422),
        ({"mapping": "marketplace-v1", "orders": [{}] * 501}, 422),
        ({"mapping": "marketplace-v1"}, 422),
        ({"mapping": "marketplace-v1", "orders": [], "extra": 1}, 422),
        ({"mapping": {"fields": {"nope": "x"}}, "orders": [{}]}, 422),
        ({"mapping": {"fields": {"currency": "a..b"}}, "orders": [{}]}, 422),
        ([1, 2], 422),
        ("not json", 400),
        ('{"mapping": "marketplace-v1", "orders": [{"order_id": NaN}]}', 400),
        ('{"mapping": "marketplace-v1", "orders": [{"x": ' + "9" * 5000 + "}]}", 400),
    ]
    for body, status in cases:
        content = body if isinstance(body, str) else json.dumps(body)
        response = client.post("/api/v1/order-imports", content=content, headers=headers)
        assert response.status_code == status, (body if isinstance(body, str) else "", response.text)
        assert response.headers["content-type"] == "application/problem+json"
    # documents of the wrong shape are refused one by one, naming the field
    odd = [a_marketplace_order("S-1", buyer=["a list"]),
           a_marketplace_order("S-2", items={"not": "a list"}),
           a_marketplace_order("S-3", items=[{"offer_sku": "TEE-1", "quantity": "two",
                                              "unit_price": "1"}]),
           a_marketplace_order("S-4", items=[{"offer_sku": "NOPE", "quantity": 1,
                                              "unit_price": "1"}]),
           a_marketplace_order("S-5", currency="EURO"),
           a_marketplace_order("S-6", delivery={"address": {"street": "Dam 1"}, "price": "0"})]
    results = post_import(client, market, odd).json()["results"]
    assert [r["status"] for r in results] == ["refused"] * 6
    assert [r["problem"].get("field") for r in results] == [
        "customer.email", "lines", "lines[0].quantity", None, "currency",
        "shipping_address.line1"]
    assert results[3]["problem"]["skus"] == ["NOPE"]


def test_a_custom_mapping_in_minor_units(client: TestClient, market: Shop) -> None:
    mapping = {"money": "minor",
               "fields": {"external_reference": "ref", "currency": "cur",
                          "customer.email": "who.mail", "customer.name": "who.name",
                          "billing_address.line1": "addr.l1", "billing_address.city": "addr.c",
                          "billing_address.country": "addr.cc",
                          "fulfilment.location": "store"},
               "defaults": {"fulfilment.method": "pickup"},
               "lines": {"path": "rows", "fields": {"sku": "0", "unit_price": "price"},
                         "defaults": {"quantity": 1}}}
    document = {"ref": "M-1", "cur": "EUR", "who": {"mail": "a@example.com", "name": "A"},
                "addr": {"l1": "Dam 1", "c": "Amsterdam", "cc": "NL"}, "store": "ST-AMS",
                "rows": [{"0": "TEE-1", "price": 1999}]}
    result = post_import(client, market, [document], mapping=mapping).json()
    assert result["mapping"] == "custom" and result["results"][0]["status"] == "created", result
    order = get_order(client, market, result["results"][0]["number"])
    assert order["fulfilment"]["method"] == "pickup" and order["lines"][0]["unit_price"] == 1999
    assert order["lines"][0]["quantity"] == 1


def test_the_mappings_are_listed_with_their_paths(client: TestClient, market: Shop) -> None:
    listed = client.get("/api/v1/order-import-mappings", headers=market.headers("operator"))
    assert listed.status_code == 200
    body = listed.json()
    assert [m["name"] for m in body["mappings"]] == ["marketplace-v1", "webshop-v1"]
    marketplace = body["mappings"][0]
    assert marketplace["fields"]["customer.email"] == "buyer.email"
    assert marketplace["lines"]["fields"]["unit_price"] == "unit_price"
    assert "unit_price" in body["csv"]["required"]
    for mapping in (*im.MAPPINGS.values(), im.CSV_V1):
        im.check_mapping(mapping)


def test_a_path_reads_keys_and_list_indices() -> None:
    assert im.parse_path("a.b[0][2].c") == ("a", "b", 0, 2, "c")
    for bad in ("", "a..b", "a[x]", "[0]", "a.", 5):
        with pytest.raises(InvalidInput):
            im.parse_path(bad)
    document = a_marketplace_order("P-1")
    mapped = im.map_order(document, im.MARKETPLACE_V1)
    assert mapped["billing_address"]["line2"] == "3rd floor"
    assert mapped["shipping_total"] == 495 and mapped["fulfilment"] == {"method": "ship"}
    assert im.source_path(im.MARKETPLACE_V1, ("lines", 3, "sku")) == "items[3].offer_sku"
    assert im.source_path(im.WEBSHOP_V1, ("shipping_address", "country")) == (
        "shipping_address.country_code")


def test_a_retry_of_the_whole_batch_continues_where_it_stopped(
        client: TestClient, market: Shop, bus: MessageBus, monkeypatch: pytest.MonkeyPatch) -> None:
    # (the client fixture registers the handler with the bus for as long as bus.py does not)
    # the database is locked once while the second order is placed: the bus runs the command
    # again, which must not report the first order, created before, as a duplicate
    place = import_handlers.orders.place_order
    failures = [OperationalError("INSERT", {}, Exception("database is locked"))]

    def flaky(cmd: c.PlaceOrder, uow: Any, setup: Any = None) -> Any:
        if cmd.order["external_reference"] == "R-2" and failures:
            raise failures.pop()
        return place(cmd, uow, setup)

    monkeypatch.setattr(import_handlers.orders, "place_order", flaky)
    orders = tuple(OrderIn.model_validate(im.map_order(a_marketplace_order(ref),
                                                       im.MARKETPLACE_V1)).model_dump(mode="json")
                   for ref in ("R-1", "R-2", "R-3"))
    results = bus.handle(ImportOrders("test", MARKETPLACE, orders))
    assert [r.outcome for r in results] == ["created"] * 3
    assert bus.retried["database_locked"] == 1 and not failures


def test_a_call_centre_agent_places_an_order_for_a_customer(client: TestClient, shop: Shop,
                                                            bus: MessageBus) -> None:
    bus.handle(c.CreateChannel("test", "call_centre", "Call centre"))
    key = bus.handle(c.CreateApiKey("test", "call centre", "channel", "call_centre")).key
    placed = client.post("/api/v1/orders", json=an_order(("TEE-1", 1)), headers={
        "Authorization": f"Bearer {key}", "X-Agent": "agent-7"})
    assert placed.status_code == 201, placed.text
    events = client.get(f"/api/v1/orders/{placed.json()['id']}/events",
                        headers=shop.headers("operator")).json()
    assert events[0]["actor"] == "call_centre/agent-7"
    # the web shop has no agents; a hostile agent name is refused
    refused = client.post("/api/v1/orders", json=an_order(("TEE-1", 1)),
                          headers={**shop.headers("web"), "X-Agent": "agent-7"})
    assert refused.status_code == 422
    hostile = client.post("/api/v1/orders", json=an_order(("TEE-1", 1)), headers={
        "Authorization": f"Bearer {key}", "X-Agent": "a" * 65})
    assert hostile.status_code == 422


def test_a_csv_from_a_spreadsheet_with_a_bom_is_read(client: TestClient, market: Shop) -> None:
    rows = ("external_reference,currency,customer_email,customer_name,billing_line1,"
            "billing_city,billing_country,shipping_line1,shipping_city,shipping_country,sku,"
            "quantity,unit_price\r\n"
            "BOM-1,EUR,ann@example.com,Ann de Vries,Keizersgracht 1,Amsterdam,NL,"
            "Keizersgracht 1,Amsterdam,NL,TEE-1,1,19.99\r\n")
    answer = client.post("/api/v1/order-imports.csv", content=b"\xef\xbb\xbf" + rows.encode(),
                         headers={**market.headers("bazaar"), "content-type": "text/csv"})
    assert answer.status_code == 200, answer.text
    assert [r["status"] for r in answer.json()["results"]] == ["created"], answer.text
