"""Stock from a WMS or POS: counts and deltas, each applied once, stale ones ignored, every
change in the ledger."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.builders import Shop

CLOCK: dict[str, datetime] = {}


@pytest.fixture(autouse=True)
def _feed_clock(shop: Shop) -> None:
    """Feed times start after the shop's own stock was counted."""
    CLOCK["start"] = datetime.now(UTC)


def at(step: int) -> str:
    """A feed time `step` hundredths of a second into the test: ordered and close to now."""
    return (CLOCK["start"] + timedelta(milliseconds=step * 10)).isoformat()


def row(ref: str, mode: str, quantity: int, at: str, sku: str = "TEE-1",
        location: str = "ST-AMS") -> dict[str, Any]:
    return {"sku": sku, "location": location, "mode": mode, "quantity": quantity,
            "source_reference": ref, "counted_at": at}


def sync(client: TestClient, shop: Shop, *rows: dict[str, Any]) -> Any:
    response = client.post("/api/v1/stock-syncs", json={"updates": list(rows)},
                           headers=shop.headers("admin"))
    assert response.status_code == 200, response.text
    return response.json()


def on_hand(client: TestClient, shop: Shop, sku: str = "TEE-1", location: str = "ST-AMS") -> int:
    items = client.get(f"/api/v1/stock-levels?sku={sku}&location={location}",
                       headers=shop.headers("operator")).json()["items"]
    return int(items[0]["on_hand"])


def test_counts_and_deltas_apply_once_and_stale_counts_are_ignored(
        client: TestClient, shop: Shop) -> None:
    # given a count of 20 and, five minutes later, a sale of 2
    result = sync(client, shop, row("c-1", "absolute", 20, at(60)),
                  row("s-1", "delta", -2, at(65)))
    assert result["applied"] == 2 and on_hand(client, shop) == 18
    # when the same feed is sent again, nothing changes
    again = sync(client, shop, row("c-1", "absolute", 20, at(60)),
                 row("s-1", "delta", -2, at(65)))
    assert again["duplicate"] == 2 and on_hand(client, shop) == 18
    # when a newer count arrives, then an older snapshot arrives late
    sync(client, shop, row("c-2", "absolute", 15, at(120)))
    late = sync(client, shop, row("c-0", "absolute", 30, at(0)),
                row("s-0", "delta", -1, at(90)))
    # then the late count and the late delta (already in the newer count) are ignored
    assert [r["outcome"] for r in late["results"]] == ["stale", "stale"]
    assert on_hand(client, shop) == 15


def test_every_change_is_a_ledger_row(client: TestClient, shop: Shop) -> None:
    sync(client, shop, row("c-1", "absolute", 8, at(60)),
         row("r-1", "delta", 5, at(70)))
    movements = client.get("/api/v1/stock-movements?sku=TEE-1&location=ST-AMS",
                           headers=shop.headers("operator")).json()["items"]
    assert [(m["reason"], m["reference"], m["on_hand_delta"]) for m in movements[:2]] == [
        ("sync_delta", "r-1", 5), ("sync_absolute", "c-1", 5)]
    total = sum(m["on_hand_delta"] for m in movements)
    assert total == on_hand(client, shop) == 13


def test_rows_are_reported_one_by_one(client: TestClient, shop: Shop) -> None:
    result = sync(client, shop,
                  row("x-1", "absolute", 4, at(60), sku="NOPE"),
                  row("x-2", "absolute", 4, at(60), location="NOWHERE"),
                  row("x-3", "delta", -100, at(60)),
                  row("x-4", "delta", 1, at(60)))
    assert [(r["outcome"], r["reason"]) for r in result["results"]] == [
        ("rejected", "unknown sku"), ("rejected", "unknown location"),
        ("rejected", "on hand would fall below zero"), ("applied", None)]


def test_bad_feeds_are_refused_whole(client: TestClient, shop: Shop) -> None:
    admin = shop.headers("admin")
    naive_time = row("n-1", "absolute", 4, "2026-11-26T10:00:00")
    twice = [row("d-1", "delta", 1, at(60))] * 2
    float_qty = row("f-1", "delta", 1.5, at(60))  # type: ignore[arg-type]
    for rows in ([naive_time], twice, [float_qty], []):
        response = client.post("/api/v1/stock-syncs", json={"updates": rows}, headers=admin)
        assert response.status_code == 422, rows
    assert on_hand(client, shop) == 3


