"""The handbook's HTTP contract: reading, parsing and checking request bodies.

Three kinds of bad input, each with its own status, as in the handbook's FastAPI server:

* a body that is not usable JSON (empty, malformed, too large, NaN or Infinity, not
  UTF-8): a 4xx with `{"detail": "<what is wrong>"}`, raised as `HTTPException` while
  FastAPI reads the body (`GuardedRoute`, FastAPI's "custom Request and APIRoute class");
* a missing field or a value of the wrong JSON type: 422 in FastAPI's shape, produced by
  FastAPI itself from the pydantic models of `serving.schemas`;
* a well-typed value that breaks the transaction contract: 400
  `{"detail": {"message": "Validation failed", "errors": [...], "input": {...}}}`, from
  `contract.violations` run once over all items of a call (`check_items`).

Batch items are type-checked one by one by the same pydantic model (so a bad item gets
its own errors in a 200 answer), then value-checked together. The type of each field and
every value rule come from `fraud_assets.contract`; nothing here restates a range, a
category or a JSON type.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from fastapi import HTTPException, Request, Response
from fastapi.routing import APIRoute
from pydantic import ValidationError

from fraud_assets import contract
from serving.api_responses import BODY_ERRORS
from serving.schemas import MAX_BATCH_ITEMS, validate_item

FIELDS: tuple[contract.Field, ...] = contract.REQUEST_FIELDS
# Every field a request is checked for: the required ones, then the optional ones (the
# card: `Checked.optional`, None where an item leaves it out or sends null).
OPTIONAL_NAMES: tuple[str, ...] = tuple(f.name for f in contract.REQUEST_OPTIONAL_FIELDS)
CHECKED_FIELDS: tuple[contract.Field, ...] = (*FIELDS, *contract.REQUEST_OPTIONAL_FIELDS)
NAMES: tuple[str, ...] = tuple(f.name for f in CHECKED_FIELDS)
# One transaction is ~100 bytes; these leave room for whitespace and extra keys while
# refusing bodies that could only be abuse.
MAX_PREDICT_BYTES = 64 * 1024
# An item's optional event time (issue 15): ISO 8601 text, offset-less = UTC, as in landed
# files (`contract.parse_timestamps`); the answer says which time was used.
EVENT_TIME = contract.EVENT_TIMESTAMP.name
REQUEST, ARRIVAL = "request", "arrival"
_EPOCH = pd.Timestamp(0, tz="UTC")
MAX_BATCH_BYTES = 8 * 1024 * 1024
BODY_LIMITS: dict[str, int] = {"/predict": MAX_PREDICT_BYTES,
                               "/predict_batch": MAX_BATCH_BYTES}


@dataclass
class Checked:
    """Items of a request that passed every check, as typed columns, plus the refusals.

    `frame` has one column per required request field (`contract.REQUEST_FIELDS`), the
    model's part; `optional` one per optional field (`contract.REQUEST_OPTIONAL_FIELDS`,
    the card), None where an item left it out or sent null, same rows;
    `rows` are the positions of the valid items in the request (the rows of `frame`);
    `errors` maps the position of each refused item to its readable error messages.
    """

    frame: pd.DataFrame
    rows: list[int]
    errors: dict[int, list[str]] = field(default_factory=dict)
    transaction_ids: list[str | None] = field(default_factory=list)
    optional: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=OPTIONAL_NAMES))
    # When each valid item's event happened (UTC epoch seconds): its `event_timestamp` if
    # it sent one, else NaN (then `arrival_seconds`, when the items were checked, stands in).
    # `event_ns` the same in integer nanoseconds (exact: the card state compares times),
    # `arrival_ns` the arrival in nanoseconds.
    event_seconds: np.ndarray = field(default_factory=lambda: np.empty(0))
    event_ns: np.ndarray = field(default_factory=lambda: np.empty(0, "int64"))
    arrival_ns: int = 0

    def event_time(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per valid item: the event time used as UTC epoch seconds and nanoseconds, and
        where it came from (`REQUEST` when the item sent `event_timestamp`, else `ARRIVAL`)."""
        sent = np.isfinite(self.event_seconds)
        ns = np.where(sent, self.event_ns, self.arrival_ns).astype("int64")
        return (np.where(sent, self.event_seconds, self.arrival_ns / 1e9), ns,
                np.where(sent, REQUEST, ARRIVAL).astype(object))


