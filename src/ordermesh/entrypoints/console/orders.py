"""Orders: search, detail with the timeline, and the actions on an order."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/console", include_in_schema=False)
