"""The landing sensor, evaluated in-process on a real instance (the runs it requests are
executed with their tags, as the daemon would)."""
import datetime as dt
import os

import pandas as pd
import pytest
from dagster import DagsterInstance, SkipReason, build_sensor_context

from fraud_assets import names
from fraud_assets.defs.ingest.sensors import landed_files, landing_sensor, pending
from fraud_assets.defs.resources import FraudHome
from fraud_assets.orchestration.pipeline import load_defs
from tests.support import lake_frame, land, run_day


@pytest.fixture
def instance(fraud_home):
    with DagsterInstance.ephemeral() as inst:
        yield inst


def tick(instance, cursor=None):
    context = build_sensor_context(instance=instance, cursor=cursor,
                                   resources={"fraud_home": FraudHome()})
    result = landing_sensor(context)
    return result, context


def execute(instance, request):
    """Run a request as the daemon would: daily_job for its partition, with its tags."""
    return load_defs().resolve_job_def(names.DAILY_JOB).execute_in_process(
        partition_key=request.partition_key, instance=instance, tags=request.tags,
        raise_on_error=False)


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


def touch(path):
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))


def test_a_touched_but_unchanged_file_is_not_run_again(fraud_home, instance):
    path = land(fraud_home, "2025-01-01", rows=50)
    first, _ = tick(instance)
    assert len(first.run_requests) == 1
    assert execute(instance, first.run_requests[0]).success
    touch(path)
    again, _ = tick(instance, first.cursor)
    assert not again.run_requests
    assert "up to date" in again.skip_reason.skip_message


def test_a_day_landed_a_then_b_then_a_again_ends_with_a_in_the_lake(fraud_home, instance):
    day = "2025-01-01"
    path = land(fraud_home, day, rows=40, seed=1)
    content_a = path.read_bytes()
    keys, cursor = [], None
    for content in (content_a, None, content_a):
        if content is None:
            land(fraud_home, day, rows=40, seed=2)  # B: other transactions
        else:
            path.write_bytes(content)
        result, _ = tick(instance, cursor)
        cursor = result.cursor
        assert [r.partition_key for r in result.run_requests] == [day]
        keys.append(result.run_requests[0].run_key)
        assert execute(instance, result.run_requests[0]).success
    assert len(set(keys)) == 3, "each landing gets a run key of its own"
    validated = lake_frame(fraud_home, "transactions_validated", day)
    assert sorted(validated["transaction_id"]) == sorted(
        pd.read_csv(path)["transaction_id"])
    assert validated["amount"].sum() == pytest.approx(pd.read_csv(path)["amount"].sum())
    idle, _ = tick(instance, cursor)
    assert not idle.run_requests and "up to date" in idle.skip_reason.skip_message


def test_a_failed_day_is_retried_when_its_file_is_touched(fraud_home, instance):
    day = "2025-01-01"
    path = land(fraud_home, day, rows=40)
    pd.read_csv(path).drop(columns=["hour"]).to_csv(path, index=False)
    first, _ = tick(instance)
    assert not execute(instance, first.run_requests[0]).success

    stuck, _ = tick(instance, first.cursor)
    assert not stuck.run_requests
    message = stuck.skip_reason.skip_message
    assert path.name in message and "failed" in message and "touch" in message
    # The headless pipeline retries a failed day without a touch.
    files = landed_files(fraud_home / "landing")[0]
    assert [p.day for p in pending(instance, files, retry_failed=True)] == [day]

    touch(path)
    retried, _ = tick(instance, stuck.cursor)
    assert [r.partition_key for r in retried.run_requests] == [day]
    assert retried.run_requests[0].run_key != first.run_requests[0].run_key

    land(fraud_home, day, rows=40)  # the corrected file
    fixed, _ = tick(instance, retried.cursor)
    assert execute(instance, fixed.run_requests[0]).success
    assert len(lake_frame(fraud_home, "transactions_validated", day)) == 40


def test_every_file_not_taken_is_named_with_its_reason(fraud_home, instance):
    folder = fraud_home / "landing"
    land(fraud_home, "2025-01-02", rows=30)
    today = dt.datetime.now(dt.UTC).date()
    for name in ("transactions_20250103.csv", "transactions_20250102.csv",
                 "transactions_2024-12-31.csv", f"transactions_{today}.csv",
                 "transactions_2025-02-30.csv", "notes.txt"):
        (folder / name).write_text("a,b\n1,2\n")
    taken, ignored = landed_files(folder)
    assert [f.path.name for f in taken] == ["transactions_2025-01-02.csv"]
    reasons = {i.name: i.reason for i in ignored}
    assert "rename it to transactions_2025-01-03.csv" in reasons["transactions_20250103.csv"]
    assert "second file for 2025-01-02" in reasons["transactions_20250102.csv"]
    assert "before the first partition 2025-01-01" in reasons["transactions_2024-12-31.csv"]
    assert "not complete yet" in reasons[f"transactions_{today}.csv"]
    assert "does not match transactions_YYYY-MM-DD.csv" in reasons["notes.txt"]
    assert "transactions_2025-02-30.csv" in reasons  # no such date
    assert len(ignored) == 6

    result, _ = tick(instance)
    [request] = result.run_requests
    assert request.partition_key == "2025-01-02"
    assert execute(instance, request).success, "the asset reads the file the sensor took"
    idle, _ = tick(instance, result.cursor)
    for name in reasons:
        assert name in idle.skip_reason.skip_message
