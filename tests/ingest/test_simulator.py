"""The simulator reproduces the handbook's class-conditional distributions."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from fraud_assets import contract, simulator

DAY = dt.date(2025, 3, 4)


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return simulator.generate_day(simulator.DayPlan(day=DAY, rows=200_000, seed=7))


def test_fraud_ratio_is_exact(sample):
    assert sample["is_fraud"].sum() == 4_000


@pytest.mark.parametrize(("label", "params"), [(0, simulator.LEGIT_AMOUNT),
                                               (1, simulator.FRAUD_AMOUNT)])
def test_amounts_are_lognormal_per_class(sample, label, params):
    amounts = sample.loc[sample["is_fraud"] == label, "amount"]
    amounts = amounts[(amounts > 0.01) & (amounts < contract.AMOUNT_MAX)]  # clipped tails
    mu, sigma = params
    # K-S against the handbook's lognormal; cents rounding is far below its resolution.
    assert stats.kstest(np.log(amounts), "norm", args=(mu, sigma)).pvalue > 0.001


def test_fraud_hours_are_night_hours_uniformly(sample):
    hours = sample.loc[sample["is_fraud"] == 1, "hour"]
    assert set(hours) == set(simulator.FRAUD_HOURS)
    counts = hours.value_counts().reindex(simulator.FRAUD_HOURS)
    assert stats.chisquare(counts).pvalue > 0.001


def test_legit_hours_are_uniform(sample):
    counts = sample.loc[sample["is_fraud"] == 0, "hour"].value_counts().reindex(range(24))
    assert stats.chisquare(counts).pvalue > 0.001


@pytest.mark.parametrize(("label", "weights"), [(0, simulator.LEGIT_CATEGORY_WEIGHTS),
                                                (1, simulator.FRAUD_CATEGORY_WEIGHTS)])
def test_categories_follow_the_class_weights(sample, label, weights):
    cats = sample.loc[sample["is_fraud"] == label, "merchant_category"]
    observed = cats.value_counts().reindex(contract.MERCHANT_CATEGORIES).to_numpy()
    expected = np.array(weights) * observed.sum()
    assert stats.chisquare(observed, expected).pvalue > 0.001


def test_time_columns_agree_with_the_timestamp(sample):
    ts = sample["event_timestamp"]
    assert (ts.dt.hour == sample["hour"]).all()
    assert (ts.dt.dayofweek == sample["day_of_week"]).all()
    assert (ts.dt.date == DAY).all()
    assert ts.is_monotonic_increasing


def test_days_over_a_month_cover_the_week_uniformly():
    days = [DAY + dt.timedelta(days=i) for i in range(28)]
    dows = [simulator.generate_day(simulator.DayPlan(day=d, rows=10))["day_of_week"].iloc[0]
            for d in days]
    assert sorted(pd.Series(dows).value_counts().tolist()) == [4] * 7


def test_same_seed_same_day_is_reproducible_and_days_differ():
    a = simulator.generate_day(simulator.DayPlan(day=DAY, rows=500))
    b = simulator.generate_day(simulator.DayPlan(day=DAY, rows=500))
    c = simulator.generate_day(simulator.DayPlan(day=DAY + dt.timedelta(days=1), rows=500))
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["amount"], c["amount"])


def test_scenarios_shift_what_they_name():
    base = simulator.generate_day(simulator.DayPlan(day=DAY, rows=20_000))
    doubled = simulator.generate_day(simulator.DayPlan(day=DAY, rows=20_000, scenario="amount_x2"))
    spike = simulator.generate_day(simulator.DayPlan(day=DAY, rows=20_000, scenario="fraud_spike"))
    night = simulator.generate_day(simulator.DayPlan(day=DAY, rows=20_000, scenario="late_night"))
    assert doubled["amount"].median() == pytest.approx(2 * base["amount"].median(), rel=0.05)
    assert spike["is_fraud"].mean() == pytest.approx(0.10)
    assert set(night["hour"]) == set(simulator.LATE_NIGHT_HOURS)


def test_bad_rows_are_injected_at_the_rate_and_each_breaks_the_contract():
    frame = simulator.generate_day(simulator.DayPlan(day=DAY, rows=5_000, bad_rate=0.1))
    as_text = frame.astype("string").astype(object)
    bad = contract.reasons(contract.coerce(as_text), as_text) != ""
    assert bad.sum() == 500
