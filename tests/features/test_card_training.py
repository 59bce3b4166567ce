"""The training set carries the card features per transaction (unknown = NaN), on both the
out-of-core window and the in-memory path."""

import numpy as np
import pandas as pd

from fraud_assets.features import card_days, offline, training
from fraud_assets.features.engine import DuckDBEngine
from fraud_assets.features.names import CARD_FEATURE_VIEW, CARD_FEATURES
from fraud_assets.features.store import MerchantFeatureStore
from tests.support import compute_features, days, validated_day, with_cards, write_validated

N_DAYS = 4


def _card_store(home, carded: bool = True) -> MerchantFeatureStore:
    """N_DAYS validated days (with card ids from day 1 on when `carded`), merchant features
    and the card_features files, as the assets write them."""
    for i, day in enumerate(days(N_DAYS)):
        frame = validated_day(day, 500, seed=i).drop(columns="card_id", errors="ignore")
        write_validated(home, with_cards(frame, seed=i) if carded and i else frame, day)
    store = MerchantFeatureStore(home)
    store.apply()
    compute_features(home, store, days(N_DAYS))
    for day in days(N_DAYS):
        offline.write_card_day(store.feast_dir, day, card_days.card_day(home / "lake", day).rows)
    return store


def _expected(store: MerchantFeatureStore, frame: pd.DataFrame) -> np.ndarray:
    rows = pd.concat([pd.read_parquet(offline.day_file(store.feast_dir, d, CARD_FEATURE_VIEW))
                      for d in days(N_DAYS)[1:]]).set_index("transaction_id")
    return rows.reindex(frame["transaction_id"].astype(str))[list(CARD_FEATURES)].to_numpy()


def test_the_window_joins_card_features_per_transaction(fraud_home):
    store = _card_store(fraud_home)
    keys = [d.isoformat() for d in days(N_DAYS)]
    result = training.build_window_training_set(keys, fraud_home / "lake", store.feast_dir,
                                                DuckDBEngine, fraud_home / "work", holdout_days=1)
    frame = result.frame
    assert list(frame.columns) == list(training.COLUMNS)
    assert all(frame[c].dtype == "float64" for c in CARD_FEATURES)
    want = _expected(store, frame)
    np.testing.assert_array_equal(frame[list(CARD_FEATURES)].to_numpy(), want)
    has_card = ~np.isnan(want[:, 0])
    assert 0.8 < has_card.mean() < 0.95  # card-less rows stay unknown, never 0
    assert (frame.loc[~has_card, list(CARD_FEATURES)].isna()).all().all()


def test_the_in_memory_training_set_joins_them_too(fraud_home):
    store = _card_store(fraud_home)
    validated = pd.concat([pd.read_parquet(fraud_home / "lake" / "transactions_validated"
                                           / f"{d}.parquet") for d in days(N_DAYS)])
    frame = training.build_training_set(validated, store, holdout_days=1).frame
    assert list(frame.columns) == list(training.COLUMNS)
    np.testing.assert_array_equal(frame[list(CARD_FEATURES)].to_numpy(), _expected(store, frame))


def test_a_card_less_window_has_unknown_card_features(fraud_home):
    store = _card_store(fraud_home, carded=False)
    keys = [d.isoformat() for d in days(N_DAYS)]
    frame = training.build_window_training_set(keys, fraud_home / "lake", store.feast_dir,
                                               DuckDBEngine, fraud_home / "work").frame
    assert len(frame) and frame[list(CARD_FEATURES)].isna().all().all()


def test_a_transaction_in_two_card_files_takes_the_last_days_row(tmp_path):
    """Ids looked up across day files: the later file's row wins, an absent id is NaN
    (unknown), and ids of any text type (object, Arrow-backed) find their rows."""
    day_rows = {"2025-01-01": ["t1", "t2"], "2025-01-02": ["t2", "t3"]}
    for i, (day, ids) in enumerate(day_rows.items()):
        path = offline.day_file(tmp_path, pd.Timestamp(day).date(), CARD_FEATURE_VIEW)
        path.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"transaction_id": ids, **{name: [10.0 * i + 1, 10.0 * i + 2]
                                                 for name in CARD_FEATURES}}).to_parquet(path)
    for dtype in (object, "string[pyarrow]"):
        frame = pd.DataFrame({"transaction_id": pd.Series(["t3", "t9", "t2", "t1"],
                                                          dtype=dtype)})
        got = training.join_card_features(frame, tmp_path, list(day_rows))
        np.testing.assert_array_equal(got[CARD_FEATURES[0]].to_numpy(),
                                      [12.0, np.nan, 11.0, 1.0])
        assert list(got.columns) == ["transaction_id", *CARD_FEATURES]
