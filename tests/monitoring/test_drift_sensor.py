"""drift_retraining evaluated in-process on a real instance with real drift reports."""

from __future__ import annotations

import pandas as pd
import pytest
from dagster import DagsterInstance, SkipReason, build_sensor_context

from fraud_assets.defs.monitoring.sensors import build_drift_retraining_sensor, drift_retraining
from fraud_assets.monitoring.trigger import TRIGGER_TAG, TRIGGER_VALUE
from fraud_assets.orchestration.pipeline import load_defs
from tests.support import (
    REFERENCE_DAYS,
    day_key,
    land,
    run_day,
    run_drift_report,
    write_day,
    write_reference_days,
)

DAY = day_key(REFERENCE_DAYS)
NEXT_DAY = day_key(REFERENCE_DAYS + 1)


@pytest.fixture
def instance(fraud_home):
    with DagsterInstance.ephemeral() as inst:
        write_reference_days(fraud_home)
        yield inst


def report(instance, home, day, scenario="normal"):
    write_day(home, day, scenario)
    assert run_drift_report(instance, home, day).success


def tick(instance, sensor=drift_retraining, cursor=None, **context):
    return sensor(build_sensor_context(instance=instance, cursor=cursor, **context))


def test_normal_days_request_nothing_and_say_why(fraud_home, instance):
    report(instance, fraud_home, DAY)
    report(instance, fraud_home, NEXT_DAY)
    result = tick(instance)
    assert not result.run_requests
    assert isinstance(result.skip_reason, SkipReason)
    text = result.skip_reason.skip_message
    assert f"{DAY} (drift_report): no_drift, drift share 0.00" in text
    assert NEXT_DAY in text
    # Nothing new: the cursor moved past both reports.
    assert tick(instance, cursor=result.cursor).skip_reason.skip_message == "no new drift reports"


@pytest.mark.parametrize("scenario", ["amount_x2", "late_night", "fraud_spike"])
def test_each_scenario_requests_retraining_with_key_and_reason(fraud_home, instance, scenario):
    report(instance, fraud_home, DAY, scenario)
    result = tick(instance)
    [request] = result.run_requests
    assert request.run_key == f"drift-retraining:{DAY}:episode-1"
    assert request.tags[TRIGGER_TAG] == TRIGGER_VALUE
    assert request.tags["fraud/drift_day"] == DAY
    assert request.tags["fraud/drift_reason"].startswith("drift: ")
    assert drift_retraining.job_name == "retraining_job"


def test_an_alarm_is_posted_once_normal_days_are_not(fraud_home, instance, alert_receiver):
    report(instance, fraud_home, DAY)
    report(instance, fraud_home, NEXT_DAY, "amount_x2")
    result = tick(instance)
    assert alert_receiver.kinds() == ["drift_alarm"]
    alert = alert_receiver.received[0]["fraud_alert"]
    assert alert["facts"]["day"] == NEXT_DAY and "amount" in alert["facts"]["drifted columns"]
    tick(instance, cursor=result.cursor)  # the report was read: no second post
    assert len(alert_receiver.received) == 1


def test_cool_down_holds_a_second_trigger_until_it_expires(fraud_home, instance):
    now = [1_750_000_000.0]
    sensor = build_drift_retraining_sensor(cooldown=24, clock=lambda: now[0])
    report(instance, fraud_home, DAY, "late_night")
    first = tick(instance, sensor)
    assert [r.run_key for r in first.run_requests] == [f"drift-retraining:{DAY}:episode-1"]

    report(instance, fraud_home, NEXT_DAY, "late_night")
    now[0] += 3_600
    held = tick(instance, sensor, first.cursor)
    assert not held.run_requests
    assert f"{NEXT_DAY} (drift_report): drift in hour, but in cool-down until" in \
        held.skip_reason.skip_message
    assert f"episode 1 started for {DAY}" in held.skip_reason.skip_message

    # Same day re-reported after the cool-down: a new episode, so a new run key.
    report(instance, fraud_home, NEXT_DAY, "late_night")
    now[0] += 24 * 3_600
    later = tick(instance, sensor, held.cursor)
    assert [r.run_key for r in later.run_requests] == [
        f"drift-retraining:{NEXT_DAY}:episode-2"]


def test_a_day_that_failed_blocking_checks_does_not_trigger(fraud_home, instance):
    # The landed file lacks a column: the real blocking GE check fails for that day ...
    path = land(fraud_home, DAY, rows=200)
    pd.read_csv(path).drop(columns=["hour"]).to_csv(path, index=False)
    assert not run_day(instance, DAY).success
    # ... while an earlier validated copy of the day drifts.
    report(instance, fraud_home, DAY, "amount_x2")
    for context in ({"definitions": load_defs()}, {}):  # checks listed by the code location, or not
        result = tick(instance, **context)
        assert not result.run_requests
        text = result.skip_reason.skip_message
        assert f"{DAY} (drift_report): drift, but not retraining on that day: blocking " \
               f"check(s) failed on transactions_raw: contract_structure" in text
        assert "missing required column(s) hour" in text
