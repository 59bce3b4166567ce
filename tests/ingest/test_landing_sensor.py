"""The landing sensor, evaluated in-process on a real instance."""
import os

import pandas as pd
import pytest
from dagster import DagsterInstance, SkipReason, build_sensor_context

from fraud_assets.defs.ingest.sensors import landing_sensor
from fraud_assets.defs.resources import FraudHome
from tests.support import land, run_day


@pytest.fixture
def instance(fraud_home):
    with DagsterInstance.ephemeral() as inst:
        yield inst


def tick(instance, cursor=None):
    context = build_sensor_context(instance=instance, cursor=cursor,
                                   resources={"fraud_home": FraudHome()})
    result = landing_sensor(context)
    return result, context


def test_one_run_per_new_day_and_none_twice(fraud_home, instance):
    for day in ("2025-01-01", "2025-01-02", "2025-01-03"):
        land(fraud_home, day, rows=50)
    result, _ = tick(instance)
    assert [r.partition_key for r in result.run_requests] == [
        "2025-01-01", "2025-01-02", "2025-01-03"]
    assert len({r.run_key for r in result.run_requests}) == 3

    again, _ = tick(instance, result.cursor)
    assert not again.run_requests
    assert isinstance(again.skip_reason, SkipReason)

    land(fraud_home, "2025-01-04", rows=50)
    later, _ = tick(instance, again.cursor)
    assert [r.partition_key for r in later.run_requests] == ["2025-01-04"]


def test_a_corrected_file_runs_again_with_a_new_run_key(fraud_home, instance):
    path = land(fraud_home, "2025-01-01", rows=50)
    first, _ = tick(instance)
    frame = pd.read_csv(path)
    frame.loc[0, "amount"] = 99.0
    frame.to_csv(path, index=False)
    second, _ = tick(instance, first.cursor)
    assert len(second.run_requests) == 1
    assert second.run_requests[0].run_key != first.run_requests[0].run_key


def test_days_already_materialized_are_not_requested(fraud_home, instance):
    land(fraud_home, "2025-01-01", rows=50)
    land(fraud_home, "2025-01-02", rows=50)
    assert run_day(instance, "2025-01-01").success
    result, _ = tick(instance)
    assert [r.partition_key for r in result.run_requests] == ["2025-01-02"]


def test_files_without_a_day_are_ignored(fraud_home, instance):
    (fraud_home / "landing").mkdir()
    (fraud_home / "landing" / "notes.csv").write_text("a,b\n1,2\n")
    result, _ = tick(instance)
    assert not result.run_requests


def test_a_touched_but_unchanged_file_is_not_run_again(fraud_home, instance):
    path = land(fraud_home, "2025-01-01", rows=50)
    first, _ = tick(instance)
    assert len(first.run_requests) == 1
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    again, _ = tick(instance, first.cursor)
    assert not again.run_requests
