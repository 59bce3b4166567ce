"""Both images built from the working tree and run with a real engine (Docker or podman).

`make test-containers` runs this suite (`-m containers`); `make test` does not (minutes of
image builds). Without an engine every test is skipped with the reason. Builds use the
local base image when there is one (`make base-image`), else pull python:3.11-slim.
The engine and the API image are fixtures of conftest.py (shared with test_topology.py).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fraud_assets import settings
from fraud_assets.orchestration import containers
from fraud_assets.orchestration.processes import free_port
from tests.containers.support import BEFORE, container_side_ports, stop_timed, wait_ok
from tests.serving.support import GOOD

pytestmark = pytest.mark.containers


@pytest.fixture(scope="session")
def platform_image(engine: containers.Engine) -> str:
    started = time.monotonic()
    tag = containers.build_platform_image(engine, f"{containers.PLATFORM_IMAGE}:test")
    print(f"platform image built in {time.monotonic() - started:.0f}s, "
          f"{engine.size_mb(tag):,.0f} MB")
    return tag


@pytest.fixture
def api_container(engine: containers.Engine, api_image: str, state: Path
                  ) -> Iterator[tuple[str, str]]:
    port = free_port()
    name = f"fraud-api-test-{uuid.uuid4().hex[:8]}"
    args = containers.api_run_args(engine, port, state, name, api_image)
    args.remove("--rm")  # kept until the test read its exit code
    engine.run(*args[:1], "-d", *args[1:])
    try:
        yield name, f"http://127.0.0.1:{port}"
    finally:
        engine.run("rm", "-f", name, check=False)


def test_api_image_serves_real_features_and_logs_to_the_mount(engine, api_container, state):
    name, url = api_container
    print(f"API image ready in {wait_ok(f'{url}/readyz'):.1f}s")
    port = int(url.rsplit(":", 1)[1])
    extra = container_side_ports(engine, [name]) - BEFORE - {port}
    assert not extra, f"the API container listens beyond its port: {sorted(extra)}"
    answer = httpx.post(f"{url}/predict", json=GOOD, headers={"X-Request-ID": "ctr-1"})
    assert answer.status_code == 200, answer.text
    health = httpx.get(f"{url}/health").json()
    assert health["features"]["source"] == "feast" and not health["features"]["failing"]
    took, code = stop_timed(engine, name)
    # `stop -t 10` kills after 10 s (exit 137): any other code stopped in time by itself.
    assert code != 137, f"killed after {took:.1f}s"
    logged = [json.loads(line) for path in settings.predictions_dir(state).glob("*/*.jsonl")
              for line in path.read_text().splitlines()]
    mine = [x for x in logged if x["request_id"] == "ctr-1"]
    assert len(mine) == 1 and mine[0]["feature_source"] == "feast"


def test_api_image_without_a_readable_store_is_degraded_and_not_ready(engine, api_image,
                                                                     tmp_path):
    """An empty store mounted: the container answers /health with `degraded` and the reason,
    and /readyz is not ready (FRAUD_REQUIRE_FEATURES is true in the image)."""
    port, name = free_port(), f"fraud-api-nostore-{uuid.uuid4().hex[:8]}"
    args = containers.api_run_args(engine, port, tmp_path, name, api_image)
    settings.feast_dir(tmp_path).mkdir(parents=True, exist_ok=True)
    engine.run(*args[:1], "-d", *args[1:])
    try:
        wait_ok(f"http://127.0.0.1:{port}/healthz")
        time.sleep(2)
        assert httpx.get(f"http://127.0.0.1:{port}/readyz").status_code != 200
        health = httpx.get(f"http://127.0.0.1:{port}/health").json()
        assert health["status"] == "degraded"
        assert any("merchant features are imputed" in w for w in health["warnings"])
    finally:
        engine.run("rm", "-f", name, check=False)


def test_platform_image_runs_a_landed_day_as_non_root_and_keeps_state(engine, platform_image):
    volume = f"fraud-test-{uuid.uuid4().hex[:8]}"
    name = f"fraud-platform-test-{uuid.uuid4().hex[:8]}"
    dagster, mlflow = free_port(), free_port()
    args = containers.platform_run_args(engine, dagster, mlflow, volume, name, platform_image)
    args.remove("--rm")
    engine.run("volume", "create", volume)
    try:
        engine.run(*args[:1], "-d", *args[1:])
        ready = wait_ok(f"http://127.0.0.1:{dagster}/server_info")
        time.sleep(5)  # the daemon and the code servers are up too by now
        extra = container_side_ports(engine, [name]) - BEFORE - {dagster, mlflow}
        assert not extra, f"the platform container listens beyond its ports: {sorted(extra)}"
        assert engine.run("exec", name, "id", "-u").stdout.strip() != "0"
        engine.run("exec", name, "fraud-platform", "simulate", "--days", "1", "--rows", "500")
        assert _wait_for_run(f"http://127.0.0.1:{dagster}", "daily_job") == "SUCCESS"
        took, code = stop_timed(engine, name)
        assert code != 137, f"killed after {took:.1f}s"
        engine.run("start", name)
        wait_ok(f"http://127.0.0.1:{dagster}/server_info")
        assert _wait_for_run(f"http://127.0.0.1:{dagster}", "daily_job") == "SUCCESS"
        print(f"platform image ready in {ready:.1f}s")
    finally:
        engine.run("rm", "-f", name, check=False)
        engine.run("volume", "rm", "-f", volume, check=False)


def _wait_for_run(url: str, job: str, timeout: float = 300) -> str:
    """The status of the newest finished run of `job`, waiting for one."""
    query = '{ runsOrError { ... on Runs { results { jobName status } } } }'
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        body = httpx.post(f"{url}/graphql", json={"query": query}, timeout=10).json()
        runs = [r for r in body["data"]["runsOrError"]["results"] if r["jobName"] == job]
        done = [r["status"] for r in runs if r["status"] in ("SUCCESS", "FAILURE", "CANCELED")]
        if done:
            return done[0]
        time.sleep(3)
    raise TimeoutError(f"no finished {job} run within {timeout:.0f} s")
