"""drift_report and prediction_drift_report materialized on a real Dagster instance."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import DagsterInstance, materialize

from fraud_assets.defs.monitoring.assets import DRIFT_CHECK, prediction_drift_report
from tests.monitoring.test_prediction_log import log_day
from tests.support import (
    REFERENCE_DAYS,
    day_frame,
    day_key,
    resources,
    run_drift_report,
    write_day,
    write_reference_days,
)

DAY = day_key(REFERENCE_DAYS)


@pytest.fixture
def instance(fraud_home):
    with DagsterInstance.ephemeral() as inst:
        yield inst


def _outcome(result):
    [event] = result.get_asset_materialization_events()
    meta = {k: getattr(v, "value", v) for k, v in event.materialization.metadata.items()}
    [check] = result.get_asset_check_evaluations()
    return meta, check


def test_a_normal_day_passes_and_links_its_report(fraud_home, instance):
    write_reference_days(fraud_home)
    write_day(fraud_home, DAY)
    meta, check = _outcome(run_drift_report(instance, fraud_home, DAY))
    assert meta["drift_status"] == "no_drift" and meta["dataset_drift"] is False
    assert meta["drift_share"] == 0.0 and meta["drifted_columns"] == "none"
    assert meta["reference_source"] == "previous_days"
    assert "no champion model yet" in meta["reference"]
    assert meta["reference_days"] == REFERENCE_DAYS
    html = Path(meta["report_html"])
    assert html == fraud_home / "reports" / "transactions" / f"{DAY}.html" and html.exists()
    assert meta["report_url"] == html.as_uri()
    assert "| log_amount" in meta["column_scores"] and "score_hour" in meta
    assert check.check_name == DRIFT_CHECK and check.passed


def test_a_drifted_day_fails_the_non_blocking_check(fraud_home, instance):
    write_reference_days(fraud_home)
    write_day(fraud_home, DAY, "amount_x2")
    result = run_drift_report(instance, fraud_home, DAY)
    assert result.success  # the check warns, it does not stop anything
    meta, check = _outcome(result)
    assert meta["drift_status"] == "drift" and meta["dataset_drift"] is True
    assert meta["drifted_columns"] == "log_amount"
    assert not check.passed and "log_amount" in check.description


def test_the_alarm_rule_is_run_config(fraud_home, instance):
    write_reference_days(fraud_home)
    write_day(fraud_home, DAY, "amount_x2")
    config = {"ops": {"drift_report": {"config": {"min_drifted_columns": 2}}}}
    meta, check = _outcome(run_drift_report(instance, fraud_home, DAY, config))
    assert meta["drifted_columns"] == "log_amount" and meta["dataset_drift"] is False
    assert meta["alarm_rule"] == "at least 2 drifted column(s)" and check.passed


def test_the_first_day_has_nothing_to_compare_with(fraud_home, instance):
    write_day(fraud_home, DAY)
    meta, check = _outcome(run_drift_report(instance, fraud_home, DAY))
    assert meta["drift_status"] == "insufficient_data" and meta["reference_source"] == "none"
    assert "report_html" not in meta and check.passed


def test_prediction_drift_report_reads_the_serving_log(fraud_home, instance):
    write_reference_days(fraud_home)
    log_day(fraud_home, day_frame(DAY, "late_night"), day=DAY)
    result = materialize([prediction_drift_report], partition_key=DAY, instance=instance,
                         resources=resources(fraud_home))
    meta, check = _outcome(result)
    assert meta["dataset_drift"] is True and "hour" in meta["drifted_columns"]
    assert Path(meta["report_html"]).parent == fraud_home / "reports" / "predictions"
    assert not check.passed


def test_a_day_too_small_to_judge_carries_no_drift_figures(fraud_home, instance):
    write_reference_days(fraud_home)
    write_day(fraud_home, DAY, "late_night", rows=8)
    meta, check = _outcome(run_drift_report(instance, fraud_home, DAY))
    assert meta["drift_status"] == "insufficient_data" and meta["dataset_drift"] is False
    assert "too few to judge" in meta["drift_reason"]
    figures = {"drift_share", "drifted_columns", "column_scores"}
    assert not figures & set(meta) and not [k for k in meta if k.startswith("score_")]
    assert check.passed and "drift_share" not in check.metadata
