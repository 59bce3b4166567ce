"""The pieces of crash recovery, fast: telling a dead run process from a live one, failing
runs whose process died, and reusing the version an interrupted training registered."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from multiprocessing.connection import Connection

import psutil
from dagster import DagsterInstance, DagsterRunStatus, job, op

from fraud_assets import names
from fraud_assets.model import training
from fraud_assets.model.registry import CHALLENGER_ALIAS, TAG_DAGSTER_RUN
from fraud_assets.orchestration import pipeline, runs
from fraud_assets.orchestration.instance import ensure_dagster_home
from tests.support import register


@op
def noop() -> None:
    pass


@job
def some_job() -> None:
    noop()


def dead_process_tags() -> dict[str, str]:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.5)"])
    started = psutil.Process(child.pid).create_time()
    child.wait()
    return {**runs.process_tags(), names.RUN_PID_TAG: str(child.pid),
            names.RUN_PROCESS_START_TAG: f"{started:.2f}"}


def test_a_finished_process_is_dead_and_a_reused_pid_is_not_the_run():
    assert runs.process_alive(runs.process_tags())
    assert not runs.process_alive(dead_process_tags())
    # Our own pid with another start time: the pid was reused, the run's process is gone.
    assert not runs.process_alive({**runs.process_tags(), names.RUN_PROCESS_START_TAG: "1.00"})
    # Another host, or no tags at all: we cannot tell, so the run is left alone.
    assert runs.process_alive({**dead_process_tags(), names.RUN_HOST_TAG: "elsewhere"})
    assert runs.process_alive({})


def test_only_runs_whose_process_died_are_failed(fraud_home):
    instance = DagsterInstance.ephemeral()
    dead = instance.create_run_for_job(some_job, tags=dead_process_tags(),
                                       status=DagsterRunStatus.STARTED)
    alive = instance.create_run_for_job(some_job, tags=runs.process_tags(),
                                        status=DagsterRunStatus.STARTED)
    said: list[str] = []
    assert runs.fail_orphaned_runs(instance, said.append) == [dead.run_id]
    assert instance.get_run_by_id(dead.run_id).status == DagsterRunStatus.FAILURE
    assert instance.get_run_by_id(alive.run_id).status == DagsterRunStatus.STARTED
    assert len(said) == 1 and "lost its process" in said[0]
    assert runs.fail_orphaned_runs(instance, said.append) == []  # once is enough


def test_a_retried_training_reuses_the_interrupted_attempts_version(registry, split,
                                                                    good_model):
    fingerprint = training.fingerprint(split[0], good_model.params)
    assert fingerprint == training.fingerprint(split[0].copy(), good_model.params)
    logged = register(registry, good_model, split[0], dagster_run_id="killed-run",
                      fingerprint=fingerprint)
    registry.set_alias(CHALLENGER_ALIAS, None)
    # The run that registered it succeeded: a new training gets a version of its own.
    assert registry.reuse_unfinished(fingerprint, lambda run: True, "retry") is None
    # It died: the retry takes that version over instead of registering a duplicate.
    reused = registry.reuse_unfinished(fingerprint, lambda run: run != "killed-run", "retry")
    assert reused is not None and reused.version == logged.version
    assert reused.run_id == logged.run_id
    assert registry.alias_version(CHALLENGER_ALIAS) == logged.version
    assert registry.version(logged.version).tags[TAG_DAGSTER_RUN] == "retry"
    assert registry.reuse_unfinished("another-fingerprint", lambda run: False, "r") is None


def one_run_then_killed(out: Connection, days: list[tuple[str, dict]]) -> None:
    """A child process: reports its first day's run, starts the second, dies (SIGKILL)."""
    out.send(pipeline.RunOutcome(days[0][0], True, "ok", 0.1, "r1"))
    DagsterInstance.get().create_run_for_job(some_job, tags=runs.process_tags(),
                                             status=DagsterRunStatus.STARTED)
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_killed_runs_process_fails_what_it_left_and_says_so(fraud_home):
    """The pipeline's daily runs' child process (a real spawned process) killed mid-run:
    the reported day stands, the rest fail naming the exit code, the started run is failed
    at once (not left STARTED), and the pipeline's process goes on."""
    ensure_dagster_home()
    instance = DagsterInstance.get()
    days = ["2025-01-01", "2025-01-02", "2025-01-03"]
    said: list[str] = []
    outcomes = pipeline.run_in_child(one_run_then_killed, [(d, {}) for d in days], instance,
                                     said.append)
    assert [(o.day, o.success) for o in outcomes] == [(days[0], True), (days[1], False),
                                                     (days[2], False)]
    assert all(f"exit code {-signal.SIGKILL}" in o.status for o in outcomes[1:])
    assert said[0] == "[1/3] daily_job 2025-01-01: ok (0.1s, run r1)"
    assert any("after 1 of 3 run(s)" in line for line in said)
    assert any("lost its process" in line for line in said)
    (record,) = instance.get_run_records()
    assert record.dagster_run.status == DagsterRunStatus.FAILURE
