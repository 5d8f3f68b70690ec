"""PATCH bodies: which fields a request sets, and which of them may be set to null."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from ordermesh.domain.errors import InvalidInput


def changes_of(patch: BaseModel, nullable: set[str]) -> dict[str, Any]:
    """The fields a PATCH sets; null only where the field may be empty."""
    changes = patch.model_dump(mode="python", exclude_unset=True)
    refused = sorted(k for k, v in changes.items() if v is None and k not in nullable)
    if refused:
        raise InvalidInput(f"these fields cannot be null: {', '.join(refused)}", fields=refused)
    if not changes:
        raise InvalidInput("the patch changes nothing")
    return changes
