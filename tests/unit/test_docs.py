"""The lifecycle diagram in the docs is the transition table, not a copy that drifts."""

from __future__ import annotations

from pathlib import Path

from ordermesh.domain import fulfilments, purchasing
from ordermesh.domain.orders import TRANSITIONS, transition_diagram

DOC = Path(__file__).parents[2] / "docs" / "order-lifecycle.md"


def test_lifecycle_doc_shows_the_transition_table() -> None:
    assert f"```mermaid\n{transition_diagram()}\n```" in DOC.read_text()


def test_every_transition_is_an_edge_of_the_diagram() -> None:
    edges = transition_diagram().splitlines()
    for state, moves in TRANSITIONS.items():
        for action in moves:
            assert any(e.strip().startswith(f"{state} -->") and e.endswith(f": {action}")
                       for e in edges)


def test_lifecycle_doc_shows_the_purchase_order_table() -> None:
    assert f"```mermaid\n{purchasing.transition_diagram()}\n```" in DOC.read_text()


def test_lifecycle_doc_shows_the_fulfilment_table() -> None:
    assert f"```mermaid\n{fulfilments.transition_diagram()}\n```" in DOC.read_text()
