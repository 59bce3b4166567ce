"""The pieces of crash recovery, fast: telling a dead run process from a live one, failing
runs whose process died, and reusing the version an interrupted training registered."""

from __future__ import annotations

import subprocess
import sys

import psutil
from dagster import DagsterInstance, DagsterRunStatus, job, op

from fraud_assets import names
from fraud_assets.model import training
from fraud_assets.model.registry import CHALLENGER_ALIAS, TAG_DAGSTER_RUN
from fraud_assets.orchestration import runs
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
