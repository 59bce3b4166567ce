"""The champion's life in a running server: no champion yet, the first one, a hot swap,
a registry outage, a clean shutdown. The tests run in order on one server."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fraud_assets import settings
from fraud_assets.model import deploy
from fraud_assets.orchestration.processes import Server as BentoServer
from tests.serving.support import add_version, running_server
from tests.support import PROFILES, profile_env, registry_at

GOOD = {"amount": 150.0, "hour": 2, "day_of_week": 3, "merchant_category": "online"}
POLL_SECONDS = 0.5
ANSWERED: list[str] = []  # request ids of every 200 in this module, for the log check


@pytest.fixture(scope="module", params=PROFILES)
def lifecycle_home(request: pytest.FixtureRequest,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Versions 1 and 2 registered; no champion yet (the pipeline has not promoted one).
    Under both profiles: the server one registers them in an MLflow tracking server."""
    home = tmp_path_factory.mktemp("lifecycle_home")
    ANSWERED.clear()  # the module runs once per profile, each on its own prediction log
    with profile_env(request, request.param):
        for seed in (1, 2):
            add_version(registry_at(home), seed=seed, promote=False)
        yield home


@pytest.fixture(scope="module")
def server(lifecycle_home: Path) -> Iterator[BentoServer]:
    yield from running_server(lifecycle_home, poll_seconds=POLL_SECONDS, ready_path="/healthz")


class Traffic:
    """A few closed-loop clients hammering /predict; records every answer."""

    def __init__(self, url: str, clients: int = 4) -> None:
        self.url = url
        self.stop = threading.Event()
        self.versions: list[list[str]] = [[] for _ in range(clients)]
        self.failures: list[str] = []
        self.threads = [threading.Thread(target=self._run, args=(i,)) for i in range(clients)]

    def _run(self, i: int) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self.stop.is_set():
                try:
                    r = client.post("/predict", json=GOOD)
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))
                    continue
                if r.status_code != 200:
                    self.failures.append(f"{r.status_code} {r.text}")
                    continue
                body = r.json()
                self.versions[i].append(body["model_version"])
                ANSWERED.append(body["request_id"])

    def __enter__(self) -> Traffic:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(30)


