"""The request bodies as pydantic models, derived from `fraud_assets.contract`.

FastAPI validates a body against these models and answers 422 itself for a missing field
or a value of the wrong JSON type; the OpenAPI page (/docs) shows them. They check JSON
types only: every value rule (ranges, categories) stays in `contract.violations`, applied
by `serving.http_contract.check_items`, and answers 400.

JSON types, as the handbook's FastAPI server and its clients know them:
* a number field takes a JSON number or a string holding one ("150.0", "14"), as
  FastAPI's default (lax) mode reads it; never a bool, null, a list or an object
  (`contract.is_json_number`, the one rule for both routes);
* an integer field takes a whole number (23, 23.0, "23"), not 14.5 (`int_from_float`);
* a category takes a JSON string;
* an optional field (`contract.REQUEST_OPTIONAL_FIELDS`: the card) takes a JSON string or
  null, or is left out (null and left out both mean "not known"); a number or a boolean is
  never an id (422). Its value rule (1 to 64 characters, not blank) is the contract's: 400.
An integer too large for a float (10**400) is not a type error: it is out of every range,
so it passes to the value rules and gets their 400, as before. A number with more digits
than Python reads (4,300) never gets here: `http_contract.parse_json` refuses it (400).

`BatchRequest.transactions` is a list of `TransactionRequest` in the schema, but FastAPI
does not validate its items (`SkipValidation`): one bad item must get its own errors in a
200 answer, not turn the whole batch into a 422. Each item is validated once, later,
with the same field types (`TransactionFields`, a TypedDict built from the same table,
in `serving.http_contract.check_items`), and the value rules run once over all valid
items (`contract.violations` on typed columns). Measured on 10,000 items (2 cores, CPU
time): 12.6 ms for the TypedDict per item, 18.6 ms for `TransactionRequest` per item,
23 ms for FastAPI validating `list[TransactionRequest]` (60 ms on the first call), 17 ms
for the hand-written type check this replaced. Pydantic models per item would have cost
the batch route its 10% budget; the TypedDict keeps one set of type rules and is cheaper.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, NotRequired

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SkipValidation,
    TypeAdapter,
    create_model,
)
from pydantic_core import PydanticCustomError
from typing_extensions import TypedDict

from fraud_assets import contract

BATCH_KEY = "transactions"
MAX_BATCH_ITEMS = 10_000


_NOT_A_NUMBER = "Input should be a valid {kind} (a JSON number, or a string holding one)"


def _json_number(value: Any) -> Any:
    """A number field's JSON value (`contract.is_json_number`); text is left to pydantic's
    lax parsing. Ints become floats here so one with hundreds of digits is infinite (out
    of every range: a 400 later) instead of a type error."""
    if not contract.is_json_number(value):
        raise PydanticCustomError("float_type", _NOT_A_NUMBER.format(kind="number"))
    if isinstance(value, int):
        try:
            return float(value)
        except OverflowError:
            return math.inf if value > 0 else -math.inf
    return value


def _json_integer(value: Any) -> Any:
    """An integer field's JSON value (`contract.is_json_number`); pydantic then refuses a
    fractional one (`int_from_float`, `int_parsing`)."""
    if not contract.is_json_number(value):
        raise PydanticCustomError("int_type", _NOT_A_NUMBER.format(kind="integer"))
    return value


_TYPES: dict[str, Any] = {
    "float": Annotated[float, BeforeValidator(_json_number)],
    "int": Annotated[int, BeforeValidator(_json_integer)],
    "category": str,
    "string": str,
}


def _description(f: contract.Field) -> str:
    text = f"{f.description[0].upper()}{f.description[1:]}; {f.rule()}."
    if f.kind in ("float", "int"):
        text += " A JSON number, or a string holding one; never a boolean."
    return text


def _documented_rule(f: contract.Field) -> dict[str, Any]:
    """The field's value rule as JSON Schema keywords: documented for clients (and the
    fuzz tests' generators), not enforced by pydantic, which would make a value outside
    the contract a 422; `contract.violations` enforces them (400 naming every rule)."""
    if f.allowed is not None:
        return {"enum": list(f.allowed)}
    rule: dict[str, Any] = {}
    if f.low is not None:
        rule["exclusiveMinimum" if f.low_exclusive else "minimum"] = f.low
    if f.high is not None:
        rule["maximum"] = f.high
    return rule


def _documented_length(f: contract.Field) -> dict[str, Any]:
    return {} if f.max_length is None else {"minLength": 1, "maxLength": f.max_length,
                                            "pattern": r"\S"}


def _optional_field(f: contract.Field) -> tuple[Any, Any]:
    """An optional request field: a string, null or left out (all of them "not known")."""
    return (_TYPES[f.kind] | None, Field(
        None, description=_description(f) + " Null or left out: not known (an empty "
                                        "string is refused: 400).",
        examples=[f"card-{'0' * 4}1"], json_schema_extra=_documented_length(f) or None))


def _field(f: contract.Field) -> tuple[Any, Any]:
    extra = _documented_rule(f) or None
    example = f.allowed[0] if f.allowed else (f.high or 1) / 2 if f.kind == "float" else f.low
    return (_TYPES[f.kind], Field(description=_description(f), examples=[example],
                                  json_schema_extra=extra))


# The documented form of `event_timestamp` (a safe subset of what is accepted: every string
# it matches is a valid time, so clients and the fuzz tests' generators never build one the
# service refuses; the service also reads other ISO 8601 forms, e.g. day 31 or no seconds).
EVENT_TIME_PATTERN = (r"^(19|20)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])"
                      r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?"
                      r"(Z|[+-](0[0-9]|1[0-3]):[0-5][0-9])?$")
_CONFIG = ConfigDict(extra="allow")  # extra keys are allowed and ignored, as before
TransactionRequest: type[BaseModel] = create_model(
    "TransactionRequest",
    __config__=_CONFIG,
    __doc__="One card transaction to score (the handbook's request body).",
    **{f.name: _field(f) for f in contract.REQUEST_FIELDS},
    **{f.name: _optional_field(f) for f in contract.REQUEST_OPTIONAL_FIELDS},
    **{contract.EVENT_TIMESTAMP.name: (str | None, Field(
        None, description="Optional: when the card was used, ISO 8601 (no offset = UTC). "
                          "Left out or null: the time the request arrived. The answer's "
                          "event_timestamp_source says which was used; text that is not "
                          "a date and time is refused (400).",
        examples=["2025-01-15T14:05:00Z"],
        json_schema_extra={"pattern": EVENT_TIME_PATTERN}))},
    # Documented, not enforced: a non-string id is simply not logged, as before.
    **{contract.TRANSACTION_ID.name: (
        Annotated[str | None, SkipValidation],
        Field(None, description=f"Optional {contract.TRANSACTION_ID.description}, "
                                "written to the prediction log"))},
)


class BatchRequest(BaseModel):
    """Up to 10,000 transactions, answered in order, each with a prediction or its errors."""

    model_config = _CONFIG
    transactions: list[SkipValidation[TransactionRequest]] = Field(  # type: ignore[valid-type]
        description=f"The transactions to score (at most {MAX_BATCH_ITEMS:,}; more is a "
                    "413). Items are checked one by one: a bad item gets its errors in "
                    "the answer, the others are scored.")


# The same JSON types as a TypedDict, to check batch items one by one: the same field
# validators and error types as TransactionRequest, without building a model instance per
# item (10,000 items: 12.6 ms instead of 18.6 ms).
TransactionFields = TypedDict(  # type: ignore[misc]
    "TransactionFields", {**{f.name: _TYPES[f.kind] for f in contract.REQUEST_FIELDS},
                          **{f.name: NotRequired[_TYPES[f.kind] | None]
                             for f in contract.REQUEST_OPTIONAL_FIELDS},
                          contract.EVENT_TIMESTAMP.name: NotRequired[str | None]})
TransactionFields.__pydantic_config__ = _CONFIG  # type: ignore[attr-defined]
validate_item = TypeAdapter(TransactionFields).validator.validate_python
