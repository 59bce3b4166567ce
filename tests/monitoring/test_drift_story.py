"""The drift story end to end on small data: land, drift, sensor, retrain, gate.

Real everything: the pipeline makes the baseline champion, daily_job runs on the real
DagsterInstance in FRAUD_HOME, the sensor is evaluated in-process, the retraining run
registers a version in MLflow and the gate records its decision there.
"""

from __future__ import annotations

import datetime as dt

from dagster import DagsterInstance, build_sensor_context
from typer.testing import CliRunner

from fraud_assets.cli import app
from fraud_assets.model.registry import MlflowRegistry
from fraud_assets.orchestration.pipeline import load_defs
from fraud_assets.orchestration.story import StoryConfig, describe, run_story

BASELINE_DAYS = 10
ROWS = 2_000  # the alarm's accuracy targets are stated at 2,000 rows per day
FIRST_STORY_DAY = (dt.date(2025, 1, 1) + dt.timedelta(days=BASELINE_DAYS)).isoformat()
LATE_NIGHT_DAY = (dt.date(2025, 1, 1) + dt.timedelta(days=BASELINE_DAYS + 1)).isoformat()


def test_the_story_alarms_retrains_and_gates_and_the_cli_goes_on(profile_home):
    """Under both profiles (server: Dagster on PostgreSQL, MLflow server, Redis)."""
    lines: list[str] = []
    config = StoryConfig(scenarios=("normal", "late_night"), baseline_days=BASELINE_DAYS,
                         baseline_rows=ROWS, skip_bento=True)
    report = run_story(config, defs=load_defs(), echo=lines.append)
    assert report.baseline == f"pipeline ran {BASELINE_DAYS} day(s); champion v1"
    normal, late = report.outcomes

    # A normal day flows: no drift, F1 measured, nothing requested.
    assert (normal.day, normal.scenario, normal.daily_ok) == (FIRST_STORY_DAY, "normal", True)
    assert normal.drift_status == "no_drift" and normal.retraining is None
    assert normal.f1 is not None and "no_drift" in normal.sensor
    assert normal.champion_before == normal.champion_after == "1"

    # The late-night day alarms on `hour`, the sensor requests a run, a version is gated.
    assert (late.day, late.drift_status, late.drifted_columns) == (LATE_NIGHT_DAY, "drift",
                                                                   "hour")
    run = late.retraining
    assert run is not None and run.success and run.signal == "drift"
    assert late.sensor == f"drift-retraining:{LATE_NIGHT_DAY}:episode-1 (drift)"
    assert run.new_version == "2" and run.decision in ("promoted", "rejected")
    assert late.champion_after == ("2" if run.decision == "promoted" else "1")

    # The run carries the request's tags and run key (our own tag, not a hand-set
    # dagster/* one); the gate's verdict is in MLflow.
    key = f"drift-retraining:{LATE_NIGHT_DAY}:episode-1"
    with DagsterInstance.get() as instance:
        tags = instance.get_run_by_id(run.run_id).tags
        # The deployed sensor, reading the whole history as the daemon would on its first
        # tick, reaches the same request and does not run it a second time.
        deployed = load_defs().resolve_sensor_def("drift_retraining")
        tick = deployed(build_sensor_context(instance=instance, definitions=load_defs()))
    assert tags["fraud/run_key"] == key and not any(k.startswith("dagster/run_key")
                                                     for k in tags)
    assert tags["fraud/drift_day"] == LATE_NIGHT_DAY and tags["fraud/signal"] == "drift"
    assert not tick.run_requests
    assert tick.skip_reason.skip_message == f"{key} already ran as run {run.run_id}"
    assert MlflowRegistry().version("2").tags["gate_decision"] == run.decision

    table = report.table()
    assert "late_night" in table and "DRIFT: hour" in table and "v2" in table
    assert "cool-down 0 h for the demo" in "\n".join(lines)
    assert "2 day(s), 1 drift alarm(s), 1 retraining run(s)" in describe(report,
                                                                         config.scenarios)

    # The command plays the next day on the champion that is there now.
    result = CliRunner().invoke(app, ["drift-demo", "--scenarios", "amount_x2",
                                      "--skip-bento"])
    assert result.exit_code == 0, result.output
    assert f"baseline: existing champion v{late.champion_after}" in result.output
    assert "DRIFT: log_amount" in result.output and "episode-1 (drift)" in result.output
    assert "1 day(s), 1 drift alarm(s), 1 retraining run(s)" in result.output
