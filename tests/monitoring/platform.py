"""A small trained platform in a state folder: validated days, Feast features, a champion.

Built with the real pieces (lake files, Feast apply + offline features, training through
`build_training_set`, MLflow registration and promotion), without running Dagster jobs, so
the monitoring tests that need a champion pay seconds, not a pipeline run.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from dagster import AssetSpec, DagsterInstance, materialize

from fraud_assets.defs.assets.performance import model_performance
from fraud_assets.defs.partitions import daily_partitions
from fraud_assets.features.store import MerchantFeatureStore
from fraud_assets.features.training import SPLIT, build_training_set
from fraud_assets.model import deploy, training
from fraud_assets.model.registry import MlflowRegistry
from tests.features import helpers as feature_helpers
from tests.model.helpers import scrambled
from tests.monitoring.helpers import resources

FIRST = feature_helpers.FIRST  # 2025-01-01
TRAINING_DAYS = 10
ROWS = 1_000
# Offsets of the days `landed_platform` adds after the champion's window.
NORMAL, CONCEPT_DRIFT, FEW_FRAUDS = TRAINING_DAYS, TRAINING_DAYS + 1, TRAINING_DAYS + 2


# model_performance's upstream, as specs: its input is read from the lake like in production.
UPSTREAM = [AssetSpec("transactions_validated", partitions_def=daily_partitions)
            .with_io_manager_key("lake"),
            AssetSpec("merchant_features", partitions_def=daily_partitions)]


@dataclass(frozen=True)
class Platform:
    home: Path
    store: MerchantFeatureStore
    registry: MlflowRegistry
    champion_version: str


def day_key(offset: int) -> str:
    return (FIRST + dt.timedelta(days=offset)).isoformat()


def registry_for(home: Path) -> MlflowRegistry:
    return MlflowRegistry(tracking_uri=f"sqlite:///{home / 'mlflow' / 'mlflow.db'}",
                          artifact_location=str(home / "mlflow" / "artifacts"))


def build_platform(home: Path, days: int = TRAINING_DAYS, rows: int = ROWS) -> Platform:
    """`days` validated days with features, and a champion trained on all of them."""
    store = feature_helpers.build_store(home, days, rows)
    window = feature_helpers.read_validated(home)
    frame = build_training_set(window, store, holdout_days=0).frame.drop(columns=[SPLIT])
    trained = training.train(frame)
    registry = registry_for(home)
    logged = registry.log_training(trained, metrics={}, plots={}, dagster_run_id="test",
                                   sample=frame)
    deploy.promote(registry, logged.version, "test champion")
    return Platform(home, store, registry, logged.version)


def land_day(platform: Platform, offset: int, scenario: str = "normal",
             rows: int = ROWS, concept_drift: bool = False) -> pd.DataFrame:
    """A validated day after the window, with its merchant features, as the daily job does.

    `concept_drift`: the day's labels are shuffled, so fraud no longer follows the pattern
    the model learned while every column's distribution (labels included) stays the same.
    """
    day = FIRST + dt.timedelta(days=offset)
    frame = feature_helpers.validated_day(day, rows, scenario=scenario)
    if concept_drift:
        frame = scrambled(frame)
    feature_helpers.land_validated(platform.home, frame, day)
    feature_helpers.compute_features(platform.home, platform.store, [day])
    return frame


def landed_platform(home: Path) -> Platform:
    """The platform plus three days after its window: normal, concept drift, few frauds."""
    platform = build_platform(home)
    land_day(platform, NORMAL)
    land_day(platform, CONCEPT_DRIFT, concept_drift=True)
    land_day(platform, FEW_FRAUDS, rows=200)  # 4 frauds: recorded, not judged
    return platform


def run_performance(home: Path, day: str, instance: DagsterInstance,
                    run_config: dict | None = None) -> tuple[dict, list]:
    """Materialize model_performance for `day`: its metadata values and check evaluations."""
    result = materialize([*UPSTREAM, model_performance], selection=[model_performance.key],
                         partition_key=day, instance=instance, resources=resources(home),
                         run_config=run_config)
    assert result.success
    [event] = result.get_asset_materialization_events()
    meta = {k: getattr(v, "value", v) for k, v in event.materialization.metadata.items()}
    return meta, result.get_asset_check_evaluations()
