"""Freshness of online features (issue 15): the per-view limit, ages from the real online
store, and Dagster's freshness check on `online_features` (real instance, real Feast)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from dagster import AssetCheckKey, AssetKey, DagsterInstance, materialize
from feast import Entity, FeatureView, Field, FileSource
from feast.types import Float64

from fraud_assets.defs.features import assets as feature_assets
from fraud_assets.defs.features.checks import online_store_freshness
from fraud_assets.features import freshness, online
from fraud_assets.features.names import FEATURE_TIMESTAMP_COLUMN, FRESHNESS_TAG
from fraud_assets.features.repo import MERCHANT_FRESHNESS
from tests.support import build_store, recent_first, resources

DAY = 86_400.0


def view(ttl: dt.timedelta | None, tags: dict[str, str] | None = None) -> FeatureView:
    source = FileSource(name="s", path="/nonexistent.parquet", timestamp_field="ts")
    return FeatureView(name="v", entities=[Entity(name="e", join_keys=["e"])], ttl=ttl,
                       source=source, schema=[Field(name="x", dtype=Float64)], tags=tags)


def test_the_limit_is_the_views_tag_else_its_ttl() -> None:
    assert freshness.freshness_limit(view(dt.timedelta(hours=1), {FRESHNESS_TAG: "90"})) == 90
    assert freshness.freshness_limit(view(dt.timedelta(hours=1))) == 3600


@pytest.mark.parametrize("tags, ttl", [({FRESHNESS_TAG: "soon"}, None),
                                       ({FRESHNESS_TAG: "-5"}, None),
                                       (None, dt.timedelta(0))])
def test_a_view_without_a_usable_limit_is_an_error_naming_it(tags, ttl) -> None:
    with pytest.raises(freshness.FreshnessConfigError, match="feature view 'v'"):
        freshness.freshness_limit(view(ttl, tags))


def test_assess_ages_each_row_at_its_event_time() -> None:
    judged = freshness.assess("g", np.array([0.0, 0.0, np.nan, 100.0]),
                              np.array([50.0, 150.0, 150.0, 50.0]), 100.0)
    assert judged.age_seconds[[0, 1, 3]].tolist() == [50.0, 150.0, -50.0]
    assert judged.stale.tolist() == [False, True, False, False]
    assert judged.row(2) == {"feature_age_seconds": None, "stale": False,
                             "freshness_limit_seconds": 100.0}


def test_the_online_store_gives_each_rows_event_time_and_the_registered_limit(
        fraud_home) -> None:
    first = dt.date(2025, 1, 1)
    store = build_store(fraud_home, n_days=3, first=first)
    found = online.online_features(pd.DataFrame({"merchant_category": ["online", "nowhere"]}),
                                   store)
    newest = pd.Timestamp("2025-01-03", tz="UTC").timestamp()
    # "nowhere" has no row: the all-merchant prior of the same day stands in.
    assert found[FEATURE_TIMESTAMP_COLUMN].tolist() == [newest, newest]
    assert online.freshness_limit(store) == MERCHANT_FRESHNESS.total_seconds() == 2 * DAY


def _run_check(home, instance: DagsterInstance):
    result = materialize([feature_assets.online_features, *online_store_freshness],
                         instance=instance, resources=resources(home))
    assert result.success
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.asset_check_key == AssetCheckKey(AssetKey("online_features"),
                                                       "freshness_check")
    return evaluation


def test_dagster_freshness_check_fails_on_a_store_of_old_days(fraud_home) -> None:
    build_store(fraud_home, n_days=2)  # 2025: long past the two-day limit
    with DagsterInstance.ephemeral() as instance:
        evaluation = _run_check(fraud_home, instance)
    assert not evaluation.passed
    # The data's time (the newest feature day), not the run that just loaded it.
    newest = pd.Timestamp("2025-01-02", tz="UTC").timestamp()
    assert evaluation.metadata["dagster/last_updated_timestamp"].value == newest


def test_dagster_freshness_check_passes_on_a_store_loaded_with_today(fraud_home) -> None:
    build_store(fraud_home, n_days=2, first=recent_first(2))
    with DagsterInstance.ephemeral() as instance:
        evaluation = _run_check(fraud_home, instance)
    assert evaluation.passed
