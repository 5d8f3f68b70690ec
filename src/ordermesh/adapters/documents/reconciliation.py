"""The reconciliation report as CSV: one row per payout, then one per finding."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from ordermesh.domain.settlement import Finding, PayoutCheck

FIELDS = ("record", "gateway", "payout", "arrival_date", "currency", "captured", "refunded",
          "fees", "other", "expected", "paid_out", "difference", "reference", "order",
          "problem", "expected_amount", "actual_amount")


def reconciliation_csv(checks: Iterable[PayoutCheck], late: Iterable[Finding]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, FIELDS, lineterminator="\n")
    writer.writeheader()
    findings: list[Finding] = []
    for check in checks:
        writer.writerow({
            "record": "payout", "gateway": check.gateway, "payout": check.payout,
            "arrival_date": check.arrival_date.isoformat(), "currency": check.currency,
            "captured": check.captured, "refunded": check.refunded, "fees": check.fees,
            "other": check.other, "expected": check.expected, "paid_out": check.paid_out,
            "difference": check.difference})
        findings.extend(check.findings)
    for finding in [*findings, *late]:
        writer.writerow({"record": "finding", "payout": finding.payout or "",
                         "reference": finding.reference, "order": finding.order_number or "",
                         "problem": finding.problem, "expected_amount": finding.expected,
                         "actual_amount": finding.actual})
    return out.getvalue()
