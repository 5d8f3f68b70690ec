"""The fulfilment queue of a location: pick lists, packing, labels, dispatch and pickups."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/console", include_in_schema=False)
