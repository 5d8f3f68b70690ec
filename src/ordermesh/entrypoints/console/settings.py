"""Settings: channels and API keys, locations, sourcing rules, tax rates, SLAs and users."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/console", include_in_schema=False)
