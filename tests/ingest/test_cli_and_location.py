"""The code location loads as Dagster loads it, and the CLI does what its help says."""

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from fraud_assets import landing, names, settings
from fraud_assets.cli import app
from fraud_assets.model.registry import MlflowRegistry
from fraud_assets.orchestration.instance import ensure_dagster_home
from tests import support

runner = CliRunner()


def test_dagster_validates_the_workspace(fraud_home):
    ensure_dagster_home()
    result = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=settings.REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def _dg(*args: str) -> subprocess.CompletedProcess:
    dg = Path(sys.executable).parent / "dg"
    return subprocess.run([str(dg), *args], cwd=settings.REPO_ROOT, capture_output=True,
                          text=True, timeout=300)


def test_dg_checks_and_lists_the_project(fraud_home):
    checked = _dg("check", "defs")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "All definitions loaded successfully" in checked.stdout + checked.stderr
    listed = _dg("list", "defs", "--json")
    assert listed.returncode == 0, listed.stderr
    found = json.loads(listed.stdout)
    assets = {a["asset_key"]: a["group_name"] for a in found["assets"]}
    assert assets == {
        names.TRANSACTIONS_RAW: names.INGEST, names.TRANSACTIONS_VALIDATED: names.INGEST,
        names.TRANSACTIONS_QUARANTINE: names.INGEST, names.MERCHANT_FEATURES: names.FEATURES,
        names.ONLINE_FEATURES: names.FEATURES, names.TRAINING_SET: names.FEATURES,
        names.CARD_FEATURES: names.FEATURES,
        names.FRAUD_MODEL: names.MODEL, names.CHAMPION: names.MODEL,
        names.DRIFT_REPORT: names.MONITORING, names.PREDICTION_DRIFT_REPORT: names.MONITORING,
        names.MODEL_PERFORMANCE: names.MONITORING, names.SHADOW_REPORT: names.MONITORING,
        names.FRAUD_BENTO: names.SERVING,
        names.LABELS_RAW: names.LABELS_GROUP, names.LABELS: names.LABELS_GROUP,
        names.LABELS_QUARANTINE: names.LABELS_GROUP, names.LABELS_HELD: names.LABELS_GROUP}
    assert {c["key"] for c in found["asset_checks"]} == {
        f"{names.TRANSACTIONS_RAW}:{names.CONTRACT_STRUCTURE}",
        f"{names.TRANSACTIONS_RAW}:{names.CONTRACT_VALUES}",
        f"{names.TRANSACTIONS_RAW}:{names.FRAUD_RATE_SANE}",
        f"{names.TRANSACTIONS_RAW}:{names.CATEGORIES_PRESENT}",
        f"{names.DRIFT_REPORT}:{names.NO_SIGNIFICANT_DRIFT}",
        f"{names.PREDICTION_DRIFT_REPORT}:{names.NO_SIGNIFICANT_DRIFT}",
        f"{names.MODEL_PERFORMANCE}:{names.PERFORMANCE_ABOVE_FLOOR}",
        f"{names.LABELS_RAW}:{names.LABEL_STRUCTURE}", f"{names.LABELS_RAW}:{names.LABEL_VALUES}",
        f"{names.CARD_FEATURES}:{names.CARD_PARITY}",
        f"{names.ONLINE_FEATURES}:freshness_check"}  # Dagster's name for its freshness check
    assert {j["name"] for j in found["jobs"]} == {
        names.DAILY_JOB, names.ONLINE_FEATURES_JOB, names.RETRAINING_JOB, names.LABELS_JOB,
        names.PERFORMANCE_JOB}
    assert {s["name"] for s in found["sensors"]} == {
        names.LANDING_SENSOR, names.DRIFT_RETRAINING_SENSOR, names.FEATURE_AUTOMATION_SENSOR,
        names.RUN_FAILURE_ALERT_SENSOR, names.LABEL_SENSOR, names.ONLINE_FRESHNESS_SENSOR}
    assert {r["name"] for r in found["resources"]} == {
        "fraud_home", "lake", "feast_store", "mlflow_registry"}


