"""Reading a day of the serving prediction log, and its drift report."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fraud_assets import contract
from fraud_assets.features.names import FEATURES
from fraud_assets.monitoring import daily, prediction_log
from fraud_assets.monitoring.reference import Reference
from tests.support import day_frame, day_key, reference_frame

DAY = "2025-01-11"
REQUEST = [f.name for f in contract.REQUEST_FIELDS]


def log_day(home: Path, frame: pd.DataFrame, name: str = "part-0.jsonl",
            day: str = DAY) -> Path:
    """Write requests + answers the way the service logs them: one JSON object a line."""
    rng = np.random.default_rng(1)
    folder = home / "predictions" / day
    folder.mkdir(parents=True, exist_ok=True)
    # Extra fields as the service's writer adds them; `is_fraud` is its decision.
    records = frame[REQUEST].assign(fraud_probability=rng.beta(1, 30, len(frame)),
                                    is_fraud=1, merchant_avg_amount=None, model_version="3")
    path = folder / name
    path.write_text("".join(json.dumps(r) + "\n" for r in records.to_dict("records")))
    return path


def test_reads_every_file_of_the_day_typed(tmp_path):
    frame = day_frame(day_key(10), rows=300)
    log_day(tmp_path, frame.iloc[:200], "a.jsonl")
    log_day(tmp_path, frame.iloc[200:], "b.jsonl")
    got = prediction_log.read_day(DAY, tmp_path)
    assert got.lines == 300 and len(got.frame) == 300 and got.invalid == 0
    assert list(got.frame.columns) == [*REQUEST, "fraud_probability"]
    assert got.frame["hour"].dtype == "int64"


def test_large_days_are_sampled_to_max_rows(tmp_path):
    log_day(tmp_path, day_frame(day_key(10), rows=500))
    got = prediction_log.read_day(DAY, tmp_path, max_rows=120)
    assert got.lines == 500 and len(got.frame) == 120


def test_a_broken_line_names_its_file_and_line(tmp_path):
    path = log_day(tmp_path, day_frame(day_key(10), rows=5))
    with path.open("a") as handle:
        handle.write('{"amount": 12.5, "hour": 3}\n')
    with pytest.raises(prediction_log.PredictionLogError,
                       match=rf"{path} line 6: missing field\(s\) day_of_week, "
                             r"merchant_category, fraud_probability"):
        prediction_log.read_day(DAY, tmp_path)
    path.write_text("not json\n")
    with pytest.raises(prediction_log.PredictionLogError, match=rf"{path} line 1: not valid"):
        prediction_log.read_day(DAY, tmp_path)


def test_values_that_break_the_contract_are_left_out_and_counted(tmp_path):
    frame = day_frame(day_key(10), rows=20)
    frame.loc[0, "hour"] = 25
    path = log_day(tmp_path, frame)
    lines = path.read_text().splitlines()
    bad_score = json.loads(lines[1]) | {"fraud_probability": 1.5}
    path.write_text("\n".join([lines[0], json.dumps(bad_score), *lines[2:]]) + "\n")
    got = prediction_log.read_day(DAY, tmp_path)
    assert got.invalid == 2 and len(got.frame) == 18
    assert "hour must be >= 0 and <= 23" in got.first_invalid_reason


def test_no_log_for_the_day_is_an_empty_frame(tmp_path):
    got = prediction_log.read_day(DAY, tmp_path)
    assert got.lines == 0 and got.frame.empty


def test_prediction_log_report_catches_drift_in_served_traffic(tmp_path):
    reference = Reference(reference_frame(), "previous_days", "ten normal days", (), 20_000)
    log_day(tmp_path, day_frame(DAY, "late_night"))
    report = daily.predictions_report(DAY, reference, home=tmp_path)
    assert report.summary.dataset_drift and "hour" in report.summary.drifted_columns
    # The training window has no scores: the score is not compared, and the report says so.
    assert any("fraud_probability not compared" in n for n in report.summary.notes)
    # The logged decision is not a label: never compared with the reference's labels.
    assert "is_fraud" not in {c.column for c in report.summary.columns}
    assert report.files.html == tmp_path / "reports" / "predictions" / f"{DAY}.html"
    assert report.files.html.exists()
    assert "2,000 predictions" in report.notes[0]


def _batch(when: dt.datetime, rows: pd.DataFrame, version: str = "7") -> prediction_log.Batch:
    """What the service appends for scored rows (features imputed here: NaN)."""
    n = len(rows)
    return prediction_log.Batch(when, {
        prediction_log.REQUEST_ID: [f"rid-{i}" for i in range(n)],
        prediction_log.ITEM: list(range(n)), prediction_log.ENDPOINT: "predict_batch",
        prediction_log.TRANSACTION_ID: ["t1", *[None] * (n - 1)],
        **{f: rows[f].to_numpy() for f in REQUEST},
        **{f: np.full(n, np.nan) for f in FEATURES},
        prediction_log.FEATURE_SOURCE: "imputed",
        prediction_log.SCORE: np.linspace(0.1, 0.9, n), prediction_log.IS_FRAUD: False,
        prediction_log.DECISION: "approve",
        prediction_log.THRESHOLD: 0.5, prediction_log.MODEL_NAME: "m",
        prediction_log.MODEL_VERSION: version, prediction_log.ANSWERED_BY: "champion",
        prediction_log.CHAMPION_VERSION: version,
        prediction_log.CHAMPION_SCORE: np.linspace(0.1, 0.9, n),
        prediction_log.CHAMPION_IS_FRAUD: False, prediction_log.CHALLENGER_VERSION: None,
        prediction_log.CHALLENGER_SCORE: None, prediction_log.CHALLENGER_IS_FRAUD: None})


def test_the_writer_and_the_reader_share_one_schema(tmp_path):
    """Round trip: the service's writer -> day files in the schema -> monitoring's reader."""
    rows = day_frame(day_key(10), rows=5).reset_index(drop=True)
    log = prediction_log.PredictionLog(tmp_path / "predictions")
    before = dt.datetime(2025, 1, 10, 23, 59, tzinfo=dt.UTC)
    log.append(_batch(before, rows))
    log.append(_batch(dt.datetime(2025, 1, 11, 0, 1, tzinfo=dt.UTC), rows))
    log.close()
    assert log.status()["written"] == 10 and log.status()["write_failures"] == 0
    assert sorted(p.name for p in (tmp_path / "predictions").iterdir()) == [
        "2025-01-10", "2025-01-11"]
    [path] = prediction_log.day_folder(DAY, tmp_path).glob("*.jsonl")
    first = json.loads(path.read_text().splitlines()[0])
    assert tuple(first) == prediction_log.COLUMNS
    assert first["transaction_id"] == "t1" and first[FEATURES[0]] is None
    assert first["timestamp"].startswith("2025-01-11T00:01:00")
    got = prediction_log.read_day(DAY, tmp_path)
    assert got.lines == 5 and got.invalid == 0
    assert list(got.frame.columns) == list(prediction_log.FIELDS)
    pd.testing.assert_frame_equal(got.frame[REQUEST], rows[REQUEST].astype(
        {"hour": "int64", "day_of_week": "int64", "merchant_category": "string"}),
        check_dtype=False)
    assert got.frame["fraud_probability"].tolist() == pytest.approx(np.linspace(0.1, 0.9, 5))


def test_a_batch_missing_a_schema_column_is_refused():
    with pytest.raises(KeyError, match="model_version"):
        prediction_log.batch_frame(prediction_log.Batch(
            dt.datetime(2025, 1, 11, tzinfo=dt.UTC), {prediction_log.REQUEST_ID: ["x"]}))


def test_logged_answers_count_each_answer_across_days(tmp_path):
    """The soak benchmark's check: every answer once, from the writer's own lines."""
    rows = day_frame(day_key(10), rows=3).reset_index(drop=True)
    log = prediction_log.PredictionLog(tmp_path / "predictions")
    log.append(_batch(dt.datetime(2025, 1, 10, 23, 59, tzinfo=dt.UTC), rows))
    log.append(_batch(dt.datetime(2025, 1, 11, 0, 1, tzinfo=dt.UTC), rows.iloc[:1]))
    log.close()
    counts = prediction_log.logged_answers(tmp_path)
    assert counts == {("rid-0", 0): 2, ("rid-1", 1): 1, ("rid-2", 2): 1}
    broken = prediction_log.day_folder(DAY, tmp_path) / "broken.jsonl"
    broken.write_text('{"request_id": "x"}\n')
    with pytest.raises(prediction_log.PredictionLogError, match="broken.jsonl line 1"):
        prediction_log.logged_answers(tmp_path)
