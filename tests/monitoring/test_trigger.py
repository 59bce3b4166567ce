"""The retraining decision on its own: order, cool-down, episodes, cursor."""

from __future__ import annotations

import pytest

from fraud_assets.monitoring.trigger import DriftEvent, TriggerState, decide

HOUR = 3_600.0


def event(storage_id, day, alarm=True, asset="drift_report"):
    return DriftEvent(storage_id, asset, day, alarm, "drift" if alarm else "no_drift",
                      0.25 if alarm else 0.0, "hour" if alarm else "none",
                      "drift: hour 0.555 >= 0.1 (jensenshannon)")


def never_blocked(day):
    return None


def test_first_alarm_triggers_and_later_ones_wait():
    events = [event(3, "2025-01-03"), event(1, "2025-01-01", alarm=False),
              event(2, "2025-01-02"), event(5, "2025-01-05", asset="prediction_drift_report")]
    decision = decide(events, TriggerState(), 100.0, 24 * HOUR, never_blocked)
    assert decision.trigger.day == "2025-01-02" and decision.trigger.episode == 1
    assert decision.trigger.run_key == "drift-retraining:2025-01-02:episode-1"
    assert decision.state.after == {"drift_report": 3, "prediction_drift_report": 5}
    assert decision.state.last_trigger_day == "2025-01-02"
    assert any("already requested for 2025-01-02" in n for n in decision.notes)


def test_cool_down_is_wall_clock_since_the_last_request():
    state = decide([event(1, "2025-01-01")], TriggerState(), 0.0, 24 * HOUR,
                   never_blocked).state
    held = decide([event(2, "2025-01-02")], state, 23 * HOUR, 24 * HOUR, never_blocked)
    assert held.trigger is None and "cool-down until 1970-01-02 00:00 UTC" in held.notes[0]
    after = decide([event(3, "2025-01-03")], held.state, 25 * HOUR, 24 * HOUR, never_blocked)
    assert after.trigger.episode == 2


def test_blocked_days_are_skipped_with_the_reason():
    decision = decide([event(1, "2025-01-01"), event(2, "2025-01-02")], TriggerState(), 0.0,
                      HOUR, lambda day: "checks failed" if day == "2025-01-01" else None)
    assert decision.trigger.day == "2025-01-02"
    assert "not retraining on that day: checks failed" in decision.notes[0]


def test_cursor_round_trips_and_a_foreign_cursor_is_explained():
    state = decide([event(7, "2025-01-01")], TriggerState(), 5.0, HOUR, never_blocked).state
    assert TriggerState.from_cursor(state.to_cursor()) == state
    with pytest.raises(ValueError, match="reset the sensor's cursor"):
        TriggerState.from_cursor('{"nope": 1}')
