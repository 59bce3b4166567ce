"""`landing_sensor`: turn newly landed, corrected or retried files into daily partition runs.

Per landing file (one per day, named by `landing.day_of_file`), a run is requested when
the lake does not hold its content yet: the fingerprint of the day's latest
`transactions_raw` materialization differs from the file's, or the latest `daily_job` run
for this exact content failed and the file has been touched or re-landed since. Every
request carries our own tags (file, content hash, modification time) so the next tick
finds its run; its run key is unique per landing (day, content hash, mtime, and the raw
materialization it follows), so a day that goes A -> B -> A runs A again. The cursor only
saves re-hashing files that did not change. Every skip says, per file, why.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DagsterInstance,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from fraud_assets import landing, names
from fraud_assets.defs.ingest.assets import FINGERPRINT
from fraud_assets.defs.partitions import daily_partitions
from fraud_assets.defs.resources import FraudHome
from fraud_assets.orchestration import runs

RAW = AssetKey(names.TRANSACTIONS_RAW)
UNFINISHED = {DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING,
              DagsterRunStatus.STARTED, DagsterRunStatus.MANAGED, DagsterRunStatus.CANCELING}
UP_TO_DATE = "up to date (the lake holds this content)"
RETRY_HINT = ("touch or re-land the file to retry, re-execute the run in the Dagster UI, or "
              "run `fraud-platform pipeline`")


@dataclass(frozen=True)
class Pending:
    """A landed file whose exact content the lake does not hold yet (or whose run failed)."""

    day: str
    path: Path
    fingerprint: str
    mtime_ns: int
    after: int  # storage id of the raw materialization this landing follows (0: none)
    why: str

    @property
    def run_key(self) -> str:
        # Unique per landing: the same file state never runs twice by accident, while a
        # touched file, a corrected one, or an earlier content landed again (A -> B -> A)
        # gets a key of its own.
        return f"{self.day}:{self.fingerprint}:{self.mtime_ns}:{self.after}"

    @property
    def tags(self) -> dict[str, str]:
        return {names.LANDING_FILE_TAG: str(self.path),
                names.LANDING_FINGERPRINT_TAG: self.fingerprint,
                names.LANDING_MTIME_TAG: str(self.mtime_ns)}


@dataclass(frozen=True)
class Verdict:
    """What the sensor decided for one landing file, and why."""

    item: landing.Landed
    pending: Pending | None
    reason: str


def landed_files(folder: Path) -> tuple[list[landing.Landed], list[landing.Ignored]]:
    """Landing files of complete days the partitions cover, and every other file with the
    reason it is not taken (`landing.landed_files`, the one parser of names)."""
    return landing.landed_files(folder, daily_partitions.start.date().isoformat(),
                                daily_partitions.get_last_partition_key())


def _latest_raw(instance: DagsterInstance, day: str) -> tuple[str | None, int]:
    """Fingerprint and storage id of the day's latest raw materialization (None, 0 if none)."""
    result = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=RAW, asset_partitions=[day]), limit=1)
    if not result.records:
        return None, 0
    record = result.records[0]
    meta = record.asset_materialization.metadata.get(FINGERPRINT)
    return getattr(meta, "value", None), record.storage_id


def processed_fingerprint(instance: DagsterInstance, day: str) -> str | None:
    """Fingerprint of the file behind the day's latest raw materialization, if any."""
    return _latest_raw(instance, day)[0]


def judge(instance: DagsterInstance, item: landing.Landed, fp: str,
          retry_failed: bool = False, requested: str | None = None) -> Verdict:
    """Request the file, or say why not. `retry_failed`: retry a failed run even if the file
    was not touched since (the headless pipeline does; the sensor waits for a touch, so a
    broken file is not run again on every tick). `requested`: the content hash the sensor
    already requested a run for, with the file's mtime (its run not created yet; touching
    the file requests it again)."""
    raw_fp, after = _latest_raw(instance, item.day)
    mtime = item.mtime_ns
    records = instance.get_run_records(RunsFilter(
        job_name=names.DAILY_JOB,
        tags={names.LANDING_FILE_TAG: str(item.path), names.LANDING_FINGERPRINT_TAG: fp}), limit=1)
    last = records[0].dagster_run if records else None
    if last is not None and last.status in UNFINISHED:
        return Verdict(item, None, f"run {last.run_id[:8]} for this content is "
                                   f"{last.status.value.lower()}")
    if last is None and requested == f"{fp}:{mtime}" and raw_fp != fp:
        return Verdict(item, None, "run requested on an earlier tick; waiting for it to start")
    failed = last is not None and last.status != DagsterRunStatus.SUCCESS
    touched = failed and last.tags.get(names.LANDING_MTIME_TAG) != str(mtime)
    if failed and not (touched or retry_failed):
        return Verdict(item, None, f"run {last.run_id[:8]} for this content "
                                   f"{last.status.value.lower()}; {RETRY_HINT}")
    if raw_fp == fp and not failed:
        return Verdict(item, None, UP_TO_DATE)
    if failed:
        why = f"retry of failed run {last.run_id[:8]}"
    elif raw_fp is None:
        why = "new file"
    else:
        why = f"content differs from the lake's (fingerprint {raw_fp})"
    return Verdict(item, Pending(item.day, item.path, fp, mtime, after, why), why)


