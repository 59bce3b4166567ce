"""Evidently data drift of one day against a reference, read into a small typed summary.

The alarm rule (`DriftPolicy`): a day drifts when at least `min_drifted_columns` of the
compared columns drift, each column judged by its own pinned distance and threshold
(`columns.py`). The scenarios each move a single column (amount x2 moves `log_amount`,
late night moves `hour`, a fraud spike moves `is_fraud` and, through the fraud mix,
`log_amount` and the score), so one drifted column is the signal; the per-column
thresholds are what keep normal days quiet. Evidently's dataset verdict is asked with
the same share, so the HTML report and this summary always agree.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.core.report import Snapshot
from evidently.presets import DataDriftPreset

from fraud_assets.monitoring import columns
from fraud_assets.monitoring.columns import ColumnSpec

Status = Literal["drift", "no_drift", "insufficient_data"]

# Metadata keys of a drift report: written by the drift assets, read by the retraining
# sensor and the drift story. Defined here, once.
STATUS_KEY = "drift_status"
DATASET_DRIFT_KEY = "dataset_drift"
SHARE_KEY = "drift_share"
COLUMNS_KEY = "drifted_columns"
REASON_KEY = "drift_reason"


@dataclass(frozen=True)
class DriftPolicy:
    """When a day counts as drifted, and how much data is looked at."""

    min_drifted_columns: int = 1
    # Below this many rows the distances are mostly noise (24 hour buckets need ~1,000
    # rows to stay under 0.1 on a normal day): the report is kept but never alarms.
    min_rows: int = 1_000
    max_reference_rows: int = 20_000
    max_current_rows: int = 50_000
    seed: int = 0


@dataclass(frozen=True)
class ColumnDrift:
    column: str
    role: str
    method: str
    threshold: float
    score: float
    drifted: bool


@dataclass(frozen=True)
class DriftSummary:
    """What a day's drift report says, without the 4 MB of HTML."""

    status: Status
    dataset_drift: bool
    drift_share: float | None  # None when not judged: no drift figures then
    drifted_columns: tuple[str, ...]
    columns: tuple[ColumnDrift, ...]  # empty when not judged
    rows_reference: int
    rows_current: int
    min_drifted_columns: int
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def judged(self) -> bool:
        return self.status != "insufficient_data"

    @property
    def reason(self) -> str:
        """One readable line: the verdict and, for drift, which columns moved by how much."""
        if self.status == "insufficient_data":
            return "not judged: " + "; ".join(self.notes)
        if not self.drifted_columns:
            return f"no drift: 0 of {len(self.columns)} columns drifted"
        moved = ", ".join(f"{c.column} {c.score:.3f} >= {c.threshold:g} ({c.method})"
                          for c in self.columns if c.drifted)
        verdict = "drift" if self.dataset_drift else "below the alarm rule"
        return f"{verdict}: {moved}"

    def markdown_table(self) -> str:
        rows = [{"column": c.column, "role": c.role, "method": c.method,
                 "score": round(c.score, 4), "threshold": c.threshold,
                 "drifted": "YES" if c.drifted else "no"} for c in self.columns]
        return pd.DataFrame(rows).to_markdown(index=False) if rows else "no columns compared"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"reason": self.reason}


@dataclass(frozen=True)
class DriftResult:
    summary: DriftSummary
    snapshot: Snapshot | None  # None when there was nothing to compare


def sample(frame: pd.DataFrame, max_rows: int, seed: int) -> pd.DataFrame:
    """At most `max_rows` rows, the same ones on every run (bounded memory and time)."""
    if len(frame) <= max_rows:
        return frame
    return frame.sample(n=max_rows, random_state=seed)


def compare(reference: pd.DataFrame, current: pd.DataFrame, policy: DriftPolicy | None = None,
            *, reference_name: str = "reference", current_name: str = "current") -> DriftResult:
    """Drift of `current` against `reference` on the monitored columns both have.

    The names are used in error messages, e.g. the lake file or prediction-log folder.
    """
    policy = policy or DriftPolicy()
    if reference.empty or current.empty:  # an empty lake read has no columns at all
        empty = reference_name if reference.empty else current_name
        return DriftResult(_unjudged(reference, current, policy, [f"{empty} has no rows"]),
                           None)
    _require_features(reference, reference_name)
    _require_features(current, current_name)
    specs, notes = _shared_specs(reference, current, reference_name, current_name)
    ref, ref_notes = _prepare(sample(reference, policy.max_reference_rows, policy.seed),
                              specs, reference_name)
    cur, cur_notes = _prepare(sample(current, policy.max_current_rows, policy.seed),
                              specs, current_name)
    notes += ref_notes + cur_notes
    if ref.empty or cur.empty:
        empty = reference_name if ref.empty else current_name
        return DriftResult(_unjudged(ref, cur, policy, notes + [f"{empty} has no complete rows"]),
                           None)
    snapshot = _run(ref, cur, specs, policy)
    return DriftResult(_summarise(snapshot.dict(), specs, ref, cur, policy, notes), snapshot)


