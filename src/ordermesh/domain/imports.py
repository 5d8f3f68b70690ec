"""Importing orders from marketplaces and webshops (docs/imports.md).

An external order document (JSON) is mapped onto Ordermesh's order fields by a *mapping*, which
is plain data, so it can be stored, listed and sent as JSON:

    {
      "name": "marketplace-v1",
      "description": "what shape of document it reads",
      "money": "decimal",                 # amounts are "19.99" in major units; or "minor": 1999
      "fields": {                         # our field -> a path in the document
        "external_reference": "order_id",
        "customer.email": "buyer.email",
        "billing_address.line1": "invoice_address.street[0]",
        ...
      },
      "defaults": {"fulfilment.method": "ship"},   # used where the path is absent or empty
      "lines": {"path": "items",          # a list in the document, one element per order line
                "fields": {"sku": "offer_sku", "quantity": "quantity",
                           "unit_price": "unit_price"},
                "defaults": {}},
    }

A path is dotted keys with list indices: `buyer.email`, `shipping_lines[0].price`. A key that
is absent, null or an empty string is "no value"; a path that crosses the wrong kind of value
(a key into a list, an index into an object) is an error naming the field. Every error is an
`InvalidInput` whose `field` is our field (`lines[1].unit_price`) and `path` is where it was
read in the document.

Money is never a binary float: with `"money": "decimal"` an amount is a decimal string ("19.99")
or an integer of major units, converted with Decimal by the currency's ISO 4217 exponent (two
decimals for EUR, three for KWD, none for JPY); more decimals than the currency has is refused,
never rounded. With `"money": "minor"` it is already an integer of minor units (1999).

A CSV of order lines (one row per line, grouped into orders by `external_reference`) is read by
`parse_csv` into documents that the built-in `csv-v1` mapping maps (`csv_order`).

Standard library only.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Mapping
from decimal import Context, Decimal, InvalidOperation, localcontext
from typing import Any

from ordermesh.domain.errors import InvalidInput

MAX_ORDERS = 500  # orders in one import
MAX_LINES = 500  # lines in one order, as for an order placed through the API
MAX_MINOR_UNITS = 10**11  # as for an order placed through the API

# ISO 4217 minor-unit exponents other than 2.
CURRENCY_EXPONENTS: dict[str, int] = {
    **dict.fromkeys(("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX",
                     "UYI", "VND", "VUV", "XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    "CLF": 4, "UYW": 4,
}

# What each of our fields holds, which decides how the value read is converted.
TEXT, UPPER, MONEY, INTEGER, COORDINATE, BOOLEAN = (
    "text", "upper", "money", "integer", "coordinate", "boolean")
_ADDRESS = {"name": TEXT, "company": TEXT, "line1": TEXT, "line2": TEXT, "city": TEXT,
            "postal_code": TEXT, "region": TEXT, "country": UPPER}
ORDER_FIELDS: dict[str, str] = {
    "external_reference": TEXT,
    "currency": UPPER,  # before the amounts: they are converted by its exponent
    "customer.email": TEXT, "customer.name": TEXT, "customer.phone": TEXT,
    **{f"billing_address.{key}": kind for key, kind in _ADDRESS.items()},
    **{f"shipping_address.{key}": kind for key, kind in _ADDRESS.items()},
    "shipping_address.latitude": COORDINATE, "shipping_address.longitude": COORDINATE,
    "delivery_instructions": TEXT,
    "payment_token": TEXT,
    "fulfilment.method": TEXT, "fulfilment.location": TEXT,
    "packaging.gift_wrap": BOOLEAN, "packaging.gift_message": TEXT,
    "packaging.name_on_package": TEXT,
    "shipping_total": MONEY,
}
LINE_FIELDS: dict[str, str] = {"sku": TEXT, "quantity": INTEGER, "unit_price": MONEY}
REQUIRED = ("external_reference", "currency", "customer.email", "customer.name",
            "billing_address.line1", "billing_address.city", "billing_address.country",
            "fulfilment.method")
MONEY_MODES = ("decimal", "minor")

_SEGMENT = re.compile(r"([^.\[\]]+)((?:\[[0-9]{1,4}\])*)")
_INDEX = re.compile(r"\[([0-9]+)\]")
_DECIMAL = re.compile(r"[0-9]{1,15}(?:\.[0-9]{1,18})?")
_WHOLE = re.compile(r"[0-9]{1,15}")
_SIGNED = re.compile(r"[-+]?[0-9]{1,3}(?:\.[0-9]{1,15})?")
_BOOLEANS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
_CONTEXT = Context(prec=60)  # wide enough that no amount allowed here is ever rounded

Path = tuple[str | int, ...]


# ---------------------------------------------------------------- built-in mappings

MARKETPLACE_V1: dict[str, Any] = {
    "name": "marketplace-v1",
    "description": (
        "A generic marketplace order: `order_id`, `currency`, a `buyer` "
        "(`email`, `name`, `phone`), an `invoice_address` and a `delivery.address` whose "
        "`street` is a list of one or two lines, `delivery.instructions`, `delivery.price` "
        "as a decimal string, and `items` of `offer_sku`, `quantity` and `unit_price` "
        "(a decimal string in major units, e.g. \"19.99\"). Every order is shipped."),
    "money": "decimal",
    "fields": {
        "external_reference": "order_id",
        "currency": "currency",
        "customer.email": "buyer.email",
        "customer.name": "buyer.name",
        "customer.phone": "buyer.phone",
        "billing_address.name": "invoice_address.name",
        "billing_address.company": "invoice_address.company",
        "billing_address.line1": "invoice_address.street[0]",
        "billing_address.line2": "invoice_address.street[1]",
        "billing_address.city": "invoice_address.city",
        "billing_address.postal_code": "invoice_address.zip",
        "billing_address.region": "invoice_address.state",
        "billing_address.country": "invoice_address.country",
        "shipping_address.name": "delivery.address.name",
        "shipping_address.company": "delivery.address.company",
        "shipping_address.line1": "delivery.address.street[0]",
        "shipping_address.line2": "delivery.address.street[1]",
        "shipping_address.city": "delivery.address.city",
        "shipping_address.postal_code": "delivery.address.zip",
        "shipping_address.region": "delivery.address.state",
        "shipping_address.country": "delivery.address.country",
        "delivery_instructions": "delivery.instructions",
        "shipping_total": "delivery.price",
    },
    "defaults": {"fulfilment.method": "ship"},
    "lines": {"path": "items",
              "fields": {"sku": "offer_sku", "quantity": "quantity", "unit_price": "unit_price"},
              "defaults": {}},
}

WEBSHOP_V1: dict[str, Any] = {
    "name": "webshop-v1",
    "description": (
        "A webshop platform's order (the widespread `line_items` shape): numeric `id`, "
        "`currency`, `email`, `phone`, `billing_address` and `shipping_address` with "
        "`name`, `company`, `address1`, `address2`, `city`, `zip`, `province_code`, "
        "`country_code` (and `latitude`, `longitude` on the shipping address), `note`, "
        "`total_shipping_price_set.shop_money.amount`, and `line_items` of `sku`, `quantity` "
        "and `price`, all amounts decimal strings. The customer's name is the billing "
        "address's `name`. Every order is shipped."),
    "money": "decimal",
    "fields": {
        "external_reference": "id",
        "currency": "currency",
        "customer.email": "email",
        "customer.name": "billing_address.name",
        "customer.phone": "phone",
        **{f"{side}.{ours}": f"{side}.{theirs}"
           for side in ("billing_address", "shipping_address")
           for ours, theirs in (("name", "name"), ("company", "company"), ("line1", "address1"),
                                ("line2", "address2"), ("city", "city"), ("postal_code", "zip"),
                                ("region", "province_code"), ("country", "country_code"))},
        "shipping_address.latitude": "shipping_address.latitude",
        "shipping_address.longitude": "shipping_address.longitude",
        "delivery_instructions": "note",
        "shipping_total": "total_shipping_price_set.shop_money.amount",
    },
    "defaults": {"fulfilment.method": "ship"},
    "lines": {"path": "line_items",
              "fields": {"sku": "sku", "quantity": "quantity", "unit_price": "price"},
              "defaults": {}},
}

# CSV: one row per order line. Order columns may repeat on every row of the order or be given
# on its first row only; rows of one order that give different values are refused.
CSV_ORDER_COLUMNS: dict[str, str] = {
    "external_reference": "external_reference",
    "currency": "currency",
    "customer_email": "customer.email",
    "customer_name": "customer.name",
    "customer_phone": "customer.phone",
    **{f"{prefix}_{key}": f"{side}.{key}"
       for prefix, side in (("billing", "billing_address"), ("shipping", "shipping_address"))
       for key in _ADDRESS},
    "shipping_latitude": "shipping_address.latitude",
    "shipping_longitude": "shipping_address.longitude",
    "delivery_instructions": "delivery_instructions",
    "fulfilment_method": "fulfilment.method",
    "pickup_location": "fulfilment.location",
    "gift_wrap": "packaging.gift_wrap",
    "gift_message": "packaging.gift_message",
    "name_on_package": "packaging.name_on_package",
    "shipping_total": "shipping_total",
}
CSV_LINE_COLUMNS = ("sku", "quantity", "unit_price")
CSV_REQUIRED_COLUMNS = ("external_reference", "currency", "customer_email", "customer_name",
                        "billing_line1", "billing_city", "billing_country", *CSV_LINE_COLUMNS)

CSV_V1: dict[str, Any] = {
    "name": "csv-v1",
    "description": (
        "An order grouped from CSV rows (one row per order line): the order columns, and "
        "`sku`, `quantity`, `unit_price` per row; amounts are decimal strings in major units. "
        "Orders are shipped unless `fulfilment_method` says `pickup`."),
    "money": "decimal",
    "fields": {ours: column for column, ours in CSV_ORDER_COLUMNS.items()},
    "defaults": {"fulfilment.method": "ship"},
    "lines": {"path": "lines", "fields": {column: column for column in CSV_LINE_COLUMNS},
              "defaults": {}},
}

MAPPINGS: dict[str, dict[str, Any]] = {m["name"]: m for m in (MARKETPLACE_V1, WEBSHOP_V1)}


# ---------------------------------------------------------------- mapping


def map_order(document: Any, mapping: Mapping[str, Any]) -> dict[str, Any]:
    """The order fields (as `POST /api/v1/orders` takes them, amounts in minor units) that
    `mapping` reads from `document`. Raises InvalidInput naming the field on bad or missing
    data. Whether an email or a country code is valid is left to the order schema."""
    check_mapping(mapping)
    if not isinstance(document, dict):
        raise InvalidInput(f"an order document must be an object, not {_kind(document)}")
    reader = _Reader(mapping)
    values: dict[str, Any] = {}
    for name, kind in ORDER_FIELDS.items():
        values[name] = reader.read(document, name, kind, values.get("currency"))
    for name in REQUIRED:
        if values[name] is None:
            raise _missing(name, reader.fields.get(name))
    order = _nest({k: v for k, v in values.items() if v is not None})
    order["lines"] = reader.lines(document, values["currency"])
    return order


def check_mapping(mapping: Any) -> None:
    """Refuse a mapping that is not one: unknown fields, bad paths, a required field that has
    neither a path nor a default."""
    if not isinstance(mapping, Mapping):
        raise InvalidInput("a mapping must be an object", field="mapping")
    unknown = sorted(set(mapping) - {"name", "description", "money", "fields", "defaults",
                                     "lines"})
    if unknown:
        raise InvalidInput(f"mapping: unknown keys {', '.join(unknown)}", field="mapping")
    if mapping.get("money", "decimal") not in MONEY_MODES:
        raise InvalidInput("mapping.money must be 'decimal' or 'minor'", field="mapping.money")
    _check_fields(mapping, ORDER_FIELDS, "mapping")
    lines = mapping.get("lines")
    if not isinstance(lines, Mapping) or set(lines) - {"path", "fields", "defaults"}:
        raise InvalidInput("mapping.lines must be an object with path, fields and defaults",
                           field="mapping.lines")
    parse_path(lines.get("path"), "mapping.lines.path")
    _check_fields(lines, LINE_FIELDS, "mapping.lines")
    given = {**(mapping.get("fields") or {}), **(mapping.get("defaults") or {})}
    absent = [f for f in REQUIRED if f not in given]
    given_lines = {**(lines.get("fields") or {}), **(lines.get("defaults") or {})}
    absent += [f"lines.{f}" for f in LINE_FIELDS if f not in given_lines]
    if absent:
        raise InvalidInput(f"mapping: no path or default for {', '.join(absent)}",
                           field="mapping.fields")


def parse_path(path: Any, where: str = "path") -> Path:
    """`a.b[0].c` as the steps ("a", "b", 0, "c")."""
    if not isinstance(path, str) or not 0 < len(path) <= 200:
        raise InvalidInput(f"{where}: a path is a non-empty string of at most 200 characters",
                           field=where)
    steps: list[str | int] = []
    for segment in path.split("."):
        match = _SEGMENT.fullmatch(segment)
        if match is None:
            raise InvalidInput(f"{where}: {path!r} is not a path like 'buyer.email' or "
                               "'items[0].sku'", field=where)
        steps.append(match.group(1))
        steps.extend(int(i) for i in _INDEX.findall(match.group(2)))
    return tuple(steps)


def source_path(mapping: Mapping[str, Any], loc: tuple[str | int, ...]) -> str | None:
    """Where in the document the order field at `loc` (("customer", "email"), or
    ("lines", 2, "unit_price")) was read, for telling a channel what to fix."""
    if len(loc) >= 3 and loc[0] == "lines" and isinstance(loc[1], int):
        lines = mapping.get("lines") or {}
        inner = (lines.get("fields") or {}).get(str(loc[2]))
        return f"{lines.get('path')}[{loc[1]}].{inner}" if inner else None
    for size in range(len(loc), 0, -1):
        path = (mapping.get("fields") or {}).get(".".join(str(step) for step in loc[:size]))
        if path:
            return str(path)
    return None


def reference_of(document: Any, mapping: Mapping[str, Any]) -> str | None:
    """The channel's reference of a document, if it can be read; never raises."""
    try:
        path = parse_path((mapping.get("fields") or {}).get("external_reference"))
        value = _resolve(document, path, "external_reference", "")
    except (InvalidInput, AttributeError):
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str):
        return value.strip()[:200] or None
    return None


