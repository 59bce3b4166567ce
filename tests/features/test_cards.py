"""The one card feature definition against a brute-force per-row computation."""

import numpy as np
import pandas as pd
import pytest

from fraud_assets.features.cards import AMOUNT_SCALE, card_window_features
from fraud_assets.features.names import CARD_FEATURES

START = pd.Timestamp("2025-01-01", tz="UTC")
CATEGORIES = ("grocery", "restaurant", "retail", "online", "travel")
WIDTHS = {"10m": pd.Timedelta(minutes=10), "1h": pd.Timedelta(hours=1),
          "24h": pd.Timedelta(hours=24)}


def _events(rng: np.random.Generator, n: int, cards: int = 12) -> pd.DataFrame:
    """Random events over 40 days, on a coarse time grid (minutes) so ties and exact window
    edges occur often; some card-less and blank-card rows."""
    # Most in the last 3 hours of day 40 (dense: 10-minute windows fill, ties are common),
    # the rest spread over 40 days (the 24 h and 30 day windows and their edges).
    dense = rng.random(n) < 0.7
    minutes = np.where(dense, rng.integers(40 * 24 * 60 - 180, 40 * 24 * 60, n),
                       rng.integers(0, 40 * 24 * 60, n))
    card = np.array([f"c{c}" for c in rng.integers(0, cards, n)], dtype=object)
    card[rng.random(n) < 0.05] = None
    card[rng.random(n) < 0.02] = "  "
    return pd.DataFrame({
        "card_id": card,
        "event_timestamp": START + pd.to_timedelta(minutes, unit="min"),
        "amount": np.round(rng.uniform(0.5, 900.0, n), 2),
        "merchant_category": rng.choice(CATEGORIES, n),
    })


