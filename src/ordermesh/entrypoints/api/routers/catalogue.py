"""/api/v1/products and /api/v1/locations: what is sold and where it is held."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from ordermesh.adapters.db import queries
from ordermesh.entrypoints.api.deps import AdminKey, AnyKey, Bus, Db, read_connection, read_one
from ordermesh.entrypoints.api.pagination import decode_cursor, is_key, page
from ordermesh.entrypoints.api.patching import changes_of
from ordermesh.entrypoints.api.schemas.catalogue import (
    LocationIn,
    LocationOut,
    LocationPatch,
    ProductIn,
    ProductOut,
    ProductPatch,
)
from ordermesh.entrypoints.api.schemas.common import Page
from ordermesh.services import commands as c

router = APIRouter(prefix="/api/v1", tags=["catalogue"])

PRODUCT_NULLABLE = {"category", "gtin", "weight_grams", "length_mm", "width_mm", "height_mm",
                    "release_date", "supplier_code"}
LOCATION_NULLABLE = {"daily_order_capacity"}


def _product(db: Db, sku: str) -> dict[str, Any]:
    return read_one(db, "product", queries.get_product, sku)


@router.post("/products", status_code=201, response_model=ProductOut)
def create_product(body: ProductIn, principal: AdminKey, bus: Bus, db: Db) -> dict[str, Any]:
    sku = bus.handle(c.CreateProduct(principal.actor, body.model_dump(mode="python")))
    return _product(db, sku)


@router.get("/products", response_model=Page[ProductOut])
def list_products(principal: AnyKey, db: Db, category: str | None = None,
                  active: bool | None = None, cursor: str | None = None,
                  limit: Annotated[int, Query(ge=1, le=200)] = 50) -> dict[str, Any]:
    with read_connection(db) as conn:
        rows = queries.list_products(conn, decode_cursor(cursor, is_key), limit + 1, category, active)
    return page(rows, limit, lambda row: row["sku"])


@router.get("/products/{sku}", response_model=ProductOut)
def get_product(sku: str, principal: AnyKey, db: Db) -> dict[str, Any]:
    return _product(db, sku)


@router.patch("/products/{sku}", response_model=ProductOut)
def update_product(sku: str, body: ProductPatch, principal: AdminKey, bus: Bus,
                   db: Db) -> dict[str, Any]:
    bus.handle(c.UpdateProduct(principal.actor, sku, changes_of(body, PRODUCT_NULLABLE)))
    return _product(db, sku)


def _location(db: Db, code: str) -> dict[str, Any]:
    return read_one(db, "location", queries.get_location, code)


@router.post("/locations", status_code=201, response_model=LocationOut)
def create_location(body: LocationIn, principal: AdminKey, bus: Bus, db: Db) -> dict[str, Any]:
    code = bus.handle(c.CreateLocation(principal.actor, body.model_dump(mode="json")))
    return _location(db, code)


@router.get("/locations", response_model=list[LocationOut])
def list_locations(principal: AnyKey, db: Db) -> list[dict[str, Any]]:
    with read_connection(db) as conn:
        return queries.list_locations(conn)


@router.get("/locations/{code}", response_model=LocationOut)
def get_location(code: str, principal: AnyKey, db: Db) -> dict[str, Any]:
    return _location(db, code)


@router.patch("/locations/{code}", response_model=LocationOut)
def update_location(code: str, body: LocationPatch, principal: AdminKey, bus: Bus,
                    db: Db) -> dict[str, Any]:
    changes = changes_of(body, LOCATION_NULLABLE)
    as_json = body.model_dump(mode="json")
    for field in ("address", "shipping_rates"):
        if field in changes:
            changes[field] = as_json[field]
    bus.handle(c.UpdateLocation(principal.actor, code, changes))
    return _location(db, code)
