"""The request bodies as pydantic models, derived from `fraud_assets.contract`.

FastAPI validates a body against these models and answers 422 itself for a missing field
or a value of the wrong JSON type; the OpenAPI page (/docs) shows them. They check JSON
types only: every value rule (ranges, categories) stays in `contract.violations`, applied
by `serving.http_contract.check_items`, and answers 400.

JSON types, as the handbook's FastAPI server and its clients know them:
* a number field takes a JSON number, never a string ("150"), a bool or null;
* an integer field takes a whole number (23 or 23.0), not 14.5 (`int_from_float`);
* a category takes a JSON string.
An integer too large for a float (10**400) is not a type error: it is out of every range,
so it passes to the value rules and gets their 400, as before.

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
from typing import Annotated, Any

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


def _json_number(value: Any) -> Any:
    """A JSON number (bool is an int in Python, not a number in JSON)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PydanticCustomError("float_type", "Input should be a valid number")
    if isinstance(value, int):
        try:
            return float(value)
        except OverflowError:  # hundreds of digits: out of every range, a 400 later
            return math.inf if value > 0 else -math.inf
    return value


def _json_integer(value: Any) -> Any:
    """A JSON number; pydantic then refuses a fractional one (`int_from_float`)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


_TYPES: dict[str, Any] = {
    "float": Annotated[float, BeforeValidator(_json_number)],
    "int": Annotated[int, BeforeValidator(_json_integer)],
    "category": str,
    "string": str,
}


def _description(f: contract.Field) -> str:
    return f"{f.description[0].upper()}{f.description[1:]}; {f.rule()}."


def _field(f: contract.Field) -> tuple[Any, Any]:
    extra = {"enum": list(f.allowed)} if f.allowed is not None else None
    example = f.allowed[0] if f.allowed else (f.high or 1) / 2 if f.kind == "float" else f.low
    return (_TYPES[f.kind], Field(description=_description(f), examples=[example],
                                  json_schema_extra=extra))


_CONFIG = ConfigDict(extra="allow")  # extra keys are allowed and ignored, as before
TransactionRequest: type[BaseModel] = create_model(
    "TransactionRequest",
    __config__=_CONFIG,
    __doc__="One card transaction to score (the handbook's request body).",
    **{f.name: _field(f) for f in contract.REQUEST_FIELDS},
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
    "TransactionFields", {f.name: _TYPES[f.kind] for f in contract.REQUEST_FIELDS})
TransactionFields.__pydantic_config__ = _CONFIG  # type: ignore[attr-defined]
validate_item = TypeAdapter(TransactionFields).validator.validate_python
