"""The alarm rule on real Evidently reports: quiet on normal days, loud on each scenario."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from fraud_assets import contract
from fraud_assets.monitoring import columns, reports
from fraud_assets.monitoring.drift import DriftPolicy, compare
from tests.support import REFERENCE_DAYS, day_frame, day_key, reference_frame

EXPECTED = {"amount_x2": "log_amount", "late_night": "hour", "fraud_spike": "is_fraud"}


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return reference_frame()


def test_normal_days_do_not_alarm(reference):
    for offset in range(REFERENCE_DAYS, REFERENCE_DAYS + 3):
        summary = compare(reference, day_frame(day_key(offset))).summary
        assert summary.status == "no_drift", summary.reason
        assert not summary.dataset_drift and summary.drifted_columns == ()
        assert summary.drift_share == 0.0


@pytest.mark.parametrize("scenario", sorted(EXPECTED))
def test_each_scenario_alarms_on_its_first_day(reference, scenario):
    summary = compare(reference, day_frame(day_key(REFERENCE_DAYS), scenario)).summary
    assert summary.status == "drift" and summary.dataset_drift
    assert EXPECTED[scenario] in summary.drifted_columns
    assert summary.drift_share >= 1 / len(summary.columns)
    assert EXPECTED[scenario] in summary.reason


def test_the_summary_names_method_score_and_threshold_per_column(reference):
    summary = compare(reference, day_frame(day_key(REFERENCE_DAYS), "late_night")).summary
    by_name = {c.column: c for c in summary.columns}
    # day_of_week is constant within a day: never compared.
    assert set(by_name) == {"log_amount", "hour", "merchant_category", "is_fraud"}
    assert by_name["hour"].method == "jensenshannon" and by_name["hour"].drifted
    assert by_name["log_amount"].method == "wasserstein" and not by_name["log_amount"].drifted
    assert by_name["is_fraud"].threshold == columns.LABEL_THRESHOLD
    assert by_name["hour"].score >= by_name["hour"].threshold
    assert "| hour" in summary.markdown_table()


def test_the_score_is_compared_when_both_sides_have_it(reference):
    rng = np.random.default_rng(0)
    current = day_frame(day_key(REFERENCE_DAYS)).drop(columns=[contract.LABEL])
    current = current.assign(fraud_probability=rng.beta(2, 4, len(current)))
    scored_ref = reference.assign(fraud_probability=rng.beta(1, 30, len(reference)))
    summary = compare(scored_ref, current).summary
    assert "fraud_probability" in summary.drifted_columns
    assert any("is_fraud not compared" in n for n in summary.notes)

    only_current = compare(reference, current).summary
    assert "fraud_probability" not in {c.column for c in only_current.columns}
    assert any("fraud_probability not compared: absent from reference" in n
               for n in only_current.notes)


def test_too_few_rows_are_reported_but_never_alarm(reference):
    small = day_frame(day_key(REFERENCE_DAYS), "late_night", rows=300)
    summary = compare(reference, small).summary
    assert summary.status == "insufficient_data" and not summary.dataset_drift
    assert "too few to judge" in summary.reason


def test_inputs_are_sampled_to_a_bounded_size(reference):
    policy = DriftPolicy(max_reference_rows=5_000, max_current_rows=1_500)
    summary = compare(reference, day_frame(day_key(REFERENCE_DAYS)), policy).summary
    assert (summary.rows_reference, summary.rows_current) == (5_000, 1_500)


def test_a_missing_request_field_is_named_with_its_source(reference):
    current = day_frame(day_key(REFERENCE_DAYS)).drop(columns=["merchant_category"])
    with pytest.raises(ValueError, match=r"lake/x\.parquet: missing required column\(s\) "
                                         r"merchant_category"):
        compare(reference, current, current_name="lake/x.parquet")


def test_an_empty_day_is_not_judged(reference):
    result = compare(reference, pd.DataFrame(), current_name="lake/empty.parquet")
    assert result.snapshot is None and result.summary.status == "insufficient_data"
    assert "lake/empty.parquet has no rows" in result.summary.reason


def test_reports_are_saved_per_kind_and_day(reference, tmp_path):
    result = compare(reference, day_frame(day_key(REFERENCE_DAYS), "amount_x2"))
    files = reports.save(result, "transactions", "2025-01-11", tmp_path)
    assert files.html == tmp_path / "reports" / "transactions" / "2025-01-11.html"
    assert files.html.stat().st_size > 100_000 and files.json.exists()
    saved = json.loads(files.summary.read_text())
    assert saved["dataset_drift"] is True and saved["drifted_columns"] == ["log_amount"]
    with pytest.raises(ValueError, match="unknown report kind"):
        reports.report_paths("bogus", "2025-01-11", tmp_path)


def test_a_summary_not_judged_has_no_drift_figures(reference):
    summary = compare(reference, day_frame(day_key(REFERENCE_DAYS), "late_night", rows=8)).summary
    assert summary.status == "insufficient_data"
    assert summary.drift_share is None and summary.drifted_columns == () and not summary.columns
