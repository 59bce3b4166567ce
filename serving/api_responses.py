"""The bodies the API answers with: predictions, batch results, errors; request ids."""

from __future__ import annotations

import itertools
import json
import os
import re
import secrets
import time
from typing import TYPE_CHECKING, Any, Literal

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

if TYPE_CHECKING:  # scorer -> http_contract -> this module: only the types are needed
    from serving.scorer import Answered, Scored

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Unique per process start, then a counter: uuid4 costs ~70 us of os.urandom per call here,
# a tenth of the whole request budget at full load.
_ID_PREFIX = f"{os.getpid():x}{secrets.token_hex(6)}"
_ID_COUNTER = itertools.count(1)


class ApiResponse(JSONResponse):
    """ASCII-escaped JSON: an echoed input holding a lone surrogate would otherwise fail
    to encode as UTF-8 and turn a 400 into a 500."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False,
                          separators=(",", ":")).encode("ascii")


# -- the error bodies, documented in the OpenAPI schema (/docs) ---------------------------
class Problem(BaseModel):
    """An unusable request: what is wrong with it, in words."""

    detail: str = Field(description="What is wrong with the request, naming the field or "
                                    "header where there is one")


class ValidationFailed(BaseModel):
    """Well-typed values that break the transaction contract."""

    message: Literal["Validation failed"]
    errors: list[str] = Field(description="Every broken rule, one message per field")
    input: Any = Field(description="The request body as sent")


class BadRequest(BaseModel):
    """400: a body that is not usable JSON (a string), or values outside the contract."""

    detail: str | ValidationFailed


# What a route reading a JSON body may answer besides 200 and FastAPI's own 422 (which
# FastAPI documents itself); attached to every such route by `http_contract.GuardedRoute`.
BODY_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": BadRequest, "description": "Not usable JSON (empty, malformed, a number "
                                              "not finite or too long), or values outside "
                                              "the transaction contract"},
    413: {"model": Problem, "description": "Body or batch too large"},
    415: {"model": Problem, "description": "A Content-Type other than JSON"},
    503: {"model": Problem, "description": "No champion model loaded yet"},
}


def ok(body: dict[str, Any], request: Request) -> ApiResponse:
    """200 with the request id and the server's own time (Server-Timing, milliseconds,
    from the moment the route got the request: body reading and parsing included):
    benchmarks and the batch test read server time from it, not the client's clock."""
    response = ApiResponse(body, headers={"X-Request-ID": request_id(request)})  # renders
    started = getattr(request.state, "started", None) or time.perf_counter()
    elapsed_ms = (time.perf_counter() - started) * 1000
    response.headers["Server-Timing"] = f"app;dur={elapsed_ms:.1f}"
    return response


def error(status: int, detail: Any, rid: str,
          headers: dict[str, str] | None = None) -> ApiResponse:
    return ApiResponse({"detail": detail}, status_code=status,
                       headers={**(headers or {}), "X-Request-ID": rid})


def request_id(request: Request) -> str:
    """The caller's X-Request-ID when it is a sane token, else a fresh one (kept on the
    request's state, so an error raised later in the same request answers with it)."""
    rid = getattr(request.state, "request_id", None)
    if rid is None:
        given = request.headers.get("x-request-id", "")
        rid = given if _REQUEST_ID.match(given) else f"{_ID_PREFIX}-{next(_ID_COUNTER):x}"
        request.state.request_id = rid
    return rid


# -- exception handlers: FastAPI's own answers, ASCII-escaped and with the request id -----
async def http_error(request: Request, exc: Exception) -> ApiResponse:
    """An HTTPException (unusable body, 413, 503...) as `{"detail": ...}`."""
    assert isinstance(exc, HTTPException)
    return error(exc.status_code, exc.detail, request_id(request), exc.headers)


def _bytes_text(value: bytes) -> str:
    return value.decode("utf-8", errors="replace")


async def validation_error(request: Request, exc: Exception) -> ApiResponse:
    """FastAPI's 422 body, rendered ASCII-escaped: an echoed input holding a lone surrogate
    must not turn the 422 into a 500."""
    assert isinstance(exc, RequestValidationError)
    detail = jsonable_encoder(exc.errors(), custom_encoder={bytes: _bytes_text})
    return error(422, detail, request_id(request))


async def internal_error(request: Request, exc: Exception) -> ApiResponse:
    return error(500, "Internal Server Error", request_id(request))


EXCEPTION_HANDLERS = {HTTPException: http_error, RequestValidationError: validation_error,
                      Exception: internal_error}


def prediction(answered: Answered, row: int) -> dict[str, Any]:
    """The handbook's answer (is_fraud, fraud_probability) plus version and threshold, the
    decision (approve / review / block) at the answering version's bands, and freshness:
    `feature_groups` (per feature group: `feature_age_seconds`, `stale`,
    `freshness_limit_seconds`) and `stale` (some group was stale, so scored as unknown),
    and `event_timestamp` (the event time used) with `event_timestamp_source` (`request`:
    the body's, `arrival`: when it arrived)."""
    scored = answered.scored
    assert scored is not None
    model = scored.answering(row)
    return {"is_fraud": bool(scored.is_fraud[row]),
            "fraud_probability": float(scored.probability[row]),
            "model_version": model.version, "threshold": model.threshold,
            "decision": str(scored.decision[row]),
            "decision_bands": model.bands.as_dict(),
            **scored.event_time_of(row), **scored.freshness_of(row),
            **_reasons(scored, row)}


def _reasons(scored: Scored, row: int) -> dict[str, Any]:
    """`reasons`: the top contributions in log-odds (absent when not asked for)."""
    if scored.reasons is None:
        return {}
    return {"reasons": scored.reasons[row]}


def batch_results(answered: Answered, n_items: int) -> list[dict[str, Any]]:
    """One entry per item, in request order: a prediction or the item's errors."""
    results: list[dict[str, Any]] = [{} for _ in range(n_items)]
    for item, errors in answered.checked.errors.items():
        results[item] = {"errors": errors}
    scored = answered.scored
    if scored is not None:
        model = scored.answering(0)  # a batch is one canary key: one model answers it
        version, threshold, bands = model.version, model.threshold, model.bands.as_dict()
        for row, (item, fraud, proba, decision) in enumerate(zip(
                answered.checked.rows, scored.is_fraud.tolist(), scored.probability.tolist(),
                scored.decision.tolist(), strict=True)):
            results[item] = {"is_fraud": fraud, "fraud_probability": proba,
                             "model_version": version, "threshold": threshold,
                             "decision": decision, "decision_bands": bands,
                             **scored.event_time_of(row), **scored.freshness_of(row),
            **_reasons(scored, row)}
    return results
