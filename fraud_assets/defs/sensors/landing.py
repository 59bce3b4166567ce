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
    """A landing file named for a valid partition day (its content not read yet)."""

    day: str
    path: Path

    @property
    def stat_key(self) -> str:
        st = self.path.stat()
        return f"{st.st_mtime_ns}:{st.st_size}"


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


def landed_files(folder: Path) -> tuple[list[Landed], list[str]]:
    """Landing files with a valid partition day, and the names of those without one."""
    valid = set(daily_partitions.get_partition_keys())
    files, ignored = [], []
    for path in sorted(folder.glob("*.csv")):
        day = simulator.day_of_file(path)
        if day is None or day.isoformat() not in valid:
            ignored.append(path.name)
        else:
            files.append(Landed(day.isoformat(), path))
    return files, ignored


def processed_fingerprint(instance: DagsterInstance, day: str) -> str | None:
    """Fingerprint of the file behind the day's latest raw materialization, if any."""
    result = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=RAW, asset_partitions=[day]), limit=1)
    if not result.records:
        return None
    meta = result.records[0].asset_materialization.metadata.get("fingerprint")
    return getattr(meta, "value", None)


def pending(instance: DagsterInstance, files: list[Landed],
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


@sensor(job=daily_job, minimum_interval_seconds=30, default_status=DefaultSensorStatus.RUNNING,
        description="Requests a daily_job run for each landing file that is new or changed.")
def landing_sensor(context: SensorEvaluationContext, fraud_home: FraudHome):
    seen: dict[str, dict[str, str]] = json.loads(context.cursor) if context.cursor else {}
    files, ignored = landed_files(fraud_home.landing)
    todo = pending(context.instance, files, seen)
    if ignored:
        context.log.warning(f"ignored files without a valid day in the name: {ignored}")
    cursor = json.dumps(seen, sort_keys=True)
    if not todo:
        return SensorResult(skip_reason=SkipReason(
            f"no new or changed files in {fraud_home.landing}"), cursor=cursor)
    return SensorResult(cursor=cursor, run_requests=[
        RunRequest(run_key=item.run_key, partition_key=item.day,
                   tags={"fraud/landing_file": str(item.path)}) for item in todo])
