"""The main job, headless: land simulated days, then materialize every asset in order."""

from __future__ import annotations

import ctypes
import datetime as dt
import functools
import gc
import multiprocessing
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection

import pyarrow as pa
from dagster import (
    AssetKey,
    DagsterInstance,
    DagsterRunStatus,
    Definitions,
    ExecuteInProcessResult,
    JobDefinition,
    JobExecutionResult,
    RunsFilter,
    build_reconstructable_job,
    execute_job,
)

from fraud_assets import landing, names, settings, simulator
from fraud_assets.orchestration import runs
from fraud_assets.orchestration.instance import ensure_dagster_home

# Step-level progress, not Dagster's full DEBUG event stream, on the terminal.
QUIET = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


class PipelineError(ValueError):
    """The pipeline cannot start as asked; the message says what to change."""


@dataclass
class PipelineReport:
    days_landed: int = 0
    days_processed: list[str] = field(default_factory=list)
    failed_runs: list[str] = field(default_factory=list)
    seconds: float = 0.0

    no_champion: str | None = None  # why there is no champion after the run, if so

    @property
    def success(self) -> bool:
        return not self.failed_runs


def land_days(start: dt.date, days: int, rows: int, seed: int = 42, cards: bool = True) -> int:
    """Simulate the days that have no landing file yet (existing files are never touched);
    `cards`: with the simulator's card layer (card_id, docs/CARDS.md)."""
    folder = settings.landing_dir()
    written = 0
    for i in range(days):
        day = start + dt.timedelta(days=i)
        if not landing.landing_file(folder, day).exists():
            simulator.write_day(folder, simulator.DayPlan(
                day=day, rows=rows, seed=seed, cards=simulator.CARDS if cards else None))
            written += 1
    return written


def run_pipeline(start: dt.date, days: int, rows: int,
                 echo: Callable[[str], None] = print, cards: bool = True) -> PipelineReport:
    """Process every pending landed day, then the whole-history assets, on the real instance.
    `cards`: simulated days carry card ids (the simulator's default).

    The daily runs execute in a fresh child process (`run_in_child`; Dagster's run
    launcher, too, gives each run its own process), the whole-history runs in this one
    after it ended: what the days' runs leave allocated goes back to the system with their
    process instead of staying under the retraining job. All in one process, the 30 x 1M
    pipeline held 1.2-1.8 GB after the days and the retraining job peaked at 6.20 GB on
    top of it (5.06 GB when run alone). One process for all the days, not one per day:
    a process's start and code location load cost ~10 s."""
    from fraud_assets.defs.ingest.sensors import landed_files, pending

    first = settings.first_day()
    if start.isoformat() < first:
        raise PipelineError(f"--start {start} is before the first daily partition {first}; "
                            f"set {settings.FIRST_DAY_ENV}={start} to process earlier days")
    t0 = time.perf_counter()
    ensure_dagster_home()
    report = PipelineReport(days_landed=land_days(start, days, rows, cards=cards))
    echo(f"landed {report.days_landed} new day(s) in {settings.landing_dir()}")
    release_memory()  # the simulated days' frames
    instance = DagsterInstance.get()
    runs.fail_orphaned_runs(instance, echo)  # a killed earlier pipeline: retry its work
    # A failed day is retried here even if its file was not touched since.
    todo = pending(instance, landed_files(settings.landing_dir())[0], retry_failed=True)
    if todo:
        days_run = [(item.day, dict(item.tags)) for item in todo]
        for outcome in run_in_child(_daily_runs, days_run, instance, echo):
            (report.days_processed if outcome.success else report.failed_runs).append(
                outcome.day)
    elif _whole_history_done(instance):
        echo("no new days and a champion exists: nothing to retrain")
        report.seconds = time.perf_counter() - t0
        return report
    for job_name in (names.ONLINE_FEATURES_JOB, names.RETRAINING_JOB):
        t = time.perf_counter()
        result = run_job(job_name, instance)
        echo(f"{job_name}: {_status(result)} "
             f"({time.perf_counter() - t:.1f}s, run {result.run_id[:8]})")
        if not result.success:
            report.failed_runs.append(job_name)
    report.no_champion = _why_no_champion(instance)
    report.seconds = time.perf_counter() - t0
    return report


@dataclass(frozen=True)
class RunOutcome:
    """One daily run as the pipeline reports it; it crosses from the child process."""

    day: str  # the partition day
    success: bool
    status: str  # "ok" or "FAILED (step: reason)"
    seconds: float
    run_id: str = ""

    def line(self) -> str:
        run = f", run {self.run_id[:8]}" if self.run_id else ""
        return f"{names.DAILY_JOB} {self.day}: {self.status} ({self.seconds:.1f}s{run})"


_CHILD_GRACE_S = 60  # an interrupted pipeline waits this long for its child to stop


