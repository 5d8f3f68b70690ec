"""Integrations: webhook subscriptions, their delivery log with replay, the demo mailbox."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/console", include_in_schema=False)