def minor_units(value: Any, currency: str, field: str = "amount", mode: str = "decimal") -> int:
    """An amount as an integer of the currency's minor units: a decimal string or a Decimal
    of major units ("19.99" -> 1999 in EUR, "1.250" -> 1250 in KWD), or already minor units
    with mode "minor". Never a float; never rounded: too many decimals is refused."""
    if isinstance(value, bool | float):
        raise InvalidInput(f"{field}: amounts are decimal strings like \"19.99\" or integers, "
                           f"not {_kind(value)}", field=field)
    if mode == "minor":
        whole = _whole_number(value, field)
        if whole is None:
            raise InvalidInput(f"{field}: expected an integer of minor units, "
                               f"got {_kind(value)}", field=field)
        return _bounded(whole, field)
    amount = _decimal(value, field)
    exponent = CURRENCY_EXPONENTS.get(currency, 2)
    with localcontext(_CONTEXT):
        scaled = amount.scaleb(exponent)
        if scaled != scaled.to_integral_value():
            raise InvalidInput(f"{field}: {amount} has more decimals than {currency} has "
                               f"({exponent})", field=field)
    return _bounded(int(scaled), field)


def _check_fields(spec: Mapping[str, Any], allowed: dict[str, str], where: str) -> None:
    for key in ("fields", "defaults"):
        entries = spec.get(key) or {}
        if not isinstance(entries, Mapping):
            raise InvalidInput(f"{where}.{key} must be an object", field=f"{where}.{key}")
        unknown = sorted(set(entries) - set(allowed))
        if unknown:
            raise InvalidInput(f"{where}.{key}: unknown fields {', '.join(unknown)}",
                               field=f"{where}.{key}")
        for name, value in entries.items():
            if key == "fields":
                parse_path(value, f"{where}.fields.{name}")
            elif not isinstance(value, str | int | bool):
                raise InvalidInput(f"{where}.defaults.{name}: a default is a string, number or "
                                   "boolean", field=f"{where}.defaults.{name}")


