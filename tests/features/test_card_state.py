"""The service's per-card state through a real Feast online store (SQLite locally; Redis
with PostgreSQL's registry under the server profile, `-m server`): the same numbers as the
offline definition, out-of-order events inserted in time order, state shared by every store
object on the same home (another replica)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fraud_assets.features import cards
from fraud_assets.features.card_state import CardState
from fraud_assets.features.names import CARD_FEATURES
from fraud_assets.features.store import MerchantFeatureStore

T0 = pd.Timestamp("2025-01-01T00:00:00Z")


def events(n: int, seed: int = 0, cards_: tuple[str, ...] = ("c1", "c2")) -> pd.DataFrame:
    """`n` events of a few cards within two days, in time order."""
    rng = np.random.default_rng(seed)
    offsets = np.sort(rng.uniform(0, 2 * 86_400, n)).round(3)
    return pd.DataFrame({
        "card_id": rng.choice(list(cards_), n),
        "event_timestamp": T0 + pd.to_timedelta(offsets, unit="s"),
        "amount": rng.uniform(1, 500, n).round(2),
        "merchant_category": rng.choice(["online", "grocery", "travel"], n)})


@pytest.fixture
def store(feast_profile_home) -> MerchantFeatureStore:
    applied = MerchantFeatureStore(feast_profile_home)
    applied.apply()
    return applied


def test_one_at_a_time_in_order_equals_the_offline_definition(store) -> None:
    """Parity: each event scored alone against the stored state gets exactly what the
    offline computation gives it from the whole history."""
    seen = events(60)
    state = CardState(store.feast)
    online = pd.concat([state.score_and_update(seen.iloc[[i]]).frame for i in range(60)],
                       ignore_index=True)
    offline = cards.card_window_features(seen, seen)
    pd.testing.assert_frame_equal(online, offline.loc[:, list(CARD_FEATURES)]
                                  .reset_index(drop=True), check_exact=True)


def test_a_batch_counts_its_own_earlier_events(store) -> None:
    seen = events(40, seed=1)
    online = CardState(store.feast).score_and_update(seen).frame
    offline = cards.card_window_features(seen, seen)
    pd.testing.assert_frame_equal(online, offline.loc[:, list(CARD_FEATURES)]
                                  .reset_index(drop=True), check_exact=True)


def test_out_of_order_events_never_corrupt_the_state(store) -> None:
    """Shuffled arrival: each answer counts only the stored events strictly before its own
    time; afterwards the state is every event in time order, and a later event gets what
    the offline definition gives it from all of them."""
    seen = events(50, seed=2, cards_=("c1",))
    shuffled = seen.sample(frac=1, random_state=3).reset_index(drop=True)
    state = CardState(store.feast)
    for i in range(len(shuffled)):
        got = state.score_and_update(shuffled.iloc[[i]]).frame
        before = cards.card_window_features(shuffled.iloc[: i + 1], shuffled.iloc[[i]])
        pd.testing.assert_frame_equal(got, before.reset_index(drop=True)
                                      .loc[:, list(CARD_FEATURES)], check_exact=True)
    stored = state.read(["c1"])["c1"]
    expected_ns = seen["event_timestamp"].dt.as_unit("ns").astype("int64").to_numpy()
    assert stored.times_ns.tolist() == expected_ns.tolist()
    assert stored.amounts.tolist() == seen["amount"].tolist()
    later = pd.DataFrame({"card_id": ["c1"], "event_timestamp": [T0 + pd.Timedelta(days=2)],
                          "amount": [99.0], "merchant_category": ["online"]})
    pd.testing.assert_frame_equal(
        state.score_and_update(later).frame,
        cards.card_window_features(pd.concat([seen, later]), later).loc[:, list(CARD_FEATURES)]
        .reset_index(drop=True), check_exact=True)


def test_card_less_rows_are_unknown_and_change_nothing(store) -> None:
    row = events(1).assign(card_id=[None])
    got = CardState(store.feast).score_and_update(row)
    assert got.frame.isna().all().all() and np.isnan(got.newest_seconds).all()


def test_events_older_than_30_days_before_the_newest_are_dropped(store) -> None:
    state = CardState(store.feast)
    old = pd.DataFrame({"card_id": ["c9", "c9"],
                        "event_timestamp": [T0, T0 + pd.Timedelta(days=31)],
                        "amount": [5.0, 7.0], "merchant_category": ["online", "online"]})
    state.score_and_update(old)
    assert state.read(["c9"])["c9"].amounts.tolist() == [7.0]


def test_another_replica_reads_what_one_wrote(store, feast_profile_home) -> None:
    seen = events(5, seed=4, cards_=("shared",))
    CardState(store.feast).score_and_update(seen)
    other = CardState(MerchantFeatureStore(feast_profile_home).feast)  # a second process's store
    assert other.read(["shared"])["shared"].amounts.tolist() == seen["amount"].tolist()
    newest = other.score_and_update(seen.iloc[[-1]].assign(
        event_timestamp=seen["event_timestamp"].iloc[-1] + pd.Timedelta(minutes=1)))
    assert newest.frame["card_txn_count_10m"].iloc[0] >= 1
    assert newest.newest_seconds[0] == seen["event_timestamp"].iloc[-1].timestamp()


def test_blank_and_non_text_cards_are_judged_as_offline(store) -> None:
    """The serving path's own card check (no frame) agrees with the offline one: blank ids
    are no card, a number is refused naming the field."""
    rows = events(3, seed=5, cards_=("c5",)).assign(card_id=["c5", " \t", None])
    got = CardState(store.feast).score_and_update(rows)
    offline = cards.card_window_features(rows, rows)
    np.testing.assert_array_equal(got.values, offline.to_numpy())
    assert np.isnan(got.values[1:]).all() and got.values[0, 0] == 0  # known: 0 before it
    with pytest.raises(ValueError, match="card_id must be text"):
        CardState(store.feast).score_and_update(rows.assign(card_id=[7, 8, 9]))


def test_a_sqlite_online_store_is_in_wal_mode(store) -> None:
    """One fsync per card-state write (store.sqlite_wal); the mode is in the file, so every
    connection and process uses it."""
    import sqlite3

    if store.feast.config.online_store.type != "sqlite":
        pytest.skip("the server profile's online store is Redis")
    path = store.feast.config.online_store.path
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_the_state_is_what_feasts_own_online_calls_read_and_write(store) -> None:
    """CardState talks to the online store through its `OnlineStore` interface with protos
    built from the arrays; Feast's `FeatureStore` calls see the same rows both ways."""
    from fraud_assets.features.card_state import Events
    from fraud_assets.features.names import (
        CARD_JOIN_KEY,
        CARD_STATE_FIELDS,
        CARD_STATE_TIMESTAMP,
        CARD_STATE_VIEW,
    )

    times, amounts, categories = CARD_STATE_FIELDS
    state = CardState(store.feast)
    mine = Events(np.array([T0.value, T0.value + 5_000], "int64"), np.array([1.5, 2.25]),
                  np.array(["online", "travel"], object))
    state.write({"w1": mine})
    got = store.feast.get_online_features(
        features=[f"{CARD_STATE_VIEW}:{f}" for f in CARD_STATE_FIELDS],
        entity_rows=[{CARD_JOIN_KEY: "w1"}, {CARD_JOIN_KEY: "never"}]).to_dict()
    assert got[times] == [mine.times_ns.tolist(), None]
    assert got[amounts] == [[1.5, 2.25], None]
    assert got[categories] == [["online", "travel"], None]

    store.feast.write_to_online_store(CARD_STATE_VIEW, pd.DataFrame({
        CARD_JOIN_KEY: ["w2"], CARD_STATE_TIMESTAMP: [pd.Timestamp.now(tz="UTC")],
        times: [[T0.value]], amounts: [[7.0]], categories: [["grocery"]]}))
    read = CardState(MerchantFeatureStore(store.home).feast).read(["w2", "w1", "never"])
    assert read["w2"].times_ns.tolist() == [T0.value] and read["w2"].amounts.tolist() == [7.0]
    assert read["w2"].categories.tolist() == ["grocery"]
    assert read["w1"].amounts.tolist() == [1.5, 2.25] and len(read["never"].times_ns) == 0