def test_help_lists_the_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("simulate", "pipeline", "up"):
        assert command in result.output


def test_simulate_writes_one_file_per_day(fraud_home):
    result = runner.invoke(app, ["simulate", "--days", "3", "--rows", "20",
                                 "--start", "2025-02-01", "--scenario", "amount_x2",
                                 "--from", "2025-02-03"])
    assert result.exit_code == 0, result.output
    files = sorted(p.name for p in (fraud_home / "landing").iterdir())
    assert files == [f"transactions_2025-02-0{d}.csv" for d in (1, 2, 3)]
    assert "scenario amount_x2" in result.output.splitlines()[-1]
    assert "scenario normal" in result.output.splitlines()[0]


def test_simulate_refuses_bad_options_clearly(fraud_home):
    bad_date = runner.invoke(app, ["simulate", "--start", "2025-13-01"])
    assert bad_date.exit_code == 2 and "--start" in bad_date.output
    bad_kind = runner.invoke(app, ["simulate", "--bad-kinds", "null,gremlins"])
    assert bad_kind.exit_code == 2 and "gremlins" in bad_kind.output
    assert not (fraud_home / "landing").exists()


def test_pipeline_runs_end_to_end_then_does_nothing_twice(fraud_home):
    """`make pipeline` on small data: every job, a champion, a bento; then idempotent.
    Three landed days are enough: the first has no features, the next two train and test."""
    first = runner.invoke(app, ["pipeline", "--days", "3", "--rows", "4000"])
    assert first.exit_code == 0, first.output
    assert "processed 3 day(s)" in first.output
    for job in ("online_features_job: ok", "retraining_job: ok"):
        assert job in first.output
    assert MlflowRegistry().alias_version(settings.CHAMPION_ALIAS) == "1"
    assert (fraud_home / "dagster" / "dagster.yaml").read_text().count("enabled: false") == 1
    second = runner.invoke(app, ["pipeline", "--days", "3", "--rows", "4000"])
    assert second.exit_code == 0, second.output
    assert "processed 0 day(s)" in second.output
    assert "retraining_job" not in second.output


def test_pipeline_refuses_a_history_too_short_to_split_saying_the_minimum(fraud_home):
    result = runner.invoke(app, ["pipeline", "--days", "2", "--rows", "300"])
    assert result.exit_code == 1
    assert ("retraining_job: FAILED (training_set: 1 landed day(s) with merchant features; "
            "training and a holdout need at least 2") in result.output


def test_a_refused_first_model_is_a_decision_not_a_failure(fraud_home):
    """Labels that follow no pattern: the gate refuses the first model, the retraining run
    still succeeds (the Bento is skipped, saying why) and the exit code is 2."""
    (fraud_home / "landing").mkdir()
    for day in support.days(3):
        frame = support.scrambled(support.validated_day(day, 3000, fraud_ratio=0.05))
        frame["event_timestamp"] = frame["event_timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        frame.to_csv(landing.landing_file(fraud_home / "landing", day), index=False)
    result = runner.invoke(app, ["pipeline", "--days", "3", "--rows", "3000"])
    assert result.exit_code == 2, result.output
    assert "retraining_job: ok" in result.output
    assert "no champion: the gate kept no champion: first model is below the floors" in \
        result.output
    assert MlflowRegistry().alias_version(settings.CHAMPION_ALIAS) is None


def test_pipeline_exit_code_tells_failure(fraud_home):
    landing = fraud_home / "landing"
    landing.mkdir()
    (landing / "transactions_2025-01-01.csv").write_text("")
    result = runner.invoke(app, ["pipeline", "--days", "1", "--rows", "100"])
    assert result.exit_code == 1
    assert "2025-01-01" in result.output
