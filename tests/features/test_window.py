"""The training window out of core: the engine's point-in-time join is Feast's, and the
sampling keeps every fraud row and a weighted uniform share of the legitimate ones."""

import functools

import numpy as np
import pandas as pd
import pytest

from fraud_assets import lake
from fraud_assets.features import daily_sums, training
from fraud_assets.features.engine import DuckDBEngine
from fraud_assets.features.names import FEATURES, HOLDOUT, TRAIN, WEIGHT
from fraud_assets.features.store import MerchantFeatureStore
from tests.support import build_store, days, read_validated, validated_day, write_validated

N_DAYS = 5


@pytest.fixture
def store(fraud_home) -> MerchantFeatureStore:
    return build_store(fraud_home, N_DAYS)


def _window(home, store, **kwargs) -> training.TrainingSet:
    keys = [d.isoformat() for d in days(N_DAYS)]
    return training.build_window_training_set(
        keys, home / "lake", store.feast_dir,
        functools.partial(DuckDBEngine, spill_dir=home / "engine"), home / "engine" / "work",
        **kwargs)


def test_the_engine_join_is_feasts_point_in_time_join(fraud_home, store):
    # A row exactly at midnight and one a second before it: the edges of the ttl and of
    # "at or before the transaction".
    day = days(N_DAYS)[3]
    frame = validated_day(day, 400)
    midnight = pd.Timestamp(day, tz="UTC")
    frame.loc[0, "event_timestamp"] = midnight
    frame.loc[1, "event_timestamp"] = midnight + pd.Timedelta(hours=24) - pd.Timedelta(seconds=1)
    write_validated(fraud_home, frame, day)
    validated = read_validated(fraud_home)
    keys = validated[["merchant_category", "event_timestamp"]].drop_duplicates()
    keys["merchant_category"] = keys["merchant_category"].astype(str)
    feast = store.historical(keys)  # Feast's own point-in-time join (file offline store)
    feast["merchant_category"] = feast["merchant_category"].astype(str)
    expected = validated.assign(merchant_category=validated["merchant_category"].astype(str))
    expected = expected.merge(feast, on=["merchant_category", "event_timestamp"], how="left")
    expected = expected.dropna(subset=list(FEATURES)).set_index("transaction_id")
    ours = _window(fraud_home, store, holdout_days=1, legit_sample_rows=0)
    assert ours.rows_without_history == len(validated) - len(expected) == 400
    got = ours.frame.set_index("transaction_id")
    assert sorted(got.index) == sorted(expected.index)
    for name in FEATURES:
        np.testing.assert_allclose(got[name], expected.loc[got.index, name], rtol=1e-12)
    assert ours.sampling.rate == 1.0 and (ours.frame[WEIGHT] == 1.0).all()
    # The in-memory path (monitoring's scoring) runs the same join.
    pd.testing.assert_frame_equal(
        training.build_training_set(validated, store, holdout_days=1).frame, ours.frame,
        check_dtype=False)


def test_training_rows_are_sampled_with_weights_and_the_holdout_is_whole(fraud_home, store):
    full = _window(fraud_home, store, holdout_days=1, legit_sample_rows=0)
    sampled = _window(fraud_home, store, holdout_days=1, legit_sample_rows=300)
    split = sampled.frame["split"]
    pd.testing.assert_frame_equal(sampled.frame[split == HOLDOUT].reset_index(drop=True),
                                  full.frame[full.frame["split"] == HOLDOUT]
                                  .reset_index(drop=True))
    train, full_train = sampled.frame[split == TRAIN], full.frame[full.frame["split"] == TRAIN]
    assert train["is_fraud"].sum() == full_train["is_fraud"].sum()  # every fraud row
    assert (train.loc[train["is_fraud"] == 1, WEIGHT] == 1.0).all()
    legit = train[train["is_fraud"] == 0]
    s = sampled.sampling
    assert s.legit_train_rows == (full_train["is_fraud"] == 0).sum()
    assert s.rate == pytest.approx(300 / s.legit_train_rows, rel=1e-6)
    assert np.allclose(legit[WEIGHT], 1 / s.rate)
    # Uniform: about the rate, and the weighted count stands for the whole.
    assert abs(len(legit) - 300) < 4 * np.sqrt(300)
    assert legit[WEIGHT].sum() == pytest.approx(s.legit_train_rows, rel=0.25)
    assert set(legit["transaction_id"]) <= set(full_train["transaction_id"])


