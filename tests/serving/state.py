"""Platform state for serving tests and the load benchmark, built the way the pipeline
builds it: a real MLflow registry with trained champions, and a real Feast online store."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from fraud_assets import contract, simulator
from fraud_assets.features import aggregates, offline
from fraud_assets.features.names import FEATURES
from fraud_assets.features.store import MerchantFeatureStore
from fraud_assets.model import deploy, training
from fraud_assets.model.registry import MlflowRegistry

FIRST_DAY = dt.date(2025, 1, 6)


def simulated_days(seed: int, days: int = 3, rows: int = 2_000) -> pd.DataFrame:
    return pd.concat([simulator.generate_day(simulator.DayPlan(
        day=FIRST_DAY + dt.timedelta(days=i), rows=rows, fraud_ratio=0.05, seed=seed))
        for i in range(days)], ignore_index=True)


def training_frame(seed: int) -> pd.DataFrame:
    """Simulated days plus merchant features (per-category stats of the same days: the
    point here is a real fitted pipeline, not a good one)."""
    frame = simulated_days(seed)
    by = frame.groupby(contract.MERCHANT_CATEGORY.name)
    stats = pd.DataFrame({FEATURES[0]: by[contract.AMOUNT.name].mean(),
                          FEATURES[1]: by[contract.AMOUNT.name].size().astype(float),
                          FEATURES[2]: by[contract.LABEL].mean()})
    return frame.join(stats, on=contract.MERCHANT_CATEGORY.name)


def registry_at(home: Path) -> MlflowRegistry:
    return MlflowRegistry(tracking_uri=f"sqlite:///{home / 'mlflow' / 'mlflow.db'}",
                          artifact_location=str(home / "mlflow" / "artifacts"))


def add_version(registry: MlflowRegistry, seed: int, promote: bool = True) -> str:
    """Train, log, register; optionally make it the champion. Returns the version."""
    frame = training_frame(seed)
    trained = training.train(frame)
    logged = registry.log_training(trained, metrics={}, plots={},
                                   dagster_run_id="serving-tests", sample=frame)
    if promote:
        deploy.promote(registry, logged.version, reason="serving tests")
    return logged.version


def build_feature_store(home: Path, seed: int = 1) -> MerchantFeatureStore:
    """Merchant features for the simulated days (what merchant_features writes), applied
    and materialized into the SQLite online store of `home`."""
    history = simulated_days(seed)
    store = MerchantFeatureStore(home)
    store.apply()
    for i in range(1, 4):  # features valid on the days after the first one
        day = FIRST_DAY + dt.timedelta(days=i)
        offline.write_day(store.feast_dir, day, aggregates.merchant_stats(history, day))
    store.materialize()
    return store
