"""The serving-log report compares scores: the reference is scored by the champion."""

from __future__ import annotations

import json

import numpy as np
import pytest
from dagster import DagsterInstance, materialize

from fraud_assets import contract, lake
from fraud_assets.defs.monitoring.assets import prediction_drift_report
from fraud_assets.monitoring import daily, reference
from fraud_assets.monitoring.columns import SCORE
from fraud_assets.monitoring.scored_reference import cache_path, score_reference
from fraud_assets.monitoring.scoring import load_champion, score_rows
from tests.support import NORMAL, day_key, resources

DAY = day_key(NORMAL)
REQUEST = [f.name for f in contract.REQUEST_FIELDS]


def serve(platform, calibration: float = 1.0) -> None:
    """Log the day as the service would: its requests and the champion's scores.

    `calibration` multiplies the scores: a served model that is more alarmed than the
    champion on the very same requests (a bad deploy, a feature outage).
    """
    frame = lake.read_partitions("transactions_validated", [DAY], platform.home / "lake")
    scored = score_rows(frame, load_champion(platform.registry), platform.store).frame
    records = scored[REQUEST].assign(
        **{SCORE: np.clip(scored[SCORE] * calibration, 0.0, 1.0)})
    folder = platform.home / "predictions" / DAY
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "part-0.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in records.to_dict("records")))


def champion_reference(platform) -> reference.Reference:
    window = reference.champion_window(platform.registry)
    return reference.resolve(DAY, window, 28, 20_000, 0, platform.home / "lake")


def report(platform):
    def scorer(ref):
        return score_reference(ref, platform.registry, lambda: platform.store, platform.home)

    return daily.predictions_report(DAY, champion_reference(platform), home=platform.home,
                                    score_reference=scorer)


def test_normal_traffic_compares_the_score_without_alarm_and_caches_it(platform):
    cache_path(platform.champion_version, platform.home).unlink(missing_ok=True)
    serve(platform)
    first = report(platform)
    columns = {c.column: c for c in first.summary.columns}
    assert SCORE in columns and not columns[SCORE].drifted
    assert first.summary.status == "no_drift", first.summary.reason
    # The window is the 9 days training kept (the first day had no earlier day, no features).
    assert "reference scored by champion v1 (0 of 9,000 rows from the cache" in first.notes[1]
    assert cache_path("1", platform.home).exists()
    again = report(platform)
    assert "(9,000 of 9,000 rows from the cache" in again.notes[1]
    assert again.summary.columns == first.summary.columns


def test_scores_that_moved_on_unchanged_requests_are_drift(platform):
    serve(platform, calibration=3.0)
    summary = report(platform).summary
    assert summary.dataset_drift and summary.drifted_columns == (SCORE,)


def test_the_asset_scores_the_reference_through_its_resources(platform):
    serve(platform, calibration=3.0)
    with DagsterInstance.ephemeral() as instance:
        result = materialize([prediction_drift_report], partition_key=DAY, instance=instance,
                             resources=resources(platform.home))
    [event] = result.get_asset_materialization_events()
    meta = {k: getattr(v, "value", v) for k, v in event.materialization.metadata.items()}
    assert meta["drifted_columns"] == SCORE and meta["dataset_drift"] is True
    assert f"score_{SCORE}" in meta and "reference scored by champion v1" in meta["notes"]


def test_without_a_champion_the_reference_is_left_as_is(platform):
    ref = reference.resolve(DAY, None, 28, 1_000, 0, platform.home / "lake")
    same, notes = score_reference(ref, platform.registry, lambda: pytest.fail("no store"))
    assert same is ref and notes == (f"{SCORE} not compared: no champion to score the "
                                     f"reference with",)


def test_reference_rows_without_features_are_left_unscored_and_said_so(platform):
    days = [day_key(0), day_key(1)]  # the first lake day has no earlier day: no features
    frame, found, rows = reference.load_days(days, 2_000, 0, platform.home / "lake")
    ref = reference.Reference(frame, "champion", "two days", found, rows, "1")
    scored, notes = score_reference(ref, platform.registry, lambda: platform.store,
                                    platform.home)
    day = scored.frame[contract.EVENT_TIMESTAMP.name].dt.strftime("%Y-%m-%d")
    assert scored.frame.loc[day == days[0], SCORE].isna().all()
    assert scored.frame.loc[day == days[1], SCORE].between(0, 1).all()
    assert "1,000 reference rows have no merchant features to score with" in notes[-1]
