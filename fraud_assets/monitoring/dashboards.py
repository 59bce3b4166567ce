"""Monitoring over time: drift and performance days as snapshots in an Evidently workspace.

The daily assets already keep each day's report as files and as Dagster metadata; this
module also saves them as snapshots of one Evidently project (FRAUD_HOME/evidently), so
the Evidently UI (`fraud-platform up`) plots them over the days: drift share per day,
per-column drift, and the champion's F1, precision and recall per day.

Each snapshot is stamped with its partition day (not the run time), so a backfill plots
in day order; re-running a day replaces that day's snapshot (an index file maps
kind/day -> snapshot id), so the series has one point per day. Writers take a file lock:
two runs materializing days in parallel must not create the project twice.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from evidently import BinaryClassification, DataDefinition, Dataset, Report
from evidently.core.report import Snapshot
from evidently.metrics import F1Score, Precision, Recall
from evidently.sdk.models import DashboardPanelPlot, PanelMetric
from evidently.sdk.panels import line_plot_panel
from evidently.ui.storage.local.base import LocalState
from evidently.ui.workspace import Project, Workspace

from fraud_assets import settings

if TYPE_CHECKING:  # not at run time: `fraud-platform up` needs none of Feast and the lake
    from fraud_assets.monitoring.daily import DailyReport
    from fraud_assets.monitoring.performance import DayPerformance

PROJECT_NAME = "Fraud monitoring"
PROJECT_DESCRIPTION = ("Daily drift of validated transactions and of served predictions vs "
                       "the champion's training window, and the champion's quality on "
                       "labelled days (one snapshot per kind and day).")
# Snapshot tags: what a snapshot is, so each panel picks its own series.
DRIFT_TAG = "drift"
PERFORMANCE_TAG = "performance"
DAY_KEY = "day"  # snapshot metadata: the partition day (ISO date)

DRIFT_SHARE_PANEL = "Drift share per day"
COLUMN_DRIFT_PANEL = "Per-column drift score (validated transactions)"
PERFORMANCE_PANEL = "Champion F1, precision and recall per day"
PANEL_TITLES = (DRIFT_SHARE_PANEL, COLUMN_DRIFT_PANEL, PERFORMANCE_PANEL)

_INDEX = "fraud_snapshots.json"  # kind/day -> snapshot id, next to the project's folder
_LOCK = ".fraud.lock"
_TARGET, _PREDICTED = "is_fraud", "flagged"


class DashboardError(RuntimeError):
    """A snapshot could not be saved to the Evidently workspace (the message says why)."""


def workspace_dir(home: Path | None = None) -> Path:
    """The Evidently workspace folder, FRAUD_HOME/evidently."""
    return settings.state_dir("evidently", home)


def panels() -> list[DashboardPanelPlot]:
    """The project's three panels: drift share per day (both drift kinds), each monitored
    column's drift score per day, and the champion's F1/precision/recall per day."""
    share = [PanelMetric(legend=f"{kind} drift share", metric="DriftedColumnsCount",
                         metric_labels={"value_type": "share"}, tags=[DRIFT_TAG, kind])
             for kind in ("transactions", "predictions")]
    # One series per column (the metric's `column` label); the legend names the column.
    columns = [PanelMetric(legend="{{column}}", metric="ValueDrift",
                           tags=[DRIFT_TAG, "transactions"])]
    quality = [PanelMetric(legend=name, metric=name, tags=[PERFORMANCE_TAG])
               for name in ("F1Score", "Precision", "Recall")]
    return [
        line_plot_panel(DRIFT_SHARE_PANEL, share, "share of monitored columns that drifted",
                        size="half"),
        line_plot_panel(COLUMN_DRIFT_PANEL, columns,
                        "each column's distance to the reference (its own method)",
                        size="half"),
        line_plot_panel(PERFORMANCE_PANEL, quality,
                        "on the day's labelled transactions, at the champion's threshold"),
    ]


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / _LOCK, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes
        yield


def open_project(home: Path | None = None) -> tuple[Workspace, Project]:
    """The workspace and the platform's project, created with its panels when missing
    (panels missing from an existing project are added; none is duplicated).

    Raises DashboardError naming the folder when the workspace cannot be opened."""
    folder = workspace_dir(home)
    try:
        with _locked(folder):
            return _open_project(folder)
    except (OSError, ValueError, TypeError) as exc:
        raise DashboardError(f"cannot open the Evidently workspace {folder}: {exc}") from exc


class SnapshotWorkspace(Workspace):
    """Evidently's local `Workspace` of `path`, without the dataset manager its constructor
    also builds.

    Why: that manager's project index reads and parses every snapshot the workspace holds
    when it is made (`LocalState.reload`): 0.33 s at 30 daily snapshots, 1.13 s at 90,
    4.03 s at 365 (`python -m benchmarks.evidently_workspace`, median of 5), and a day adds
    up to three; every run the daemon launches is a fresh process, so each paid it once
    more as the history grew, and one truncated snapshot file (a run killed while saving)
    made every later save raise. What is called on it here (projects, dashboard, `add_run`,
    `delete_run`) goes through `Workspace.state`, Evidently's per-file store of the same
    folder, so the files are exactly those `Workspace` writes and reads (tested both ways);
    the dataset APIs (`add_dataset`, `load_dataset`, `list_datasets`) are not used here and
    are not available on it."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.state = LocalState(path)