def test_the_engine_is_closed_before_the_rows_are_read_back(fraud_home, store, monkeypatch):
    """Its buffers (up to its memory limit) are not held beside the read rows; the rows are
    the same as with an engine kept open."""
    events = []

    class Recording(DuckDBEngine):
        def close(self) -> None:
            events.append("engine closed")
            super().close()

    def reading(target, read=training._read_sorted):
        events.append("rows read")
        return read(target)

    monkeypatch.setattr(training, "_read_sorted", reading)
    keys = [d.isoformat() for d in days(N_DAYS)]
    built = training.build_window_training_set(
        keys, fraud_home / "lake", store.feast_dir,
        functools.partial(Recording, spill_dir=fraud_home / "engine"),
        fraud_home / "engine" / "work", holdout_days=1)
    assert events == ["engine closed", "rows read"]
    assert len(built.frame) and built.frame["event_timestamp"].is_monotonic_increasing


def test_a_corrected_day_is_reduced_again_and_an_unchanged_one_is_not(fraud_home, store):
    root = fraud_home / "lake"
    keys = [d.isoformat() for d in days(N_DAYS)]
    opened = []

    def engine():
        opened.append(1)
        return DuckDBEngine(spill_dir=fraud_home / "engine")

    first = daily_sums.window_sums(keys, root, engine)
    assert daily_sums.window_sums(keys, root, engine).equals(first) and len(opened) == 1
    write_validated(fraud_home, validated_day(days(N_DAYS)[2], 50, seed=9), days(N_DAYS)[2])
    again = daily_sums.window_sums(keys, root, engine)
    assert len(opened) == 2
    day = again[again["day"] == keys[2]]
    assert day["txn_count"].sum() == 50
    pd.testing.assert_frame_equal(again[again["day"] != keys[2]].reset_index(drop=True),
                                  first[first["day"] != keys[2]].reset_index(drop=True))


def test_days_without_features_or_a_window_too_short_are_refused(fraud_home):
    write_validated(fraud_home, validated_day(days(1)[0], 100), days(1)[0])
    store = MerchantFeatureStore(fraud_home)
    with pytest.raises(training.TrainingSetError, match="no merchant feature rows"):
        _window(fraud_home, store)
    assert lake.stored_partitions("transactions_validated", fraud_home / "lake") == [
        days(1)[0].isoformat()]


def test_days_with_and_without_card_ids_are_read_as_one_view(fraud_home):
    """A lake whose older days landed without the optional card_id column (issue 15)."""
    import pandas as pd

    from fraud_assets import lake
    from fraud_assets.features.engine import DuckDBEngine

    old = pd.DataFrame({"transaction_id": ["a"], "amount": [1.0]})
    new = pd.DataFrame({"transaction_id": ["b"], "card_id": ["card-1"], "amount": [2.0]})
    files = {}
    for day, frame in (("2025-01-01", old), ("2025-01-02", new)):
        files[day] = fraud_home / f"{day}.parquet"
        lake.write_frame(frame, files[day])
    with DuckDBEngine(spill_dir=fraud_home / "engine") as engine:
        engine.register("t", files)
        got = engine.frame("SELECT transaction_id, card_id, amount FROM t ORDER BY 1")
    assert got["card_id"].tolist()[1] == "card-1" and pd.isna(got["card_id"].iloc[0])
    assert got["amount"].tolist() == [1.0, 2.0]


def test_a_query_over_the_engines_memory_limit_names_the_setting(tmp_path):
    """DuckDB's own out-of-memory error (a result that cannot spill: one huge string) comes
    out as an EngineError naming FRAUD_ENGINE_MEMORY; a write leaves no file behind."""
    from fraud_assets.features.engine import EngineError

    too_big = "SELECT string_agg(i::VARCHAR, ',') AS s FROM range(20000000) t(i)"
    with DuckDBEngine(memory="32MB", spill_dir=tmp_path / "spill", threads=1) as engine:
        with pytest.raises(EngineError, match=r"memory limit 32MB \(\$FRAUD_ENGINE_MEMORY\)"):
            engine.frame(too_big)
        with pytest.raises(EngineError, match="FRAUD_ENGINE_MEMORY="):
            engine.write(too_big, tmp_path / "out.parquet")
        assert not list(tmp_path.glob("*out.parquet*"))
        assert engine.frame("SELECT 1 AS one")["one"].tolist() == [1]  # still usable
