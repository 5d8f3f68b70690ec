"""The fingerprint that ties an Idempotency-Key to its order body."""

from __future__ import annotations

from ordermesh.entrypoints.api.routers.orders import request_hash


def test_key_order_and_empty_fields_do_not_change_the_fingerprint() -> None:
    body = {"currency": "EUR", "lines": [{"sku": "A", "quantity": 1}], "cart_hold": None}
    same = {"lines": [{"quantity": 1, "sku": "A"}], "currency": "EUR"}
    assert request_hash(body) == request_hash(same)


def test_any_real_difference_changes_it() -> None:
    body = {"currency": "EUR", "lines": [{"sku": "A", "quantity": 1}]}
    assert request_hash(body) != request_hash({**body, "lines": [{"sku": "A", "quantity": 2}]})
    assert request_hash(body) != request_hash({**body, "cart_hold": "h-1"})
