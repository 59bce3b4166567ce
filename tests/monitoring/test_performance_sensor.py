"""drift_retraining on the performance series: an F1 below the floor requests retraining."""

from __future__ import annotations

import pytest
from dagster import DagsterInstance, build_sensor_context

from fraud_assets.defs.monitoring.sensors import (
    F1_FLOOR_ENV,
    build_drift_retraining_sensor,
    cursor_after_latest,
)
from fraud_assets.monitoring.trigger import (
    PERFORMANCE,
    SIGNAL_TAG,
    DriftEvent,
    TriggerState,
    decide,
)
from tests.support import CONCEPT_DRIFT, NORMAL, day_key, run_performance

START = 1_750_000_000.0


@pytest.fixture
def instance():
    with DagsterInstance.ephemeral() as inst:
        yield inst


def tick(instance, sensor, cursor=None):
    return sensor(build_sensor_context(instance=instance, cursor=cursor))


def test_a_day_below_the_floor_requests_retraining_with_its_reason(platform, instance):
    run_performance(platform.home, day_key(NORMAL), instance)
    run_performance(platform.home, day_key(CONCEPT_DRIFT), instance)
    now = [START]
    sensor = build_drift_retraining_sensor(cooldown=24, clock=lambda: now[0], f1_floor=0.3)
    result = tick(instance, sensor)
    [request] = result.run_requests
    day = day_key(CONCEPT_DRIFT)
    assert request.run_key == f"drift-retraining:{day}:episode-1"
    assert request.tags[SIGNAL_TAG] == PERFORMANCE
    assert request.tags["fraud/drift_report"] == "model_performance"
    reason = request.tags["fraud/drift_reason"]
    assert reason.startswith("performance: champion v1 F1 0.") and "< floor 0.3" in reason

    # The same day measured again inside the cool-down: held, and the note says why.
    run_performance(platform.home, day, instance)
    now[0] += 3_600
    held = tick(instance, sensor, result.cursor)
    assert not held.run_requests
    assert f"{day} (model_performance): F1 0." in held.skip_reason.skip_message
    assert "< floor 0.3, but in cool-down until" in held.skip_reason.skip_message


def test_days_at_or_above_the_floor_and_unjudged_days_only_leave_notes(platform, instance):
    run_performance(platform.home, day_key(NORMAL), instance)
    run_performance(platform.home, day_key(CONCEPT_DRIFT), instance)
    # A floor of 0 turns the signal off: every judged F1 is at or above it.
    result = tick(instance, build_drift_retraining_sensor(cooldown=24, f1_floor=0.0))
    assert not result.run_requests
    text = result.skip_reason.skip_message
    assert f"{day_key(NORMAL)} (model_performance): F1 0." in text and ">= floor 0" in text


def test_the_floor_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv(F1_FLOOR_ENV, "0.45")
    assert "below 0.45" in build_drift_retraining_sensor(cooldown=1).description
    monkeypatch.setenv(F1_FLOOR_ENV, "high")
    with pytest.raises(ValueError, match="FRAUD_RETRAIN_F1_FLOOR='high' is not an F1"):
        build_drift_retraining_sensor(cooldown=1)
    monkeypatch.setenv(F1_FLOOR_ENV, "3")
    with pytest.raises(ValueError, match="is not an F1 between 0 and 1"):
        build_drift_retraining_sensor(cooldown=1)


def test_a_fresh_cursor_can_start_after_the_history(platform, instance):
    run_performance(platform.home, day_key(CONCEPT_DRIFT), instance)
    sensor = build_drift_retraining_sensor(cooldown=0, f1_floor=0.3)
    result = tick(instance, sensor, cursor_after_latest(instance))
    assert not result.run_requests
    assert result.skip_reason.skip_message == "no new drift reports"


def _event(storage_id, asset, day, alarm, kind="drift"):
    summary = "F1 0.050 < floor 0.3" if kind == PERFORMANCE else ""
    return DriftEvent(storage_id, asset, day, alarm, "x", 0.25, "hour", f"{kind} reason",
                      kind=kind, summary=summary)


def test_drift_and_performance_on_the_same_day_retrain_once():
    events = [_event(1, "drift_report", "2025-01-11", True),
              _event(2, "model_performance", "2025-01-11", True, PERFORMANCE)]
    decision = decide(events, TriggerState(), START, 3_600, lambda day: None)
    assert decision.trigger.asset == "drift_report" and decision.trigger.episode == 1
    assert decision.notes[-1] == ("2025-01-11 (model_performance): F1 0.050 < floor 0.3, but "
                                  "retraining is already requested for 2025-01-11")
    blocked = decide(events[1:], TriggerState(), START, 3_600, lambda day: "checks failed")
    assert blocked.trigger is None
    assert blocked.notes == ("2025-01-11 (model_performance): F1 0.050 < floor 0.3, but not "
                             "retraining on that day: checks failed",)
