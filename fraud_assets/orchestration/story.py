"""The drift story, headless (`fraud-platform drift-demo`, `make drift-demo`).

What the UI shows over days, played in one process on the real Dagster instance:

1. Baseline: a champion must exist; on a fresh state folder the pipeline runs first.
2. For each scenario the next day lands (the simulator) and `daily_job` runs for it.
3. The `drift_retraining` sensor is evaluated in-process on the instance, with the code
   location's definitions, as the daemon would. Its cursor starts after the history (only
   the story's days count) and is carried from tick to tick. The cool-down is 0 h unless
   asked otherwise, so every alarming day may retrain; the production default is 24 h.
4. A requested run of `retraining_job` is executed in-process with the request's tags,
   which carry its run key (`fraud/run_key`): the daemon's own sensor sees the key as used
   and never runs it twice.
5. A table says what happened: day, scenario, drift verdict, F1, run, version, gate,
   champion before and after.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from dagster import (
    AssetKey,
    DagsterInstance,
    Definitions,
    ExecuteInProcessResult,
    JobExecutionResult,
    RunRequest,
    SensorDefinition,
    SensorResult,
    build_sensor_context,
)
from tabulate import tabulate

from fraud_assets import lake, names, settings, simulator
from fraud_assets.defs.ingest.sensors import landed_files
from fraud_assets.defs.monitoring.sensors import (
    build_drift_retraining_sensor,
    cursor_after_latest,
)
from fraud_assets.model.registry import MlflowRegistry
from fraud_assets.monitoring import drift, performance
from fraud_assets.monitoring.trigger import DRIFT, SIGNAL_TAG
from fraud_assets.orchestration.instance import ensure_dagster_home
from fraud_assets.orchestration.pipeline import QUIET, load_defs, run_job, run_pipeline

DEMO_SCENARIOS: tuple[str, ...] = ("normal", "amount_x2", "late_night", "fraud_spike")
SENSOR_NAME = names.DRIFT_RETRAINING_SENSOR
VALIDATED = names.TRANSACTIONS_VALIDATED


class StoryError(RuntimeError):
    """The story cannot go on; the message says what to run or fix."""


@dataclass(frozen=True)
class StoryConfig:
    scenarios: tuple[str, ...] = DEMO_SCENARIOS
    days_per_scenario: int = 1
    rows: int | None = None  # None: as many as the last landed day had (the pipeline's)
    seed: int = 42
    skip_bento: bool = False
    cooldown_hours: float = 0.0
    f1_floor: float | None = None  # None: the sensor's default ($FRAUD_RETRAIN_F1_FLOOR)
    baseline_start: dt.date = dt.date(2025, 1, 1)
    baseline_days: int = 30
    baseline_rows: int = 10_000

    def check(self) -> None:
        unknown = [s for s in self.scenarios if s not in simulator.SCENARIOS]
        if unknown or not self.scenarios:
            raise StoryError(f"unknown scenario(s) {unknown or '(none given)'}; choose from "
                             f"{', '.join(simulator.SCENARIOS)}")
        if self.days_per_scenario < 1:
            raise StoryError("days_per_scenario must be at least 1")


@dataclass(frozen=True)
class Retraining:
    run_id: str
    signal: str  # what requested it: drift | performance
    success: bool
    new_version: str | None
    decision: str | None  # the gate's: promoted | rejected | unchanged
    reason: str | None


@dataclass(frozen=True)
class DayOutcome:
    day: str
    scenario: str
    daily_run_id: str
    daily_ok: bool
    drift_status: str  # drift | no_drift | insufficient_data | missing
    drifted_columns: str
    f1: float | None  # None: model_performance not in the run, or the day not judged
    sensor: str  # the request (run key and signal), or why the sensor skipped
    retraining: Retraining | None
    champion_before: str | None
    champion_after: str | None

    @property
    def alarm(self) -> bool:
        return self.drift_status == "drift"


@dataclass
class StoryReport:
    baseline: str
    cooldown_hours: float
    outcomes: list[DayOutcome] = field(default_factory=list)
    seconds: float = 0.0

    def table(self) -> str:
        rows = [_table_row(o) for o in self.outcomes]
        headers = ["day", "scenario", "drift", "F1", "retraining run", "new version", "gate",
                   "champion"]
        return tabulate(rows, headers=headers, tablefmt="simple")


def _table_row(o: DayOutcome) -> list[str]:
    drift = {"drift": f"DRIFT: {o.drifted_columns}", "no_drift": "no drift"}.get(
        o.drift_status, o.drift_status)
    r = o.retraining
    run = "-" if r is None else f"{r.run_id[:8]} {'ok' if r.success else 'FAILED'} ({r.signal})"
    champion = f"v{o.champion_before or '-'}"
    if o.champion_after != o.champion_before:
        champion += f" -> v{o.champion_after}"
    return [o.day, o.scenario, drift, "-" if o.f1 is None else f"{o.f1:.3f}", run,
            f"v{r.new_version}" if r and r.new_version else "-",
            (r.decision or "-") if r else "-", champion]


def run_story(config: StoryConfig, defs: Definitions | None = None,
              echo: Callable[[str], None] = print) -> StoryReport:
    """Play the story on the state folder (FRAUD_HOME) and its Dagster instance."""
    config.check()
    defs = defs or load_defs()
    t0 = time.perf_counter()
    ensure_dagster_home()
    registry: MlflowRegistry = defs.resources["mlflow_registry"].get_client()
    report = StoryReport(_ensure_baseline(config, registry, echo), config.cooldown_hours)
    sensor = build_drift_retraining_sensor(cooldown=config.cooldown_hours, name=SENSOR_NAME,
                                           f1_floor=config.f1_floor)
    echo(f"{SENSOR_NAME}: cool-down {config.cooldown_hours:g} h for the demo (the deployed "
         f"sensor uses $FRAUD_RETRAIN_COOLDOWN_HOURS, default 24 h)")
    with DagsterInstance.get() as instance:
        session = _Session(config, defs, instance, sensor, registry, echo,
                           cursor=cursor_after_latest(instance))  # only the story's days count
        report.outcomes.extend(session.play(day, scenario) for day, scenario in _plan(config))
    report.seconds = time.perf_counter() - t0
    return report


def _ensure_baseline(config: StoryConfig, registry: MlflowRegistry,
                     echo: Callable[[str], None]) -> str:
    champion = registry.alias_version(settings.CHAMPION_ALIAS)
    if champion is not None:
        return f"existing champion v{champion}"
    echo(f"no champion yet: running the pipeline on {config.baseline_days} day(s) of "
         f"{config.baseline_rows:,} rows from {config.baseline_start}")
    pipeline = run_pipeline(config.baseline_start, config.baseline_days, config.baseline_rows,
                            echo=echo)
    champion = registry.alias_version(settings.CHAMPION_ALIAS)
    if champion is None:
        raise StoryError(f"the baseline pipeline produced no champion (failed: "
                         f"{', '.join(pipeline.failed_runs) or 'nothing'}); see its runs "
                         f"in the Dagster UI")
    if pipeline.failed_runs:  # e.g. the bento build: the story needs only the champion
        echo(f"baseline: {', '.join(pipeline.failed_runs)} failed, but champion "
             f"v{champion} exists; going on")
    return f"pipeline ran {len(pipeline.days_processed)} day(s); champion v{champion}"


def _plan(config: StoryConfig) -> list[tuple[dt.date, str]]:
    """(day, scenario) for each story day, starting the day after the last landed one."""
    files = landed_files(settings.landing_dir())[0]
    if not files:
        raise StoryError(f"nothing has landed in {settings.landing_dir()}: run the pipeline")
    first = dt.date.fromisoformat(files[-1].day) + dt.timedelta(days=1)
    scenarios = [s for s in config.scenarios for _ in range(config.days_per_scenario)]
    return [(first + dt.timedelta(days=i), s) for i, s in enumerate(scenarios)]


def _rows(config: StoryConfig) -> int:
    """The configured rows, else the size of the last validated day (the pipeline's rows)."""
    if config.rows is not None:
        return config.rows
    days = lake.stored_partitions(VALIDATED)
    return len(lake.read_partitions(VALIDATED, days[-1:])) or config.baseline_rows


@dataclass
class _Session:
    """What every story day uses; `cursor` is the sensor's, carried from tick to tick."""

    config: StoryConfig
    defs: Definitions
    instance: DagsterInstance
    sensor: SensorDefinition
    registry: MlflowRegistry
    echo: Callable[[str], None]
    cursor: str

    def champion(self) -> str | None:
        return self.registry.alias_version(settings.CHAMPION_ALIAS)

    def play(self, day: dt.date, scenario: str) -> DayOutcome:
        """Land the day, run daily_job, tick the sensor, run what it requests."""
        before = self.champion()
        daily = self.land_and_run(day, scenario)
        report = _materialized(daily, names.DRIFT_REPORT)
        f1 = _materialized(daily, names.MODEL_PERFORMANCE).get(performance.F1_KEY)
        self.echo(f"{day} {scenario}: daily_job {'ok' if daily.success else 'FAILED'}, "
                  f"{report.get(drift.REASON_KEY, 'no drift report')}")
        said, retraining = self.tick(day)
        return DayOutcome(day.isoformat(), scenario, daily.run_id, daily.success,
                          str(report.get(drift.STATUS_KEY, "missing")),
                          str(report.get(drift.COLUMNS_KEY, "none")),
                          None if f1 is None else float(f1), said, retraining, before,
                          self.champion())

    def land_and_run(self, day: dt.date, scenario: str) -> ExecuteInProcessResult:
        path = simulator.write_day(settings.landing_dir(), simulator.DayPlan(
            day=day, rows=_rows(self.config), scenario=scenario, seed=self.config.seed))
        return self.defs.resolve_job_def(names.DAILY_JOB).execute_in_process(
            partition_key=day.isoformat(), instance=self.instance, raise_on_error=False,
            run_config=QUIET, tags={names.LANDING_FILE_TAG: str(path), "fraud/story": scenario})

    def tick(self, day: dt.date) -> tuple[str, Retraining | None]:
        """Evaluate the sensor as the daemon would; (what it said, the run it caused)."""
        context = build_sensor_context(instance=self.instance, cursor=self.cursor,
                                       definitions=self.defs)
        result = self.sensor(context)
        self.cursor = result.cursor
        if not result.run_requests:
            said = _skip_text(result)
            self.echo(f"{day} {SENSOR_NAME}: {said}")
            return said, None
        [request] = result.run_requests  # the sensor requests at most one run per tick
        said = f"{request.run_key} ({request.tags.get(SIGNAL_TAG, DRIFT)})"
        self.echo(f"{day} {SENSOR_NAME}: requested {said}")
        run = self.retrain(request)
        self.echo(f"{day} retraining_job {run.run_id[:8]}: {'ok' if run.success else 'FAILED'}"
                  f", version {run.new_version}, gate {run.decision}: {run.reason}")
        return said, run

    def retrain(self, request: RunRequest) -> Retraining:
        skip = {names.FRAUD_BENTO} if self.config.skip_bento else set()
        keys = [AssetKey(k) for k in names.RETRAINING_ASSETS if k not in skip]
        # request.tags carry the run key (fraud/run_key): the deployed sensor skips it.
        # `run_job`, as the pipeline's retraining: no step output is kept to the run's end.
        result = run_job(names.RETRAINING_JOB, self.instance, tags=dict(request.tags),
                         asset_selection=keys)
        model = _materialized(result, names.FRAUD_MODEL)
        gate = _materialized(result, names.CHAMPION)
        return Retraining(result.run_id, request.tags.get(SIGNAL_TAG, DRIFT), result.success,
                          model.get("model_version"), gate.get("decision"), gate.get("reason"))


def _skip_text(result: SensorResult) -> str:
    reason = result.skip_reason
    return getattr(reason, "skip_message", None) or str(reason or "no request")


def _materialized(result: ExecuteInProcessResult | JobExecutionResult,
                  asset: str) -> dict[str, object]:
    """The metadata values of `asset`'s materialization in the run ({} if none)."""
    for event in result.get_asset_materialization_events():
        if event.asset_key == AssetKey(asset):
            return {k: getattr(v, "value", v)
                    for k, v in event.materialization.metadata.items()}
    return {}


def describe(report: StoryReport, scenarios: Sequence[str]) -> str:
    """The closing summary printed under the table."""
    first, last = report.outcomes[0], report.outcomes[-1]
    runs = sum(o.retraining is not None for o in report.outcomes)
    return (f"baseline: {report.baseline}\n"
            f"scenarios: {', '.join(scenarios)}; {len(report.outcomes)} day(s), "
            f"{sum(o.alarm for o in report.outcomes)} drift alarm(s), {runs} retraining run(s)"
            f"\nchampion: v{first.champion_before} before, v{last.champion_after} after "
            f"(cool-down {report.cooldown_hours:g} h); {report.seconds:.1f}s")
