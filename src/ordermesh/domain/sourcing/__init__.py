"""Sourcing: where each order line should come from, and why. Pure; see model.py for the rules."""

from ordermesh.domain.sourcing.model import (
    COUNTER_SALE,
    DEFAULT_PREFERENCES,
    Allocation,
    Candidate,
    Decision,
    Demand,
    Network,
    Plan,
    Policy,
    Preference,
    Rate,
    Refusal,
    Request,
    Site,
    Source,
    Supply,
    Terms,
    Wait,
    WaitKind,
    channel_policy,
    preferences,
)
from ordermesh.domain.sourcing.planner import plan
from ordermesh.domain.sourcing.waits import unsupplied_promise

__all__ = [
    "COUNTER_SALE", "DEFAULT_PREFERENCES", "Allocation", "Candidate", "Decision", "Demand", "Network", "Plan",
    "Policy", "Preference", "Rate", "Refusal", "Request", "Site", "Source", "Supply", "Terms",
    "Wait", "WaitKind", "channel_policy", "plan", "preferences", "unsupplied_promise",
]
