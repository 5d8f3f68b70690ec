"""/api/v1/order-imports: a channel imports orders from a marketplace or webshop, as JSON
documents read by a mapping or as a CSV of order lines (docs/imports.md)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from ordermesh.domain import imports as im
from ordermesh.domain.errors import DomainError, InvalidInput
from ordermesh.entrypoints.api.deps import AnyKey, Bus, ChannelKey, Principal
from ordermesh.entrypoints.api.errors import STATUS
from ordermesh.entrypoints.api.input_guard import MAX_BODY
from ordermesh.entrypoints.api.schemas.orders import OrderIn
from ordermesh.services.handlers.imports import ImportResult
from ordermesh.services.import_commands import ImportOrders

router = APIRouter(prefix="/api/v1", tags=["order imports"])

MAX_CSV_BYTES = MAX_BODY  # 2 MiB, the limit of every request body
CSV_TYPES = ("text/csv", "text/plain", "application/csv")


class ImportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mapping: Annotated[str, StringConstraints(min_length=1, max_length=64)] | dict[str, Any] = (
        Field(description="A built-in mapping's name (GET /api/v1/order-import-mappings), or a "
                          "mapping object of the same form"))
    orders: list[Any] = Field(min_length=1, max_length=im.MAX_ORDERS,
                              description="The channel's order documents, as it sends them")


class ImportedOrderOut(BaseModel):
    index: int = Field(description="The document's position in the batch, from 0")
    external_reference: str | None
    status: Literal["created", "duplicate", "refused"]
    order_id: str | None = None
    number: str | None = Field(None, description="The order created, or the one already "
                                                 "imported with this reference")
    rows: list[int] | None = Field(None, description="CSV: the rows of the order")
    problem: dict[str, Any] | None = Field(None, description="Why it was refused "
                                                             "(a problem+json body)")


class ImportOut(BaseModel):
    mapping: str
    created: int
    duplicate: int
    refused: int
    results: list[ImportedOrderOut]


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


async def decimal_json(request: Request) -> Any:
    """The body as JSON, its numbers with a fraction read as Decimal, never as binary floats."""
    body = await request.body()
    try:
        return json.loads(body, parse_float=Decimal, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise HTTPException(400, "The body must be a JSON document") from exc


async def csv_text(request: Request) -> str:
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type not in CSV_TYPES:
        raise HTTPException(415, "Send the CSV as text/csv")
    body = await request.body()
    if len(body) > MAX_CSV_BYTES:
        raise HTTPException(413, f"A CSV import is at most {MAX_CSV_BYTES} bytes")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HTTPException(400, "The CSV must be UTF-8") from exc


_JSON_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": ImportIn.model_json_schema()}}}}
_CSV_BODY = {"requestBody": {"required": True, "content": {
    "text/csv": {"schema": {"type": "string"},
                 "example": "external_reference,currency,customer_email,customer_name,"
                            "billing_line1,billing_city,billing_country,sku,quantity,unit_price\n"
                            "S-1,EUR,ann@example.com,Ann,Keizersgracht 1,Amsterdam,NL,TEE-1,2,"
                            "19.99\n"}}}}


@router.post("/order-imports", response_model=ImportOut, openapi_extra=_JSON_BODY)
def import_orders(document: Annotated[Any, Depends(decimal_json)], principal: ChannelKey,
                  bus: Bus) -> dict[str, Any]:
    """Import up to 500 order documents of the key's channel, read by a mapping. Each order is
    placed on its own: `created`, `duplicate` (its external reference was imported or placed
    before: the existing order's number) or `refused` (with the problem). Answers 200."""
    try:
        body = ImportIn.model_validate(document)
    except ValidationError as exc:
        raise RequestValidationError([{**err, "loc": ("body", *err["loc"])}
                                      for err in exc.errors(include_input=False)]) from None
    mapping = _mapping(body.mapping)
    prepared: list[tuple[dict[str, Any] | None, dict[str, Any]]] = []
    for n, doc in enumerate(body.orders):
        order, refusal = _prepare(lambda d=doc: im.map_order(d, mapping), mapping)
        prepared.append((order, {"index": n, "external_reference": im.reference_of(doc, mapping),
                                 **refusal}))
    return _run(prepared, principal, bus, str(mapping.get("name") or "custom"))


@router.post("/order-imports.csv", response_model=ImportOut, openapi_extra=_CSV_BODY,
             responses={415: {"description": "The body is not sent as text/csv", "content": {
                 "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}})
def import_orders_csv(text: Annotated[str, Depends(csv_text)], principal: ChannelKey,
                      bus: Bus) -> dict[str, Any]:
    """Import a CSV of order lines (one row per line, grouped into orders by
    `external_reference`; columns in docs/imports.md), at most 500 orders and 2 MiB. Each order
    is placed on its own, as for JSON imports."""
    prepared: list[tuple[dict[str, Any] | None, dict[str, Any]]] = []
    for n, doc in enumerate(im.parse_csv(text)):
        order, refusal = _prepare(lambda d=doc: im.csv_order(d), im.CSV_V1)
        prepared.append((order, {"index": n, "external_reference": doc.get("external_reference"),
                                 "rows": doc["rows"], **refusal}))
    return _run(prepared, principal, bus, im.CSV_V1["name"])


@router.get("/order-import-mappings")
def import_mappings(principal: AnyKey) -> dict[str, Any]:
    """The built-in mappings (our field -> the path read in the document) and the CSV
    columns, as documentation of the shapes Ordermesh reads."""
    return {
        "mappings": list(im.MAPPINGS.values()),
        "csv": {"columns": [*im.CSV_ORDER_COLUMNS, *im.CSV_LINE_COLUMNS],
                "required": list(im.CSV_REQUIRED_COLUMNS),
                "fields": {**im.CSV_ORDER_COLUMNS,
                           **{column: f"lines[].{column}" for column in im.CSV_LINE_COLUMNS}},
                "money": "decimal"},
    }


def _mapping(given: str | dict[str, Any]) -> Mapping[str, Any]:
    if isinstance(given, str):
        if given not in im.MAPPINGS:
            raise InvalidInput(f"unknown mapping {given[:64]!r}; built in: "
                               f"{', '.join(im.MAPPINGS)}", field="mapping")
        return im.MAPPINGS[given]
    im.check_mapping(given)
    return given


def _prepare(read: Any, mapping: Mapping[str, Any]
             ) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The order fields of one document, validated as an order placed through the API, or
    None and its refusal."""
    try:
        fields = read()
        order = OrderIn.model_validate(fields).model_dump(mode="json")
    except DomainError as exc:
        return None, {"status": "refused", "problem": _problem(exc)}
    except ValidationError as exc:
        return None, {"status": "refused", "problem": _invalid(exc, mapping)}
    return order, {}


def _run(prepared: list[tuple[dict[str, Any] | None, dict[str, Any]]], principal: Principal,
         bus: Bus, name: str) -> dict[str, Any]:
    assert principal.channel is not None
    valid = [(entry, order) for order, entry in prepared if order is not None]
    if valid:
        placed: list[ImportResult] = bus.handle(ImportOrders(
            principal.actor, principal.channel, tuple(order for _, order in valid)))
        for (entry, _), result in zip(valid, placed, strict=True):
            entry.update(status=result.outcome, order_id=result.order_id, number=result.number)
            if result.error is not None:
                entry["problem"] = _problem(result.error)
    results = [entry for _, entry in prepared]
    counts = {status: sum(1 for r in results if r["status"] == status)
              for status in ("created", "duplicate", "refused")}
    return {"mapping": name, **counts, "results": results}


def _problem(exc: DomainError) -> dict[str, Any]:
    status = next((s for cls, s in STATUS.items() if isinstance(exc, cls)), 400)
    body: dict[str, Any] = {"type": f"urn:ordermesh:problem:{exc.code}", "title": exc.title,
                            "status": status, "code": exc.code, "detail": exc.detail}
    extra = jsonable_encoder({k: v for k, v in exc.extra.items() if v is not None})
    body.update({k: v for k, v in extra.items() if k not in body})
    return body


def _invalid(exc: ValidationError, mapping: Mapping[str, Any]) -> dict[str, Any]:
    """A mapped document that is not a valid order: the fields named, and where they were read,
    never the values."""
    errors = [{"field": _dotted(err["loc"]), "path": im.source_path(mapping, err["loc"]),
               "msg": err["msg"], "type": err["type"]}
              for err in exc.errors(include_input=False, include_url=False)]
    first = errors[0]
    where = f" (at {first['path']})" if first["path"] else ""
    return {"type": "urn:ordermesh:problem:request.invalid", "title": "Invalid request",
            "status": 422, "code": "request.invalid",
            "detail": f"{first['field'] or 'order'}{where}: {first['msg']}",
            "field": first["field"], "path": first["path"], "errors": errors}


def _dotted(loc: tuple[str | int, ...]) -> str:
    text = ""
    for step in loc:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else str(step))
    return text