class _Reader:
    """Reads fields from a document by a checked mapping."""

    def __init__(self, mapping: Mapping[str, Any]) -> None:
        self.money = str(mapping.get("money", "decimal"))
        self.fields: dict[str, str] = dict(mapping.get("fields") or {})
        self.defaults: dict[str, Any] = dict(mapping.get("defaults") or {})
        spec = mapping["lines"]
        self.lines_path = str(spec["path"])
        self.line_fields: dict[str, str] = dict(spec.get("fields") or {})
        self.line_defaults: dict[str, Any] = dict(spec.get("defaults") or {})

    def read(self, document: Any, name: str, kind: str, currency: str | None,
             fields: dict[str, str] | None = None, defaults: dict[str, Any] | None = None,
             label: str | None = None) -> Any:
        fields = self.fields if fields is None else fields
        defaults = self.defaults if defaults is None else defaults
        label = label or name
        path = fields.get(name)
        raw = _resolve(document, parse_path(path), label, path) if path else None
        if _empty(raw):
            raw = defaults.get(name)
        if _empty(raw):
            return None
        return self.convert(raw, kind, label, path, currency)

    def convert(self, raw: Any, kind: str, label: str, path: str | None,
                currency: str | None) -> Any:
        where = f"{label} (at {path})" if path else label
        try:
            if kind == MONEY:
                if currency is None:
                    raise InvalidInput(f"{label}: an amount needs the order's currency")
                return minor_units(raw, currency, label, self.money)
            if kind == INTEGER:
                whole = _whole_number(raw, label)
                if whole is None:
                    raise InvalidInput(f"{label}: expected a whole number, got {_kind(raw)}")
                return whole
            if kind == COORDINATE:
                return _coordinate(raw, label)
            if kind == BOOLEAN:
                return _boolean(raw, label)
            text = _text(raw, label)
            return text.upper() if kind == UPPER else text
        except InvalidInput as exc:
            raise InvalidInput(exc.detail.replace(label, where, 1), field=label,
                               **({"path": path} if path else {})) from None

    def lines(self, document: Any, currency: str) -> list[dict[str, Any]]:
        items = _resolve(document, parse_path(self.lines_path), "lines", self.lines_path)
        if _empty(items) or items == []:
            raise InvalidInput(f"lines (at {self.lines_path}): an order needs at least one line",
                               field="lines", path=self.lines_path)
        if not isinstance(items, list):
            raise InvalidInput(f"lines (at {self.lines_path}): expected a list, got "
                               f"{_kind(items)}", field="lines", path=self.lines_path)
        if len(items) > MAX_LINES:
            raise InvalidInput(f"lines (at {self.lines_path}): at most {MAX_LINES} lines",
                               field="lines", path=self.lines_path)
        result = []
        for index, item in enumerate(items):
            line_paths = {name: f"{self.lines_path}[{index}].{path}"
                          for name, path in self.line_fields.items()}
            line: dict[str, Any] = {}
            for name, kind in LINE_FIELDS.items():
                label = f"lines[{index}].{name}"
                value = self._line_value(item, name, kind, label, line_paths.get(name),
                                         currency)
                if value is None:
                    raise _missing(label, line_paths.get(name))
                line[name] = value
            result.append(line)
        return result

    def _line_value(self, item: Any, name: str, kind: str, label: str, full_path: str | None,
                    currency: str) -> Any:
        path = self.line_fields.get(name)
        raw = _resolve(item, parse_path(path), label, full_path) if path else None
        if _empty(raw):
            raw = self.line_defaults.get(name)
        if _empty(raw):
            return None
        return self.convert(raw, kind, label, full_path, currency)


