"""The production topology on one machine: two replicas of the API image under the server
profile, on real PostgreSQL, Redis and MLflow servers, through the user's own command
(`fraud-platform images run-api --replicas 2`).

`make test-topology` runs this module (`make test-containers` too); marker `containers`.
Skipped with the reason without podman (Docker cannot reach the host's loopback), or without the
PostgreSQL and Redis binaries (the `test_servers` fixture). The servers are the session's
`TestServers` (free ports, their own folder), this test's state is its own (`profile_env`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from fraud_assets import settings
from fraud_assets.model import deploy
from fraud_assets.model.registry import MlflowRegistry
from fraud_assets.orchestration import containers
from fraud_assets.orchestration.servers import BIN
from tests.containers.support import consecutive_free_ports, container_side_ports, listening_ports
from tests.serving.support import GOOD, add_version, build_feature_store
from tests.support import profile_env, registry_at

pytestmark = pytest.mark.containers
REPLICAS = 2
SWAP_TIMEOUT = 90.0  # seconds for both replicas to serve the new champion (polling every 1 s)


@dataclass(frozen=True)
class Champions:
    registry: MlflowRegistry
    first: str  # the champion when the replicas start
    second: str  # registered, promoted by the test


@pytest.fixture
def champions(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Champions]:
    """Under the server profile (own databases, Redis database and MLflow registry on the
    session's servers): version 1 the champion, version 2 registered, merchant features
    materialized into Redis with the Feast registry on PostgreSQL."""
    with profile_env(request, settings.SERVER):
        registry = registry_at(tmp_path)
        first = add_version(registry, seed=1)
        second = add_version(registry, seed=2, promote=False)
        build_feature_store(tmp_path)
        yield Champions(registry, first, second)


@pytest.fixture(scope="session")
def podman(engine: containers.Engine) -> containers.Engine:
    """The engine, if podman (skipped before any image is built otherwise)."""
    if engine.name != "podman":
        pytest.skip(f"the server-profile topology runs on podman (slirp4netns reaches the "
                    f"host's loopback, podman secrets); the engine here is {engine.name}")
    return engine


@pytest.fixture
def topology(podman: containers.Engine, api_image: str, champions: Champions,
             tmp_path: Path) -> Iterator[tuple[subprocess.Popen, list[str], str, Path]]:
    """`fraud-platform images run-api --replicas 2` running (process, replica URLs, the
    prediction-log volume, its output file); whatever it leaves is removed afterwards."""
    port = consecutive_free_ports(REPLICAS)
    volume = f"fraud-predictions-test-{uuid.uuid4().hex[:8]}"
    output = tmp_path / "run-api.log"
    command = [str(BIN / "fraud-platform"), "images", "run-api", "--replicas", str(REPLICAS),
               "--port", str(port), "--image", api_image, "--poll-seconds", "1",
               "--volume", volume]
    with output.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                   env=os.environ | {"FRAUD_HOME": str(tmp_path)},
                                   start_new_session=True)
    names = [f"fraud-api-{port + i}" for i in range(REPLICAS)]
    try:
        yield process, [f"http://127.0.0.1:{port + i}" for i in range(REPLICAS)], volume, output
    finally:
        if process.poll() is None:
            process.kill()
        podman.run("rm", "-f", *names, check=False)
        for key in settings.SECRET_ENV:
            podman.run("secret", "rm", f"fraud-api-{port}-{key}-password", check=False)
        podman.run("volume", "rm", "-f", volume, check=False)


def wait_ready(process: subprocess.Popen, urls: list[str], output: Path,
               timeout: float = 300.0) -> None:
    """Until every replica's /readyz answers 200; fails with the command's output if it
    exits first or time runs out."""
    deadline = time.monotonic() + timeout
    waiting = list(urls)
    while waiting:
        assert process.poll() is None, f"run-api exited:\n{output.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"not ready:\n{output.read_text()[-3000:]}"
        waiting = [u for u in waiting if not _ok(f"{u}/readyz")]
        time.sleep(0.5)


def _ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def versions(urls: list[str]) -> list[str | None]:
    return [httpx.get(f"{u}/health", timeout=5).json()["model_version"] for u in urls]


def logged(engine: containers.Engine, volume: str, request_ids: set[str]) -> list[dict]:
    """The prediction-log lines of `request_ids` in the volume (waits for the writer)."""
    folder = Path(engine.run("volume", "inspect", volume, "--format",
                             "{{.Mountpoint}}").stdout.strip())
    deadline = time.monotonic() + 15
    while True:
        lines = [{**json.loads(line), "file": path.name} for path in folder.glob("*/*.jsonl")
                 for line in path.read_text().splitlines()]
        mine = [x for x in lines if x["request_id"] in request_ids]
        if len(mine) >= len(request_ids) or time.monotonic() > deadline:
            return mine
        time.sleep(0.3)


def test_two_replicas_serve_one_champion_from_redis_and_hot_swap_together(
        podman: containers.Engine, champions: Champions, topology) -> None:
    process, urls, volume, output = topology
    before = listening_ports()
    started = time.monotonic()
    wait_ready(process, urls, output)
    print(f"both replicas ready in {time.monotonic() - started:.1f}s")
    names = [f"fraud-api-{u.rsplit(':', 1)[1]}" for u in urls]
    ports = {int(u.rsplit(":", 1)[1]) for u in urls}
    extra = container_side_ports(podman, names) - before - ports
    assert not extra, f"the replicas listen on the host beyond their ports: {sorted(extra)}"

    # Both answer from the same champion, with merchant features from Redis, the registry
    # over HTTP at the host's loopback as slirp4netns shows it.
    tracking = f"http://{containers.HOST_LOOPBACK}:{settings.server_endpoints().mlflow_port}"
    answers = []
    for i, url in enumerate(urls):
        health = httpx.get(f"{url}/health").json()
        assert health["status"] == "healthy", health["warnings"]
        assert health["features"]["store"] == "redis" and health["features"]["source"] == "feast"
        assert health["registry"]["tracking_uri"] == tracking
        assert health["model_version"] == champions.first
        answer = httpx.post(f"{url}/predict", json=GOOD,
                            headers={"X-Request-ID": f"topology-{i}"})
        assert answer.status_code == 200, answer.text
        answers.append(answer.json())
    assert {a["model_version"] for a in answers} == {champions.first}
    assert answers[0]["fraud_probability"] == answers[1]["fraud_probability"]
    first_log = logged(podman, volume, {f"topology-{i}" for i in range(REPLICAS)})
    assert sorted(x["feature_source"] for x in first_log) == ["feast", "feast"]
    assert len({x["file"] for x in first_log}) == 2  # one writer per replica, one volume

    # The passwords reach the containers as files: in no `inspect`, environment or output.
    secrets = settings.server_secrets()
    for name in names:
        seen = podman.run("inspect", name).stdout + podman.run("exec", name, "env").stdout
        assert not [key for key, value in secrets.items() if value in seen]

    # The alias moves: both replicas swap without a restart.
    moved = time.monotonic()
    deploy.promote(champions.registry, champions.second, reason="topology test")
    while versions(urls) != [champions.second] * REPLICAS:
        assert time.monotonic() - moved < SWAP_TIMEOUT, f"versions: {versions(urls)}"
        time.sleep(0.2)
    print(f"both replicas serve version {champions.second} "
          f"{time.monotonic() - moved:.1f}s after the alias moved")
    for url in urls:
        answer = httpx.post(f"{url}/predict", json=GOOD)
        assert answer.status_code == 200 and answer.json()["model_version"] == champions.second

    # SIGTERM to the command stops and removes both replicas without a forced kill.
    stopping = time.monotonic()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0, output.read_text()[-3000:]
    print(f"stopped in {time.monotonic() - stopping:.1f}s")
    text = output.read_text()
    assert all(f"{name} (exit 0)" in text for name in names), text[-2000:]
    assert not [key for key, value in secrets.items() if value in text]
    left = podman.run("ps", "-a", "--format", "{{.Names}}").stdout.split()
    assert not set(names) & set(left), f"containers left: {left}"
    assert not podman.run("secret", "ls", "--format", "{{.Name}}").stdout.count(
        f"fraud-api-{min(ports)}-")
    assert not ports & listening_ports(), "a replica's port still listens"
