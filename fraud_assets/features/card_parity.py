"""Parity of the card features: a landed day replayed through the online path must give
exactly the offline values (issue 15).

`replay_day` seeds a scratch online store (its own SQLite Feast store in a temporary folder,
never the store serving uses, whatever the profile) with the day's cards' events of the 30
days before, then feeds the day's transactions in time order, in chunks, through
`CardState.score_and_update`: the serving code path, Feast reads and writes included. Each
transaction's online values are compared with the offline `card_velocity` row of the same
transaction (written by the card_features asset), NaN equal to NaN and numbers exactly.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from feast import FeatureStore, RepoConfig

from fraud_assets import lake, names
from fraud_assets.features import card_days, cards, offline
from fraud_assets.features.card_state import CardState, Events
from fraud_assets.features.names import CARD_FEATURE_VIEW, CARD_FEATURES, CARD_JOIN_KEY
from fraud_assets.features.repo import build_repo

# Rows per online call: each costs one Feast read and one write of the chunk's cards.
CHUNK_ROWS = 50_000
# Cards replayed per day (every card's transactions of the day, when there are fewer).
# Why a sample: seeding the scratch store writes each card's 30 days of events through
# Feast, which grew with the history: 39 s for day 29 of a 10,000-row demo (every card),
# most of `make pipeline`'s 868 s; 300 cards: 2.3 s, 782 transactions compared, 0 differing.
MAX_CARDS = 300
TRANSACTION_ID = card_days.TRANSACTION_ID


@dataclass(frozen=True)
class Parity:
    """What the replay compared: transactions, those with any differing feature, per
    feature the number of differing values, and up to five differing transaction ids."""

    compared: int
    differing: int
    per_feature: dict[str, int]
    examples: list[str]

    @property
    def passed(self) -> bool:
        return self.differing == 0


def scratch_store(folder: Path) -> FeatureStore:
    """A Feast store of only the card state view, SQLite in `folder` (local, throwaway)."""
    config = RepoConfig(project="fraud_parity", provider="local",
                        registry=str(folder / "registry.db"),
                        online_store={"type": "sqlite", "path": str(folder / "online.db")},
                        offline_store={"type": "file"}, entity_key_serialization_version=3)
    store = FeatureStore(config=config)
    repo = build_repo(folder)
    store.apply([repo.card_entity, repo.card_state.batch_source, repo.card_state])
    return store


def replay_day(lake_dir: Path, feast_dir: Path, day: dt.date,
               chunk_rows: int = CHUNK_ROWS, max_cards: int = MAX_CARDS) -> Parity:
    """Replay validated day `day` (lake under `lake_dir`) through the online path and
    compare with the offline card feature rows under `feast_dir`: all transactions of up
    to `max_cards` cards of the day (evenly spread over the sorted card ids, so the same
    cards on every run).

    Raises FileNotFoundError when the day's offline card rows are missing (materialize
    card_features for the day first)."""
    today = card_days.read_card_rows(
        lake.partition_path(lake_dir, names.TRANSACTIONS_VALIDATED, day.isoformat()))
    today = today[card_days.has_card(today)]
    if today.empty:  # a day without card ids: nothing to compare
        return Parity(0, 0, dict.fromkeys(CARD_FEATURES, 0), [])
    path = offline.day_file(feast_dir, day, CARD_FEATURE_VIEW)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no offline card feature rows for {day}; "
                                "materialize card_features for the day first")
    day_cards = _sample_cards(cards.card_text("today", today[CARD_JOIN_KEY]), max_cards)
    today = today[pc.is_in(cards.card_text("today", today[CARD_JOIN_KEY]),
                           value_set=day_cards).to_numpy(zero_copy_only=False)]
    # Only the sampled transactions' rows (a parquet filter: 828 of 1M rows read).
    expected = pd.read_parquet(path, filters=[(TRANSACTION_ID, "in", list(
        today[TRANSACTION_ID].astype(str)))])
    history = _history(lake_dir, day, day_cards)
    with tempfile.TemporaryDirectory(prefix="card-parity-") as folder:
        state = CardState(scratch_store(Path(folder)))
        state.write(_seed(history))
        ordered = today.sort_values(cards.TIMESTAMP, kind="stable", ignore_index=True)
        online = pd.concat([state.score_and_update(ordered.iloc[i:i + chunk_rows]).frame
                            for i in range(0, len(ordered), chunk_rows)] or
                           [pd.DataFrame(columns=list(CARD_FEATURES))], ignore_index=True)
    online[TRANSACTION_ID] = ordered[TRANSACTION_ID].to_numpy()
    return compare(online, expected)


def compare(online: pd.DataFrame, offline_rows: pd.DataFrame) -> Parity:
    """Exact comparison per transaction id (NaN equals NaN); a transaction present on one
    side only counts as differing in every feature."""
    joined = online.merge(offline_rows, on=TRANSACTION_ID, how="outer",
                          suffixes=("_online", "_offline"), indicator=True)
    differs = np.zeros(len(joined), dtype=bool)
    per_feature = {}
    for name in CARD_FEATURES:
        a = joined[f"{name}_online"].to_numpy(dtype="float64")
        b = joined[f"{name}_offline"].to_numpy(dtype="float64")
        bad = ~((a == b) | (np.isnan(a) & np.isnan(b))) | (joined["_merge"] != "both").to_numpy()
        per_feature[name] = int(bad.sum())
        differs |= bad
    examples = joined.loc[differs, TRANSACTION_ID].astype(str).head(5).tolist()
    return Parity(len(joined), int(differs.sum()), per_feature, examples)


def _sample_cards(day_cards: pa.Array, max_cards: int) -> pa.Array:
    """Up to `max_cards` of the distinct non-null ids in `day_cards`, evenly spread over
    their sorted order (the same cards on every run). Arrow's unique and sort: at 1M rows
    0.1 s against 0.9 s for pandas' `unique` and numpy's sort of Python strings."""
    distinct = pc.unique(day_cards.drop_null())
    distinct = distinct.take(pc.sort_indices(distinct))
    if len(distinct) > max_cards:
        distinct = distinct.take(pa.array(np.linspace(0, len(distinct) - 1, max_cards)
                                          .astype(int)))
    return distinct


def _history(lake_dir: Path, day: dt.date, day_cards: pa.Array) -> pd.DataFrame:
    stored = set(lake.stored_partitions(names.TRANSACTIONS_VALIDATED, lake_dir))
    parts = [card_days.read_card_rows(
                 lake.partition_path(lake_dir, names.TRANSACTIONS_VALIDATED, d), day_cards)
             for d in card_days.history_days(day) if d in stored]
    return pd.concat(parts, ignore_index=True) if parts else card_days.empty_card_rows()


def _seed(history: pd.DataFrame) -> dict[str, Events]:
    """Each card's events of the 30 days before, as the service would have stored them."""
    ordered = history.sort_values(cards.TIMESTAMP, kind="stable", ignore_index=True)
    times = ordered[cards.TIMESTAMP].dt.as_unit("ns").astype("int64").to_numpy()
    out = {}
    for card, rows in ordered.groupby(CARD_JOIN_KEY, sort=False).indices.items():
        out[str(card)] = Events.empty().inserted(
            times[rows], ordered[cards.AMOUNT].to_numpy()[rows],
            ordered[cards.CATEGORY].to_numpy()[rows])
    return out
