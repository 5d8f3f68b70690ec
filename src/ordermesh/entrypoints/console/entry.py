"""Call-centre order entry: find the customer, add lines with live availability, place the order."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/console", include_in_schema=False)
