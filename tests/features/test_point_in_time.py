"""Training rows see only feature rows built from days strictly before their own day."""

import datetime as dt

import pandas as pd
import pytest

from fraud_assets.features import aggregates, training
from fraud_assets.features.names import FEATURES
from fraud_assets.features.store import MerchantFeatureStore
from tests.support import (
    build_store,
    compute_features,
    days,
    read_validated,
    validated_day,
    write_validated,
)

N_DAYS = 5


@pytest.fixture
def store(fraud_home) -> MerchantFeatureStore:
    return build_store(fraud_home, N_DAYS)


def _training(home, store, holdout_days=1) -> training.TrainingSet:
    return training.build_training_set(read_validated(home), store, holdout_days)


def test_each_row_gets_the_aggregates_of_the_days_before_its_own(fraud_home, store):
    result = _training(fraud_home, store)
    history = read_validated(fraud_home)
    frame = result.frame
    for day in days(N_DAYS)[1:]:
        rows = frame[frame["event_timestamp"].dt.date == day]
        expected = aggregates.merchant_stats(history, day).set_index("merchant_category")
        got = rows.astype({"merchant_category": str}).set_index("merchant_category")
        got = got[list(FEATURES)].drop_duplicates().sort_index()
        assert got.index.is_unique  # one vector per category and day
        pd.testing.assert_frame_equal(got, expected.loc[got.index, list(FEATURES)])


def test_every_transaction_is_kept_except_the_first_day_without_history(fraud_home, store):
    result = _training(fraud_home, store)
    validated = read_validated(fraud_home)
    first_day = validated["event_timestamp"].dt.date == days(1)[0]
    assert result.rows_without_history == int(first_day.sum())
    assert sorted(result.frame["transaction_id"]) == sorted(
        validated.loc[~first_day, "transaction_id"])
    assert result.frame["event_timestamp"].is_monotonic_increasing


def _features_by_day(frame: pd.DataFrame) -> pd.DataFrame:
    """The feature vector each (day, category) got: one row per pair."""
    day = frame["event_timestamp"].dt.date.rename("day")
    category = frame["merchant_category"].astype(str)
    return frame.groupby([day, category])[list(FEATURES)].agg(["min", "max"])


def test_changing_a_later_day_leaves_earlier_rows_unchanged(fraud_home, store):
    before = _training(fraud_home, store).frame
    changed = days(N_DAYS)[2]  # rewrite day 3 (more fraud, other amounts), recompute all days
    write_validated(fraud_home, validated_day(changed, 400, scenario="fraud_spike", seed=7),
                   changed)
    compute_features(fraud_home, store, days(N_DAYS))
    after = _training(fraud_home, store).frame

    earlier = lambda f: f[f["event_timestamp"].dt.date < changed]  # noqa: E731
    pd.testing.assert_frame_equal(earlier(before), earlier(after))
    by_day_before, by_day_after = _features_by_day(before), _features_by_day(after)
    upto = lambda f: f[f.index.get_level_values("day") <= changed]  # noqa: E731
    pd.testing.assert_frame_equal(upto(by_day_before), upto(by_day_after))  # day 3 included
    later = lambda f: f[f.index.get_level_values("day") > changed]  # noqa: E731
    assert not later(by_day_before).equals(later(by_day_after))


def test_a_day_is_never_visible_at_its_own_time_or_earlier(fraud_home, store):
    """Feature rows built with day D's data carry D+1 00:00: probe just before and at it."""
    day = days(N_DAYS)[2]
    next_midnight = pd.Timestamp(day + dt.timedelta(days=1), tz="UTC")
    probe = pd.DataFrame({"merchant_category": ["online", "online"],
                          "event_timestamp": [next_midnight - pd.Timedelta(seconds=1),
                                              next_midnight]})
    got = store.historical(probe).sort_values("event_timestamp").reset_index(drop=True)
    history = read_validated(fraud_home)
    without_d = aggregates.merchant_stats(history, day).set_index("merchant_category")
    with_d = aggregates.merchant_stats(history, day + dt.timedelta(days=1)).set_index(
        "merchant_category")
    for name in FEATURES:
        assert got.loc[0, name] == without_d.loc["online", name]
        assert got.loc[1, name] == with_d.loc["online", name]
    assert with_d.loc["online", "merchant_avg_amount"] != without_d.loc["online",
                                                                          "merchant_avg_amount"]


def test_holdout_is_the_last_days():
    stamps = pd.Series(pd.to_datetime(["2025-01-01T05:00Z", "2025-01-02T05:00Z",
                                       "2025-01-03T05:00Z", "2025-01-03T23:00Z"]))
    assert list(training.split_by_day(stamps, 2)) == ["train", "holdout", "holdout", "holdout"]
    assert list(training.split_by_day(stamps, 0)) == ["train"] * 4
    with pytest.raises(training.TrainingSetError, match="holdout_days=3"):
        training.split_by_day(stamps, 3)
    assert training.select_days(["2025-01-03", "2025-01-01", "2025-01-02"], 2) == [
        "2025-01-02", "2025-01-03"]


def test_the_default_holdout_adapts_to_short_histories():
    # A fifth of the days with features, at least one, and always one training day.
    assert [training.default_holdout_days(n) for n in (2, 3, 5, 8, 15, 29)] == [
        1, 1, 1, 2, 3, 6]
    with pytest.raises(training.TrainingSetError, match="need at least 2"):
        training.default_holdout_days(1)
    days = pd.Series(["2025-01-02", "2025-01-02", "2025-01-03"])
    assert list(training.split_by_day(days, None)) == ["train", "train", "holdout"]


def test_three_landed_days_give_a_training_day_and_a_holdout_day(fraud_home):
    """The first landed day has no features; the split is made among the days that have."""
    store = build_store(fraud_home, 3)
    frame = training.build_training_set(read_validated(fraud_home), store).frame
    by_split = frame.groupby("split")["event_timestamp"].agg(lambda t: t.dt.date.nunique())
    assert by_split.to_dict() == {"holdout": 1, "train": 1}


def test_the_holdout_is_defined_by_landed_partition_days():
    """A stray far-future timestamp cannot take a holdout day: the partition day decides."""
    days = pd.Series(["2025-01-01", "2025-01-01", "2025-01-02", "2025-01-03"])
    assert list(training.split_by_day(days, 1)) == ["train", "train", "train", "holdout"]
    stamps = pd.Series(pd.to_datetime(["2025-01-01T05:00Z", "2099-01-01T00:00Z",
                                       "2025-01-02T05:00Z", "2025-01-03T05:00Z"]))
    assert list(training.split_by_day(stamps, 1)) == ["train", "holdout", "train", "train"], (
        "by timestamps the 2099 row would be the holdout: why partition days are used")


def test_timestamps_are_split_by_their_utc_day_in_any_zone():
    """00:30 at +02:00 on the 3rd is the 2nd in UTC: a training row, not a holdout one."""
    stamps = pd.Series(pd.to_datetime(["2025-01-01T05:00Z", "2025-01-02T05:00Z",
                                       "2025-01-03T05:00Z"], utc=True).append(
        pd.DatetimeIndex([pd.Timestamp("2025-01-03T00:30+02:00")]).tz_convert("UTC")))
    local = stamps.dt.tz_convert("Asia/Tokyo")
    assert list(training.split_by_day(local, 1)) == ["train", "train", "holdout", "train"]
