"""`drift_retraining`: turn a drifted day into one retraining run.

The sensor reads new materializations of the drift reports from the event log (its
cursor is the last storage id read), asks `monitoring.trigger.decide` what to do, and
requests `retraining_job` with a run key naming the day and the episode. The cool-down
is wall-clock time since the last request; the day must have passed the blocking checks
on `transactions_raw`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence

from dagster import (
    AssetCheckKey,
    AssetCheckSeverity,
    AssetKey,
    AssetRecordsFilter,
    DagsterEventType,
    DagsterInstance,
    DefaultSensorStatus,
    EventLogRecord,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.event_log.base import PartitionKeyFilter

from fraud_assets.defs.jobs import retraining_job
from fraud_assets.monitoring.trigger import Decision, DriftEvent, TriggerState, decide

WATCHED: tuple[str, ...] = ("drift_report", "prediction_drift_report")
RAW = AssetKey("transactions_raw")
COOLDOWN_ENV = "FRAUD_RETRAIN_COOLDOWN_HOURS"
DEFAULT_COOLDOWN_HOURS = 24.0
BATCH = 100  # reports read per tick; the cursor carries on from there next tick
SKIP_NOTES = 5  # the newest notes shown in a skip reason (all of them go to the tick log)


def _meta(record: EventLogRecord, key: str, default: object) -> object:
    value = record.asset_materialization.metadata.get(key)
    return default if value is None else getattr(value, "value", value)


def _event(asset: str, record: EventLogRecord) -> DriftEvent:
    return DriftEvent(
        storage_id=record.storage_id, asset=asset, day=record.partition_key or "unpartitioned",
        alarm=bool(_meta(record, "dataset_drift", False)),
        status=str(_meta(record, "drift_status", "unknown")),
        drift_share=float(_meta(record, "drift_share", 0.0)),
        drifted_columns=str(_meta(record, "drifted_columns", "none")),
        reason=str(_meta(record, "drift_reason", "drift")))


def new_events(instance: DagsterInstance, state: TriggerState,
               watched: Sequence[str] = WATCHED) -> list[DriftEvent]:
    """Drift report materializations recorded after the cursor, oldest first."""
    events = []
    for asset in watched:
        records = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=AssetKey(asset), after_storage_id=state.after.get(asset)),
            limit=BATCH, ascending=True).records
        events.extend(_event(asset, r) for r in records)
    return sorted(events, key=lambda e: e.storage_id)


def _keys_in_raw_run(instance: DagsterInstance, day: str) -> list[AssetCheckKey]:
    """Checks that ran with the day's latest raw materialization (when no repository is
    at hand to list the checks, e.g. a sensor evaluated outside a code location)."""
    latest = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=RAW, asset_partitions=[day]), limit=1).records
    if not latest:
        return []
    found = instance.get_records_for_run(
        latest[0].run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION).records
    names = {r.event_log_entry.dagster_event.event_specific_data.check_name for r in found
             if r.event_log_entry.dagster_event.event_specific_data.asset_key == RAW}
    return [AssetCheckKey(RAW, n) for n in sorted(names)]


def raw_check_keys(context: SensorEvaluationContext, day: str) -> list[AssetCheckKey]:
    repo = context.repository_def
    if repo is not None:
        return sorted(repo.asset_graph.get_check_keys_for_assets({RAW}), key=str)
    return _keys_in_raw_run(context.instance, day)


def failed_blocking_checks(instance: DagsterInstance, check_keys: Sequence[AssetCheckKey],
                           day: str) -> str | None:
    """Why the day must not be trained on (its latest blocking check failed), or None."""
    if not check_keys:
        return None
    # The checks on transactions_raw are partitioned, so each day has its own latest result.
    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        list(check_keys), partition_filter=PartitionKeyFilter(key=day))
    failed = []
    for key, record in sorted(latest.items(), key=lambda kv: str(kv[0])):
        if record.status != AssetCheckExecutionRecordStatus.FAILED or record.event is None:
            continue
        evaluation = record.event.dagster_event.event_specific_data
        if evaluation.blocking and evaluation.severity == AssetCheckSeverity.ERROR:
            failed.append(f"{key.name} ({evaluation.description or 'failed'})")
    if not failed:
        return None
    return f"blocking check(s) failed on {RAW.to_user_string()}: " + "; ".join(failed)


def _skip(decision: Decision) -> SkipReason:
    notes = decision.notes
    if not notes:
        return SkipReason("no new drift reports")
    shown = list(notes[-SKIP_NOTES:])
    if len(notes) > SKIP_NOTES:
        shown.insert(0, f"{len(notes) - SKIP_NOTES} earlier report(s) without an alarm "
                        f"(see the tick log)")
    return SkipReason(" | ".join(shown))


def cooldown_hours() -> float:
    raw = os.environ.get(COOLDOWN_ENV)
    if not raw:
        return DEFAULT_COOLDOWN_HOURS
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{COOLDOWN_ENV}={raw!r} is not a number of hours") from None


def build_drift_retraining_sensor(cooldown: float | None = None, name: str = "drift_retraining",
                                  clock: Callable[[], float] = time.time,
                                  minimum_interval_seconds: int = 30) -> SensorDefinition:
    """The sensor, with its cool-down in hours (default: $FRAUD_RETRAIN_COOLDOWN_HOURS or 24).

    `clock` is only replaced by tests, to step over the cool-down without waiting.
    """
    hours = cooldown_hours() if cooldown is None else cooldown

    @sensor(name=name, job=retraining_job, minimum_interval_seconds=minimum_interval_seconds,
            default_status=DefaultSensorStatus.RUNNING,
            description=f"Requests retraining_job when a drift report alarms; at most once "
                        f"per {hours:g} h cool-down, never on a day that failed blocking checks.")
    def _drift_sensor(context: SensorEvaluationContext) -> SensorResult:
        state = TriggerState.from_cursor(context.cursor)
        decision = decide(new_events(context.instance, state), state, clock(), hours * 3600,
                          lambda day: failed_blocking_checks(
                              context.instance, raw_check_keys(context, day), day))
        for note in decision.notes:
            context.log.info(note)
        cursor = decision.state.to_cursor()
        if decision.trigger is None:
            return SensorResult(skip_reason=_skip(decision), cursor=cursor)
        t = decision.trigger
        return SensorResult(run_requests=[RunRequest(run_key=t.run_key, tags=t.tags)],
                            cursor=cursor)

    return _drift_sensor


drift_retraining = build_drift_retraining_sensor()