def _resolve(document: Any, steps: Path, field: str, path: str | None) -> Any:
    value = document
    for n, step in enumerate(steps):
        if value is None:
            return None
        if isinstance(step, int):
            if not isinstance(value, list):
                raise _shape(field, path, steps[:n], "a list", value)
            value = value[step] if step < len(value) else None
        else:
            if not isinstance(value, dict):
                raise _shape(field, path, steps[:n], "an object", value)
            value = value.get(step)
    return value


def _shape(field: str, path: str | None, before: Path, expected: str, value: Any) -> InvalidInput:
    where = _format(before) or "the document"
    return InvalidInput(f"{field} (at {path}): expected {expected} at {where}, got {_kind(value)}",
                        field=field, path=path)


def _format(steps: Path) -> str:
    text = ""
    for step in steps:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else step)
    return text


def _missing(field: str, path: str | None) -> InvalidInput:
    where = f" (at {path})" if path else ""
    return InvalidInput(f"{field}{where} is required", field=field,
                        **({"path": path} if path else {}))


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, float):
        return "a binary floating-point number"
    if isinstance(value, int | Decimal):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "null" if value is None else type(value).__name__


def _text(value: Any, field: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # numeric ids and postal codes
    if not isinstance(value, str):
        raise InvalidInput(f"{field}: expected text, got {_kind(value)}")
    if len(value) > 1000:
        raise InvalidInput(f"{field}: at most 1000 characters")
    return value.strip()


def _decimal(value: Any, field: str) -> Decimal:
    if isinstance(value, int):
        value = Decimal(value)
    elif isinstance(value, str):
        text = value.strip()
        if not _DECIMAL.fullmatch(text):
            raise InvalidInput(f"{field}: {text[:40]!r} is not an amount like \"19.99\"")
        value = Decimal(text)
    if not isinstance(value, Decimal):
        raise InvalidInput(f"{field}: expected an amount like \"19.99\", got {_kind(value)}")
    if not value.is_finite() or value < 0 or value.adjusted() > 15 or _exponent(value) < -18:
        raise InvalidInput(f"{field}: not an amount Ordermesh can take")
    return value


def _exponent(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    return exponent if isinstance(exponent, int) else 0


def _whole_number(value: Any, field: str) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        whole = value
    elif isinstance(value, str) and _WHOLE.fullmatch(value.strip()):
        whole = int(value.strip())
    elif isinstance(value, Decimal) and value.is_finite() and -18 <= value.adjusted() <= 15:
        with localcontext(_CONTEXT):
            if value != value.to_integral_value():
                raise InvalidInput(f"{field}: {value} is not a whole number")
            whole = int(value)
    else:
        return None
    if whole < 0:
        raise InvalidInput(f"{field}: may not be negative")
    return whole


def _bounded(amount: int, field: str) -> int:
    if not 0 <= amount <= MAX_MINOR_UNITS:
        raise InvalidInput(f"{field}: an amount is between 0 and {MAX_MINOR_UNITS} minor units")
    return amount


def _coordinate(value: Any, field: str) -> float:
    if isinstance(value, str) and _SIGNED.fullmatch(value.strip()):
        value = Decimal(value.strip())
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise InvalidInput(f"{field}: expected a coordinate in degrees, got {_kind(value)}")
    try:
        degrees = float(value)
    except (OverflowError, InvalidOperation, ValueError):
        degrees = math.nan
    if not math.isfinite(degrees) or abs(degrees) > 180:
        raise InvalidInput(f"{field}: not a coordinate in degrees")
    return degrees


def _boolean(value: Any, field: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _BOOLEANS:
        return _BOOLEANS[value.strip().lower()]
    raise InvalidInput(f"{field}: expected true or false, got {_kind(value)}")


def _nest(values: dict[str, Any]) -> dict[str, Any]:
    """{"customer.email": x} as {"customer": {"email": x}}."""
    nested: dict[str, Any] = {}
    for name, value in values.items():
        head, _, tail = name.partition(".")
        if tail:
            nested.setdefault(head, {})[tail] = value
        else:
            nested[head] = value
    return nested


# ---------------------------------------------------------------- CSV


def parse_csv(text: str) -> list[dict[str, Any]]:
    """Group a CSV of order lines (one row per line, a header row first) into one document per
    `external_reference`, in the order they first appear, for `csv_order`. Each document holds
    the order columns (the first non-empty value of the order's rows), `lines` (the line columns
    of each row) and `rows` (the row numbers, the header being row 1). Raises InvalidInput for a
    file that cannot be read as a whole: no header, unknown or missing columns, a row without a
    reference or with more cells than the header."""
    if text.startswith("\ufeff"):
        text = text[1:]
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise InvalidInput("the CSV is empty: it needs a header row and one row per line")
        columns = [name.strip().lower() for name in header]
        _check_columns(columns)
        documents: dict[str, dict[str, Any]] = {}
        for cells in reader:
            row = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) > len(columns):
                raise InvalidInput(f"row {row}: more cells than the header has columns",
                                   row=row)
            values = dict(zip(columns, [c.strip() for c in cells], strict=False))
            reference = values.get("external_reference", "")
            if not reference:
                raise InvalidInput(f"row {row}: external_reference is empty", row=row,
                                   field="external_reference")
            if reference not in documents and len(documents) == MAX_ORDERS:
                raise InvalidInput(f"row {row}: at most {MAX_ORDERS} orders in one import",
                                   row=row)
            _add_row(documents.setdefault(reference, {"lines": [], "rows": [], "conflicts": []}),
                     values, row)
    except csv.Error as exc:
        raise InvalidInput(f"the CSV cannot be read: row {reader.line_num}: {exc}",
                           row=reader.line_num) from None
    if not documents:
        raise InvalidInput("the CSV has a header but no rows")
    return list(documents.values())


def csv_order(document: Mapping[str, Any]) -> dict[str, Any]:
    """The order fields of one document of `parse_csv`; InvalidInput names the column and the
    row of the problem."""
    rows: list[int] = list(document.get("rows") or [])
    conflicts: list[tuple[str, int]] = list(document.get("conflicts") or [])
    if conflicts:
        clash, at = conflicts[0]
        raise InvalidInput(f"{clash} (row {at}): the rows of one order give different values",
                           field=CSV_ORDER_COLUMNS[clash], column=clash, row=at)
    try:
        return map_order(dict(document), CSV_V1)
    except InvalidInput as exc:
        field = str(exc.extra.get("field", ""))
        path = str(exc.extra.get("path", ""))
        line = re.match(r"lines\[([0-9]+)\]", field)
        row = rows[int(line.group(1))] if line and int(line.group(1)) < len(rows) else (
            rows[0] if rows else None)
        column = path.rpartition(".")[2] if path else None
        detail = exc.detail.replace(f"(at {path})", f"(column {column}, row {row})") if path else (
            f"{exc.detail} (row {row})")
        raise InvalidInput(detail, field=field or None, column=column, row=row) from None


def _check_columns(columns: list[str]) -> None:
    known = set(CSV_ORDER_COLUMNS) | set(CSV_LINE_COLUMNS)
    unknown = sorted({c for c in columns if c not in known})
    if unknown:
        raise InvalidInput(f"unknown CSV columns: {', '.join(c[:40] for c in unknown[:10])}",
                           columns=[c[:40] for c in unknown[:10]])
    twice = sorted({c for c in columns if columns.count(c) > 1})
    if twice:
        raise InvalidInput(f"CSV columns given twice: {', '.join(twice)}", columns=twice)
    missing = [c for c in CSV_REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise InvalidInput(f"missing CSV columns: {', '.join(missing)}", columns=missing)


def _add_row(document: dict[str, Any], values: dict[str, str], row: int) -> None:
    document["rows"].append(row)
    document["lines"].append({column: values.get(column, "") for column in CSV_LINE_COLUMNS})
    for column in CSV_ORDER_COLUMNS:
        value = values.get(column, "")
        if not value:
            continue
        if not document.get(column):
            document[column] = value
        elif document[column] != value:
            document["conflicts"].append((column, row))