def _brute_force(history: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """Each row on its own, straight from the definition (window t - w <= e < t)."""
    out = []
    for _, row in rows.iterrows():
        card = row["card_id"]
        if card is None or not str(card).strip():
            out.append({name: np.nan for name in CARD_FEATURES})
            continue
        t = row["event_timestamp"]
        mine = history[(history["card_id"] == card) & (history["event_timestamp"] < t)]
        values = {}
        for w, width in WIDTHS.items():
            inside = mine[mine["event_timestamp"] >= t - width]
            values[f"card_txn_count_{w}"] = len(inside)
            values[f"card_amount_sum_{w}"] = inside["amount"].sum()
        values["card_seconds_since_prev"] = (
            (t - mine["event_timestamp"].max()).total_seconds() if len(mine) else np.nan)
        day = mine[mine["event_timestamp"] >= t - WIDTHS["24h"]]
        values["card_distinct_categories_24h"] = day["merchant_category"].nunique()
        month = mine[mine["event_timestamp"] >= t - pd.Timedelta(days=30)]
        values["card_amount_to_mean_30d"] = (
            row["amount"] / month["amount"].mean() if len(month) else np.nan)
        out.append(values)
    return pd.DataFrame(out, index=rows.index, columns=list(CARD_FEATURES), dtype="float64")


def _assert_equal(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert list(got.columns) == list(CARD_FEATURES)
    assert got.index.equals(want.index)
    pd.testing.assert_frame_equal(got, want, rtol=1e-9, atol=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_brute_force_on_random_data(seed):
    rng = np.random.default_rng(seed)
    history = _events(rng, 3000)
    # Rows: some of history itself (never in their own window), some new, shuffled, with
    # a non-default index; out of order on purpose.
    rows = pd.concat([history.sample(250, random_state=seed), _events(rng, 250, cards=15)])
    rows.index = rng.permutation(np.arange(1000, 1000 + len(rows)))
    history = history.sample(frac=1.0, random_state=seed + 7)  # out of order
    got = card_window_features(history, rows)
    want = _brute_force(history, rows)
    # The data exercises what it should: filled short windows, ties, unknowns.
    assert (want["card_txn_count_10m"] > 1).mean() > 0.3
    assert history.duplicated(["card_id", "event_timestamp"]).sum() > 50
    assert want["card_seconds_since_prev"].isna().sum() > 10
    _assert_equal(got, want)


@pytest.mark.parametrize("offset", [pd.Timedelta(milliseconds=1), pd.Timedelta(microseconds=1),
                                    pd.Timedelta(nanoseconds=1)])
def test_times_off_the_whole_second_give_the_same_features(offset):
    """Keys count whole seconds when they can (no sort of every time); times off the
    second (ms, µs, ns: a coarser unit, or the dense ranks) give the same values, shifted
    together or with one row and one event apart by a single unit."""
    rng = np.random.default_rng(5)
    history = _events(rng, 2000)
    rows = history.sample(300, random_state=5)
    want = card_window_features(history, rows)
    shifted = card_window_features(history.assign(event_timestamp=history["event_timestamp"]
                                                  + offset),
                                   rows.assign(event_timestamp=rows["event_timestamp"] + offset))
    _assert_equal(shifted, want)
    # One event one unit before a row's 10-minute edge, another one unit after it (and
    # the earliest time a whole second: keys truncated to seconds would merge the edge).
    row = rows.iloc[[0]].assign(card_id="edge",
                                event_timestamp=START + pd.Timedelta(days=3) + offset)
    near = row.assign(event_timestamp=row["event_timestamp"] - WIDTHS["10m"] - offset)
    inside = near.assign(event_timestamp=near["event_timestamp"] + 2 * offset)
    early = row.assign(event_timestamp=START - pd.Timedelta(days=60))  # in no window
    got = card_window_features(pd.concat([history, near, inside, early]), row)
    assert got["card_txn_count_10m"].iloc[0] == 1
    assert got["card_txn_count_1h"].iloc[0] == 2


def test_edges_ties_and_unknowns():
    t = START + pd.Timedelta(days=31)
    history = pd.DataFrame({
        "card_id": ["a", "a", "a", "a", "a", "b"],
        "event_timestamp": [t - pd.Timedelta(minutes=10),  # exactly 10 min: inside
                            t - pd.Timedelta(minutes=10, seconds=1),  # just outside 10m
                            t,  # same instant: not before
                            t - pd.Timedelta(days=30),  # exactly 30 days: inside
                            t + pd.Timedelta(seconds=1),  # after: never
                            t - pd.Timedelta(seconds=5)],
        "amount": [10.0, 20.0, 1000.0, 30.0, 5000.0, 1.0],
        "merchant_category": ["grocery", "online", "online", "travel", "retail", "grocery"],
    })
    rows = pd.DataFrame({
        "card_id": ["a", None, "", "new", "a"],
        "event_timestamp": [t, t, t, t, t - pd.Timedelta(days=30)],
        "amount": [60.0, 5.0, 5.0, 5.0, 5.0],
        "merchant_category": ["grocery"] * 5,
    }, index=["on_edge", "no_card", "blank", "new_card", "first"])
    got = card_window_features(history, rows)
    a = got.loc["on_edge"]
    assert a["card_txn_count_10m"] == 1 and a["card_amount_sum_10m"] == 10.0
    assert a["card_txn_count_1h"] == 2 and a["card_amount_sum_1h"] == 30.0
    assert a["card_txn_count_24h"] == 2 and a["card_distinct_categories_24h"] == 2
    assert a["card_seconds_since_prev"] == 600.0
    assert a["card_amount_to_mean_30d"] == pytest.approx(60.0 / 20.0)
    assert got.loc[["no_card", "blank"]].isna().all().all()
    new = got.loc["new_card"]  # a known card that did nothing: 0 counts, unknown gaps
    assert (new[[c for c in CARD_FEATURES if "count" in c or "sum" in c]] == 0).all()
    assert new["card_distinct_categories_24h"] == 0
    assert np.isnan(new["card_seconds_since_prev"])
    assert np.isnan(new["card_amount_to_mean_30d"])
    first = got.loc["first"]  # the event at its own instant is not before it
    assert first["card_txn_count_24h"] == 0 and np.isnan(first["card_seconds_since_prev"])


def test_values_do_not_depend_on_other_history():
    """Parity: one card's rows against its own events only (the online state) give the
    same bits as against everyone's events over a longer span (the offline asset)."""
    rng = np.random.default_rng(5)
    history = _events(rng, 5000, cards=30)
    rows = history[history["card_id"] == "c3"].tail(40)
    t0 = rows["event_timestamp"].min() - pd.Timedelta(days=30)
    own = history[(history["card_id"] == "c3") & (history["event_timestamp"] >= t0)]
    pd.testing.assert_frame_equal(card_window_features(history, rows),
                                  card_window_features(own.iloc[::-1], rows), check_exact=True)


@pytest.mark.parametrize("seed", [0, 3])
def test_rows_as_events_are_the_rows_concatenated_into_history(seed):
    """`rows_are_events` gives the bits of passing the rows in history too: card-less and
    blank-card rows, ties, categories as categoricals on one side, a non-default index."""
    rng = np.random.default_rng(seed)
    history = _events(rng, 2000)
    rows = _events(rng, 600, cards=15)
    rows.index = rng.permutation(np.arange(5000, 5000 + len(rows)))
    rows = rows.astype({"merchant_category": "category"})
    want = card_window_features(pd.concat([history, rows], ignore_index=True), rows)
    got = card_window_features(history, rows, rows_are_events=True)
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert (got["card_txn_count_24h"] > 0).sum() > len(rows) // 2  # rows did count
    alone = card_window_features(history.iloc[:0], rows, rows_are_events=True)
    pd.testing.assert_frame_equal(alone, card_window_features(rows, rows), check_exact=True)


def test_sums_are_rounded_to_the_amount_scale():
    history = pd.DataFrame({"card_id": ["a"], "event_timestamp": [START],
                            "amount": [0.1234567], "merchant_category": ["grocery"]})
    rows = history.assign(event_timestamp=START + pd.Timedelta(minutes=1))
    got = card_window_features(history, rows)
    assert got.iloc[0]["card_amount_sum_10m"] == round(0.1234567 * AMOUNT_SCALE) / AMOUNT_SCALE


def test_empty_history_and_empty_rows():
    empty = _events(np.random.default_rng(0), 0)
    rows = _events(np.random.default_rng(1), 20)
    got = card_window_features(empty, rows)
    assert (got.loc[rows["card_id"].str.strip().fillna("") != "", "card_txn_count_24h"] == 0).all()
    assert card_window_features(rows, empty).empty


def test_bad_input_names_the_frame_and_column():
    rows = _events(np.random.default_rng(0), 5)
    with pytest.raises(ValueError, match="rows: missing column.*merchant_category"):
        card_window_features(rows, rows.drop(columns="merchant_category"))
    broken = rows.astype({"event_timestamp": object})
    broken.loc[2, "event_timestamp"] = None
    with pytest.raises(ValueError, match="history: event_timestamp has 1 missing"):
        card_window_features(broken, rows)
    with pytest.raises(ValueError, match="rows: card_id must be text"):
        card_window_features(rows, rows.assign(card_id=7))
