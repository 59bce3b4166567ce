"""Monitoring over time: drift and performance days saved as Evidently snapshots (read back
through Evidently's own workspace API), and the Evidently UI serving the project."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from dagster import DagsterInstance
from evidently.ui.workspace import Workspace

from fraud_assets.model import evaluation
from fraud_assets.model.loaded import LoadedModel
from fraud_assets.monitoring import dashboards
from fraud_assets.monitoring.performance import DayPerformance
from fraud_assets.orchestration import servers
from fraud_assets.orchestration.processes import free_port
from tests.support import (
    REFERENCE_DAYS,
    day_key,
    run_drift_report,
    write_day,
    write_reference_days,
)

DAY = day_key(REFERENCE_DAYS)


@pytest.fixture
def instance(fraud_home):
    with DagsterInstance.ephemeral() as inst:
        yield inst


def _metadata(result) -> dict:
    [event] = result.get_asset_materialization_events()
    return {k: getattr(v, "value", v) for k, v in event.materialization.metadata.items()}


def _project(home: Path):
    """The project, read with Evidently's own workspace API (not through our module)."""
    workspace = Workspace(str(home / "evidently"))
    [project] = workspace.search_project(dashboards.PROJECT_NAME)
    return workspace, project


def _values(snapshot, metric: str) -> dict[str | None, float]:
    """`metric` values of a stored snapshot: column (or None) -> value (a count's share)."""
    found = {}
    for result in snapshot.metric_results.values():
        params = result.metric_value_location.metric.params
        if params["type"].endswith(f":{metric}"):
            value = result.share if hasattr(result, "share") else result
            found[params.get("column")] = value.value
    return found


def test_drift_days_land_as_snapshots_of_the_project(fraud_home, instance):
    write_reference_days(fraud_home)
    write_day(fraud_home, DAY, "late_night")
    meta = _metadata(run_drift_report(instance, fraud_home, DAY))
    workspace, project = _project(fraud_home)
    [snapshot_id] = workspace.list_runs(project.id)
    assert str(snapshot_id) == meta["evidently_snapshot"]
    snapshot = workspace.get_run(project.id, snapshot_id)
    # Stamped with the partition day, so the panels plot days, not run times.
    assert snapshot.timestamp == dt.datetime.fromisoformat(DAY)
    assert {"drift", "transactions"} <= set(snapshot.tags)
    assert snapshot.metadata["day"] == DAY
    assert _values(snapshot, "DriftedColumnsCount")[None] == pytest.approx(meta["drift_share"])
    assert _values(snapshot, "ValueDrift")["hour"] == pytest.approx(meta["score_hour"])

    # Re-running the day replaces its snapshot: one point per day in the series.
    again = _metadata(run_drift_report(instance, fraud_home, DAY))
    assert [str(s) for s in workspace.list_runs(project.id)] == [again["evidently_snapshot"]]


def test_a_workspace_that_cannot_be_written_never_fails_the_asset(fraud_home, instance):
    write_reference_days(fraud_home)
    write_day(fraud_home, DAY)
    (fraud_home / "evidently").write_text("not a folder")
    result = run_drift_report(instance, fraud_home, DAY)
    assert result.success
    meta = _metadata(result)
    assert meta["drift_status"] == "no_drift"  # the day's record is complete
    assert "evidently_snapshot" not in meta
    assert "Evidently workspace" in meta["evidently_error"]
    assert str(fraud_home / "evidently") in meta["evidently_error"]


def test_an_unusable_workspace_folder_is_named(tmp_path):
    (tmp_path / "evidently").write_text("not a folder")
    with pytest.raises(dashboards.DashboardError, match=str(tmp_path / "evidently")):
        dashboards.open_project(tmp_path)

def test_a_bad_day_is_refused_before_anything_is_written(tmp_path):
    rng = np.random.default_rng(2)
    labels = (rng.random(500) < 0.1).astype(int)
    snapshot = dashboards.performance_snapshot(_day(labels, labels * 0.9, 0.5))
    with pytest.raises(dashboards.DashboardError, match="snapshot of 2025-02-30 .*out of range"):
        dashboards.save_snapshot(snapshot, "performance", "2025-02-30", [], tmp_path)
    assert not (tmp_path / "evidently").exists()


def _day(labels: np.ndarray, scores: np.ndarray, threshold: float) -> DayPerformance:
    # The version's record as monitoring reads it; the fitted model itself is not needed
    # once the day is scored, so none is loaded here.
    champion = LoadedModel(model=None, name="fraud-detection-model", version="3",
                           alias="champion", run_id=None, threshold=threshold,
                           training_start=None, training_end=None, features=(),
                           source="registry")
    metrics = evaluation.score(labels, scores, threshold)
    return DayPerformance(DAY, champion, metrics, len(labels), 0, int(labels.sum()),
                          judged=True, note="", labels=labels, scores=scores)


