"""Turn newly landed (or corrected) files into daily partition runs."""

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

from fraud_assets import landing, simulator
from fraud_assets.defs.jobs import daily_job
from fraud_assets.defs.partitions import daily_partitions
from fraud_assets.defs.resources import FraudHome

RAW = AssetKey("transactions_raw")


@dataclass(frozen=True)
class Landed:
    day: str
    path: Path
    fingerprint: str

    @property
    def run_key(self) -> str:
        # The content hash is part of the key: the same file never runs twice by accident,
        # a corrected file for the same day does.
        return f"{self.day}:{self.fingerprint}"


def landed_files(folder: Path) -> tuple[list[Landed], list[str]]:
    """Landing files with a valid partition day, and the names of those without one."""
    valid = set(daily_partitions.get_partition_keys())
    files, ignored = [], []
    for path in sorted(folder.glob("*.csv")):
        day = simulator.day_of_file(path)
        if day is None or day.isoformat() not in valid:
            ignored.append(path.name)
        else:
            files.append(Landed(day.isoformat(), path, landing.fingerprint(path)))
    return files, ignored


def processed_fingerprint(instance: DagsterInstance, day: str) -> str | None:
    """Fingerprint of the file behind the day's latest raw materialization, if any."""
    result = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=RAW, asset_partitions=[day]), limit=1)
    if not result.records:
        return None
    meta = result.records[0].asset_materialization.metadata.get("fingerprint")
    return getattr(meta, "value", None)


def pending(instance: DagsterInstance, folder: Path, seen: dict[str, str] | None = None,
            ) -> list[Landed]:
    """Files whose exact content has not been materialized yet (oldest day first)."""
    seen = seen if seen is not None else {}
    out = []
    for item in landed_files(folder)[0]:
        if seen.get(item.day) == item.fingerprint:
            continue
        if processed_fingerprint(instance, item.day) != item.fingerprint:
            out.append(item)
        seen[item.day] = item.fingerprint
    return out


@sensor(job=daily_job, minimum_interval_seconds=30, default_status=DefaultSensorStatus.RUNNING,
        description="Requests a daily_job run for each landing file that is new or changed.")
def landing_sensor(context: SensorEvaluationContext, fraud_home: FraudHome):
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    todo = pending(context.instance, fraud_home.landing, seen)
    ignored = landed_files(fraud_home.landing)[1]
    if ignored:
        context.log.warning(f"ignored files without a valid day in the name: {ignored}")
    cursor = json.dumps(seen, sort_keys=True)
    if not todo:
        return SensorResult(skip_reason=SkipReason(
            f"no new or changed files in {fraud_home.landing}"), cursor=cursor)
    return SensorResult(cursor=cursor, run_requests=[
        RunRequest(run_key=item.run_key, partition_key=item.day,
                   tags={"fraud/landing_file": str(item.path)}) for item in todo])
