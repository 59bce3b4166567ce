"""`shadow_report` materialized on a real (ephemeral) instance from a prediction log holding
shadow scores, with the day's labels in the lake."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from dagster import DagsterInstance, materialize

from fraud_assets import contract
from fraud_assets.defs.model.assets import shadow_evidence
from fraud_assets.defs.monitoring.shadow import shadow_report
from fraud_assets.defs.resources import FraudHome
from fraud_assets.monitoring import prediction_log as plog
from fraud_assets.monitoring import shadow
from tests.support import validated_day, write_validated

DAY = "2025-01-20"


def log_shadow_day(home, day_frame: pd.DataFrame, challenger_flags: np.ndarray,
                   day: str = DAY) -> None:
    """What the service logs while a challenger is in shadow (the champion answers)."""
    n = len(day_frame)
    truth = day_frame[contract.LABEL].astype(bool).to_numpy()
    rng = np.random.default_rng(0)
    log = plog.PredictionLog(home / "predictions")
    log.append(plog.Batch(dt.datetime.fromisoformat(f"{day}T12:00:00+00:00"), {
        plog.REQUEST_ID: [f"r{i}" for i in range(n)], plog.ITEM: 0, plog.ENDPOINT: "predict",
        plog.TRANSACTION_ID: day_frame[contract.TRANSACTION_ID.name].to_numpy(),
        **{f: day_frame[f].to_numpy() for f in plog.REQUEST_FIELDS},
        **{f: np.nan for f in plog.FEATURES}, plog.FEATURE_SOURCE: "imputed",
        plog.SCORE: rng.uniform(0, 1, n), plog.IS_FRAUD: truth, plog.DECISION: "approve",
        plog.THRESHOLD: 0.5,
        plog.MODEL_NAME: "m", plog.MODEL_VERSION: "1", plog.ANSWERED_BY: "champion",
        plog.CHAMPION_VERSION: "1", plog.CHAMPION_SCORE: np.where(truth, 0.9, 0.1),
        plog.CHAMPION_IS_FRAUD: truth, plog.CHALLENGER_VERSION: "2",
        plog.CHALLENGER_SCORE: np.where(challenger_flags, 0.8, 0.2),
        plog.CHALLENGER_IS_FRAUD: challenger_flags}))
    log.close()


def test_the_report_compares_both_models_on_the_same_labelled_traffic(fraud_home):
    day = validated_day(DAY, rows=400)
    truth = day[contract.LABEL].astype(bool).to_numpy()
    # The challenger misses every other fraud: same flags otherwise.
    frauds = np.flatnonzero(truth)
    challenger = truth.copy()
    challenger[frauds[::2]] = False
    write_validated(fraud_home, day, DAY)
    log_shadow_day(fraud_home, day, challenger)
    with DagsterInstance.ephemeral() as instance:
        result = materialize([shadow_report], partition_key=DAY, instance=instance,
                             resources={"fraud_home": FraudHome(path=str(fraud_home))})
    [event] = result.get_asset_materialization_events()
    meta = {k: v.value for k, v in event.materialization.metadata.items()}
    assert meta["status"] == "compared" and meta["rows"] == 400 and meta["labelled"] == 400
    assert meta["agreement"] == round(float((challenger == truth).mean()), 6)
    assert meta["champion_f1"] == 1.0 and meta["champion_recall"] == 1.0
    assert meta["challenger_recall"] == round(challenger[truth].mean(), 6)
    assert meta["challenger_precision"] == 1.0
    assert meta["challenger_versions"] == "2" and meta["canary_rows"] == 0
    assert meta["ks_statistic"] > 0
    # The gate reads the same report as evidence for version 2.
    with DagsterInstance.ephemeral() as instance:
        materialize([shadow_report], partition_key=DAY, instance=instance,
                    resources={"fraud_home": FraudHome(path=str(fraud_home))})
        evidence = shadow_evidence(instance, "2")
        assert shadow_evidence(instance, "3").days == 0
    assert evidence.days == 1
    assert evidence.f1_loss == pytest.approx(meta["champion_f1"] - meta["challenger_f1"],
                                             abs=1e-5)


def test_a_day_without_shadow_scores_is_skipped_saying_why(fraud_home):
    with DagsterInstance.ephemeral() as instance:
        result = materialize([shadow_report], partition_key=DAY, instance=instance,
                             resources={"fraud_home": FraudHome(path=str(fraud_home))})
    [event] = result.get_asset_materialization_events()
    assert event.materialization.metadata["status"].value == "skipped"
    assert "no answer was scored in shadow" in event.materialization.metadata["reason"].value
    assert shadow.MIN_LABELLED > 0