def test_a_performance_day_lands_with_the_gates_numbers(tmp_path):
    rng = np.random.default_rng(0)
    labels = (rng.random(2_000) < 0.05).astype(int)
    scores = np.clip(labels * 0.5 + rng.random(2_000) * 0.6, 0, 1)
    day = _day(labels, scores, threshold=0.55)
    snapshot_id = dashboards.save_performance(day, tmp_path)
    workspace, project = _project(tmp_path)
    snapshot = workspace.get_run(project.id, snapshot_id)
    assert "performance" in snapshot.tags and snapshot.metadata["day"] == DAY
    # Evidently's numbers are the ones the asset records (same threshold rule).
    for metric, key in (("F1Score", "f1"), ("Precision", "precision"), ("Recall", "recall")):
        assert _values(snapshot, metric)[None] == pytest.approx(day.metrics[key]), metric

    unjudged = DayPerformance(DAY, day.champion, {}, 50, 0, 1, judged=False, note="few")
    assert dashboards.save_performance(unjudged, tmp_path) is None  # a gap, not a zero


def test_saving_reads_no_snapshot_and_writes_what_evidently_reads(tmp_path):
    # Evidently's Workspace() parses every snapshot held (each fresh run process paid it
    # as the history grew); ours reads none: a truncated snapshot file (a run killed while
    # saving), which stops Evidently's own Workspace() from opening, does not stop a save.
    rng = np.random.default_rng(1)
    labels = (rng.random(500) < 0.1).astype(int)
    snapshot = dashboards.performance_snapshot(_day(labels, labels * 0.9, 0.5))
    # The project and a first day as another process writes them (Evidently's own API).
    workspace = Workspace(str(tmp_path / "evidently"))
    project = workspace.create_project(dashboards.PROJECT_NAME)
    first = str(workspace.add_run(project.id, snapshot, name="performance 2025-01-10").id)
    truncated = (tmp_path / "evidently" / str(project.id) / "snapshots"
                 / "01234567-89ab-7def-8123-456789abcdef.json")
    truncated.write_text('{"id": "01234567-89ab-7def-8123-456789abcdef", "metric_res')
    with pytest.raises(ValueError):
        Workspace(str(tmp_path / "evidently"))
    second = dashboards.save_snapshot(snapshot, "performance", "2025-01-11", [], tmp_path)
    truncated.unlink()
    # What it wrote is what Evidently's own API reads, and it sees Evidently's writes.
    workspace, project = _project(tmp_path)
    assert sorted(str(s) for s in workspace.list_runs(project.id)) == sorted([first, second])
    assert workspace.get_run(project.id, second).metadata["day"] == "2025-01-11"
    workspace.delete_run(project.id, first)
    third = dashboards.save_snapshot(snapshot, "performance", "2025-01-12", [], tmp_path)
    assert sorted(str(s) for s in workspace.list_runs(project.id)) == sorted([second, third])
    # The whole workspace removed by hand: the next save makes the project again.
    shutil.rmtree(tmp_path / "evidently")
    fourth = dashboards.save_snapshot(snapshot, "performance", "2025-01-12", [], tmp_path)
    workspace, project = _project(tmp_path)
    assert [str(s) for s in workspace.list_runs(project.id)] == [fourth]
    assert workspace.get_run(project.id, fourth).metadata["day"] == "2025-01-12"


def test_the_project_has_the_three_panels_once(tmp_path):
    for _ in range(2):
        dashboards.open_project(tmp_path)
    workspace, project = _project(tmp_path)
    titles = [panel.title for panel in workspace.get_dashboard(project.id).panels]
    assert sorted(titles) == sorted(dashboards.PANEL_TITLES)


def _get(url: str) -> object:
    with urllib.request.urlopen(url, timeout=10) as answer:
        assert answer.status == 200
        return json.loads(answer.read())


def test_the_evidently_ui_serves_the_project_on_loopback(tmp_path):
    rng = np.random.default_rng(1)
    labels = (rng.random(500) < 0.1).astype(int)
    dashboards.save_performance(_day(labels, labels * 0.9, 0.5), tmp_path)
    server = servers.evidently_server(free_port(), home=tmp_path)
    assert server.url.startswith("http://127.0.0.1:")
    try:
        server.start().wait_ready()
        [project] = [p for p in _get(f"{server.url}/api/projects")
                     if p["name"] == dashboards.PROJECT_NAME]
        snapshots = _get(f"{server.url}/api/projects/{project['id']}/snapshots")
        assert [s["metadata"]["day"] for s in snapshots] == [DAY]
        dashboard = _get(f"{server.url}/api/v2/dashboards/{project['id']}")
        assert sorted(p["title"] for p in dashboard["panels"]) == sorted(dashboards.PANEL_TITLES)
    finally:
        server.stop()
