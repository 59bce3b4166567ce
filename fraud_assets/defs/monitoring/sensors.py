"""`drift_retraining`: turn a drifted day, or a day the model did badly on, into one retraining run.

The sensor reads new materializations of the drift reports and of `model_performance`
from the event log (its cursor is the last storage id read per asset), asks
`monitoring.trigger.decide` what to do, and requests `retraining_job` with a run key
naming the day and the episode. A performance day alarms when its F1 is below the
sensor's floor. The cool-down is wall-clock time since the last request; the day must
have passed the blocking checks on `transactions_raw`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence

from dagster import (
    AssetCheckSeverity,
    AssetKey,
    AssetRecordsFilter,
    DagsterEventType,
    DagsterInstance,
    DefaultSensorStatus,
    EventLogRecord,
    RunRequest,
    RunsFilter,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from fraud_assets import names
from fraud_assets.monitoring import alerts, drift, performance
from fraud_assets.monitoring.trigger import (
    PERFORMANCE,
    RUN_KEY_TAG,
    Decision,
    DriftEvent,
    TriggerState,
    decide,
)

PERFORMANCE_ASSET = names.MODEL_PERFORMANCE
WATCHED: tuple[str, ...] = (*names.DRIFT_REPORTS, PERFORMANCE_ASSET)
RAW = AssetKey(names.TRANSACTIONS_RAW)
COOLDOWN_ENV = "FRAUD_RETRAIN_COOLDOWN_HOURS"
DEFAULT_COOLDOWN_HOURS = 24.0
F1_FLOOR_ENV = "FRAUD_RETRAIN_F1_FLOOR"
BATCH = 100  # reports read per tick; the cursor carries on from there next tick
SKIP_NOTES = 5  # the newest notes shown in a skip reason (all of them go to the tick log)


def _meta(record: EventLogRecord, key: str, default: object) -> object:
    value = record.asset_materialization.metadata.get(key)
    return default if value is None else getattr(value, "value", value)


def _event(asset: str, record: EventLogRecord) -> DriftEvent:
    return DriftEvent(
        storage_id=record.storage_id, asset=asset, day=record.partition_key or "unpartitioned",
        alarm=bool(_meta(record, drift.DATASET_DRIFT_KEY, False)),
        status=str(_meta(record, drift.STATUS_KEY, "unknown")),
        drift_share=float(_meta(record, drift.SHARE_KEY, 0.0)),
        drifted_columns=str(_meta(record, drift.COLUMNS_KEY, "none")),
        reason=str(_meta(record, drift.REASON_KEY, "drift")))


def _performance_event(record: EventLogRecord, f1_floor: float) -> DriftEvent:
    """A model_performance day as an event: it alarms when the judged F1 is below the floor."""
    day = record.partition_key or "unpartitioned"
    f1 = _meta(record, performance.F1_KEY, None)
    # Measured values only: an estimated day (labels still to come) never alarms.
    judged = (bool(_meta(record, performance.JUDGED_KEY, False)) and f1 is not None
              and _meta(record, performance.BASIS_KEY, performance.MEASURED)
              == performance.MEASURED)
    if not judged:  # no champion yet, or too few frauds: nothing to act on
        why = str(_meta(record, performance.REASON_KEY, "not judged"))
        return DriftEvent(record.storage_id, PERFORMANCE_ASSET, day, False, "not_judged", 0.0,
                          "none", why, kind=PERFORMANCE, summary=f"not judged ({why})")
    f1 = float(f1)
    alarm = f1 < f1_floor
    summary = f"F1 {f1:.3f} {'<' if alarm else '>='} floor {f1_floor:g}"
    version = _meta(record, "champion_version", "?")
    reason = (f"performance: champion v{version} {summary} (precision "
              f"{float(_meta(record, 'precision', 0.0)):.3f}, recall "
              f"{float(_meta(record, 'recall', 0.0)):.3f})")
    return DriftEvent(record.storage_id, PERFORMANCE_ASSET, day, alarm,
                      "below_floor" if alarm else "ok", 0.0, "none", reason,
                      kind=PERFORMANCE, summary=summary)


def new_events(instance: DagsterInstance, state: TriggerState,
               watched: Sequence[str] = WATCHED,
               f1_floor: float = performance.DEFAULT_F1_FLOOR) -> list[DriftEvent]:
    """Drift report and performance materializations recorded after the cursor, oldest first."""
    events = []
    for asset in watched:
        records = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=AssetKey(asset), after_storage_id=state.after.get(asset)),
            limit=BATCH, ascending=True).records
        if asset == PERFORMANCE_ASSET:
            events.extend(_performance_event(r, f1_floor) for r in records)
        else:
            events.extend(_event(asset, r) for r in records)
    return sorted(events, key=lambda e: e.storage_id)


def alarm_alert(event: DriftEvent) -> alerts.Alert:
    """The alert for an alarming drift report or a day below the performance floor."""
    if event.kind == PERFORMANCE:
        return alerts.Alert(alerts.PERFORMANCE_BREACH,
                            f"Model performance below the floor on {event.day}",
                            event.reason, {"day": event.day, "measured": event.summary})
    return alerts.Alert(alerts.DRIFT_ALARM, f"Drift alarm on {event.day} ({event.asset})",
                        event.reason, {"day": event.day, "report": event.asset,
                                       "drift share": f"{event.drift_share:.2f}",
                                       "drifted columns": event.drifted_columns})


def cursor_after_latest(instance: DagsterInstance, watched: Sequence[str] = WATCHED) -> str:
    """A cursor that starts after everything recorded so far: only later reports count
    (how a demo or a fresh deployment ignores the history it starts from)."""
    after = {}
    for asset in watched:
        latest = instance.fetch_materializations(AssetKey(asset), limit=1).records
        if latest:
            after[asset] = latest[0].storage_id
    return TriggerState(after=after).to_cursor()


def failed_blocking_checks(instance: DagsterInstance, day: str) -> str | None:
    """Why the day must not be trained on (a blocking check failed on its latest landed
    file), or None.

    A blocking check that fails still leaves `transactions_raw` materialized (only what
    is downstream stops), so the checks that judged the day's latest file are the check
    evaluations of the run that materialized it.
    """
    latest = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=RAW, asset_partitions=[day]), limit=1).records
    if not latest:
        return None
    found = instance.get_records_for_run(
        latest[0].run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION).records
    failed = []
    for record in found:
        evaluation = record.event_log_entry.dagster_event.asset_check_evaluation_data
        if (evaluation.asset_key == RAW and not evaluation.passed and evaluation.blocking
                and evaluation.severity == AssetCheckSeverity.ERROR
                and evaluation.partition in (None, day)):
            failed.append(f"{evaluation.check_name} ({evaluation.description or 'failed'})")
    if not failed:
        return None
    return f"blocking check(s) failed on {RAW.to_user_string()}: " + "; ".join(sorted(failed))


def already_requested(instance: DagsterInstance, run_key: str) -> str | None:
    """The id of a run that already carries this retraining request's key, if any (the
    drift story runs requests itself; the daemon's sensor must not run them again)."""
    records = instance.get_run_records(RunsFilter(tags={RUN_KEY_TAG: run_key}), limit=1)
    return records[0].dagster_run.run_id if records else None


