"""Dagster on PostgreSQL (the server profile): two runs at once, and the database
restarted in the middle of a run. Real daily_job runs, each in a process of its own as the
daemon would launch them, on a dagster-postgres instance."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from fraud_assets import names
from fraud_assets.orchestration.instance import ensure_dagster_home
from tests.support import TestServers, day_key, land, profile_env

pytestmark = pytest.mark.server

# One daily_job run of the code location for the day in argv[1], on the profile's instance.
# With a folder in argv[2] and a count in argv[3], the process waits there, once the code
# location is loaded, until that many processes are ready: a barrier, so that runs meant
# to overlap start together however long each interpreter takes to import.
RUN_DAY = """
import sys, time
from pathlib import Path
from dagster import DagsterInstance
from fraud_assets.orchestration.instance import ensure_dagster_home
from fraud_assets.orchestration.pipeline import load_defs, _status
ensure_dagster_home()
job = load_defs().resolve_job_def("daily_job")
if len(sys.argv) > 3:
    barrier = Path(sys.argv[2])
    (barrier / sys.argv[1]).touch()
    deadline = time.monotonic() + 600
    while len(list(barrier.iterdir())) < int(sys.argv[3]) and time.monotonic() < deadline:
        time.sleep(0.05)
with DagsterInstance.get() as instance:
    result = job.execute_in_process(
        partition_key=sys.argv[1], instance=instance, raise_on_error=False)
print("RESULT", _status(result))
sys.exit(0 if result.success else 1)
"""


@pytest.fixture
def server_home(request: pytest.FixtureRequest, fraud_home: Path) -> Iterator[Path]:
    with profile_env(request, "server"):  # an empty registry: no champion to score days
        yield fraud_home


def start_day(day: str, *barrier: str) -> subprocess.Popen:
    """Start one daily_job run in a process of its own; `barrier` = (folder, count)."""
    return subprocess.Popen([sys.executable, "-c", RUN_DAY, day, *barrier],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finished(process: subprocess.Popen, timeout: float = 300) -> tuple[int, str]:
    output, _ = process.communicate(timeout=timeout)
    return process.returncode, output


def runs(status: DagsterRunStatus | None = None) -> list:
    ensure_dagster_home()
    with DagsterInstance.get() as instance:
        return list(instance.get_run_records(
            RunsFilter(statuses=[status]) if status else None))


def test_the_instance_takes_two_runs_at_once(server_home: Path, tmp_path: Path) -> None:
    ensure_dagster_home()
    with DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert instance.run_coordinator.get_run_queue_config().max_concurrent_runs >= 2
    days = [day_key(0), day_key(1)]
    for day in days:
        land(server_home, day, rows=10_000)  # runs of several seconds each
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    processes = [start_day(day, str(barrier), str(len(days))) for day in days]
    outputs = [finished(p) for p in processes]
    for code, output in outputs:
        assert code == 0 and "RESULT ok" in output, output[-3000:]
        assert "database is locked" not in output
    records = runs(DagsterRunStatus.SUCCESS)
    assert sorted(r.dagster_run.tags["dagster/partition"] for r in records) == days
    first, second = sorted(records, key=lambda r: r.start_time)
    assert second.start_time < first.end_time, "the two runs did not overlap"


def test_the_database_restarted_mid_run_fails_clearly_or_resumes_and_a_retry_completes(
        server_home: Path, test_servers: TestServers) -> None:
    day = day_key(0)
    land(server_home, day, rows=40_000)  # a run of several seconds
    process = start_day(day)
    # Restart PostgreSQL once the run is under way (starting the process alone takes a
    # minute on a busy machine: it imports the code location).
    ensure_dagster_home()
    with DagsterInstance.get() as instance:
        deadline = time.monotonic() + 600
        while not instance.get_run_records(RunsFilter(statuses=[DagsterRunStatus.STARTED])):
            assert process.poll() is None, process.stdout.read()
            assert time.monotonic() < deadline, "the run never started"
            time.sleep(0.1)
    profile = test_servers.profile(test_servers.mlflow_env)
    profile.stop_postgres()
    time.sleep(1.0)
    profile.start(mlflow=False)
    code, output = finished(process)
    lake = server_home / "lake"
    if code != 0:
        # A failure names the database problem, not a bare traceback's last line only.
        assert any(word in output for word in ("OperationalError", "connection", "terminat")), \
            output[-3000:]
    # Never a half-written partition: every stored file reads whole, no temp file is left.
    assert not list(lake.rglob("*.tmp"))
    for path in lake.rglob("*.parquet"):
        pd.read_parquet(path)
    # A retry (what `fraud-platform pipeline` does for a failed day) completes the day.
    if code != 0:
        code, output = finished(start_day(day))
        assert code == 0 and "RESULT ok" in output, output[-3000:]
    validated = pd.read_parquet(lake / names.TRANSACTIONS_VALIDATED / f"{day}.parquet")
    quarantine = lake / names.TRANSACTIONS_QUARANTINE / f"{day}.parquet"
    quarantined = len(pd.read_parquet(quarantine)) if quarantine.exists() else 0
    assert len(validated) + quarantined == 40_000
