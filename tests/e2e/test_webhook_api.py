"""The webhook admin API: subscriptions with a secret shown once, the delivery log, replays;
admins only; outbound URLs on public addresses only."""

from __future__ import annotations

from fastapi.testclient import TestClient

from ordermesh.services import commands as c
from ordermesh.services.bus import MessageBus
from tests.builders import Shop
from tests.e2e.test_fulfilments import place

PUBLIC = "https://93.184.216.34/hooks"  # a public address, written as one (no DNS here)


def test_an_admin_subscribes_and_reads_the_delivery_log(client: TestClient, shop: Shop,
                                                        bus: MessageBus) -> None:
    admin = shop.headers("admin")
    made = client.post("/api/v1/webhook-subscriptions", headers=admin, json={
        "url": PUBLIC, "event_types": ["order.placed", "fulfilment.*"],
        "description": "ERP"})
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["secret"].startswith("whsec_") and body["active"] is True
    listed = client.get("/api/v1/webhook-subscriptions", headers=admin).json()
    assert [s["id"] for s in listed] == [body["id"]] and "secret" not in listed[0]
    one = client.get(f"/api/v1/webhook-subscriptions/{body['id']}", headers=admin).json()
    assert "secret" not in one and one["event_types"] == ["fulfilment.*", "order.placed"]
    # an order placed: its order.placed waits to be delivered
    place(client, shop, ("TEE-1", 1))
    bus.handle(c.RelayEvents("worker"))
    log = client.get(f"/api/v1/webhook-subscriptions/{body['id']}/deliveries",
                     headers=admin).json()
    assert [(d["event_type"], d["status"], d["attempts"]) for d in log] == [
        ("order.placed", "pending", 0)]
    replay = client.post(f"/api/v1/webhook-deliveries/{log[0]['id']}/replay", headers=admin)
    assert replay.status_code == 202
    # narrowed, then switched off and on
    patched = client.patch(f"/api/v1/webhook-subscriptions/{body['id']}", headers=admin,
                           json={"event_types": ["order.*"], "active": False})
    assert (patched.json()["event_types"], patched.json()["active"]) == (["order.*"], False)
    again = client.patch(f"/api/v1/webhook-subscriptions/{body['id']}", headers=admin,
                         json={"active": True})
    assert (again.json()["active"], again.json()["failures"]) == (True, 0)


def test_subscriptions_are_for_admins_and_public_urls(client: TestClient, shop: Shop) -> None:
    for who in ("web", "operator"):
        refused = client.post("/api/v1/webhook-subscriptions", headers=shop.headers(who),
                              json={"url": PUBLIC, "event_types": ["*"]})
        assert refused.status_code == 403
    admin = shop.headers("admin")
    for url in ("http://127.0.0.1:9000/x", "http://10.0.0.1/x", "http://[::1]/x",
                "http://169.254.169.254/latest", "file:///etc/passwd"):
        refused = client.post("/api/v1/webhook-subscriptions", headers=admin,
                              json={"url": url, "event_types": ["*"]})
        assert refused.status_code == 422, (url, refused.text)
        assert refused.headers["content-type"] == "application/problem+json"
    for types in ([], ["order..placed"], ["Order.Placed"]):
        refused = client.post("/api/v1/webhook-subscriptions", headers=admin,
                              json={"url": PUBLIC, "event_types": types})
        assert refused.status_code == 422
    assert client.get("/api/v1/webhook-subscriptions/nope", headers=admin).status_code == 404
    assert client.post("/api/v1/webhook-deliveries/999/replay", headers=admin
                       ).status_code == 404
    assert client.get("/api/v1/webhook-subscriptions", headers=admin).json() == []


def test_odd_admin_input_is_refused_not_a_crash(client: TestClient, shop: Shop) -> None:
    admin = shop.headers("admin")
    made = client.post("/api/v1/webhook-subscriptions", headers=admin,
                       json={"url": PUBLIC, "event_types": ["*"]}).json()
    nulled = client.patch(f"/api/v1/webhook-subscriptions/{made['id']}", headers=admin,
                          json={"active": None})
    assert nulled.status_code == 422
    huge = client.post("/api/v1/webhook-deliveries/99999999999999999999/replay", headers=admin)
    assert huge.status_code == 422
    tabbed = client.post("/api/v1/webhook-subscriptions", headers=admin,
                         json={"url": "https://93.184.216.34/ho\toks", "event_types": ["*"]})
    assert tabbed.status_code == 422
    unknown = client.patch("/api/v1/channels/web", headers=admin, json={"locale": "zz_ZZ"})
    assert unknown.status_code == 422
