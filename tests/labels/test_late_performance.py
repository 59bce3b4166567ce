"""model_performance with late labels: estimated until the day's labels arrive through the
label feed, then re-measured (the label sensor requests it) on a real instance, real MLflow
champion and real Feast store."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from dagster import DagsterInstance, build_sensor_context, materialize

from fraud_assets import contract, landing, names
from fraud_assets.defs.labels.assets import labels as labels_asset
from fraud_assets.defs.labels.assets import labels_raw
from fraud_assets.defs.labels.checks import label_structure, label_values
from fraud_assets.defs.labels.sensors import label_sensor
from fraud_assets.defs.resources import FraudHome
from fraud_assets.monitoring import performance
from tests.support import build_platform, day_key, land_day, resources, run_performance

OFFSET = 6  # the day after a 6-day window
DAY = day_key(OFFSET)


def land_labels(home, frame: pd.DataFrame, arrival: int) -> None:
    """The verdicts of `frame` in the label file of day `arrival` (noon)."""
    folder = landing.label_folder(home / "landing")
    folder.mkdir(parents=True, exist_ok=True)
    stamp = (pd.Timestamp(day_key(arrival), tz="UTC") + pd.Timedelta(hours=12))
    pd.DataFrame({"transaction_id": frame.transaction_id.astype(str),
                  "is_fraud": frame[contract.LABEL].astype(int),
                  "label_timestamp": stamp.strftime("%Y-%m-%dT%H:%M:%SZ")}).to_csv(
        landing.label_file(folder, dt.date.fromisoformat(day_key(arrival))), index=False)


def tick(instance, home, cursor):
    result = label_sensor(build_sensor_context(
        instance=instance, resources={"fraud_home": FraudHome(path=str(home))}, cursor=cursor))
    return result.run_requests, result.cursor


def run_labels(instance, home, day: str) -> None:
    assert materialize([labels_raw, label_structure, label_values, labels_asset],
                       partition_key=day, instance=instance, resources=resources(home)).success


def test_a_day_goes_from_estimated_to_measured_as_its_labels_land(fraud_home):
    platform = build_platform(fraud_home, n_days=OFFSET, rows=600)
    truth = land_day(platform, OFFSET, rows=1_500)
    with DagsterInstance.ephemeral() as instance:
        measured_at_landing, _ = run_performance(fraud_home, DAY, instance)
        assert measured_at_landing[performance.BASIS_KEY] == "measured"
        # The same day, landed without its labels.
        path = fraud_home / "lake" / names.TRANSACTIONS_VALIDATED / f"{DAY}.parquet"
        truth.assign(**{contract.LABEL: pd.array([pd.NA] * len(truth), dtype="Int64")}
                     ).to_parquet(path, index=False)
        meta, [check] = run_performance(fraud_home, DAY, instance)
        assert meta[performance.BASIS_KEY] == "estimated" and meta["judged"] is False
        assert meta[performance.MATURITY_KEY] == 0.0 and "f1" not in meta
        assert 0 < meta["estimated_precision"] <= 1 and 0 < meta["estimated_recall"] <= 1
        # The decisions' cost, estimated: within a factor of the measured one, never 0.
        assert "cost" not in meta and meta["estimated_cost"] > 0
        assert 0.5 < meta["estimated_cost"] / measured_at_landing["cost"] < 2
        assert check.passed and "labels not matured: 0%" in meta["performance_reason"]

        # Half the verdicts arrive the next day: still estimated, half known.
        land_labels(fraud_home, truth.iloc[::2], OFFSET + 1)
        requests, cursor = tick(instance, fraud_home, None)
        assert [(r.job_name, r.partition_key) for r in requests] == [
            (names.LABELS_JOB, day_key(OFFSET + 1))]
        run_labels(instance, fraud_home, day_key(OFFSET + 1))
        requests, cursor = tick(instance, fraud_home, cursor)
        assert [(r.job_name, r.partition_key) for r in requests] == [
            (names.PERFORMANCE_JOB, DAY)]
        meta, _ = run_performance(fraud_home, DAY, instance)
        assert meta[performance.BASIS_KEY] == "estimated"
        assert meta[performance.MATURITY_KEY] == pytest.approx(0.5, abs=0.01)

        # The rest two weeks later: measured, exactly as if the labels had landed with it.
        land_labels(fraud_home, truth.iloc[1::2], OFFSET + 14)
        requests, cursor = tick(instance, fraud_home, cursor)
        run_labels(instance, fraud_home, day_key(OFFSET + 14))
        requests, cursor = tick(instance, fraud_home, cursor)
        assert [(r.job_name, r.partition_key) for r in requests] == [
            (names.PERFORMANCE_JOB, DAY)]
        meta, [check] = run_performance(fraud_home, DAY, instance)
        assert meta[performance.BASIS_KEY] == "measured" and meta["judged"] is True
        assert meta[performance.MATURITY_KEY] == 1.0
        for name in ("precision", "recall", "f1", "pr_auc", *performance.COST_METRICS):
            assert meta[name] == pytest.approx(measured_at_landing[name])
        # Every label known: the estimate is the fact.
        for name in ("precision", "recall", "f1", "cost", "cost_saved"):
            assert meta[f"estimated_{name}"] == pytest.approx(meta[name])
        # Nothing more to do.
        assert tick(instance, fraud_home, cursor)[0] == []
