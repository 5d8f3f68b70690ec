"""Reconciliation of a payout against our own captures, refunds and fees."""

from __future__ import annotations

from datetime import date

from ordermesh.domain.settlement import Item, Ours, check_payout, not_settled

DAY = date(2026, 11, 28)


def ours(*movements: Ours) -> dict[str, list[Ours]]:
    found: dict[str, list[Ours]] = {}
    for movement in movements:
        found.setdefault(movement.reference, []).append(movement)
    return found


def check(paid_out: int, items: list[Item], mine: dict[str, list[Ours]]):  # type: ignore[no-untyped-def]
    return check_payout("test", "po_1", DAY, "EUR", paid_out, items, mine)


CAPTURE = Ours("cap_1", "capture", 10_000, 320, "OM-000001")
REFUND = Ours("re_1", "refund", 2_500, 0, "OM-000001")


def test_a_payout_of_our_captures_less_refunds_and_fees_reconciles() -> None:
    items = [Item("capture", "cap_1", 10_000, 320), Item("refund", "re_1", -2_500, 0)]
    result = check(10_000 - 2_500 - 320, items, ours(CAPTURE, REFUND))
    assert (result.captured, result.refunded, result.fees) == (10_000, 2_500, 320)
    assert result.expected == result.paid_out and result.difference == 0
    assert result.reconciled and result.findings == []


def test_what_does_not_match_is_listed_for_review() -> None:
    items = [Item("capture", "cap_1", 10_001, 320),  # the gateway says one more
             Item("capture", "cap_x", 500, 45),  # not ours
             Item("refund", "re_1", -2_500, 10),  # a fee we were not told of
             Item("fee", "fee_monthly", -1_000, 0)]  # the gateway's own
    paid_out = 10_001 + 500 - 2_500 - 375 - 1_000 - 7  # and 7 short
    result = check(paid_out, items, ours(CAPTURE, REFUND))
    problems = [(f.reference, f.problem, f.expected, f.actual) for f in result.findings]
    assert problems == [
        ("cap_1", "amount_differs", 10_000, 10_001),
        ("cap_x", "unknown_movement", None, 500),
        ("re_1", "fee_differs", 0, 10),
        ("fee_monthly", "gateway_fee", None, -1_000),
        ("po_1", "total_differs", paid_out + 7, paid_out),
    ]
    assert result.difference == -7 and not result.reconciled


def test_several_captures_under_one_reference_are_each_matched_once() -> None:
    first = Ours("ch_1", "capture", 3_000, None, "OM-000002")
    second = Ours("ch_1", "capture", 4_000, None, "OM-000002")
    items = [Item("capture", "ch_1", 4_000, 146), Item("capture", "ch_1", 3_000, 117)]
    result = check(7_000 - 263, items, ours(first, second))
    assert result.reconciled, result.findings
    # a third capture under the reference that we never made is not matched twice
    items.append(Item("capture", "ch_1", 3_000, 117))
    again = check(10_000 - 380, items, ours(first, second))
    assert [f.problem for f in again.findings] == ["unknown_movement"]


def test_our_movements_no_payout_settled_are_listed() -> None:
    (finding,) = not_settled([REFUND])
    assert (finding.payout, finding.reference, finding.problem, finding.expected) == (
        None, "re_1", "not_settled", -2_500)
