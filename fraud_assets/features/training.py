"""The training set: validated transactions joined to merchant features, point in time.

Each transaction gets the feature row that was valid at its own `event_timestamp`
(Feast `get_historical_features` on the feature service). The split is by time: the rows
of the last `holdout_days` landed (partition) days are the holdout, never a random shuffle
across time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fraud_assets import contract, names
from fraud_assets.features.names import ENTITY, FEATURES, HOLDOUT, SPLIT, TRAIN
from fraud_assets.features.schema import cast_features
from fraud_assets.features.store import MerchantFeatureStore
from fraud_assets.lake import read_partitions

TIMESTAMP = contract.EVENT_TIMESTAMP.name
KEYS = [ENTITY, TIMESTAMP]
COLUMNS: tuple[str, ...] = (*contract.COLUMNS, *FEATURES, SPLIT)
CHUNK_ROWS = 250_000

_log = logging.getLogger(__name__)


class TrainingSetError(ValueError):
    """The requested window cannot give a training set; the message says why."""


@dataclass(frozen=True)
class TrainingSet:
    frame: pd.DataFrame  # COLUMNS, sorted by event time
    rows_without_history: int  # transactions with no feature row within the ttl, left out


def select_days(days: list[str], last: int = 0) -> list[str]:
    """The `last` most recent of the (ISO) `days`; 0 means all of them."""
    if last < 0:
        raise TrainingSetError(f"training_set: days must be >= 0 (0 = all), got {last}")
    ordered = sorted(days)
    return ordered[-last:] if last else ordered


def read_window(days: list[str], lake_root: Path) -> tuple[pd.DataFrame, pd.Series]:
    """The validated partitions of `days`, and the partition day each row came from."""
    frames = [(day, read_partitions(names.TRANSACTIONS_VALIDATED, [day], lake_root))
              for day in days]
    frames = [(day, frame) for day, frame in frames if len(frame)]
    if not frames:
        return pd.DataFrame(), pd.Series(dtype=object)
    validated = pd.concat([frame for _, frame in frames], ignore_index=True)
    partition_days = pd.Series(np.repeat([day for day, _ in frames],
                                         [len(frame) for _, frame in frames]), dtype=object)
    return validated, partition_days


def split_by_day(days: pd.Series, holdout_days: int) -> pd.Series:
    """'holdout' for rows of the last `holdout_days` partition days present, 'train' before.

    `days` is each row's partition day (ISO date): the landed day it came from, so one
    stray timestamp can never make a day of its own. Timestamps are taken as their UTC
    day (validated rows of day D have timestamps inside D, so both agree)."""
    if pd.api.types.is_datetime64_any_dtype(days):
        days = days.dt.tz_convert("UTC").dt.strftime("%Y-%m-%d")
    days = days.astype(str)
    present = sorted(days.unique())
    if not 0 <= holdout_days < len(present):
        raise TrainingSetError(
            f"training_set: holdout_days={holdout_days} must be >= 0 and leave at least one "
            f"training day, but the window has {len(present)} day(s)")
    if holdout_days == 0:
        return pd.Series(TRAIN, index=days.index)
    first_holdout = present[-holdout_days]
    return pd.Series(TRAIN, index=days.index).where(days < first_holdout, HOLDOUT)


def join_features(validated: pd.DataFrame, store: MerchantFeatureStore) -> pd.DataFrame:
    """`validated` with the FEATURES valid at each row's own timestamp (NaN if none).

    Feast's file offline store keeps one entity row per (key, timestamp) and drops rows
    with no feature row inside the ttl, so it gets the distinct keys and the answer is
    merged back: every transaction stays, and same-second twins get the same features.
    """
    keys = validated[KEYS].drop_duplicates().sort_values(TIMESTAMP).reset_index(drop=True)
    keys[ENTITY] = keys[ENTITY].astype(str)
    # Feast's file store sorts and merges the whole entity frame in memory: bounded chunks
    # keep the peak down (and were faster at 1M rows). Entity rows are independent.
    chunks = [keys.iloc[i:i + CHUNK_ROWS] for i in range(0, len(keys), CHUNK_ROWS)]
    found = pd.concat([store.historical(chunk) for chunk in chunks], ignore_index=True)
    found = found[[*KEYS, *FEATURES]]
    # Back to the lake's dtype (pandas string), so the merge keys match exactly.
    found[ENTITY] = found[ENTITY].astype(validated[ENTITY].dtype)
    return validated.merge(found, on=KEYS, how="left", validate="many_to_one")


def build_training_set(validated: pd.DataFrame, store: MerchantFeatureStore,
                       holdout_days: int, partition_days: pd.Series | None = None,
                       ) -> TrainingSet:
    """Contract columns + FEATURES + split, sorted by event time.

    `partition_days`: the partition day of each row of `validated` (`read_window`); the
    holdout is the last `holdout_days` of them. Without it, each row's UTC day is used."""
    if validated.empty:
        raise TrainingSetError("training_set: the window has no validated transactions")
    absent = [c for c in contract.COLUMNS if c not in validated.columns]
    if absent:
        raise TrainingSetError(f"training_set: validated transactions lack column(s) {absent}")
    frame = validated[list(contract.COLUMNS)].reset_index(drop=True)
    days = frame[TIMESTAMP] if partition_days is None else partition_days.reset_index(drop=True)
    frame[SPLIT] = split_by_day(days, holdout_days)
    joined = join_features(frame, store)
    has_history = joined[list(FEATURES)].notna().all(axis=1)
    missing = int((~has_history).sum())
    if missing:
        _log.warning("training_set: %d transaction(s) have no merchant feature row within the "
                     "ttl (no earlier validated day, or merchant_features not materialized for "
                     "their day or the day before) and are left out", missing)
    kept = cast_features(joined[has_history])
    ordered = kept.sort_values([TIMESTAMP, contract.TRANSACTION_ID.name], kind="stable")
    return TrainingSet(ordered[list(COLUMNS)].reset_index(drop=True), missing)