def _skip(decision: Decision) -> SkipReason:
    notes = decision.notes
    if not notes:
        return SkipReason("no new drift reports")
    shown = list(notes[-SKIP_NOTES:])
    if len(notes) > SKIP_NOTES:
        shown.insert(0, f"{len(notes) - SKIP_NOTES} earlier report(s) without an alarm "
                        f"(see the tick log)")
    return SkipReason(" | ".join(shown))


def _env_float(name: str, default: float, unit: str) -> float:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not {unit}") from None


def cooldown_hours() -> float:
    return _env_float(COOLDOWN_ENV, DEFAULT_COOLDOWN_HOURS, "a number of hours")


def f1_floor_from_env() -> float:
    """The F1 below which a labelled day requests retraining ($FRAUD_RETRAIN_F1_FLOOR)."""
    floor = _env_float(F1_FLOOR_ENV, performance.DEFAULT_F1_FLOOR, "an F1 between 0 and 1")
    if not 0.0 <= floor <= 1.0:
        raise ValueError(f"{F1_FLOOR_ENV}={floor} is not an F1 between 0 and 1")
    return floor


def build_drift_retraining_sensor(cooldown: float | None = None,
                                  name: str = names.DRIFT_RETRAINING_SENSOR,
                                  clock: Callable[[], float] = time.time,
                                  minimum_interval_seconds: int = 30,
                                  f1_floor: float | None = None) -> SensorDefinition:
    """The sensor, with its cool-down in hours (default: $FRAUD_RETRAIN_COOLDOWN_HOURS or 24)
    and its F1 floor (default: $FRAUD_RETRAIN_F1_FLOOR or 0.3; 0 turns the signal off).

    `clock` is only replaced by tests, to step over the cool-down without waiting.
    """
    hours = cooldown_hours() if cooldown is None else cooldown
    floor = f1_floor_from_env() if f1_floor is None else f1_floor

    @sensor(name=name, job_name=names.RETRAINING_JOB,
            minimum_interval_seconds=minimum_interval_seconds,
            default_status=DefaultSensorStatus.RUNNING,
            description=f"Requests retraining_job when a drift report alarms or a day's F1 "
                        f"falls below {floor:g}; at most once per {hours:g} h cool-down, "
                        f"never on a day that failed blocking checks.")
    def _drift_sensor(context: SensorEvaluationContext) -> SensorResult:
        state = TriggerState.from_cursor(context.cursor)
        events = new_events(context.instance, state, f1_floor=floor)
        for event in events:  # each report is read once: each alarm is posted once
            if event.alarm:
                alerts.post(alarm_alert(event))
        decision = decide(events, state, clock(), hours * 3600,
                          lambda day: failed_blocking_checks(context.instance, day))
        for note in decision.notes:
            context.log.info(note)
        cursor = decision.state.to_cursor()
        if decision.trigger is None:
            return SensorResult(skip_reason=_skip(decision), cursor=cursor)
        t = decision.trigger
        ran = already_requested(context.instance, t.run_key)
        if ran is not None:
            return SensorResult(skip_reason=SkipReason(
                f"{t.run_key} already ran as run {ran}"), cursor=cursor)
        return SensorResult(run_requests=[RunRequest(run_key=t.run_key, tags=t.tags)],
                            cursor=cursor)

    return _drift_sensor


drift_retraining = build_drift_retraining_sensor()
