"""`fraud_bento` builds a Bento that carries the champion and serves it with no registry."""

from __future__ import annotations

import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from dagster import DagsterInstance, materialize

from fraud_assets import settings
from fraud_assets.defs.resources import FraudHome
from fraud_assets.defs.serving.assets import fraud_bento
from fraud_assets.orchestration.processes import Server, free_port
from fraud_assets.orchestration.servers import api_server
from tests.serving.support import GOOD, build_feature_store, started
from tests.support import registry_at, registry_resource


@pytest.fixture(scope="module")
def built(served_home: Path) -> Iterator[dict]:
    """Materialize the asset once; its metadata says what was built."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BENTOML_HOME", str(served_home / "bentoml"))
        result = materialize([fraud_bento], resources={
            "fraud_home": FraudHome(path=str(served_home)),
            "mlflow_registry": registry_resource(registry_at(served_home))})
        assert result.success
        [event] = result.get_asset_materialization_events()
        meta = event.materialization.metadata
        yield {key: getattr(value, "value", value) for key, value in meta.items()}


@pytest.fixture(scope="module")
def bento_server(built: dict, served_home: Path, tmp_path_factory) -> Iterator[Server]:
    elsewhere = tmp_path_factory.mktemp("container_like")
    # Dagster is not in the Bento's requirements: make it unimportable here too.
    blocker = elsewhere / "no_dagster" / "dagster"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text(
        'raise ImportError("the served Bento must not import dagster")\n')
    # No registry at all: a closed loopback port. The Bento must not need one.
    env = {"BENTOML_HOME": str(served_home / "bentoml"), "FRAUD_HOME": str(elsewhere),
           "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}",
           "PYTHONPATH": str(blocker.parent)}
    server = started(api_server(free_port(), bento=built["bento_tag"], env=env,
                                log_path=elsewhere / "serve.log"))
    try:
        yield server
    finally:
        server.stop()


def test_without_a_champion_the_asset_skips_saying_why(tmp_path: Path) -> None:
    """A gate that refused the first model is a decision, not a failure: the run succeeds,
    no Bento is built, and the run's log says why."""
    with DagsterInstance.ephemeral() as instance:
        result = materialize([fraud_bento], instance=instance, raise_on_error=False,
                             resources={"fraud_home": FraudHome(path=str(tmp_path)),
                                        "mlflow_registry": registry_resource(
                                            registry_at(tmp_path))})
        logs = [entry.user_message for entry in instance.all_logs(result.run_id)]
    assert result.success
    assert result.get_asset_materialization_events() == []
    assert any("no champion" in message and "not built" in message for message in logs), logs


def test_asset_metadata_names_the_bento_and_model(built: dict) -> None:
    assert built["bento_tag"].startswith("fraud_detection:")
    assert built["model_version"] == "1"
    assert built["bentoml_model"] == f"{settings.REGISTERED_MODEL_NAME}:v1"
    assert Path(built["path"], "bento.yaml").exists()


def test_bento_carries_model_code_feature_repo_and_locked_requirements(built: dict) -> None:
    path = Path(built["path"])
    info = yaml.safe_load((path / "bento.yaml").read_text())
    assert info["args"]["model_tag"] == built["bentoml_model"]
    assert [m["tag"] for m in info["services"][0]["models"]] == [built["bentoml_model"]]
    assert (path / "src" / "serving" / "service.py").exists()
    assert info["service"] == "serving.service:FraudService"
    assert (path / "src" / "fraud_assets" / "contract.py").exists()
    assert (path / "src" / "feature_repo" / "feature_store.yaml").exists()
    lock = {p["name"]: p["version"] for p in tomllib.loads(
        (settings.REPO_ROOT / "uv.lock").read_text())["package"]}
    pins = dict(line.split(";")[0].strip().split("==") for line in
                (path / "env" / "python" / "requirements.txt").read_text().splitlines()
                if "==" in line)
    for name in ("bentoml", "mlflow", "scikit-learn", "feast", "pandas", "numpy"):
        assert pins[name] == lock[name]
    assert not [name for name in pins if name.startswith("dagster")]


def test_built_bento_serves_its_packaged_champion(bento_server: Server) -> None:
    r = httpx.post(f"{bento_server.url}/predict", json=GOOD)
    assert r.status_code == 200 and r.json()["model_version"] == "1"
    info = httpx.get(f"{bento_server.url}/model-info").json()
    assert info["source"] == "bento" and info["version"] == "1"
    # The decision bands travel inside the Bento with the model.
    assert info["decision_bands_source"] == "stored"
    assert r.json()["decision_bands"] == info["decision_bands"]
    health = httpx.get(f"{bento_server.url}/health").json()
    # No online store where this copy runs: it answers, and says it is not as it should be.
    assert health["status"] == "degraded" and health["registry"]["mode"] == "bento"
    assert any("merchant features are imputed" in w for w in health["warnings"])
    assert httpx.post(f"{bento_server.url}/predict",
                      json={**GOOD, "hour": 30}).status_code == 400


def test_requiring_features_it_is_ready_only_once_the_store_can_be_read(
        built: dict, served_home: Path, tmp_path_factory) -> None:
    """FRAUD_REQUIRE_FEATURES (true in the image): not ready while the online store cannot
    be read, ready by itself once it can, with no restart."""
    home = tmp_path_factory.mktemp("requires_features")
    env = {"BENTOML_HOME": str(served_home / "bentoml"), "FRAUD_HOME": str(home),
           "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}",
           "FRAUD_REQUIRE_FEATURES": "true"}
    server = api_server(free_port(), bento=built["bento_tag"], env=env,
                        log_path=home / "serve.log")
    server.ready_path = "/healthz"  # alive; /readyz is what is under test
    started(server)
    try:
        assert httpx.get(f"{server.url}/readyz").status_code != 200
        assert httpx.get(f"{server.url}/health").json()["status"] == "degraded"
        build_feature_store(home)
        deadline = time.monotonic() + 30
        while httpx.get(f"{server.url}/readyz").status_code != 200:
            assert time.monotonic() < deadline, "not ready after the store appeared"
            time.sleep(0.5)
        health = httpx.get(f"{server.url}/health").json()
        assert health["status"] == "healthy" and health["warnings"] == []
    finally:
        server.stop()