def _open_project(folder: Path) -> tuple[Workspace, Project]:
    workspace = SnapshotWorkspace(str(folder.resolve()))  # reads nothing when made
    found = workspace.search_project(PROJECT_NAME)
    project = found[0] if found else workspace.create_project(PROJECT_NAME,
                                                             PROJECT_DESCRIPTION)
    present = {panel.title for tab in [project.dashboard.model()] for panel in tab.panels}
    for panel in panels():
        if panel.title not in present:
            project.dashboard.add_panel(panel)
    return workspace, project


def _day_timestamp(day: str) -> dt.datetime:
    # Naive like Evidently's own timestamps (it compares them with each other).
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time())


def _stamped(snapshot: Snapshot, day: str, tags: list[str]) -> Snapshot:
    """The snapshot with the partition day as its time and our tags, through Evidently's
    own model round trip (its timestamp is otherwise the run's wall clock)."""
    timestamp = _day_timestamp(day)  # a bad day fails here, before anything is written
    model = snapshot.to_snapshot_model()
    model.timestamp = timestamp
    model.tags = sorted(set(model.tags) | set(tags))
    model.metadata = {**model.metadata, DAY_KEY: day}
    return Snapshot.load_model(model)


def save_snapshot(snapshot: Snapshot, key: str, day: str, tags: list[str],
                  home: Path | None = None) -> str:
    """Add `snapshot` to the project as `key` (e.g. "drift/transactions") of `day`,
    replacing the one saved for the same key and day; returns the snapshot id.

    Raises DashboardError naming the workspace when Evidently cannot write it."""
    folder = workspace_dir(home)
    try:
        stamped = _stamped(snapshot, day, tags)
        with _locked(folder):
            workspace, project = _open_project(folder)
            index_path = folder / str(project.id) / _INDEX
            index = json.loads(index_path.read_text()) if index_path.exists() else {}
            ref = workspace.add_run(project.id, stamped, name=f"{key} {day}")
            old = index.get(f"{key}/{day}")
            index[f"{key}/{day}"] = str(ref.id)
            tmp = index_path.with_name(_INDEX + ".tmp")
            tmp.write_text(json.dumps(index, indent=1, sort_keys=True))
            tmp.replace(index_path)
            if old and old != str(ref.id):
                workspace.delete_run(project.id, old)
    except (OSError, ValueError, TypeError) as exc:
        raise DashboardError(f"cannot save the {key} snapshot of {day} to the Evidently "
                             f"workspace {folder}: {exc}") from exc
    return str(ref.id)


def save_drift(report: DailyReport, home: Path | None = None) -> str | None:
    """Save a day's drift report (tags drift + its kind); None when no report ran (the
    day had nothing to compare: no point rather than a zero)."""
    if report.snapshot is None:
        return None
    return save_snapshot(report.snapshot, f"drift/{report.kind}", report.day,
                         [DRIFT_TAG, report.kind], home)


def performance_snapshot(day: DayPerformance) -> Snapshot | None:
    """Evidently's F1, precision and recall of the champion on the day's labelled rows,
    at its stored threshold (fraud = score >= threshold, as the gate measures); None for
    a day that is not judged (too few frauds: noise, not a point to plot)."""
    if not day.judged or day.labels is None or day.scores is None:
        return None
    frame = pd.DataFrame({_TARGET: day.labels.astype(int),
                          _PREDICTED: (day.scores >= day.champion.threshold).astype(int)})
    definition = DataDefinition(classification=[BinaryClassification(
        target=_TARGET, prediction_labels=_PREDICTED, pos_label=1)])
    report = Report([F1Score(), Precision(), Recall()],
                    metadata={"champion_version": str(day.champion.version)})
    return report.run(Dataset.from_pandas(frame, data_definition=definition), None)


def save_performance(day: DayPerformance, home: Path | None = None) -> str | None:
    """Save the day's performance snapshot (tag performance); None when not judged."""
    snapshot = performance_snapshot(day)
    if snapshot is None:
        return None
    return save_snapshot(snapshot, PERFORMANCE_TAG, day.day, [PERFORMANCE_TAG], home)
