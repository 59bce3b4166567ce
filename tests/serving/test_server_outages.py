"""The server profile's outages, on real servers: Redis stopped while the API serves.

(The MLflow tracking server stopped is the lifecycle suite's registry outage, run under the
server profile too; the Dagster database restarted mid-run is tests/ingest/test_server_runs.py.)
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fraud_assets.orchestration.processes import Server
from tests.serving.support import GOOD, add_version, build_feature_store, running_server
from tests.support import TestServers, profile_env, registry_at

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def outage_home(request: pytest.FixtureRequest,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A champion in the MLflow server and merchant features in Redis."""
    home = tmp_path_factory.mktemp("outage_home")
    with profile_env(request, "server"):
        add_version(registry_at(home), seed=1)
        build_feature_store(home)
        yield home


@pytest.fixture(scope="module")
def server(outage_home: Path) -> Iterator[Server]:
    yield from running_server(outage_home, poll_seconds=1)


def feature_sources(home: Path, request_id: str) -> list[str]:
    """The feature source the service logged for `request_id` (waits for the log)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        lines = [json.loads(line) for path in (home / "predictions").glob("*/*.jsonl")
                 for line in path.read_text().splitlines()]
        found = [x["feature_source"] for x in lines if x["request_id"] == request_id]
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{request_id} never reached the prediction log")


def wait_for(check, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.2)


def test_redis_down_imputes_says_so_and_recovers_by_itself(
        server: Server, outage_home: Path, test_servers: TestServers) -> None:
    health = httpx.get(f"{server.url}/health").json()
    assert health["status"] == "healthy" and health["features"]["store"] == "redis"
    r = httpx.post(f"{server.url}/predict", json=GOOD, headers={"X-Request-ID": "before"})
    assert r.status_code == 200
    assert feature_sources(outage_home, "before") == ["feast"]
    expected = r.json()["fraud_probability"]

    with test_servers.redis_down():
        # Answers continue (imputed features), health is degraded and names Redis.
        r = httpx.post(f"{server.url}/predict", json=GOOD, headers={"X-Request-ID": "during"})
        assert r.status_code == 200, r.text
        assert feature_sources(outage_home, "during") == ["imputed"]
        health = httpx.get(f"{server.url}/health")
        assert health.status_code == 200 and health.json()["status"] == "degraded"
        assert health.json()["features"]["failing"] is True
        assert any("online feature store unreadable (redis:" in w and "imputed" in w
                   for w in health.json()["warnings"]), health.json()["warnings"]
        batch = httpx.post(f"{server.url}/predict_batch", json={"transactions": [GOOD] * 3})
        assert batch.status_code == 200 and len(batch.json()["results"]) == 3

    # Redis is back (with its saved data): the next answers read it again, no restart.
    def recovered() -> bool:
        httpx.post(f"{server.url}/predict", json=GOOD)
        return httpx.get(f"{server.url}/health").json()["status"] == "healthy"

    wait_for(recovered)
    r = httpx.post(f"{server.url}/predict", json=GOOD, headers={"X-Request-ID": "after"})
    assert feature_sources(outage_home, "after") == ["feast"]
    assert r.json()["fraud_probability"] == pytest.approx(expected)
