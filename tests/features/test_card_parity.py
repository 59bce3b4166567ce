"""The parity asset check (issue 15): landed days with card ids, the real card_features
asset and its check in one Dagster run; the replay goes through serving's online card
state on a scratch Feast store and must equal the offline rows exactly."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from dagster import DagsterInstance, materialize

from fraud_assets.defs.features import assets as feature_assets
from fraud_assets.defs.features.checks import card_online_parity
from fraud_assets.features import card_parity
from fraud_assets.features.names import CARD_FEATURES
from tests.support import days, resources, validated_day, write_validated

ROWS = 600


def with_cards(day: dt.date, seed: int) -> pd.DataFrame:
    """A validated day whose transactions are spread over 40 cards (some without one)."""
    frame = validated_day(day, ROWS, seed=seed)
    rng = np.random.default_rng(seed)
    card = rng.choice([f"card-{i}" for i in range(40)], len(frame)).astype(object)
    card[rng.random(len(frame)) < 0.1] = None
    return frame.assign(card_id=card)


def test_the_replayed_day_equals_the_offline_rows(fraud_home) -> None:
    for i, day in enumerate(days(3)):
        write_validated(fraud_home, with_cards(day, seed=i), day)
    last = days(3)[-1].isoformat()
    with DagsterInstance.ephemeral() as instance:
        result = materialize([feature_assets.card_features, card_online_parity],
                             instance=instance, resources=resources(fraud_home),
                             partition_key=last)
    assert result.success
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.passed, evaluation.metadata
    compared = evaluation.metadata["compared"].value
    assert 0.8 * ROWS < compared < ROWS  # the day's transactions with a card
    assert evaluation.metadata["differing"].value == 0
    # A day with more cards than the check replays: only that many cards' transactions.
    frame = pd.read_parquet(fraud_home / "lake" / "transactions_validated" / f"{last}.parquet")
    sample = card_parity.replay_day(fraud_home / "lake", fraud_home / "feast",
                                    days(3)[-1], max_cards=5)
    per_card = frame["card_id"].value_counts()
    assert sample.differing == 0 and 0 < sample.compared < compared
    assert sample.compared <= per_card.nlargest(5).sum()


def test_a_difference_is_counted_per_feature() -> None:
    online = pd.DataFrame({"transaction_id": ["a", "b"],
                           **{f: [1.0, np.nan] for f in CARD_FEATURES}})
    offline = online.copy()
    offline.loc[0, CARD_FEATURES[0]] = 2.0
    parity = card_parity.compare(online, offline)
    assert (parity.compared, parity.differing, parity.examples) == (2, 1, ["a"])
    assert parity.per_feature[CARD_FEATURES[0]] == 1 and parity.per_feature[CARD_FEATURES[1]] == 0


def test_replayed_cards_have_every_earlier_event_kept_and_kept_events_follow_the_files(
        fraud_home) -> None:
    """Earlier days with ten times the replayed day's cards keep the events of fewer than
    a tenth of theirs (max_cards=5: 20 cards a day): the replay must take only cards every
    earlier day kept, or their history would be short and the values would differ."""
    rng = np.random.default_rng(11)
    pool = np.array([f"card-{i}" for i in range(400)], dtype=object)
    by_hash = pool[np.argsort(card_parity.card_hashes(pa.array(pool)))]
    first, second, last = days(3)
    for i, day in enumerate((first, second)):  # every card of the pool on both days
        cards = np.concatenate([pool, rng.choice(pool, ROWS - len(pool))])
        write_validated(fraud_home, validated_day(day, ROWS, seed=i).assign(card_id=cards), day)
    # The day: every tenth card by hash, so only 2 of its cards (hash ranks 0 and 10) are
    # among the 20 each earlier day kept; its 5 lowest would reach rank 40.
    frame = validated_day(last, ROWS, seed=2)
    write_validated(fraud_home, frame.assign(card_id=rng.choice(by_hash[::10], ROWS)), last)
    with DagsterInstance.ephemeral() as instance:
        assert materialize([feature_assets.card_features], instance=instance,
                           resources=resources(fraud_home), partition_key=last.isoformat()
                           ).success
    lake_dir = fraud_home / "lake"
    # card_features kept the day's own events from the rows it read; the replay reads them.
    today_file = lake_dir / card_parity.EVENTS_ASSET / f"{last.isoformat()}.parquet"
    made = today_file.stat().st_mtime_ns
    assert card_parity.replay_day(lake_dir, fraud_home / "feast", last).passed
    assert today_file.stat().st_mtime_ns == made
    kept = card_parity.KEPT_PER_REPLAYED * card_parity.MAX_CARDS
    kept_then, cut_then = card_parity.lowest_hash_events(lake_dir, last.isoformat(), kept)
    today_file.unlink()  # made again from the file: the same events and cut
    kept_now, cut_now = card_parity.lowest_hash_events(lake_dir, last.isoformat(), kept)
    pd.testing.assert_frame_equal(kept_then, kept_now)
    assert cut_then == cut_now and len(kept_now) == ROWS
    parity = card_parity.replay_day(lake_dir, fraud_home / "feast", last, max_cards=5)
    assert parity.compared > 0 and parity.differing == 0, parity
    kept = {d: card_parity.lowest_hash_events(lake_dir, d.isoformat(), 20)
            for d in (first, second)}
    for events, cut in kept.values():
        assert cut < card_parity.ALL_HASHES and events["card_id"].nunique() == 20
    # A rewritten earlier day (a correction) is kept again from the file as it is now.
    kept_file = lake_dir / card_parity.EVENTS_ASSET / f"{first.isoformat()}.parquet"
    before = kept_file.stat().st_mtime_ns
    card_parity.replay_day(lake_dir, fraud_home / "feast", last, max_cards=5)
    assert kept_file.stat().st_mtime_ns == before, "unchanged files are not read again"
    corrected = validated_day(first, ROWS, seed=5).assign(card_id=rng.choice(pool, ROWS))
    write_validated(fraud_home, corrected, first)
    events, _ = card_parity.lowest_hash_events(lake_dir, first.isoformat(), 20)
    now = dict(zip(corrected["transaction_id"], corrected["card_id"], strict=True))
    assert [now[t] for t in events["transaction_id"]] == list(events["card_id"])
    assert kept_file.stat().st_mtime_ns != before


def test_a_day_with_cards_but_no_offline_rows_is_named_and_one_without_cards_passes(
        fraud_home) -> None:
    day = days(1)[0]
    write_validated(fraud_home, with_cards(day, seed=3), day)
    with pytest.raises(FileNotFoundError, match="card_velocity/.*materialize card_features"):
        card_parity.replay_day(fraud_home / "lake", fraud_home / "feast", day)
    write_validated(fraud_home, validated_day(day, ROWS, seed=3).drop(columns="card_id"), day)
    parity = card_parity.replay_day(fraud_home / "lake", fraud_home / "feast", day)
    assert parity.passed and parity.compared == 0  # no card: nothing to compare, no file