def evaluate(instance: DagsterInstance, files: list[landing.Landed],
             seen: dict[str, dict] | None = None, retry_failed: bool = False) -> list[Verdict]:
    """A verdict per landing file (oldest day first).

    `seen` (the sensor's cursor) remembers each day's file size/mtime, hash and whether it
    was up to date, so an unchanged file is neither re-hashed nor looked up again."""
    seen = seen if seen is not None else {}
    out = []
    for item in files:
        stat_key = item.stat_key
        known = seen.get(item.day, {})
        same = known.get("stat") == stat_key
        if same and known.get("done"):
            out.append(Verdict(item, None, UP_TO_DATE))
            continue
        fp = known["fp"] if same and "fp" in known else landing.fingerprint(item.path)
        verdict = judge(instance, item, fp, retry_failed, known.get("requested"))
        seen[item.day] = {"stat": stat_key, "fp": fp, "done": verdict.reason == UP_TO_DATE}
        landed = f"{fp}:{item.mtime_ns}"
        if verdict.pending is not None or known.get("requested") == landed:
            seen[item.day]["requested"] = landed
        out.append(verdict)
    return out


def pending(instance: DagsterInstance, files: list[landing.Landed],
            seen: dict[str, dict] | None = None, retry_failed: bool = False) -> list[Pending]:
    """Files to run: content the lake does not hold yet, or a failed run to retry."""
    return [v.pending for v in evaluate(instance, files, seen, retry_failed) if v.pending]


def _listed(items: list[str], limit: int = 10) -> str:
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def explain(verdicts: list[Verdict], ignored: list[landing.Ignored], folder: Path) -> str:
    """Per file, why nothing was requested (files grouped by reason)."""
    if not verdicts and not ignored:
        return f"no landing file in {folder} (expected names like {landing.PATTERN})"
    by_reason: dict[str, list[str]] = defaultdict(list)
    for v in verdicts:
        by_reason[v.reason].append(v.item.path.name)
    parts = [f"{len(files)} file(s) {reason}: {_listed(files)}"
             for reason, files in by_reason.items()]
    if ignored:
        parts.append(f"{len(ignored)} file(s) not taken: {_listed([str(i) for i in ignored])}")
    return f"nothing to run in {folder}: " + "; ".join(parts)


@sensor(name=names.LANDING_SENSOR, job_name=names.DAILY_JOB, minimum_interval_seconds=30,
        default_status=DefaultSensorStatus.RUNNING,
        description="Requests a daily_job run for each landing file whose content the lake "
                    "does not hold yet, and retries a failed day when its file is touched.")
def landing_sensor(context: SensorEvaluationContext, fraud_home: FraudHome) -> SensorResult:
    seen: dict[str, dict] = json.loads(context.cursor) if context.cursor else {}
    files, ignored = landed_files(fraud_home.landing)
    # A run whose process died shows as failed (the UI, the skip reason), not as running.
    runs.fail_orphaned_runs(context.instance, context.log.warning)
    verdicts = evaluate(context.instance, files, seen)
    if ignored:
        context.log.warning(f"{len(ignored)} file(s) in {fraud_home.landing} not taken: "
                            + "; ".join(map(str, ignored)))
    cursor = json.dumps(seen, sort_keys=True)
    todo = [v.pending for v in verdicts if v.pending]
    if not todo:
        return SensorResult(skip_reason=SkipReason(explain(verdicts, ignored, fraud_home.landing)),
                            cursor=cursor)
    for item in todo:
        context.log.info(f"{item.path.name}: {item.why}")
    return SensorResult(cursor=cursor, run_requests=[
        RunRequest(run_key=item.run_key, partition_key=item.day, tags=item.tags)
        for item in todo])
