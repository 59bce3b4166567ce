"""Runs whose process died: told apart by the process recorded on each run, then failed.

A run killed with its process (kill -9, the OOM killer, a reboot) stays STARTED in the
Dagster instance forever: the default run launcher cannot check a run worker's health, and
an in-process run (the headless pipeline) has no worker to check. Such a run blocks the
landing sensor's retry of its day, so each run records its host, pid and the pid's start
time (the lake IO manager does it when a run starts), and `fail_orphaned_runs` reports
the runs whose process is gone as failed, with a message saying so, and ends the MLflow
runs they left RUNNING. Their partitions are safe to rerun: lake writes are atomic.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

import psutil
from dagster import DagsterInstance, DagsterRun, DagsterRunStatus, RunsFilter

from fraud_assets import names

UNFINISHED = [DagsterRunStatus.STARTING, DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]


def process_tags() -> dict[str, str]:
    """Host, pid and start time of this process, as run tags."""
    me = psutil.Process()
    return {names.RUN_HOST_TAG: socket.gethostname(), names.RUN_PID_TAG: str(me.pid),
            names.RUN_PROCESS_START_TAG: f"{me.create_time():.2f}"}


def record_run_process(instance: DagsterInstance, run_id: str) -> None:
    """Tag run `run_id` with the process executing it."""
    instance.add_run_tags(run_id, process_tags())


def process_alive(tags: dict[str, str]) -> bool:
    """False only when the recorded process is certainly gone (same host, and no process
    with that pid and start time); runs from other hosts or without tags count as alive."""
    if tags.get(names.RUN_HOST_TAG) != socket.gethostname() or names.RUN_PID_TAG not in tags:
        return True
    try:
        started = psutil.Process(int(tags[names.RUN_PID_TAG])).create_time()
    except psutil.NoSuchProcess:
        return False
    return f"{started:.2f}" == tags.get(names.RUN_PROCESS_START_TAG)  # else: a reused pid


def orphaned_runs(instance: DagsterInstance) -> list[DagsterRun]:
    """Unfinished runs of this host whose process is gone."""
    records = instance.get_run_records(RunsFilter(
        statuses=UNFINISHED, tags={names.RUN_HOST_TAG: socket.gethostname()}))
    return [r.dagster_run for r in records if not process_alive(r.dagster_run.tags)]


def fail_orphaned_runs(instance: DagsterInstance,
                       echo: Callable[[str], None] = print) -> list[str]:
    """Report every orphaned run as failed (and end its MLflow runs); their ids."""
    from fraud_assets.model.registry import MlflowRegistry

    failed = []
    for run in orphaned_runs(instance):
        pid = run.tags.get(names.RUN_PID_TAG)
        instance.report_run_failed(run, message=(
            f"the process running this run (pid {pid}) ended before the run finished "
            "(killed?); marked failed so the work can be retried"))
        ended = MlflowRegistry().end_unfinished_runs(run.run_id)
        echo(f"run {run.run_id[:8]} ({run.job_name}) lost its process (pid {pid}): marked "
             f"failed{f', MLflow run(s) {ended} ended as KILLED' if ended else ''}")
        failed.append(run.run_id)
    return failed
