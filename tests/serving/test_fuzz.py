"""Schemathesis against the service's own OpenAPI schema, on a real `bentoml serve`.

Bodies generated from the schema, valid and broken (wrong types, missing fields, other
media types), go to every operation; each answer must be no 5xx, a documented status
code and content type, and a body in the documented shape (`api_responses.BODY_ERRORS`
for the 4xx of a route that reads JSON, FastAPI's 422). A bounded number of examples per
operation keeps this in the default suite (about half a minute on 2 shared cores, plus
the server's start); the seed is fixed, so a failure replays.

Not checked: `negative_data_rejection`, because the schema says `number` for `amount`
while the service also reads a string holding a number ("150.0"), as FastAPI's default
does (serving/schemas.py): such a "negative" example is rightly answered 200.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from fraud_assets.orchestration.processes import Server as BentoServer
from tests.serving.support import running_server

# Per operation and mode; FRAUD_FUZZ_EXAMPLES=1000 for a deeper search by hand.
EXAMPLES = int(os.environ.get("FRAUD_FUZZ_EXAMPLES", "50"))
POST = ("POST /predict", "POST /predict_batch")
GET = ("GET /health", "GET /model-info")
CHECKS = [schemathesis.checks.not_a_server_error,
          schemathesis.checks.status_code_conformance,
          schemathesis.checks.content_type_conformance,
          schemathesis.checks.response_schema_conformance,
          schemathesis.checks.positive_data_acceptance]


@pytest.fixture(scope="module")
def server(served_home: Path) -> Iterator[BentoServer]:
    yield from running_server(served_home, poll_seconds=30)


@pytest.fixture(scope="module")
def api_schema(server: BentoServer) -> schemathesis.BaseSchema:
    """The schema as the server publishes it (/openapi.json), requests sent to it."""
    return schemathesis.openapi.from_url(f"{server.url}/openapi.json")


def test_the_fuzzed_operations_are_all_of_the_schema(api_schema: schemathesis.BaseSchema
                                                     ) -> None:
    found = {f"{op.ok().method.upper()} {op.ok().path}" for op in api_schema.get_all_operations()}
    assert found == set(POST + GET)


# Schemathesis' own pytest plugin (`schema.parametrize`, `from_fixture`) sets a private
# attribute that pytest 9.2 no longer has, so each operation's strategy is run by
# Hypothesis directly: the same cases and checks.
@pytest.mark.parametrize("label,mode", [(op, m) for op in POST for m in GenerationMode]
                         + [(op, GenerationMode.POSITIVE) for op in GET])
def test_every_answer_is_documented_and_no_5xx(api_schema: schemathesis.BaseSchema,
                                               label: str, mode: GenerationMode) -> None:
    method, path = label.split(" ")
    operation = api_schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def call(case: schemathesis.Case) -> None:
        case.call_and_validate(checks=CHECKS, timeout=30)

    call()
