"""model_performance on a real instance: the champion measured on labelled days."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from dagster import DagsterEventType, DagsterInstance, materialize
from evidently.ui.workspace import Workspace

from fraud_assets.defs.model.resources import MlflowRegistryResource
from fraud_assets.defs.monitoring.performance import ASSET, PERFORMANCE_CHECK, model_performance
from fraud_assets.monitoring import dashboards, performance
from fraud_assets.monitoring.scoring import load_champion
from tests.support import (
    CONCEPT_DRIFT,
    FEW_FRAUDS,
    NORMAL,
    PERFORMANCE_UPSTREAM,
    day_key,
    resources,
    run_performance,
)


@pytest.fixture
def instance():
    with DagsterInstance.ephemeral() as inst:
        yield inst


def test_a_normal_day_is_measured_at_the_champions_threshold(platform, instance):
    meta, [check] = run_performance(platform.home, day_key(NORMAL), instance)
    champion = load_champion(platform.registry)
    assert meta["champion_version"] == int(platform.champion_version)
    assert meta["threshold"] == pytest.approx(champion.threshold)
    p, r, f1 = meta["precision"], meta["recall"], meta["f1"]
    assert f1 == pytest.approx(2 * p * r / (p + r))
    assert f1 >= performance.DEFAULT_F1_FLOOR and 0.0 < meta["pr_auc"] <= 1.0
    assert meta["judged"] is True and meta["performance_status"] == "ok"
    assert meta["in_training_window"] is False  # out of sample: the day after the window
    assert meta["rows_scored"] == 1_000 and meta["rows_without_features"] == 0
    assert check.check_name == PERFORMANCE_CHECK and check.passed
    # The day is also a snapshot on the Evidently dashboards, with the same F1.
    workspace = Workspace(str(dashboards.workspace_dir(platform.home)))
    [project] = workspace.search_project(dashboards.PROJECT_NAME)
    snapshot = workspace.get_run(project.id, meta["evidently_snapshot"])
    assert snapshot.metadata["day"] == day_key(NORMAL)
    [f1] = [r.value for r in snapshot.metric_results.values()
            if r.metric_value_location.metric.params["type"].endswith(":F1Score")]
    assert f1 == pytest.approx(meta["f1"])


def test_concept_drift_falls_below_the_floor_and_the_check_warns(platform, instance):
    meta, [check] = run_performance(platform.home, day_key(CONCEPT_DRIFT), instance)
    assert meta["f1"] < performance.DEFAULT_F1_FLOOR
    assert meta["performance_status"] == "below_floor"
    assert not check.passed and "below the floor 0.3" in check.description
    # The floor is run config: at 0 nothing is below it.
    config = {"ops": {ASSET: {"config": {"f1_floor": 0.0}}}}
    meta, [check] = run_performance(platform.home, day_key(CONCEPT_DRIFT), instance, config)
    assert meta["performance_status"] == "ok" and check.passed


def test_a_day_with_few_frauds_is_recorded_but_not_judged(platform, instance):
    meta, [check] = run_performance(platform.home, day_key(FEW_FRAUDS), instance)
    assert meta["judged"] is False and meta["performance_status"] == "not_judged"
    assert "too few to judge" in meta["performance_reason"] and "f1" not in meta
    assert meta["evidently_snapshot"].startswith("none")  # a gap on the dashboard, not a 0
    assert check.passed


def test_without_a_champion_the_day_is_skipped_with_a_note(tmp_path, platform, instance):
    # The platform's lake and features, but an empty MLflow store.
    res = resources(platform.home) | {"mlflow_registry": MlflowRegistryResource(
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")}
    result = materialize([*PERFORMANCE_UPSTREAM, model_performance],
                         selection=[model_performance.key], partition_key=day_key(NORMAL),
                         instance=instance, resources=res)
    assert result.success
    [event] = result.get_asset_materialization_events()
    meta = {k: v.value for k, v in event.materialization.metadata.items()}
    assert meta["performance_status"] == "skipped"
    assert meta["performance_reason"].startswith("no champion model yet")
    # Not evaluated (shown as skipped in the UI), rather than a misleading "passed".
    assert result.get_asset_check_evaluations() == []
    records = instance.get_records_for_run(
        result.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED).records
    planned = [r.event_log_entry.dagster_event.asset_check_planned_data.check_name
               for r in records]
    assert planned == [PERFORMANCE_CHECK]


def test_a_large_day_is_measured_on_its_frauds_and_a_weighted_sample(platform, instance):
    """Over `sample_rows`, every known fraud and a hash-chosen share of the other rows are
    scored, weighted: recall and the frauds are the whole day's exactly, the rest are
    estimates of the whole day's, the same on every rerun."""
    whole, _ = run_performance(platform.home, day_key(NORMAL), instance)
    config = {"ops": {ASSET: {"config": {"sample_rows": 300}}}}
    sampled, [check] = run_performance(platform.home, day_key(NORMAL), instance, config)
    assert whole["sample_rate"] == 1.0 and whole["rows_sampled"] == 1_000
    assert sampled["frauds"] == whole["frauds"] and sampled["recall"] == whole["recall"]
    rate = 300 / (1_000 - whole["frauds"])
    assert sampled["sample_rate"] == pytest.approx(rate)
    others = sampled["rows_sampled"] - whole["frauds"]
    assert abs(others - 300) < 4 * (1_000 * rate * (1 - rate)) ** 0.5
    assert sampled["rows_scored"] == pytest.approx(1_000, rel=0.15)
    # Weighted, precision stays the day's (unweighted, the kept frauds would inflate it).
    assert sampled["precision"] == pytest.approx(whole["precision"], abs=0.1)
    # A count of n rows, each kept with probability `rate`, estimated as kept / rate:
    # standard deviation sqrt(n (1 - rate) / rate).
    spread = 4 * (whole["reviews_per_day"] * (1 - rate) / rate) ** 0.5
    assert sampled["reviews_per_day"] == pytest.approx(whole["reviews_per_day"], abs=spread)
    assert sampled["cost_saved"] == pytest.approx(whole["cost_saved"], rel=0.1)
    assert "weighted" in sampled["performance_reason"] and check.passed
    again, _ = run_performance(platform.home, day_key(NORMAL), instance, config)
    assert {k: again[k] for k in performance.METRICS} == \
        {k: sampled[k] for k in performance.METRICS}


