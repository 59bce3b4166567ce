"""`benchmarks.daily_run` reads each step's seconds from a real run's Dagster events."""

import pytest
from dagster import DagsterEventType, DagsterInstance

from benchmarks import daily_run
from tests.support import land, run_day

DAY = "2025-02-03"


@pytest.fixture
def instance(fraud_home):
    with DagsterInstance.ephemeral() as inst:
        yield inst


def test_every_step_of_the_run_is_timed_from_its_events(fraud_home, instance):
    land(fraud_home, DAY, rows=300)
    result = run_day(instance, DAY)
    assert result.success
    seconds = daily_run.step_seconds(instance, result.run_id)
    ran = {e.step_key for e in result.all_events
           if e.event_type == DagsterEventType.STEP_SUCCESS}
    assert set(seconds) == ran and "transactions_raw" in ran
    assert all(s >= 0 for s in seconds.values())
    runs = [{"run": 1, "seconds": 9.5, "steps": seconds}]
    rows = daily_run.table(runs).splitlines()
    assert len(rows) == 2 + len(ran) + 1 and rows[-1].endswith("**9.50** |")
    slowest = max(seconds, key=seconds.get)
    assert rows[2].startswith(f"| {slowest} |")
