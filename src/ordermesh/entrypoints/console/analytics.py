"""Process analytics: stage times, where orders get stuck, rates and sales, with charts."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/console", include_in_schema=False)
