"""The main job, headless: land simulated days, then materialize every asset in order."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from dagster import AssetKey, DagsterInstance

from fraud_assets import settings, simulator
from fraud_assets.instance import ensure_dagster_home

# Step-level progress, not Dagster's full DEBUG event stream, on the terminal.
QUIET = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


@dataclass
class PipelineReport:
    days_landed: int = 0
    days_processed: list[str] = field(default_factory=list)
    failed_runs: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def success(self) -> bool:
        return not self.failed_runs


def land_days(start: dt.date, days: int, rows: int, seed: int = 42) -> int:
    """Simulate the days that have no landing file yet (existing files are never touched)."""
    folder = settings.landing_dir()
    written = 0
    for i in range(days):
        day = start + dt.timedelta(days=i)
        if not simulator.landing_file(folder, day).exists():
            simulator.write_day(folder, simulator.DayPlan(day=day, rows=rows, seed=seed))
            written += 1
    return written


def run_pipeline(start: dt.date, days: int, rows: int,
                 echo: Callable[[str], None] = print) -> PipelineReport:
    """Process every pending landed day, then the whole-history assets, on the real instance."""
    from fraud_assets.definitions import defs
    from fraud_assets.defs.sensors.landing import landed_files, pending

    t0 = time.perf_counter()
    ensure_dagster_home()
    report = PipelineReport(days_landed=land_days(start, days, rows))
    echo(f"landed {report.days_landed} new day(s) in {settings.landing_dir()}")
    instance = DagsterInstance.get()
    daily = defs.resolve_job_def("daily_job")
    todo = pending(instance, landed_files(settings.landing_dir())[0])
    for n, item in enumerate(todo, 1):
        t = time.perf_counter()
        result = daily.execute_in_process(partition_key=item.day, instance=instance,
                                          raise_on_error=False, run_config=QUIET,
                                          tags={"fraud/landing_file": str(item.path)})
        status = "ok" if result.success else "FAILED"
        echo(f"[{n}/{len(todo)}] daily_job {item.day}: {status} "
             f"({time.perf_counter() - t:.1f}s, run {result.run_id[:8]})")
        (report.days_processed if result.success else report.failed_runs).append(item.day)
    if not todo and _whole_history_done(instance):
        echo("no new days and a champion exists: nothing to retrain")
        report.seconds = time.perf_counter() - t0
        return report
    for job_name in _whole_history_jobs(defs):
        t = time.perf_counter()
        result = defs.resolve_job_def(job_name).execute_in_process(
            instance=instance, raise_on_error=False, run_config=QUIET)
        echo(f"{job_name}: {'ok' if result.success else 'FAILED'} "
             f"({time.perf_counter() - t:.1f}s, run {result.run_id[:8]})")
        if not result.success:
            report.failed_runs.append(job_name)
    report.seconds = time.perf_counter() - t0
    return report


def _whole_history_done(instance: DagsterInstance) -> bool:
    return instance.get_latest_materialization_event(AssetKey("champion")) is not None


def _whole_history_jobs(defs) -> list[str]:
    """Unpartitioned jobs that run after the days, in order (those that exist so far)."""
    names = {job.name for job in defs.jobs or []}
    return [name for name in ("online_features_job", "retraining_job") if name in names]
