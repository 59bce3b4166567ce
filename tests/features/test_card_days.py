"""A card day read with per-card summaries for days D-29 .. D-2 (features.card_days):
exactly what the definition gives on the whole 31 days of events, and the summaries are
kept per validated file version."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from fraud_assets.features import card_days
from fraud_assets.features.cards import card_window_features, to_micro
from fraud_assets.features.names import CARD_FEATURES
from tests.support import day_key, validated_day, with_cards, write_validated

ROWS = 300


def _month(home) -> dict[str, pd.DataFrame]:
    """Days 0 .. 30 with cards; cards 0-9 absent on day 0 (D-30) and day 29 (D-1), so their
    previous event and 30-day mean come from the summarised days only."""
    frames = {}
    for i in range(31):
        frame = with_cards(validated_day(day_key(i), ROWS, seed=i), seed=i, cards=40)
        if i in (0, 29):
            gone = frame["card_id"].isin([f"card-{c}" for c in range(10)])
            frame.loc[gone, "card_id"] = pd.NA
        write_validated(home, frame, day_key(i))
        frames[day_key(i)] = frame
    return frames


def test_summarised_days_give_the_definition_on_all_events(fraud_home):
    frames = _month(fraud_home)
    target = day_key(30)
    got = card_days.card_day(fraud_home / "lake", dt.date.fromisoformat(target))
    today = frames[target]
    carded = today[today["card_id"].notna()]
    want = card_window_features(pd.concat(frames.values(), ignore_index=True), carded)
    want.index = carded["transaction_id"].to_numpy()
    rows = got.rows.set_index("transaction_id").loc[want.index, list(CARD_FEATURES)]
    np.testing.assert_array_equal(rows.to_numpy(), want.to_numpy())  # bit for bit
    assert len(got.history_days) == 30
    earlier = pd.concat([frames[day_key(i)] for i in range(30)])
    assert got.history_rows == earlier["card_id"].isin(set(carded["card_id"])).sum()
    # The cards absent from D-30 and D-1 did have earlier events: their values are known.
    quiet = rows[carded.set_index("transaction_id").loc[want.index, "card_id"]
                 .isin([f"card-{c}" for c in range(10)]).to_numpy()]
    assert len(quiet) and quiet["card_seconds_since_prev"].notna().all()
    assert (quiet["card_seconds_since_prev"] > 86_400).any()  # from a summarised day


def _window_by_definition(frames: dict[str, pd.DataFrame], days: range) -> pd.DataFrame:
    """Per card over `days` (positions in `frames`): events, micro-unit amount sum, latest
    event time (ns), from the events themselves."""
    events = pd.concat([frames[day_key(i)] for i in days], ignore_index=True).dropna(
        subset=["card_id"])
    events = events.assign(micro=to_micro(events["amount"].to_numpy()),
                           last_ns=events["event_timestamp"].astype("int64"))
    want = events.groupby("card_id").agg(events=("micro", "size"), micro=("micro", "sum"),
                                         last_ns=("last_ns", "max"))
    return want.sort_index()


def _table(window) -> pd.DataFrame:
    frame = window.to_pandas().set_index("card_id").sort_index()
    frame.index = frame.index.astype(object)
    return frame


def test_the_window_rolls_forward_exactly_and_sums_again_after_a_correction(
        fraud_home, monkeypatch):
    """Day D's per-card sums of D-29 .. D-2 come from D-1's plus D-2 minus D-30, equal to
    the events' own sums; a corrected day inside the window, or a corrected D-30, makes
    the next table be summed again, never rolled from stale numbers."""
    frames = _month(fraud_home)
    lake_dir = fraud_home / "lake"
    d29, d30 = (dt.date.fromisoformat(day_key(i)) for i in (29, 30))
    card_days.card_day(lake_dir, d29)
    summarised = []
    day_summaries = card_days.day_summaries
    monkeypatch.setattr(card_days, "day_summaries",
                        lambda lake, day: summarised.append(day) or day_summaries(lake, day))
    got = card_days.card_day(lake_dir, d30)
    assert sorted(summarised) == [day_key(0), day_key(28)]  # rolled: added and dropped only
    pd.testing.assert_frame_equal(_table(card_days.window_sums(lake_dir, d30)),
                                  _window_by_definition(frames, range(1, 29)),
                                  check_dtype=False, check_index_type=False)
    today = frames[day_key(30)]
    carded = today[today["card_id"].notna()]
    want = card_window_features(pd.concat(frames.values(), ignore_index=True), carded)
    rows = got.rows.set_index("transaction_id").loc[carded["transaction_id"], list(CARD_FEATURES)]
    np.testing.assert_array_equal(rows.to_numpy(), want.to_numpy())

    for corrected in (0, 10):  # D-30 (only in D-1's window); inside both
        frames[day_key(corrected)] = frames[day_key(corrected)].iloc[: ROWS // 2]
        write_validated(fraud_home, frames[day_key(corrected)], day_key(corrected))
        card_days.window_path(lake_dir, d30).unlink()
        summarised.clear()
        window = card_days.window_sums(lake_dir, d30)
        assert len(summarised) == 28  # summed again from every summarised day
        pd.testing.assert_frame_equal(_table(window), _window_by_definition(frames, range(1, 29)),
                                      check_dtype=False, check_index_type=False)
    assert sorted(p.stem for p in card_days.window_path(lake_dir, d30).parent.glob("*.parquet")
                  ) == [day_key(29), day_key(30)]


def test_summaries_are_cached_per_file_version(fraud_home):
    frames = _month(fraud_home)
    lake_dir = fraud_home / "lake"
    first = card_days.day_summaries(lake_dir, day_key(5))
    day5 = frames[day_key(5)]
    assert first.num_rows == day5["card_id"].nunique()
    assert sum(first.column("events").to_pylist()) == day5["card_id"].notna().sum()
    path = card_days.summary_path(lake_dir, day_key(5))
    stamp = path.stat().st_mtime_ns
    assert card_days.day_summaries(lake_dir, day_key(5)).equals(first)
    assert path.stat().st_mtime_ns == stamp  # read, not recomputed
    # A corrected day (rewritten file) is summarised again.
    write_validated(fraud_home, day5.iloc[:100], day_key(5))
    again = card_days.day_summaries(lake_dir, day_key(5))
    assert sum(again.column("events").to_pylist()) == day5.iloc[:100]["card_id"].notna().sum()


def test_an_event_off_its_day_is_refused_naming_the_file(fraud_home):
    frame = with_cards(validated_day(day_key(3), ROWS), seed=1)
    frame.loc[0, "event_timestamp"] = pd.Timestamp(day_key(4), tz="UTC")
    write_validated(fraud_home, frame, day_key(3))
    with pytest.raises(ValueError, match=rf"{day_key(3)}\.parquet: event_timestamp outside"):
        card_days.day_summaries(fraud_home / "lake", day_key(3))


def test_card_ids_are_each_transactions_own_card(fraud_home):
    """The gate's card ids: each transaction's validated card, NA without one (no card,
    an unknown id, a day written before cards), the last copy of an id stored twice."""
    lake_dir = fraud_home / "lake"
    days = {}
    for i in range(3):
        frame = with_cards(validated_day(day_key(i), ROWS, seed=i), seed=i, cards=40)
        frame.loc[frame.index[:5], "card_id"] = pd.NA
        days[day_key(i)] = frame
    days[day_key(2)].loc[days[day_key(2)].index[-1], "transaction_id"] = (
        days[day_key(1)]["transaction_id"].iloc[-1])  # stored again on a later day
    days[day_key(2)].loc[days[day_key(2)].index[-1], "card_id"] = "card-moved"
    for key, frame in days.items():
        write_validated(fraud_home, frame, key)
    old = validated_day(day_key(3), 20, seed=3)  # written before cards: no column
    write_validated(fraud_home, old, day_key(3))
    every = pd.concat([*days.values(), old], ignore_index=True)
    asked = pd.concat([every["transaction_id"], pd.Series(["no-such-id"])], ignore_index=True)
    asked.index = asked.index + 1000  # the answer keeps the question's index
    got = card_days.card_ids(lake_dir, asked, [day_key(i) for i in range(4)])
    assert got.index.equals(asked.index)
    want = every.drop_duplicates("transaction_id", keep="last").set_index("transaction_id")
    want = want["card_id"] if "card_id" in want else None
    expected = [want.get(t, pd.NA) for t in asked]
    assert [None if pd.isna(v) else v for v in got] == [
        None if pd.isna(v) else v for v in expected]
    assert got.iloc[-1] is pd.NA and got.isna().any() and got.notna().sum() > 2 * ROWS
    moved = days[day_key(1)]["transaction_id"].iloc[-1]
    assert list(got[(asked == moved).to_numpy()]) == ["card-moved", "card-moved"]