def run_in_child(target: Callable[[Connection, list], None],
                 days: list[tuple[str, dict[str, str]]], instance: DagsterInstance,
                 echo: Callable[[str], None]) -> list[RunOutcome]:
    """Run `target(connection, days)` in a fresh (spawned) process, which sends one
    RunOutcome per (day, run tags) of `days` as each run ends; echo each as it comes,
    numbered.

    Returns one outcome per day, in order. When the process ends early (killed, out of
    memory), the days it did not report are failed outcomes saying so, and the run it left
    unfinished is marked failed at once (`runs.fail_orphaned_runs`), so the next pipeline
    retries it. Why a process and not this one: `run_pipeline`'s docstring."""
    context = multiprocessing.get_context("spawn")  # a fresh interpreter, as a run worker
    reader, writer = context.Pipe(duplex=False)
    child = context.Process(target=target, args=(writer, days), name="fraud-platform runs")
    child.start()
    writer.close()  # the child holds the only writer: end of file once it ends
    done: list[RunOutcome] = []
    try:
        while len(done) < len(days):
            try:
                outcome = reader.recv()
            except EOFError:
                break
            done.append(outcome)
            echo(f"[{len(done)}/{len(days)}] {outcome.line()}")
        child.join()
    finally:
        if child.is_alive():  # interrupted here: give the child its own chance to stop
            child.join(timeout=_CHILD_GRACE_S)
            child.terminate()
        reader.close()
    if len(done) < len(days):
        echo(f"the runs' process ended with exit code {child.exitcode} after {len(done)} of "
             f"{len(days)} run(s) (killed, or out of memory?)")
        runs.fail_orphaned_runs(instance, echo)
        why = f"FAILED (its process ended with exit code {child.exitcode})"
        done += [RunOutcome(day, False, why, 0.0) for day, _ in days[len(done):]]
    return done


def _daily_runs(out: Connection, days: list[tuple[str, dict[str, str]]]) -> None:
    """Child process: daily_job for each (day, run tags), one after another."""
    ensure_dagster_home()
    instance = DagsterInstance.get()
    daily = load_defs().resolve_job_def(names.DAILY_JOB)
    for day, tags in days:
        t = time.perf_counter()
        result = daily.execute_in_process(partition_key=day, instance=instance,
                                          raise_on_error=False, run_config=QUIET, tags=tags)
        out.send(RunOutcome(day, result.success, _status(result), time.perf_counter() - t,
                            result.run_id))
        del result
        release_memory()


def release_memory() -> None:
    """Hand the memory of a finished run back to the system: glibc's (`malloc_trim`) and
    Arrow's (its memory pool keeps freed buffers for reuse).

    Why: a 1M-row day's frames are freed when its run ends, but both allocators keep the
    pages, so the pipeline's process grew day after day and the retraining job started on
    top of it (30 x 1M: 6.38 GB peak). Measured on four 1M-row days: 2.15-2.53 GB resident
    after each run, 1.54-1.69 GB after `malloc_trim`; on three days of a 30 x 1M lake with
    a champion, 1.51-1.68 GB after it and 1.28-1.34 GB after Arrow's release too, and the
    retraining job then peaked at 5.77 GB in the same process (`benchmarks.scale`'s
    pipeline row: 6.21 GB without Arrow's release). `malloc_trim` is a no-op where the C
    library is not glibc."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    pa.default_memory_pool().release_unused()


def resolve_job(name: str) -> JobDefinition:
    """A job of the code location by name (the reconstructor `run_job` hands Dagster)."""
    return load_defs().resolve_job_def(name)


def run_job(name: str, instance: DagsterInstance, tags: dict[str, str] | None = None,
            asset_selection: list[AssetKey] | None = None) -> JobExecutionResult:
    """Run an unpartitioned job (only `asset_selection`'s assets, if given) in this process
    through `execute_job`, as a run worker would. Not `execute_in_process`: it keeps every
    step's output value in memory until the run ends (its result can return them), so the
    retraining job held the 7.5M-row training set twice at 30 x 1M rows
    (`benchmarks.scale` retraining row)."""
    job = build_reconstructable_job(__name__, resolve_job.__name__, (name,))
    return execute_job(job, instance=instance, run_config=QUIET, raise_on_error=False,
                       tags=tags, asset_selection=asset_selection)


def _why_no_champion(instance: DagsterInstance) -> str | None:
    """None while a champion exists; else the gate's reason (a refusal is a decision)."""
    from fraud_assets.model.registry import MlflowRegistry

    if MlflowRegistry().alias_version(settings.CHAMPION_ALIAS) is not None:
        return None
    event = instance.get_latest_materialization_event(AssetKey(names.CHAMPION))
    if event is None or event.asset_materialization is None:
        return "no model was gated (see the retraining_job run)"
    reason = event.asset_materialization.metadata.get("reason")
    return f"the gate kept no champion: {getattr(reason, 'value', reason)}"


def _status(result: ExecuteInProcessResult | JobExecutionResult) -> str:
    """"ok", or "FAILED" with each failed step and its reason (the run has the details)."""
    if result.success:
        return "ok"
    reasons = []
    for event in result.get_step_failure_events():
        data = event.step_failure_data
        user = data.user_failure_data.description if data.user_failure_data else None
        why = user or (data.error.message.strip() if data.error else "")
        why = why.splitlines()[0].removeprefix(f"{event.step_key}: ") if why else "failed"
        reasons.append(f"{event.step_key}: {why}")
    return "FAILED" + (f" ({'; '.join(reasons)})" if reasons else "")


def _whole_history_done(instance: DagsterInstance) -> bool:
    """A champion decision exists and the last whole-history runs succeeded (a killed or
    failed retraining is run again)."""
    if instance.get_latest_materialization_event(AssetKey(names.CHAMPION)) is None:
        return False
    for job in (names.ONLINE_FEATURES_JOB, names.RETRAINING_JOB):
        last = instance.get_run_records(RunsFilter(job_name=job), limit=1)
        if last and last[0].dagster_run.status != DagsterRunStatus.SUCCESS:
            return False
    return True


@functools.cache
def load_defs() -> Definitions:
    """The code location's definitions, as `dg` and the webserver load them (once)."""
    from fraud_assets.definitions import defs

    return defs()