def test_manual_adjustment_and_safety_stock(client: TestClient, shop: Shop) -> None:
    response = client.put("/api/v1/stock-levels/CAP-1/ST-AMS",
                          json={"on_hand": 6, "safety_stock": 2, "reference": "cycle count 7"},
                          headers=shop.headers("admin"))
    assert response.status_code == 200
    assert response.json() | {"updated_at": None, "last_counted_at": None} == {
        "sku": "CAP-1", "location": "ST-AMS", "on_hand": 6, "reserved": 0, "safety_stock": 2,
        "available": 4, "updated_at": None, "last_counted_at": None, "last_movement_at": None,
        "reorder_point": None, "reorder_quantity": None}
    missing = client.put("/api/v1/stock-levels/NOPE/ST-AMS", json={"on_hand": 1},
                         headers=shop.headers("admin"))
    assert missing.status_code == 404
    negative = client.put("/api/v1/stock-levels/CAP-1/ST-AMS", json={"on_hand": -1},
                          headers=shop.headers("admin"))
    assert negative.status_code == 422


def test_a_late_count_never_undoes_a_newer_sale(client: TestClient, shop: Shop) -> None:
    # given a count of 20, then a sale of 2 five minutes later, each in its own feed
    sync(client, shop, row("c-1", "absolute", 20, at(60)))
    sync(client, shop, row("s-1", "delta", -2, at(65)))
    # when a count taken between them arrives last
    late = sync(client, shop, row("c-2", "absolute", 20, at(63)))
    # then it is stale, and the sale stays counted
    assert late["results"][0]["outcome"] == "stale"
    assert on_hand(client, shop) == 18


def test_a_feed_dated_in_the_future_is_rejected(client: TestClient, shop: Shop) -> None:
    result = sync(client, shop, row("f-1", "absolute", 99, "9999-12-31T00:00:00Z"))
    assert result["results"][0] == {"source_reference": "f-1", "outcome": "rejected",
                                    "on_hand_delta": 0, "reason": "counted_at is in the future"}
    later = sync(client, shop, row("c-1", "absolute", 7, at(1)))
    assert later["applied"] == 1 and on_hand(client, shop) == 7


def test_a_change_by_hand_is_added_to_what_is_on_hand(client: TestClient, shop: Shop) -> None:
    admin = shop.headers("admin")
    # given a sale of 2 that lands after the clerk looked (3 on hand) and before they save
    sync(client, shop, row("s-1", "delta", -2, at(60)))
    # when the clerk records 5 received as a change
    response = client.put("/api/v1/stock-levels/TEE-1/ST-AMS",
                          json={"on_hand_delta": 5, "reference": "found in back room"},
                          headers=admin)
    # then both are kept: 3 - 2 + 5
    assert response.status_code == 200, response.text
    assert response.json()["on_hand"] == on_hand(client, shop) == 6
    movements = client.get("/api/v1/stock-movements?sku=TEE-1&location=ST-AMS",
                           headers=shop.headers("operator")).json()["items"]
    assert [(m["reason"], m["reference"], m["on_hand_delta"]) for m in movements[:2]] == [
        ("adjustment", "found in back room", 5), ("sync_delta", "s-1", -2)]


def test_bad_changes_by_hand_are_refused(client: TestClient, shop: Shop) -> None:
    admin = shop.headers("admin")
    url = "/api/v1/stock-levels/TEE-1/ST-AMS"
    for body in ({"on_hand": 4, "on_hand_delta": 1}, {"on_hand_delta": 1.5},
                 {"on_hand_delta": "1"}, {"on_hand_delta": -(10**9) - 1}):
        assert client.put(url, json=body, headers=admin).status_code == 422, body
    below = client.put(url, json={"on_hand_delta": -4}, headers=admin)
    assert below.status_code == 422
    assert below.headers["content-type"].startswith("application/problem+json")
    assert "cannot go below 0" in below.json()["detail"]
    assert on_hand(client, shop) == 3
    assert "on_hand_delta" in client.get("/openapi.json").json()[
        "components"]["schemas"]["StockLevelIn"]["properties"]
