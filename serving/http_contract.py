"""The handbook's HTTP contract: reading, parsing and checking request bodies.

Three kinds of bad input, each with its own status, as in the handbook's FastAPI server:

* a body that is not usable JSON (empty, malformed, too large, NaN or Infinity): a 4xx
  with `{"detail": "<what is wrong>"}`;
* a missing field or a value of the wrong JSON type: 422 in FastAPI's shape,
  `{"detail": [{"type", "loc", "msg", "input"}, ...]}`, one entry per field;
* a well-typed value that breaks the transaction contract: 400
  `{"detail": {"message": "Validation failed", "errors": [...], "input": {...}}}`.

The type of each field and every value rule come from `fraud_assets.contract`; nothing
here restates a range or a category.
"""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from fraud_assets import contract

FIELDS: tuple[contract.Field, ...] = contract.REQUEST_FIELDS
NAMES: tuple[str, ...] = tuple(f.name for f in FIELDS)
BATCH_KEY = "transactions"
MAX_BATCH_ITEMS = 10_000
# One transaction is ~100 bytes; these leave room for whitespace and extra keys while
# refusing bodies that could only be abuse.
MAX_PREDICT_BYTES = 64 * 1024
MAX_BATCH_BYTES = 8 * 1024 * 1024
# FastAPI's messages for the same faults, so handbook clients see familiar text.
_TYPE_MESSAGES: dict[str, tuple[str, str]] = {
    "float": ("float_type", "Input should be a valid number"),
    "int": ("int_type", "Input should be a valid integer"),
    "category": ("string_type", "Input should be a valid string"),
    "string": ("string_type", "Input should be a valid string"),
}


class RequestError(Exception):
    """A request the contract refuses: HTTP status and the `detail` of the JSON body."""

    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass
class Checked:
    """Items of a request that passed every check, as typed columns, plus the refusals.

    `rows` are the positions of the valid items in the request (the rows of `frame`);
    `errors` maps the position of each refused item to its readable error messages.
    """

    frame: pd.DataFrame
    rows: list[int]
    errors: dict[int, list[str]] = field(default_factory=dict)
    transaction_ids: list[str | None] = field(default_factory=list)


async def read_body(chunks: AsyncIterator[bytes], declared_length: str | None,
                    limit: int) -> bytes:
    """The whole body, refusing (413) as soon as it is known to be over `limit` bytes."""
    if declared_length is not None and declared_length.isdigit() and int(declared_length) > limit:
        raise RequestError(413, _too_large(limit))
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:  # a chunked body without Content-Length is capped the same way
            raise RequestError(413, _too_large(limit))
        parts.append(chunk)
    body = b"".join(parts)
    if not body.strip():
        raise RequestError(400, "Request body is empty: send a JSON object")
    return body


def _too_large(limit: int) -> str:
    return f"Request body is too large: the limit is {limit:,} bytes"


class _NonFinite(ValueError):
    pass


