"""A day's drift report, end to end: compare with the reference, save, summarise.

Two kinds, one rule: `transactions` compares a day of validated (landed) transactions,
labels included; `predictions` compares a day of the serving prediction log, so drift in
real traffic is seen even before any file lands. Nothing here depends on Dagster, so the
CLI and the demo can produce the same reports the assets do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from evidently.core.report import Snapshot

from fraud_assets import lake, settings
from fraud_assets.monitoring import prediction_log, reports
from fraud_assets.monitoring.columns import SCORE
from fraud_assets.monitoring.drift import DriftPolicy, DriftSummary, compare
from fraud_assets.monitoring.reference import VALIDATED, Reference


@dataclass(frozen=True)
class DailyReport:
    kind: str
    day: str
    summary: DriftSummary
    files: reports.ReportFiles
    reference: Reference
    notes: tuple[str, ...]  # about the inputs (sampling, rows left out), not the verdict
    # Evidently's snapshot (None when nothing was compared), for the dashboards' workspace.
    snapshot: Snapshot | None = field(default=None, repr=False, compare=False)


def transactions_report(day: str, current: pd.DataFrame, reference: Reference,
                        policy: DriftPolicy | None = None, home: Path | None = None,
                        ) -> DailyReport:
    """Drift of a day of validated transactions against the reference."""
    source = lake.partition_path(settings.lake_dir(home), VALIDATED, day)
    result = compare(reference.frame, current, policy,
                     reference_name=f"reference ({reference.description})",
                     current_name=str(source))
    files = reports.save(result, "transactions", day, home)
    return DailyReport("transactions", day, result.summary, files, reference, (),
                       snapshot=result.snapshot)


# Gives the reference a score column (e.g. `scored_reference.score_reference` bound to the
# registry and the feature store), with notes on how.
ReferenceScorer = Callable[[Reference], tuple[Reference, tuple[str, ...]]]


def predictions_report(day: str, reference: Reference, policy: DriftPolicy | None = None,
                       home: Path | None = None,
                       score_reference: ReferenceScorer | None = None) -> DailyReport:
    """Drift of a day of the serving prediction log against the reference.

    The champion's training window holds labels but no scores: the score is compared only
    when `score_reference` gives the reference one; without it this report judges the
    request fields alone.
    """
    policy = policy or DriftPolicy()
    logged = prediction_log.read_day(day, home, policy.max_current_rows, policy.seed)
    folder = prediction_log.day_folder(day, home)
    notes = [f"{len(logged.files)} log file(s), {logged.lines:,} predictions in {folder}"]
    if score_reference is not None and _needs_scores(reference, logged.frame):
        reference, scoring_notes = score_reference(reference)
        notes.extend(scoring_notes)
    if logged.lines > len(logged.frame) + logged.invalid:
        notes.append(f"sampled {policy.max_current_rows:,} of {logged.lines:,} predictions")
    if logged.invalid:
        notes.append(f"{logged.invalid:,} sampled predictions break the contract and are "
                     f"left out (first: {logged.first_invalid_reason})")
    result = compare(reference.frame, logged.frame, policy,
                     reference_name=f"reference ({reference.description})",
                     current_name=str(folder))
    files = reports.save(result, "predictions", day, home)
    return DailyReport("predictions", day, result.summary, files, reference, tuple(notes),
                       snapshot=result.snapshot)


def _needs_scores(reference: Reference, current: pd.DataFrame) -> bool:
    """The served side has scores and the reference has rows but no scores."""
    return (SCORE in current.columns and not current.empty and not reference.frame.empty
            and SCORE not in reference.frame.columns)
