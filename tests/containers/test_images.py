"""Both images built from the working tree and run with a real engine (Docker or podman).

`make test-containers` runs this suite (`-m containers`); `make test` does not (minutes of
image builds). Without an engine every test is skipped with the reason. Builds use the
local base image when there is one (`make base-image`), else pull python:3.11-slim.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from fraud_assets import settings
from fraud_assets.orchestration import containers
from fraud_assets.orchestration.processes import free_port
from tests import support

pytestmark = pytest.mark.containers
BEFORE: set[int] = set()  # ports listened on before any container of this suite ran
GOOD = {"amount": 150.0, "hour": 14, "day_of_week": 3, "merchant_category": "online"}


@pytest.fixture(scope="session")
def engine() -> containers.Engine:
    BEFORE.update(listening_ports())
    try:
        found = containers.find_engine()
    except containers.ContainerError as exc:
        pytest.skip(str(exc))
    if not found.has_image(containers.BASE_IMAGE):
        # No registry access here: the Debian stand-in (about a minute).
        containers.build_base_image(found)
    return found


@pytest.fixture(scope="session")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A platform state folder: validated days, a materialized online store, a champion."""
    home = tmp_path_factory.mktemp("container_state")
    support.build_platform(home)
    return home


@pytest.fixture(scope="session")
def api_image(engine: containers.Engine, state: Path) -> str:
    """The champion's Bento, containerized."""
    env = {"FRAUD_HOME": str(state), "BENTOML_HOME": str(state.parent / "bentoml"),
           "MLFLOW_TRACKING_URI": support.registry_at(state).tracking_uri}
    built = subprocess.run([sys.executable, "-m", "serving.bento_build"], env=_env(env),
                           cwd=settings.REPO_ROOT, capture_output=True, text=True)
    assert built.returncode == 0, built.stderr[-3000:]
    tag = json.loads(built.stdout.strip().splitlines()[-1])["bento_tag"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BENTOML_HOME", env["BENTOML_HOME"])
        started = time.monotonic()
        image = containers.build_api_image(engine, tag, f"{containers.API_IMAGE}:test")
    print(f"API image built in {time.monotonic() - started:.0f}s, "
          f"{engine.size_mb(image):,.0f} MB")
    return image


@pytest.fixture(scope="session")
def platform_image(engine: containers.Engine) -> str:
    started = time.monotonic()
    tag = containers.build_platform_image(engine, f"{containers.PLATFORM_IMAGE}:test")
    print(f"platform image built in {time.monotonic() - started:.0f}s, "
          f"{engine.size_mb(tag):,.0f} MB")
    return tag


def listening_ports() -> set[int]:
    """TCP ports something listens on (the containers share the host network on podman)."""
    return {c.laddr.port for c in psutil.net_connections(kind="tcp")
            if c.status == psutil.CONN_LISTEN}


def _env(extra: dict[str, str]) -> dict[str, str]:
    import os

    return os.environ | extra


def _wait(url: str, timeout: float = 180) -> float:
    """Seconds until `url` answers 200."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return time.monotonic() - started
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


def _stop(engine: containers.Engine, name: str) -> tuple[float, int]:
    """(seconds `stop -t 10` took, the container's exit code) -- 137 means it was killed."""
    started = time.monotonic()
    engine.run("stop", "-t", "10", name, check=False)
    took = time.monotonic() - started
    code = engine.run("inspect", name, "--format", "{{.State.ExitCode}}", check=False)
    return took, int(code.stdout.strip() or -1)


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
    print(f"API image ready in {_wait(f'{url}/readyz'):.1f}s")
    port = int(url.rsplit(":", 1)[1])
    assert listening_ports() - BEFORE <= {port}, "the API container listens beyond its port"
    answer = httpx.post(f"{url}/predict", json=GOOD, headers={"X-Request-ID": "ctr-1"})
    assert answer.status_code == 200, answer.text
    health = httpx.get(f"{url}/health").json()
    assert health["features"]["source"] == "feast" and not health["features"]["failing"]
    took, code = _stop(engine, name)
    assert took < 10 and code != 137, f"stopped in {took:.1f}s with exit code {code}"
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
        _wait(f"http://127.0.0.1:{port}/healthz")
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
        ready = _wait(f"http://127.0.0.1:{dagster}/server_info")
        time.sleep(5)  # the daemon and the code servers are up too by now
        extra = listening_ports() - BEFORE - {dagster, mlflow}
        assert not extra, f"the platform container listens beyond its ports: {sorted(extra)}"
        assert engine.run("exec", name, "id", "-u").stdout.strip() != "0"
        engine.run("exec", name, "fraud-platform", "simulate", "--days", "1", "--rows", "500")
        assert _wait_for_run(f"http://127.0.0.1:{dagster}", "daily_job") == "SUCCESS"
        took, code = _stop(engine, name)
        assert took < 10 and code != 137, f"stopped in {took:.1f}s with exit code {code}"
        engine.run("start", name)
        _wait(f"http://127.0.0.1:{dagster}/server_info")
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