def _require_features(frame: pd.DataFrame, name: str) -> None:
    missing = [s.source for s in columns.FEATURES if s.source not in frame.columns]
    if missing:
        raise ValueError(f"{name}: missing required column(s) {', '.join(missing)}; a drift "
                         f"report needs the request fields "
                         f"{', '.join(s.source for s in columns.FEATURES)}")


def _shared_specs(reference: pd.DataFrame, current: pd.DataFrame, reference_name: str,
                  current_name: str) -> tuple[list[ColumnSpec], list[str]]:
    """Features always; label and score only when both sides have them (noted otherwise)."""
    in_ref = {s.name for s in columns.present(reference)}
    in_cur = {s.name for s in columns.present(current)}
    notes = []
    for spec in (columns.TARGET, columns.PREDICTION):
        if (spec.name in in_ref) != (spec.name in in_cur):
            lacking = current_name if spec.name in in_ref else reference_name
            notes.append(f"{spec.name} not compared: absent from {lacking}")
    return [s for s in columns.ALL if s.name in in_ref & in_cur], notes


def _prepare(frame: pd.DataFrame, specs: list[ColumnSpec], name: str,
             ) -> tuple[pd.DataFrame, list[str]]:
    """Derived columns; rows with a missing or non-finite value are left out, and counted."""
    try:
        derived = columns.derive(frame, specs)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: a monitored column has values of the wrong type: {exc}"
                         ) from None
    derived = derived.replace([np.inf, -np.inf], np.nan)
    complete = derived.notna().all(axis=1)
    dropped = int((~complete).sum())
    notes = [f"{name}: {dropped:,} rows with missing values left out"] if dropped else []
    return derived[complete].reset_index(drop=True), notes


def _run(ref: pd.DataFrame, cur: pd.DataFrame, specs: list[ColumnSpec],
         policy: DriftPolicy) -> Snapshot:
    definition = DataDefinition(
        numerical_columns=[s.name for s in specs if s.kind == "numerical"],
        categorical_columns=[s.name for s in specs if s.kind == "categorical"])
    preset = DataDriftPreset(
        columns=[s.name for s in specs],
        drift_share=policy.min_drifted_columns / len(specs),
        per_column_method={s.name: s.method for s in specs},
        per_column_threshold={s.name: s.threshold for s in specs},
    )
    report = Report([preset], include_tests=True)
    return report.run(Dataset.from_pandas(cur, data_definition=definition),
                      Dataset.from_pandas(ref, data_definition=definition))


def _params(item: dict[str, Any], key: str) -> dict[str, Any]:
    params = item.get(key) or {}
    return params if isinstance(params, dict) else dict(params)


def _summarise(result: dict[str, Any], specs: list[ColumnSpec], ref: pd.DataFrame,
               cur: pd.DataFrame, policy: DriftPolicy, notes: list[str]) -> DriftSummary:
    """Verdicts are read from Evidently's tests, not recomputed from raw scores."""
    scores = {_params(m, "config").get("column"): float(m["value"]) for m in result["metrics"]
              if _params(m, "config").get("type", "").endswith(":ValueDrift")}
    column_failed, dataset_failed, share = {}, False, 0.0
    for test in result["tests"]:
        params = _params(test, "metric_config").get("params") or {}
        failed = str(getattr(test["status"], "value", test["status"])) == "FAIL"
        if params.get("type", "").endswith(":ValueDrift"):
            column_failed[params["column"]] = failed
        elif params.get("type", "").endswith(":DriftedColumnsCount"):
            dataset_failed = failed
    for metric in result["metrics"]:
        if _params(metric, "config").get("type", "").endswith(":DriftedColumnsCount"):
            share = float(metric["value"]["share"])
    per_column = tuple(ColumnDrift(s.name, s.role, s.method, s.threshold, scores[s.name],
                                   column_failed[s.name]) for s in specs)
    enough = min(len(ref), len(cur)) >= policy.min_rows
    if not enough:
        # Not judged: no share, no drifted columns, no scores (they would read as a verdict).
        return _unjudged(ref, cur, policy, notes + [
            f"only {min(len(ref), len(cur)):,} rows on the smaller side (< "
            f"{policy.min_rows:,}): too few to judge, no alarm"])
    alarm = dataset_failed and enough
    status: Status = "insufficient_data" if not enough else ("drift" if alarm else "no_drift")
    return DriftSummary(status, alarm, share, tuple(c.column for c in per_column if c.drifted),
                        per_column, len(ref), len(cur), policy.min_drifted_columns, tuple(notes))


def _unjudged(ref: pd.DataFrame, cur: pd.DataFrame, policy: DriftPolicy,
              notes: list[str]) -> DriftSummary:
    return DriftSummary("insufficient_data", False, None, (), (), len(ref), len(cur),
                        policy.min_drifted_columns, tuple(notes))
