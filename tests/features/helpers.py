"""Small validated days in a temporary FRAUD_HOME, and the feature store on top of them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from fraud_assets import lake, simulator
from fraud_assets.features import aggregates, offline
from fraud_assets.features.store import MerchantFeatureStore

VALIDATED = "transactions_validated"
FIRST = dt.date(2025, 1, 1)


def days(n: int, first: dt.date = FIRST) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range(n)]


def validated_day(day: dt.date, rows: int = 400, **plan) -> pd.DataFrame:
    """A simulated day typed like the lake's validated partitions."""
    frame = simulator.generate_day(simulator.DayPlan(day=day, rows=rows, **plan))
    return frame.astype({"transaction_id": "string", "merchant_category": "string"})


def land_validated(home: Path, frame: pd.DataFrame, day: dt.date) -> None:
    lake.write_frame(frame, lake.partition_path(home / "lake", VALIDATED, day.isoformat()))


def read_validated(home: Path) -> pd.DataFrame:
    root = home / "lake"
    return lake.read_partitions(VALIDATED, lake.stored_partitions(VALIDATED, root), root)


def compute_features(home: Path, store: MerchantFeatureStore, feature_days: list[dt.date],
                     window: int = 28) -> None:
    """What the merchant_features asset does for each day, from the lake."""
    history = read_validated(home)
    for day in feature_days:
        offline.write_day(store.feast_dir, day, aggregates.merchant_stats(history, day, window))


def build_store(home: Path, n_days: int, rows: int = 400) -> MerchantFeatureStore:
    """`n_days` validated days, features for each, applied and materialized."""
    for day in days(n_days):
        land_validated(home, validated_day(day, rows), day)
    store = MerchantFeatureStore(home)
    store.apply()
    compute_features(home, store, days(n_days))
    store.materialize()
    return store
