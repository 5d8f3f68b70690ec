"""Lifecycles are tables of state -> {action: next state}; this draws any of them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any


def mermaid(transitions: Mapping[Any, Mapping[str, Any]], initial: str,
            targets: Callable[[Any], list[Any]] = lambda target: [target]) -> str:
    """A Mermaid state diagram drawn from the table itself, so the docs cannot drift from it.
    `targets` turns a table entry into the states it can lead to (one, for most tables)."""
    lines = ["stateDiagram-v2", f"    [*] --> {initial}"]
    for state, moves in transitions.items():
        for action, target in moves.items():
            lines += [f"    {state} --> {to}: {action}" for to in targets(target)]
    lines += [f"    {state} --> [*]" for state, moves in transitions.items() if not moves]
    return "\n".join(lines)