# -- the raw body: size, emptiness, strict JSON ------------------------------------------
class GuardedRequest(Request):
    """A request whose `body()` is capped at `limit` bytes while it is read (chunked bodies
    too) and whose `json()` is strict JSON: each refusal is an HTTPException, which FastAPI
    re-raises from body parsing, so the route never sees an unusable body."""

    limit: int = MAX_PREDICT_BYTES

    async def body(self) -> bytes:
        if not hasattr(self, "_body"):
            declared = self.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > self.limit:
                raise HTTPException(413, _too_large(self.limit))
            parts: list[bytes] = []
            size = 0
            async for chunk in self.stream():
                size += len(chunk)
                if size > self.limit:  # no Content-Length (chunked): capped the same way
                    raise HTTPException(413, _too_large(self.limit))
                parts.append(chunk)
            body = b"".join(parts)
            if not body.strip():
                raise HTTPException(400, "Request body is empty: send a JSON object")
            self._body = body
        return self._body

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = parse_json(await self.body())
        return self._json


class GuardedRoute(APIRoute):
    """Routes whose handler reads the request through `GuardedRequest`, with the body
    limit of the route's path (`BODY_LIMITS`, else MAX_PREDICT_BYTES). A route that reads a
    body documents the errors reading it may answer (`api_responses.BODY_ERRORS`)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if "POST" in {m.upper() for m in kwargs.get("methods") or ()}:
            kwargs["responses"] = {**BODY_ERRORS, **(kwargs.get("responses") or {})}
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        limit = BODY_LIMITS.get(self.path, MAX_PREDICT_BYTES)

        async def guarded(request: Request) -> Response:
            if request.method == "POST":
                require_json(request.headers.get("content-type"))
            guarded_request = GuardedRequest(request.scope, request.receive)
            guarded_request.limit = limit
            # Server time (Server-Timing) counts from here: reading and parsing the body,
            # which FastAPI does before the endpoint runs, included.
            guarded_request.state.started = time.perf_counter()
            return await handler(guarded_request)

        return guarded


def require_json(content_type: str | None) -> None:
    """Only JSON bodies (or none said) are read: anything else is 415 naming the type.

    A `text/plain` or form body holding JSON was once scored, which also let any web page
    post cross-site without a CORS preflight; JSON content types always need one."""
    if content_type is None or not content_type.strip():
        return
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/json" or (media.startswith("application/")
                                       and media.endswith("+json")):
        return
    raise HTTPException(415, f"Unsupported Content-Type {media!r}: send the body as "
                             "application/json")


def _too_large(limit: int) -> str:
    return f"Request body is too large: the limit is {limit:,} bytes"


@dataclass(frozen=True)
class _BadNumber:
    """Stands in for a number the body may not hold, until the walk finds its field."""

    problem: str


def parse_json(body: bytes) -> Any:
    """The decoded body; 400 for anything not strict JSON: the parser's own position for
    broken syntax, the field's path for a number that is not finite (NaN, Infinity, 1e999)
    or has more digits than Python reads (4,300: `sys.get_int_max_str_digits`)."""
    bad: list[_BadNumber] = []

    def mark(problem: str) -> _BadNumber:
        bad.append(_BadNumber(problem))
        return bad[-1]

    def constant(name: str) -> Any:
        return mark(f"{name} is not a valid JSON number; send a finite number")

    def finite(text: str) -> Any:
        value = float(text)
        if math.isfinite(value):
            return value
        return mark(f"{_shown(text)} is out of range for a JSON number; send a finite number")

    def integer(text: str) -> Any:  # only after the scanner refused an integer's length
        digits = len(text.lstrip("-"))
        if digits <= sys.get_int_max_str_digits():
            return int(text)
        return mark(f"the number is too long ({digits:,} digits; the limit is "
                    f"{sys.get_int_max_str_digits():,})")

    try:
        try:
            value = json.loads(body, parse_constant=constant, parse_float=finite)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise
        except ValueError:  # an integer longer than int() reads: find which one
            value = json.loads(body, parse_constant=constant, parse_float=finite,
                               parse_int=integer)
    except RecursionError:
        raise HTTPException(400, "Malformed JSON: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise HTTPException(400, f"Malformed JSON: {exc}") from None
    if bad:
        raise HTTPException(400, f"{_path_of(value, bad[0])}: {bad[0].problem}")
    return value


def _shown(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def _path_of(document: Any, target: _BadNumber) -> str:
    """Where `target` sits in the parsed body (`transactions[3].amount`), found without
    recursion: a body may be nested as deeply as the parser allows."""
    stack: list[tuple[Any, str]] = [(document, "")]
    while stack:
        node, path = stack.pop()
        if node is target:
            return path or "the body"
        if isinstance(node, dict):
            stack.extend((v, f"{path}.{k}" if path else str(k)) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, f"{path}[{i}]") for i, v in enumerate(node))
    return "the body"


# -- items: JSON types (pydantic), then value rules (the contract, vectorised) -----------
def typed_item(item: Any) -> tuple[dict[str, Any] | None, list[str]]:
    """One item's request fields as their types (numbers sent as text parsed), or None
    and readable errors for its missing or wrongly typed fields, from the request's field
    types (`schemas.validate_item`, the same as /predict's model)."""
    if not isinstance(item, dict):
        return None, [f"item: Input should be a JSON object (got {item!r})"]
    try:
        return validate_item(item), []
    except ValidationError as exc:
        return None, [_describe_type_error(e) for e in exc.errors(include_url=False)]


def _describe_type_error(error: Any) -> str:
    where = ".".join(str(p) for p in error["loc"]) or "item"
    if error["type"] == "missing":
        return f"{where}: Field required"
    return f"{where}: {error['msg']} (got {error['input']!r})"


def check_items(items: list[Any]) -> Checked:
    """Type-check each item, then value-check all of them at once with the contract."""
    columns: dict[str, list[Any]] = {name: [] for name in NAMES}
    rows: list[int] = []
    ids: list[str | None] = []
    stamps: list[str | None] = []
    checked = Checked(frame=pd.DataFrame(), rows=rows, arrival_ns=time.time_ns())
    for i, item in enumerate(items):
        typed, bad = typed_item(item)
        if typed is None:
            checked.errors[i] = bad
            continue
        rows.append(i)
        for name in NAMES:
            columns[name].append(typed.get(name))  # an optional field left out: None
        tid = item.get(contract.TRANSACTION_ID.name)
        ids.append(tid if isinstance(tid, str) else None)
        stamps.append(typed.get(EVENT_TIME))
    # JSON types are checked already, so `contract.coerce` (which parses text from
    # landed files) is not needed: the columns are built typed, then the contract's own
    # `violations` applies every value rule.
    frame = pd.DataFrame({f.name: _column(f, columns[f.name]) for f in CHECKED_FIELDS})
    broken = contract.violations(frame)
    seconds, nanos, bad_time = _event_seconds(stamps)
    bad_rows = np.flatnonzero(broken.to_numpy().any(axis=1) | bad_time)
    for r in bad_rows:  # only the (few) bad rows are described one by one
        item = items[rows[r]]  # the value as sent, not as pandas holds it
        checked.errors[rows[r]] = [_describe_violation(f, item[f.name])
                                   for f in CHECKED_FIELDS if broken.at[r, f.name]]
        if bad_time[r]:
            checked.errors[rows[r]].append(_describe_bad_time(item[EVENT_TIME]))
    if len(bad_rows):
        keep = np.setdiff1d(np.arange(len(rows)), bad_rows)
        frame = frame.iloc[keep].reset_index(drop=True)
        rows[:] = [rows[r] for r in keep]
        ids = [ids[r] for r in keep]
        seconds, nanos = seconds[keep], nanos[keep]
    checked.transaction_ids = ids
    checked.event_seconds, checked.event_ns = seconds, nanos
    checked.optional = frame[list(OPTIONAL_NAMES)]
    checked.frame = frame.drop(columns=list(OPTIONAL_NAMES))  # ints as float64 here:
    # training.model_input types the columns
    return checked


def _event_seconds(stamps: list[str | None]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per item: its `event_timestamp` in UTC epoch seconds (NaN when not sent or null) and
    nanoseconds (0 then), and whether a sent value is not an ISO 8601 date and time (blank
    included)."""
    n = len(stamps)
    if all(s is None for s in stamps):  # the usual call: no parsing at all
        return np.full(n, np.nan), np.zeros(n, "int64"), np.zeros(n, dtype=bool)
    sent = pd.Series(stamps, dtype=object)
    parsed = contract.parse_timestamps(sent)
    bad = (sent.notna() & parsed.isna()).to_numpy()
    missing = parsed.isna().to_numpy()
    nanos = np.where(missing, 0, (parsed - _EPOCH).fillna(pd.Timedelta(0))
                     .dt.as_unit("ns").astype("int64").to_numpy())
    return np.where(missing, np.nan, nanos / 1e9), nanos.astype("int64"), bad


def _describe_bad_time(value: Any) -> str:
    return (f"{EVENT_TIME} must be an ISO 8601 date and time, e.g. 2025-01-31T14:05:00Z "
            f"(no offset = UTC) (got {value!r})")


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


def _describe_violation(f: contract.Field, value: Any) -> str:
    return f"{f.rule()} (got {value!r})"


def check_batch_size(items: list[Any]) -> list[Any]:
    """The items of a /predict_batch body (its envelope checked by FastAPI), if not too many."""
    if len(items) > MAX_BATCH_ITEMS:
        raise HTTPException(413, f"Too many transactions: {len(items):,} sent, the limit is "
                                f"{MAX_BATCH_ITEMS:,} per request")
    return items