def test_the_sample_keeps_every_fraud_and_the_same_others_in_any_order():
    ids = pd.Series([f"t{i:06d}" for i in range(20_000)])
    known = pd.Series(np.where(np.arange(20_000) % 50 == 0, 1, 0), dtype="Int64")
    known[known.index % 7 == 1] = pd.NA  # not yet known: sampled like the legitimate
    sample = performance.sample_day(ids, known, 2_000)
    fraud = (known == 1).fillna(False).to_numpy()
    assert set(np.flatnonzero(fraud)) <= set(sample.rows)
    assert (sample.weight[fraud[sample.rows]] == 1).all()
    assert sample.weight[~fraud[sample.rows]] == pytest.approx(1 / sample.rate)
    assert sample.rate == pytest.approx(2_000 / (~fraud).sum())
    assert abs((~fraud[sample.rows]).sum() - 2_000) < 4 * 2_000 ** 0.5
    assert sample.weight.sum() == pytest.approx(20_000, rel=0.05)
    shuffled = np.random.default_rng(3).permutation(20_000)
    again = performance.sample_day(ids[shuffled].reset_index(drop=True),
                                   known[shuffled].reset_index(drop=True), 2_000)
    assert set(ids[shuffled].to_numpy()[again.rows]) == set(ids.to_numpy()[sample.rows])
    everything = performance.sample_day(ids, known, 20_000)
    assert everything.rate == 1.0 and len(everything.rows) == 20_000
