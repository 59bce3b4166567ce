"""In-process checks of the serving modules: no server needed."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fraud_assets import contract, settings
from fraud_assets.features.names import FEATURES
from fraud_assets.model import training
from fraud_assets.model.loaded import LoadedModel
from fraud_assets.model.registry import MlflowRegistry
from fraud_assets.orchestration.processes import free_port
from serving import bento_build, scorer
from serving.champion import ChampionHolder
from serving.feature_lookup import FeatureLookup
from serving.http_contract import check_items
from tests.serving.support import GOOD, add_version
from tests.support import registry_at


class _Half:
    """A stand-in model: P(fraud) = 0.5, and what it was given."""

    def __init__(self) -> None:
        self.seen: list[pd.DataFrame] = []

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        self.seen.append(frame)
        return np.full((len(frame), 2), 0.5)


def _loaded(model: object) -> LoadedModel:
    return LoadedModel(model=model, name="m", version="7", alias="champion", run_id="r",
                       threshold=0.5, training_start="2025-01-06", training_end="2025-01-08",
                       features=FEATURES, source="registry")


def test_the_model_sees_what_training_builds() -> None:
    """One model-input builder: serving scores `training.model_input` of its rows."""
    model = _Half()
    checked = check_items([GOOD, {**GOOD, "merchant_category": "travel", "hour": 3}])
    lookup = FeatureLookup(use_store=False)
    scored = scorer.score(_loaded(model), checked.frame, lookup)
    [frame] = model.seen
    features, _ = lookup.lookup(checked.frame["merchant_category"])
    expected = training.model_input(pd.concat([checked.frame, features], axis=1))
    assert list(frame.columns) == list(training.MODEL_INPUTS)
    pd.testing.assert_frame_equal(frame, expected)
    pd.testing.assert_frame_equal(scored.frame, expected)
    assert frame["hour"].dtype == "int64"


def test_loaded_model_knows_its_training_window() -> None:
    loaded = _loaded(None)
    assert loaded.trained_on("2025-01-07") and not loaded.trained_on("2025-01-09")
    assert loaded.info()["training_window"] == {"start": "2025-01-06", "end": "2025-01-08"}


def test_batch_items_get_the_request_models_type_errors() -> None:
    checked = check_items([GOOD, {**GOOD, "hour": "x"}, {"amount": 1}, "oops",
                           {**GOOD, "amount": True}])
    assert checked.rows == [0]
    assert checked.errors[1] == ["hour: Input should be a valid integer, unable to parse "
                                 "string as an integer (got 'x')"]
    assert checked.errors[2] == [f"{f.name}: Field required"
                                 for f in contract.REQUEST_FIELDS[1:]]
    assert checked.errors[3] == ["item: Input should be a JSON object (got 'oops')"]
    assert checked.errors[4] == ["amount: Input should be a valid number (a JSON number, or "
                                 "a string holding one) (got True)"]


def test_batch_items_sent_as_text_are_typed_columns() -> None:
    """Numbers as text become the numbers: the frame the model and the log get is typed."""
    checked = check_items([{**GOOD, "amount": "150.0", "hour": "14", "day_of_week": "3.0"}])
    assert checked.rows == [0] and checked.errors == {}
    assert checked.frame.iloc[0].to_dict() == GOOD
    assert checked.frame["amount"].dtype == "float64"


@pytest.mark.parametrize("value", [True, False, None, [1.0], {"a": 1}])
def test_contract_says_what_json_stands_for_a_number(value: object) -> None:
    assert not contract.is_json_number(value)
    assert all(contract.is_json_number(v) for v in (1, 1.5, "150.0", 10**400))


def test_feature_lookup_is_one_call_for_distinct_categories() -> None:
    calls = []

    def online(frame: pd.DataFrame) -> pd.DataFrame:
        calls.append(list(frame["merchant_category"]))
        return pd.DataFrame({f: [1.0 * i for i in range(len(frame))] for f in FEATURES}
                            ).assign(merchant_features_fallback=[False, True][:len(frame)])

    rows, sources = FeatureLookup(online).lookup(pd.Series(["a", "b", "a", "a"]))
    assert calls == [["a", "b"]]
    assert rows[FEATURES[0]].tolist() == [0.0, 1.0, 0.0, 0.0]
    assert sources.tolist() == ["feast", "feast_prior", "feast", "feast"]


def test_a_failing_store_imputes_and_is_reported() -> None:
    def broken(frame: pd.DataFrame) -> pd.DataFrame:
        raise OSError("online store file is gone")

    lookup = FeatureLookup(broken)
    rows, sources = lookup.lookup(pd.Series(["online"]))
    assert rows.isna().all().all() and sources.tolist() == ["imputed"]
    assert lookup.status()["failing"] and "gone" in lookup.status()["last_error"]


def test_check_items_is_fast_for_10k() -> None:
    items = [GOOD] * 9_999 + [{**GOOD, "amount": -1}]
    started = dt.datetime.now()
    checked = check_items(items)
    assert (dt.datetime.now() - started).total_seconds() < 0.5
    assert len(checked.rows) == 9_999 and list(checked.errors) == [9_999]


def test_unreachable_registry_keeps_the_loaded_model(registry: MlflowRegistry) -> None:
    add_version(registry, seed=3)
    holder = ChampionHolder(registry, poll_seconds=0)
    holder.start()
    assert holder.current.version == "1" and holder.current.alias == "champion"
    holder.registry = MlflowRegistry(tracking_uri=f"http://127.0.0.1:{free_port()}")
    holder.refresh()
    assert holder.current.version == "1"
    status = holder.status()
    assert status["reachable"] is False and "127.0.0.1" in status["last_error"]


def test_a_missing_registry_database_is_unavailable_not_created(tmp_path: Path) -> None:
    holder = ChampionHolder(registry_at(tmp_path), poll_seconds=0)
    holder.start()
    assert holder.current is None and holder.status()["reachable"] is False
    assert not (tmp_path / "mlflow" / "mlflow.db").exists()


def test_lock_requirements_follow_uv_lock_without_dagster() -> None:
    lock_file = settings.REPO_ROOT / "uv.lock"
    locked = {p["name"]: p["version"] for p in tomllib.loads(lock_file.read_text())["package"]}
    lines = bento_build.lock_requirements(lock_file)
    pins = {line.split(";")[0].split("==")[0]: line for line in lines}
    for root in bento_build.SERVING_ROOTS:
        assert pins[root].startswith(f"{root}=={locked[root]}")
    assert "win32" in pins["pywin32"]  # platform markers survive
    assert "pytest" not in pins and "great-expectations" not in pins  # only what serving needs
    assert not [name for name in pins if name.startswith("dagster")]


def test_staged_bentofile_serves_the_package_with_telemetry_off() -> None:
    import yaml

    spec = yaml.safe_load(bento_build.bentofile())
    assert spec["service"] == "serving.service:FraudService"
    envs = {e["name"]: e["value"] for e in spec["envs"]}
    assert {k: envs[k] for k in settings.TELEMETRY_OFF} == settings.TELEMETRY_OFF


@pytest.mark.parametrize("module", ["serving.service", "serving.bento_build",
                                    "fraud_assets.features.online"])
def test_serving_imports_no_dagster(module: str) -> None:
    """The Bento's requirements leave Dagster out, so nothing serving imports may need it."""
    code = (f"import sys, {module}; "
            "found = sorted(m for m in sys.modules if m.split('.')[0] == 'dagster'); "
            "assert not found, found")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=settings.REPO_ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
