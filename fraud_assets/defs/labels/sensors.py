"""`label_sensor`: land label files, retry held labels, re-measure the days labels arrived for.

Per tick, three kinds of run requests:
1. a `labels_job` run per label file (one per day of arrival, named by `landing.LABELS`)
   whose content the lake does not hold yet (its fingerprint differs from the one the
   day's latest `labels_raw` read); run key = day, content hash and mtime;
2. a `labels_job` run for a day whose last split held labels (transaction not landed)
   when validated transactions were materialized since: the held labels are judged again
   ("held until it lands"); run key = day and the validated materialization it follows;
3. a `performance_job` run per transaction day that new accepted labels point at and whose
   `model_performance` already exists, so the day goes from "estimated" to "measured"
   (a day without one is the daily job's); run key = day and the labels materialization.
The cursor keeps each file's size/mtime and hash (no re-hashing of unchanged files) and the
last `labels` materialization read. Every skip says why.
"""

from __future__ import annotations

import json
from pathlib import Path

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DagsterInstance,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from fraud_assets import landing, names
from fraud_assets.defs.ingest.assets import FINGERPRINT
from fraud_assets.defs.labels.assets import HELD_KEY, TRANSACTION_DAYS_KEY
from fraud_assets.defs.labels.jobs import labels_job, performance_job
from fraud_assets.defs.partitions import daily_partitions
from fraud_assets.defs.resources import FraudHome

LABELS_RAW = AssetKey(names.LABELS_RAW)
LABELS = AssetKey(names.LABELS)
VALIDATED = AssetKey(names.TRANSACTIONS_VALIDATED)
PERFORMANCE = AssetKey(names.MODEL_PERFORMANCE)
RECENT = 1000  # label materializations scanned for held labels (newest first)


def _value(record, key: str, default: object) -> object:
    value = record.asset_materialization.metadata.get(key)
    return default if value is None else getattr(value, "value", value)


def label_files(folder: Path) -> tuple[list[landing.Landed], list[landing.Ignored]]:
    """Label files of complete days the partitions cover (`landing.landed_files`)."""
    return landing.landed_files(folder, daily_partitions.start.date().isoformat(),
                                daily_partitions.get_last_partition_key(), landing.LABELS)


def new_files(instance: DagsterInstance, files: list[landing.Landed], seen: dict[str, dict],
              ) -> tuple[list[RunRequest], list[str]]:
    """Run requests for files whose content the lake does not hold, and notes on the rest."""
    requests, notes = [], []
    for item in files:
        known = seen.get(item.day, {})
        stat = item.stat_key
        fp = known["fp"] if known.get("stat") == stat else landing.fingerprint(item.path)
        seen[item.day] = {"stat": stat, "fp": fp}
        latest = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=LABELS_RAW, asset_partitions=[item.day]), limit=1)
        done = (latest.records and _value(latest.records[0], FINGERPRINT, None) == fp)
        if done:
            notes.append(f"{item.path.name} up to date")
            continue
        requests.append(RunRequest(job_name=names.LABELS_JOB, partition_key=item.day,
                                   run_key=f"labels:{item.day}:{fp}:{item.mtime_ns}",
                                   tags={names.LANDING_FILE_TAG: str(item.path),
                                         names.LANDING_FINGERPRINT_TAG: fp}))
    return requests, notes


def held_retries(instance: DagsterInstance, skip: set[str]) -> list[RunRequest]:
    """Re-runs of days whose latest split held labels, once transactions landed since."""
    latest_validated = instance.fetch_materializations(VALIDATED, limit=1).records
    if not latest_validated:
        return []
    after = latest_validated[0].storage_id
    latest: dict[str, object] = {}
    for record in instance.fetch_materializations(LABELS, limit=RECENT).records:
        latest.setdefault(record.partition_key, record)
    return [RunRequest(job_name=names.LABELS_JOB, partition_key=day,
                       run_key=f"labels-held:{day}:{after}")
            for day, record in sorted(latest.items())
            if day not in skip and int(_value(record, HELD_KEY, 0)) > 0
            and record.storage_id < after]


def performance_refresh(instance: DagsterInstance, since: int) -> tuple[list[RunRequest], int]:
    """`performance_job` runs for the transaction days new accepted labels point at (only
    days whose model_performance exists), and the last labels storage id read."""
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=LABELS, after_storage_id=since or None),
        limit=RECENT, ascending=True).records
    newest: dict[str, int] = {}
    for record in records:
        for day in json.loads(str(_value(record, TRANSACTION_DAYS_KEY, "[]"))):
            newest[day] = max(newest.get(day, 0), record.storage_id)
    last = max([since, *(r.storage_id for r in records)])
    measured = set(instance.get_materialized_partitions(PERFORMANCE)) if newest else set()
    return [RunRequest(job_name=names.PERFORMANCE_JOB, partition_key=day,
                       run_key=f"performance:{day}:{storage_id}")
            for day, storage_id in sorted(newest.items()) if day in measured], last


@sensor(name=names.LABEL_SENSOR, jobs=[labels_job, performance_job],
        minimum_interval_seconds=30, default_status=DefaultSensorStatus.RUNNING,
        description="Runs each new or re-landed label file, re-judges held labels when "
                    "transactions land, and re-measures model_performance for the days "
                    "labels arrived for (estimated -> measured).")
def label_sensor(context: SensorEvaluationContext, fraud_home: FraudHome) -> SensorResult:
    cursor = json.loads(context.cursor) if context.cursor else {}
    seen: dict[str, dict] = cursor.get("files", {})
    files, ignored = label_files(fraud_home.labels_landing)
    if ignored:
        context.log.warning(f"{len(ignored)} file(s) in {fraud_home.labels_landing} not "
                            "taken: " + "; ".join(map(str, ignored)))
    requests, notes = new_files(context.instance, files, seen)
    requests += held_retries(context.instance, {r.partition_key for r in requests})
    refresh, last = performance_refresh(context.instance, int(cursor.get("labels_seen", 0)))
    requests += refresh
    new_cursor = json.dumps({"files": seen, "labels_seen": last}, sort_keys=True)
    if not requests:
        where = fraud_home.labels_landing
        why = (f"no label file in {where} (expected names like {landing.LABEL_PATTERN})"
               if not files else f"nothing to run in {where}: {len(notes)} file(s) up to date, "
                                 "no held label to retry, no new labels to measure")
        if ignored:
            why += f"; {len(ignored)} file(s) not taken: " + "; ".join(map(str, ignored[:5]))
        return SensorResult(skip_reason=SkipReason(why), cursor=new_cursor)
    return SensorResult(run_requests=requests, cursor=new_cursor)
