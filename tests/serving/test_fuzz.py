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

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from fraud_assets.orchestration.processes import Server as BentoServer
from tests.serving.support import running_server

EXAMPLES_PER_OPERATION = 60
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
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    schema.config.generation.update(max_examples=EXAMPLES_PER_OPERATION, deterministic=True,
                                    database="none")
    return schema


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True,
          database=None, suppress_health_check=list(HealthCheck))
def test_every_answer_is_documented_and_no_5xx(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=CHECKS, timeout=30)