def _reject_constant(name: str) -> float:
    raise _NonFinite(f"{name} is not a valid JSON number; send a finite number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 parses to inf: as bad as Infinity itself
        raise _NonFinite(f"{text} is out of range for a JSON number; send a finite number")
    return value


def parse_json(body: bytes) -> Any:
    """The decoded body; 400 with the parser's own position for anything not strict JSON."""
    try:
        return json.loads(body, parse_constant=_reject_constant, parse_float=_finite_float)
    except _NonFinite as exc:
        raise RequestError(400, str(exc)) from None
    except RecursionError:
        raise RequestError(400, "Malformed JSON: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise RequestError(400, f"Malformed JSON: {exc}") from None


def _type_error(item: dict[str, Any], f: contract.Field) -> dict[str, Any] | None:
    """FastAPI-style error for one field's JSON type, or None when the type is right."""
    if f.name not in item:
        return {"type": "missing", "loc": ["body", f.name], "msg": "Field required",
                "input": item}
    value = item[f.name]
    kind, msg = _TYPE_MESSAGES[f.kind]
    if f.kind in ("float", "int"):
        # bool is an int in Python but not a number in JSON.
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if ok and f.kind == "int" and isinstance(value, float) and not value.is_integer():
            return {"type": "int_from_float", "loc": ["body", f.name], "input": value,
                    "msg": "Input should be a valid integer, got a number with a "
                           "fractional part"}
    else:
        ok = isinstance(value, str)
    if ok:
        return None
    return {"type": kind, "loc": ["body", f.name], "msg": msg, "input": value}


def object_error(item: Any, loc: list[Any]) -> dict[str, Any]:
    return {"type": "dict_type", "loc": loc, "msg": "Input should be a JSON object",
            "input": item}


def type_errors(item: Any) -> list[dict[str, Any]]:
    """Every missing or wrongly typed field of one item (empty when all are well typed)."""
    if not isinstance(item, dict):
        return [object_error(item, ["body"])]
    return [e for f in FIELDS if (e := _type_error(item, f)) is not None]


def check_items(items: list[Any]) -> Checked:
    """Type-check each item, then value-check all of them at once with the contract."""
    columns: dict[str, list[Any]] = {name: [] for name in NAMES}
    rows: list[int] = []
    ids: list[str | None] = []
    checked = Checked(frame=pd.DataFrame(), rows=rows)
    for i, item in enumerate(items):
        bad = type_errors(item)
        if bad:
            checked.errors[i] = [_describe_type_error(e) for e in bad]
            continue
        rows.append(i)
        for name in NAMES:
            columns[name].append(item[name])
        tid = item.get(contract.TRANSACTION_ID.name)
        ids.append(tid if isinstance(tid, str) else None)
    # JSON types are checked already, so `contract.coerce` (which parses text from
    # landed files) is not needed: the columns are built typed, then the contract's own
    # `violations` applies every value rule.
    frame = pd.DataFrame({f.name: _column(f, columns[f.name]) for f in FIELDS})
    broken = contract.violations(frame)
    bad_rows = np.flatnonzero(broken.to_numpy().any(axis=1))
    for r in bad_rows:  # only the (few) bad rows are described one by one
        item = items[rows[r]]  # the value as sent, not as pandas holds it
        checked.errors[rows[r]] = [_describe_violation(f, item[f.name])
                                   for f in FIELDS if broken.at[r, f.name]]
    if len(bad_rows):
        keep = np.setdiff1d(np.arange(len(rows)), bad_rows)
        frame = frame.iloc[keep].reset_index(drop=True)
        rows[:] = [rows[r] for r in keep]
        ids = [ids[r] for r in keep]
    checked.transaction_ids = ids
    checked.frame = model_dtypes(frame)
    return checked


def _column(f: contract.Field, values: list[Any]) -> np.ndarray:
    if f.kind not in ("float", "int"):
        return np.array(values, dtype=object)
    try:
        return np.array(values, dtype="float64")  # ints too: range checks come first
    except OverflowError:  # an integer with hundreds of digits: out of every range
        return np.array([_finite_or_inf(v) for v in values], dtype="float64")


def _finite_or_inf(value: int | float) -> float:
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def model_dtypes(frame: pd.DataFrame) -> pd.DataFrame:
    """Valid rows in the dtypes the model was fit on (ints are whole and in range now)."""
    for f in FIELDS:
        if f.kind == "int":
            frame[f.name] = frame[f.name].astype("int64")
    return frame


def _describe_violation(f: contract.Field, value: Any) -> str:
    return f"{f.rule()} (got {value!r})"


def _describe_type_error(error: dict[str, Any]) -> str:
    where = ".".join(str(p) for p in error["loc"][1:]) or "item"
    if error["type"] == "missing":
        return f"{where}: Field required"
    return f"{where}: {error['msg']} (got {error['input']!r})"


def batch_items(payload: Any) -> list[Any]:
    """The item list of a /predict_batch body; the envelope itself must be right."""
    if not isinstance(payload, dict):
        raise RequestError(422, [object_error(payload, ["body"])])
    if BATCH_KEY not in payload:
        raise RequestError(422, [{"type": "missing", "loc": ["body", BATCH_KEY],
                                  "msg": "Field required", "input": payload}])
    items = payload[BATCH_KEY]
    if not isinstance(items, list):
        raise RequestError(422, [{"type": "list_type", "loc": ["body", BATCH_KEY],
                                  "msg": "Input should be a valid list", "input": items}])
    if len(items) > MAX_BATCH_ITEMS:
        raise RequestError(413, f"Too many transactions: {len(items):,} sent, the limit is "
                                f"{MAX_BATCH_ITEMS:,} per request")
    return items
