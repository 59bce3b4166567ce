"""The Feast store: offline/online parity, idempotent writes, the online fallback, config."""

import datetime as dt
import logging
import sqlite3

import pandas as pd
import pytest

from fraud_assets import contract
from fraud_assets.features import offline, online, training
from fraud_assets.features.names import ALL_MERCHANTS, FALLBACK_COLUMN, FEATURES
from fraud_assets.features.store import FeatureStoreError, MerchantFeatureStore, repo_config
from tests.support import build_store, compute_features, days, read_validated

N_DAYS = 4
CATEGORIES = list(contract.MERCHANT_CATEGORIES)


@pytest.fixture
def store(feast_profile_home) -> MerchantFeatureStore:
    """Under both profiles: SQLite + file registry, and Redis + SQL registry on PostgreSQL."""
    return build_store(feast_profile_home, N_DAYS)


def _online(store, categories=CATEGORIES) -> pd.DataFrame:
    return online.online_features(pd.DataFrame({"merchant_category": categories}), store)


def _online_rows(store) -> list[tuple]:
    """Every stored online value, as the store keeps it (SQLite rows or Redis hashes)."""
    if store.feast.config.online_store.type == "redis":
        from fraud_assets.orchestration.server_profile import ServerProfile

        client = ServerProfile().redis_client()
        return sorted((key, sorted(client.hgetall(key).items())) for key in client.keys())
    with sqlite3.connect(store.feast.config.online_store.path) as db:
        table = db.execute("select name from sqlite_master where type='table'").fetchone()[0]
        return sorted(db.execute(f"select entity_key, feature_name, value, event_ts "
                                 f"from {table}").fetchall())


def test_online_vector_equals_historical_just_after_the_latest_day(store):
    latest = days(N_DAYS)[-1]
    probe = pd.DataFrame({"merchant_category": CATEGORIES,
                          "event_timestamp": pd.Timestamp(latest, tz="UTC")
                          + pd.Timedelta(seconds=1)})
    offline_rows = store.historical(probe).set_index("merchant_category").loc[CATEGORIES]
    online_rows = _online(store).set_axis(CATEGORIES)
    pd.testing.assert_frame_equal(online_rows[list(FEATURES)], offline_rows[list(FEATURES)],
                                  check_names=False)
    assert not online_rows[FALLBACK_COLUMN].any()


def test_online_dtypes_are_the_training_set_dtypes(fraud_home, store):
    frame = training.build_training_set(read_validated(fraud_home), store, 1).frame
    looked_up = _online(store, ["grocery"] * 3)
    assert looked_up[list(FEATURES)].dtypes.to_dict() == frame[list(FEATURES)].dtypes.to_dict()


def test_writing_and_materializing_a_day_twice_changes_nothing(fraud_home, store):
    day = days(N_DAYS)[-1]
    offline_before = offline.read_rows(store.feast_dir)
    file_before = offline.day_file(store.feast_dir, day).read_bytes()
    online_before = _online_rows(store)
    # 5 categories + the all-merchant row: a row per feature (SQLite), a hash per key (Redis)
    per_key = 1 if store.feast.config.online_store.type == "redis" else len(FEATURES)
    assert len(online_before) == 6 * per_key
    compute_features(fraud_home, store, [day])
    store.materialize()
    assert offline.day_file(store.feast_dir, day).read_bytes() == file_before
    pd.testing.assert_frame_equal(offline.read_rows(store.feast_dir), offline_before)
    assert _online_rows(store) == online_before
    assert not offline_before.duplicated(["merchant_category", "event_timestamp"]).any()
    assert sorted(p.name for p in offline.source_dir(store.feast_dir).iterdir()) == [
        f"{d}.parquet" for d in days(N_DAYS)[1:]]


def test_a_day_with_rows_of_another_day_is_refused(store):
    rows = offline.read_rows(store.feast_dir)
    with pytest.raises(ValueError, match="2025-01-02.parquet: rows for 2025-01-02"):
        offline.write_day(store.feast_dir, dt.date(2025, 1, 2), rows)


def test_a_category_missing_from_the_store_gets_the_prior_flagged_and_logged(store, caplog):
    with caplog.at_level(logging.WARNING, logger="fraud_assets.features.online"):
        got = _online(store, ["grocery", "crypto", "crypto"])
    prior = _online(store, [ALL_MERCHANTS]).iloc[0]
    assert list(got[FALLBACK_COLUMN]) == [False, True, True]
    for name in ("merchant_avg_amount", "merchant_fraud_rate"):
        assert (got.loc[1:, name] == prior[name]).all()
    assert (got.loc[1:, "merchant_txn_per_day"] == 0).all()  # as aggregates write "no evidence"
    assert got[list(FEATURES)].notna().all().all()
    assert "no online merchant features for ['crypto']" in caplog.text


def test_an_empty_online_store_raises_a_clear_error(feast_profile_home):
    store = MerchantFeatureStore(feast_profile_home)
    store.apply()
    with pytest.raises(FeatureStoreError, match="has no merchant features"):
        _online(store, ["grocery"])


def test_a_batch_keeps_its_index_and_order(store):
    frame = pd.DataFrame({"merchant_category": ["travel", "grocery", "travel"]}, index=[7, 3, 9])
    got = online.online_features(frame, store)
    assert list(got.index) == [7, 3, 9]
    assert got.loc[7, "merchant_avg_amount"] == got.loc[9, "merchant_avg_amount"]
    assert got.loc[7, "merchant_avg_amount"] != got.loc[3, "merchant_avg_amount"]


def test_config_paths_live_in_the_state_folder(fraud_home, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    config = repo_config(fraud_home)
    feast_dir = fraud_home / "feast"
    assert config.registry.path == str(feast_dir / "registry.db")
    assert config.online_store.path == str(feast_dir / "online_store.db")
    assert MerchantFeatureStore(fraud_home).repo.source.path == str(
        feast_dir / "offline" / "merchant_stats")
