"""Merchant aggregates: trailing window of earlier days only, every category, exact values."""

import datetime as dt

import pandas as pd
import pytest

from fraud_assets import contract
from fraud_assets.features import aggregates
from fraud_assets.features.names import ALL_MERCHANTS, ENTITY, FEATURES
from fraud_assets.features.schema import FEATURE_DTYPES
from tests.support import days, validated_day

DAY = dt.date(2025, 1, 10)


def _history(n_days: int = 5, first: dt.date = DAY - dt.timedelta(days=5)) -> pd.DataFrame:
    return pd.concat([validated_day(d, 300) for d in days(n_days, first)], ignore_index=True)


def test_window_is_the_days_strictly_before():
    assert aggregates.window_days(DAY, 3) == ["2025-01-07", "2025-01-08", "2025-01-09"]
    with pytest.raises(ValueError, match="at least 1 day"):
        aggregates.window_days(DAY, 0)


def test_rows_ignore_the_day_itself_and_later_days():
    past = _history()
    future = pd.concat([validated_day(DAY, 300, scenario="fraud_spike"),
                        validated_day(DAY + dt.timedelta(days=1), 300, scenario="amount_x2")])
    alone = aggregates.merchant_stats(past, DAY)
    with_future = aggregates.merchant_stats(pd.concat([past, future]), DAY)
    pd.testing.assert_frame_equal(alone, with_future)
    assert (alone["event_timestamp"] == pd.Timestamp(DAY, tz="UTC")).all()


def test_values_are_the_window_aggregates():
    past = _history()
    rows = aggregates.merchant_stats(past, DAY, window=2).set_index(ENTITY)
    recent = past[past["event_timestamp"] >= pd.Timestamp(DAY - dt.timedelta(days=2), tz="UTC")]
    for category, group in recent.groupby("merchant_category"):
        assert rows.loc[category, "merchant_txn_per_day"] == pytest.approx(len(group) / 2)
        assert rows.loc[category, "merchant_avg_amount"] == pytest.approx(group["amount"].mean())
        assert rows.loc[category, "merchant_fraud_rate"] == pytest.approx(group["is_fraud"].mean())
    assert rows.loc[ALL_MERCHANTS, "merchant_txn_per_day"] == pytest.approx(len(recent) / 2)
    assert rows.loc[ALL_MERCHANTS, "merchant_fraud_rate"] == pytest.approx(
        recent["is_fraud"].mean())


def test_a_category_without_transactions_gets_volume_zero_and_the_all_merchant_values():
    past = _history()
    past = past[past["merchant_category"] != "travel"]
    rows = aggregates.merchant_stats(past, DAY).set_index(ENTITY)
    assert set(rows.index) == {*contract.MERCHANT_CATEGORIES, ALL_MERCHANTS}
    assert rows.loc["travel", "merchant_txn_per_day"] == 0
    for name in ("merchant_avg_amount", "merchant_fraud_rate"):
        assert rows.loc["travel", name] == rows.loc[ALL_MERCHANTS, name]


def test_no_history_gives_no_rows_with_the_right_dtypes():
    rows = aggregates.merchant_stats(_history(), DAY - dt.timedelta(days=5))
    assert rows.empty
    assert list(rows.columns) == [ENTITY, "event_timestamp", *FEATURES]
    assert {n: str(rows[n].dtype) for n in FEATURES} == FEATURE_DTYPES


def test_features_do_not_depend_on_how_many_days_of_the_window_are_present():
    """Issue 11: a history still ramping up, or with missing days, gives the same features
    as the full window when every present day is alike (the same day's rows re-dated)."""
    one_day = validated_day(DAY - dt.timedelta(days=1), 2000, seed=3)

    def dated(back: int) -> pd.DataFrame:
        return one_day.assign(event_timestamp=one_day["event_timestamp"]
                              - pd.Timedelta(days=back - 1))

    full = pd.concat([dated(back) for back in range(1, 29)], ignore_index=True)
    gappy = pd.concat([dated(back) for back in (1, 2, 5, 9, 20)], ignore_index=True)
    short = dated(1)
    expected = aggregates.merchant_stats(full, DAY)
    for history in (gappy, short):
        pd.testing.assert_frame_equal(aggregates.merchant_stats(history, DAY), expected)
    volume = expected.set_index(ENTITY).loc[ALL_MERCHANTS, "merchant_txn_per_day"]
    assert volume == len(one_day)  # transactions per day present, not per window


def test_sums_per_day_and_window_agree_with_the_rows_in_memory():
    past = _history()
    sums = pd.concat([aggregates.day_sums(rows, d) for d, rows in
                      past.groupby(past["event_timestamp"].dt.strftime("%Y-%m-%d"))])
    pd.testing.assert_frame_equal(aggregates.window_stats(sums, DAY),
                                  aggregates.merchant_stats(past, DAY))
    later = sums.assign(day=(DAY + dt.timedelta(days=1)).isoformat())  # never in the window
    pd.testing.assert_frame_equal(
        aggregates.window_stats(pd.concat([sums, later]), DAY), aggregates.window_stats(sums, DAY))
