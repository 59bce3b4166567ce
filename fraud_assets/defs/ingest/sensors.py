"""`landing_sensor`: turn newly landed (or corrected) files into daily partition runs."""

from __future__ import annotations

import json
from dataclasses import dataclass
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
from fraud_assets.defs.partitions import daily_partitions
from fraud_assets.defs.resources import FraudHome

RAW = AssetKey(names.TRANSACTIONS_RAW)


@dataclass(frozen=True)
class Pending:
    """A landed file whose exact content has not been materialized yet."""

    day: str
    path: Path
    fingerprint: str

    @property
    def run_key(self) -> str:
        # The content hash is part of the key: the same file never runs twice by accident,
        # a corrected file for the same day does.
        return f"{self.day}:{self.fingerprint}"


def landed_files(folder: Path) -> tuple[list[landing.Landed], list[str]]:
    """Landing files of days the partitions cover, and the names of the other files."""
    last = daily_partitions.get_last_partition_key()
    if last is None:  # the first partition day is today or later: nothing can run yet
        return [], sorted(p.name for p in folder.glob("*.csv")) if folder.is_dir() else []
    return landing.landed_files(folder, daily_partitions.start.date().isoformat(), last)


def processed_fingerprint(instance: DagsterInstance, day: str) -> str | None:
    """Fingerprint of the file behind the day's latest raw materialization, if any."""
    result = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=RAW, asset_partitions=[day]), limit=1)
    if not result.records:
        return None
    meta = result.records[0].asset_materialization.metadata.get("fingerprint")
    return getattr(meta, "value", None)


def pending(instance: DagsterInstance, files: list[landing.Landed],
            seen: dict[str, dict[str, str]] | None = None) -> list[Pending]:
    """Files whose exact content has not been materialized yet (oldest day first).

    `seen` (the sensor's cursor) remembers each day's file size/mtime and hash, so an
    unchanged file is neither read nor looked up again on the next tick.
    """
    seen = seen if seen is not None else {}
    out = []
    for item in files:
        stat_key = item.stat_key
        known = seen.get(item.day, {})
        if known.get("stat") == stat_key:
            continue
        fp = landing.fingerprint(item.path)
        if known.get("fp") != fp and processed_fingerprint(instance, item.day) != fp:
            out.append(Pending(item.day, item.path, fp))
        seen[item.day] = {"stat": stat_key, "fp": fp}
    return out


@sensor(name=names.LANDING_SENSOR, job_name=names.DAILY_JOB, minimum_interval_seconds=30,
        default_status=DefaultSensorStatus.RUNNING,
        description="Requests a daily_job run for each landing file that is new or changed.")
def landing_sensor(context: SensorEvaluationContext, fraud_home: FraudHome) -> SensorResult:
    seen: dict[str, dict[str, str]] = json.loads(context.cursor) if context.cursor else {}
    files, ignored = landed_files(fraud_home.landing)
    todo = pending(context.instance, files, seen)
    if ignored:
        context.log.warning(f"ignored files without a partition day in the name: {ignored}")
    cursor = json.dumps(seen, sort_keys=True)
    if not todo:
        return SensorResult(skip_reason=SkipReason(
            f"no new or changed files in {fraud_home.landing}"), cursor=cursor)
    return SensorResult(cursor=cursor, run_requests=[
        RunRequest(run_key=item.run_key, partition_key=item.day,
                   tags={names.LANDING_FILE_TAG: str(item.path)}) for item in todo])
