"""The parity asset check (issue 15): landed days with card ids, the real card_features
asset and its check in one Dagster run; the replay goes through serving's online card
state on a scratch Feast store and must equal the offline rows exactly."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
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