def wait_until(check, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def version_answering(url: str) -> str:
    return httpx.get(f"{url}/health", timeout=10).json()["model_version"]


def test_without_a_champion_it_answers_503_not_500(server: BentoServer,
                                                   lifecycle_home: Path) -> None:
    health = httpx.get(f"{server.url}/health")
    assert health.status_code == 503 and health.json()["status"] == "unhealthy"
    assert health.json()["registry"]["reachable"] is True
    # Which stores answer, in both profiles; never a password.
    uri = registry_at(lifecycle_home).tracking_uri
    assert health.json()["registry"]["tracking_uri"] == settings.mask_url(uri)
    assert uri.startswith("http://" if settings.profile() == settings.SERVER else "sqlite:///")
    assert health.json()["features"]["store"] == (
        "redis" if settings.profile() == settings.SERVER else "sqlite")
    assert httpx.get(f"{server.url}/readyz").status_code == 503
    assert httpx.get(f"{server.url}/model-info").status_code == 503
    r = httpx.post(f"{server.url}/predict", json=GOOD)
    assert r.status_code == 503 and "no champion" in r.json()["detail"]
    batch = httpx.post(f"{server.url}/predict_batch", json={"transactions": [GOOD]})
    assert batch.status_code == 503


def test_the_first_champion_is_picked_up(server: BentoServer, lifecycle_home: Path) -> None:
    deploy.promote(registry_at(lifecycle_home), "1", reason="first champion")
    wait_until(lambda: httpx.get(f"{server.url}/readyz").status_code == 200)
    r = httpx.post(f"{server.url}/predict", json=GOOD)
    assert r.status_code == 200 and r.json()["model_version"] == "1"
    ANSWERED.append(r.json()["request_id"])


def test_the_challenger_scores_in_shadow_and_takes_the_canary_share(
        server: BentoServer, lifecycle_home: Path) -> None:
    registry = registry_at(lifecycle_home)
    # Version 2 was registered after version 1, so it is the challenger.
    wait_until(lambda: httpx.get(f"{server.url}/health").json()["challenger"]["shadow"])
    r = httpx.post(f"{server.url}/predict", json=GOOD)
    assert r.status_code == 200 and r.json()["model_version"] == "1"
    ANSWERED.append(r.json()["request_id"])
    deploy.set_canary(registry, 100)  # every replica follows the registry, no restart
    wait_until(lambda: httpx.post(f"{server.url}/predict", json=GOOD).json()
               ["model_version"] == "2")
    health = httpx.get(f"{server.url}/health").json()["challenger"]
    assert health["canary"] == {"percent": 100.0, "source": "registry", "last_error": None}
    batch = httpx.post(f"{server.url}/predict_batch", json={"transactions": [GOOD]}).json()
    assert batch["model_version"] == "2" and batch["results"][0]["model_version"] == "2"
    deploy.set_canary(registry, 0)
    wait_until(lambda: httpx.post(f"{server.url}/predict", json=GOOD).json()
               ["model_version"] == "1")
    time.sleep(1.0)  # the answers above reach the log's writer
    lines = [json.loads(line) for path in (lifecycle_home / "predictions").glob("*/*.jsonl")
             for line in path.read_text().splitlines()]
    shadowed = [x for x in lines if x["challenger_version"] == "2"]
    assert shadowed and all(x["challenger_score"] is not None for x in shadowed)
    assert {x["answered_by"] for x in shadowed} == {"champion", "challenger"}
    assert all(x["model_version"] == ("2" if x["answered_by"] == "challenger" else "1")
               for x in shadowed)


def test_alias_move_swaps_the_model_without_a_failed_request(server: BentoServer,
                                                             lifecycle_home: Path) -> None:
    assert version_answering(server.url) == "1"
    with Traffic(server.url) as traffic:
        wait_until(lambda: all(len(v) >= 5 for v in traffic.versions))
        deploy.promote(registry_at(lifecycle_home), "2", reason="hot swap test")
        wait_until(lambda: all(v and v[-1] == "2" for v in traffic.versions))
        time.sleep(0.5)  # some answers after the swap too
    assert traffic.failures == []
    for seen in traffic.versions:
        # Each client sees 1s then 2s: never a mix, never back.
        assert seen == sorted(seen) and seen[0] == "1" and seen[-1] == "2"
    info = httpx.get(f"{server.url}/model-info").json()
    assert info["version"] == "2"


@contextlib.contextmanager
def registry_down(request: pytest.FixtureRequest, home: Path) -> Iterator[None]:
    """The registry unreachable for the block: the SQLite file moved away (local), the MLflow
    tracking server stopped (server profile), then back."""
    if settings.profile() == settings.SERVER:
        with request.getfixturevalue("test_servers").mlflow_down():
            yield
        return
    database = home / "mlflow" / "mlflow.db"
    hidden = database.with_suffix(".away")
    database.rename(hidden)
    try:
        yield
    finally:
        hidden.rename(database)


def test_registry_outage_keeps_serving_and_says_so(server: BentoServer, lifecycle_home: Path,
                                                   request: pytest.FixtureRequest) -> None:
    with registry_down(request, lifecycle_home):
        wait_until(lambda: httpx.get(f"{server.url}/health").json()["registry"]["reachable"]
                   is False)
        health = httpx.get(f"{server.url}/health")
        # The loaded model keeps answering (200), and health says it is not as it should be.
        assert health.status_code == 200 and health.json()["status"] == "degraded"
        assert any("registry unreachable" in w for w in health.json()["warnings"])
        r = httpx.post(f"{server.url}/predict", json=GOOD)
        assert r.status_code == 200 and r.json()["model_version"] == "2"
        ANSWERED.append(r.json()["request_id"])
    wait_until(lambda: httpx.get(f"{server.url}/health").json()["registry"]["reachable"])


def model_warnings(url: str) -> list[str]:
    """/health's warnings about the model (this module's server has no feature store, so
    it also warns that merchant features are imputed)."""
    health = httpx.get(f"{url}/health").json()
    return [w for w in health["warnings"] if "merchant features" not in w]


def test_deleted_champion_version_degrades_health_and_rollback_restores(
        server: BentoServer, lifecycle_home: Path) -> None:
    registry = registry_at(lifecycle_home)
    assert version_answering(server.url) == "2" and model_warnings(server.url) == []
    # Someone deletes the serving version in the MLflow UI: its aliases go with it.
    registry.client().delete_model_version(registry.model_name, "2")
    wait_until(lambda: len(model_warnings(server.url)) == 2)
    warnings = model_warnings(server.url)
    assert any("version 2" in w and "deleted from the registry" in w for w in warnings)
    assert any("no version carries the alias 'champion'" in w for w in warnings)
    assert httpx.get(f"{server.url}/health").json()["status"] == "degraded"
    info = httpx.get(f"{server.url}/model-info").json()
    assert info["version"] == "2" and info["registered"] is False and info["warnings"]
    r = httpx.post(f"{server.url}/predict", json=GOOD)  # the loaded model keeps answering
    assert r.status_code == 200 and r.json()["model_version"] == "2"
    ANSWERED.append(r.json()["request_id"])

    move = deploy.rollback(registry)
    assert move.before is None and move.after == "1"
    wait_until(lambda: version_answering(server.url) == "1")
    wait_until(lambda: model_warnings(server.url) == [])
    assert httpx.get(f"{server.url}/model-info").json()["registered"] is True


def test_shutdown_flushes_every_answer_to_the_log(server: BentoServer,
                                                  lifecycle_home: Path) -> None:
    burst = [httpx.post(f"{server.url}/predict", json=GOOD) for _ in range(20)]
    ANSWERED.extend(r.json()["request_id"] for r in burst)
    server.stop()
    logged = {json.loads(line)["request_id"]
              for path in (lifecycle_home / "predictions").glob("*/*.jsonl")
              for line in path.read_text().splitlines()}
    assert set(ANSWERED) <= logged
    assert len(ANSWERED) > 20


def test_monitoring_reads_what_the_service_logged(server: BentoServer,
                                                  lifecycle_home: Path) -> None:
    """The writer (serving) and the reader (drift monitoring) agree on the log's format."""
    from fraud_assets.monitoring.prediction_log import read_day

    days = sorted(p.name for p in (lifecycle_home / "predictions").iterdir())
    assert days, "the previous test left answered requests in the log"
    read = read_day(days[-1], home=lifecycle_home)
    assert read.invalid == 0
    assert len(read.frame) == read.lines >= 20
    assert read.frame["fraud_probability"].between(0, 1).all()
    assert (read.frame["merchant_category"] == GOOD["merchant_category"]).all()
