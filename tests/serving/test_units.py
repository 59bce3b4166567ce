"""In-process checks of the serving modules: no server needed."""

from __future__ import annotations

import datetime as dt
import json
import tomllib
from collections.abc import Iterator
from pathlib import Path

import bento_build
import champion
import mlflow
import numpy as np
import pandas as pd
import pytest
import scorer
from feature_lookup import FeatureLookup
from http_contract import check_items
from prediction_log import Entry, PredictionLog

from fraud_assets import settings
from fraud_assets.features.names import FEATURES
from fraud_assets.model import registry as model_registry
from fraud_assets.model import training
from fraud_assets.monitoring.prediction_log import read_day
from tests.serving.server import free_port

GOOD = {"amount": 150.0, "hour": 14, "day_of_week": 3, "merchant_category": "online"}


@pytest.fixture
def keep_mlflow_uris() -> Iterator[None]:
    """champion.Registry points MLflow's process-wide URIs at its store; undo that."""
    before = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    yield
    mlflow.set_tracking_uri(before[0])
    mlflow.set_registry_uri(before[1])


def test_version_tags_match_the_registry_module() -> None:
    assert champion.TAG_THRESHOLD == model_registry.TAG_THRESHOLD
    assert champion.TAG_TRAINING_START == model_registry.TAG_TRAINING_START
    assert champion.TAG_TRAINING_END == model_registry.TAG_TRAINING_END
    assert champion.TAG_FEATURES == model_registry.TAG_FEATURES


def test_model_frame_is_what_training_feeds_the_model() -> None:
    checked = check_items([GOOD, {**GOOD, "merchant_category": "travel", "hour": 3}])
    features, _ = FeatureLookup(use_store=False).lookup(checked.frame["merchant_category"])
    frame = scorer.model_frame(checked.frame, features)
    expected = training.model_input(frame)
    assert list(frame.columns) == list(training.MODEL_INPUTS)
    pd.testing.assert_frame_equal(frame, expected)


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


def test_unreachable_registry_keeps_the_loaded_model(tmp_path: Path,
                                                     keep_mlflow_uris: None) -> None:
    from tests.serving.state import add_version, registry_at

    add_version(registry_at(tmp_path), seed=3)
    live = champion.Registry(f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}")
    holder = champion.ChampionHolder(live, poll_seconds=0)
    holder.start()
    assert holder.current.version == "1"
    holder.registry = champion.Registry(f"http://127.0.0.1:{free_port()}")
    holder.refresh()
    assert holder.current.version == "1"
    status = holder.status()
    assert status["reachable"] is False and "127.0.0.1" in status["last_error"]


def test_lock_requirements_follow_uv_lock() -> None:
    lock_file = settings.REPO_ROOT / "uv.lock"
    locked = {p["name"]: p["version"] for p in tomllib.loads(lock_file.read_text())["package"]}
    lines = bento_build.lock_requirements(lock_file)
    pins = {line.split(";")[0].split("==")[0]: line for line in lines}
    for root in bento_build.SERVING_ROOTS:
        assert pins[root].startswith(f"{root}=={locked[root]}")
    assert "win32" in pins["pywin32"]  # platform markers survive
    assert "pytest" not in pins and "great-expectations" not in pins  # only what serving needs


def test_prediction_log_is_day_partitioned_and_flushed_on_close(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path / "predictions")
    checked = check_items([GOOD, {**GOOD, "merchant_category": "travel"}])
    current = champion.Champion(model=None, name="m", version="7", alias="champion",
                                run_id="r", threshold=0.5, training_start=None,
                                training_end=None, features=FEATURES, source="registry")
    frame = scorer.model_frame(checked.frame, pd.DataFrame(np.nan, index=[0, 1],
                                                           columns=list(FEATURES)))
    for day in (dt.datetime(2025, 3, 1, 23, 59, tzinfo=dt.UTC),
                dt.datetime(2025, 3, 2, 0, 1, tzinfo=dt.UTC)):
        scored = scorer.Scored(frame, np.array([0.1, 0.9]), np.array([False, True]), current,
                               np.array(["imputed", "imputed"], dtype=object), day)
        log.append(Entry(scored, ["rid-a", "rid-b"], [0, 0], ["t1", None], "predict"))
    log.close()
    days = sorted(p.name for p in (tmp_path / "predictions").iterdir())
    assert days == ["2025-03-01", "2025-03-02"]
    [path] = (tmp_path / "predictions" / "2025-03-02").glob("*.jsonl")
    first = json.loads(path.read_text().splitlines()[0])
    assert first["request_id"] == "rid-a" and first["transaction_id"] == "t1"
    assert first["model_version"] == "7" and first["fraud_probability"] == 0.1
    assert first["merchant_category"] == "online" and first["merchant_avg_amount"] is None
    # Monitoring reads the same files.
    day = read_day("2025-03-02", home=tmp_path)
    assert day.lines == 2 and day.frame["fraud_probability"].tolist() == [0.1, 0.9]
