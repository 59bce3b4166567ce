"""The simulator's card layer (issue 15): the handbook's rows are the very same values with
or without cards; what cards add is which card made each transaction and when."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from fraud_assets import contract, simulator
from fraud_assets.cli import app

DAY = dt.date(2025, 3, 4)
FIELDS = ["amount", "hour", "day_of_week", "merchant_category", "is_fraud"]


def day(rows: int = 20_000, **plan) -> pd.DataFrame:
    return simulator.generate_day(simulator.DayPlan(day=DAY, rows=rows, **plan))


def _sorted_fields(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[FIELDS].sort_values(FIELDS, kind="stable").reset_index(drop=True)


def test_without_cards_the_output_is_todays():
    """The hash of this very frame from the simulator before cards existed."""
    frame = simulator.generate_day(simulator.DayPlan(day=DAY, rows=300, seed=1, bad_rate=0.02,
                                                     cards=None))
    assert list(frame.columns) == list(contract.COLUMNS)
    digest = int(pd.util.hash_pandas_object(frame.astype(str), index=True).sum() % 2**63)
    assert digest == 5230559009486185666


def test_cards_keep_every_handbook_field_value_and_legit_times():
    with_cards, without = day(), day(cards=None)
    assert list(with_cards.columns) == ["transaction_id", "card_id", *without.columns[1:]]
    pd.testing.assert_frame_equal(_sorted_fields(with_cards), _sorted_fields(without))
    legit = [w[w["is_fraud"] == 0].sort_values(["event_timestamp", "amount"])[
        ["event_timestamp", *FIELDS]].reset_index(drop=True) for w in (with_cards, without)]
    pd.testing.assert_frame_equal(*legit)
    ts = with_cards["event_timestamp"]
    assert ts.is_monotonic_increasing and (ts.dt.hour == with_cards["hour"]).all()
    assert with_cards["card_id"].str.fullmatch(r"card-\d{7}").all()


def _gaps(frame: pd.DataFrame, label: int) -> pd.Series:
    """Seconds between consecutive transactions of the same card, both of class `label`."""
    rows = frame[frame["is_fraud"] == label].sort_values(["card_id", "event_timestamp"])
    gaps = rows.groupby("card_id")["event_timestamp"].diff().dt.total_seconds()
    return gaps.dropna()


def test_fraud_comes_in_bursts_minutes_apart_and_legit_cards_at_their_own_pace():
    frame = day(50_000)
    fraud, legit = _gaps(frame, 1), _gaps(frame, 0)
    assert 60 < fraud.median() < 600, "a burst's charges are minutes apart"
    assert legit.median() > 3 * 3600, "a card's legitimate charges are hours apart"
    per_card = frame[frame["is_fraud"] == 1].groupby("card_id").size()
    assert 2.5 < per_card.mean() < 6, "bursts of about four charges"
    pool = simulator.card_ids(np.arange(simulator.CARDS.pool_size(len(frame))))
    counts = frame[frame["is_fraud"] == 0]["card_id"].value_counts().reindex(pool, fill_value=0)
    # Poisson counts would have variance = mean; Gamma(2)-mixed ones about twice the mean.
    assert counts.var() > 1.5 * counts.mean(), "rates differ by card (over-dispersed counts)"


def test_a_card_keeps_its_rate_across_days_and_pool_sizes():
    cards = np.arange(1_000)
    rates = simulator.card_rates(simulator.CARDS, 42, cards)
    assert np.array_equal(rates[:10], simulator.card_rates(simulator.CARDS, 42, cards[:10]))
    assert rates.mean() == pytest.approx(simulator.CARDS.legit_rate, rel=0.1)
    today, tomorrow = day(5_000), simulator.generate_day(simulator.DayPlan(
        day=DAY + dt.timedelta(days=1), rows=5_000))
    assert len(set(today["card_id"]) & set(tomorrow["card_id"])) > 1_000


def test_card_testing_runs_small_charges_then_large_ones():
    frame = day(scenario="card_testing")
    fraud = frame[frame["is_fraud"] == 1].sort_values(["card_id", "event_timestamp"])
    hour = fraud["event_timestamp"].dt.floor("h")
    small = fraud["amount"] < 20
    first = fraud.groupby(["card_id", hour])["amount"].transform("first")
    assert (first < 20).mean() > 0.9, "a burst opens with a card test"
    cashed = small.groupby([fraud["card_id"], hour]).transform(
        lambda s: (~s).cumsum().gt(0))  # after the burst's first charge of $20 or more
    # A cash-out is rarely under $5 (0.5%), a test often (97%): tests come first.
    assert (fraud.loc[cashed, "amount"] < 5).mean() < 0.02, "once cashed out, no more tests"
    assert fraud.loc[small, "amount"].median() < 5 < 50 < fraud.loc[~small, "amount"].median()
    assert 0.3 < small.mean() < 0.6
    assert frame.loc[frame["is_fraud"] == 0, "amount"].median() == pytest.approx(
        day(cards=None).query("is_fraud == 0")["amount"].median())


def test_a_burst_across_merchants_changes_category_at_every_charge():
    frame = day(scenario="burst_across_merchants")
    fraud = frame[frame["is_fraud"] == 1].sort_values(["card_id", "event_timestamp"])
    same = fraud.groupby("card_id")["merchant_category"].shift() == fraud["merchant_category"]
    assert same.mean() < 0.02  # a card hit in two hours may repeat one at the seam
    assert _gaps(frame, 1).median() < 120


def test_card_scenarios_need_cards_and_the_cli_says_so(fraud_home):
    with pytest.raises(ValueError, match="card_testing.*needs the card layer"):
        simulator.DayPlan(day=DAY, scenario="card_testing", cards=None)
    runner = CliRunner()
    refused = runner.invoke(app, ["simulate", "--days", "1", "--rows", "50", "--no-cards",
                                  "--scenario", "card_testing"])
    assert refused.exit_code == 2 and "--no-cards" in refused.output
    for flag, has_cards in (("--cards", True), ("--no-cards", False)):
        out = fraud_home / flag
        result = runner.invoke(app, ["simulate", "--days", "1", "--rows", "50", flag,
                                     "--out", str(out)])
        assert result.exit_code == 0, result.output
        [path] = out.iterdir()
        assert ("card_id" in pd.read_csv(path).columns) is has_cards
