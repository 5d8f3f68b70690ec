"""Purchasing: replenishment proposals, purchase orders, receipts and supplier bills."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/console", include_in_schema=False)
