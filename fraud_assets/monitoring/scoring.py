"""Score labelled lake rows with the champion, features joined the way training joined them.

Monitoring scores two kinds of rows after the fact: a landed day (to measure the model on
its labels) and the reference sample (to compare its score distribution with served
traffic). Both go through `features.training.build_training_set`, the very path that built
the champion's training rows: the Feast feature service, point in time by each row's own
timestamp, rows without a feature row inside the ttl left out (and counted).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from fraud_assets import settings
from fraud_assets.features.store import MerchantFeatureStore
from fraud_assets.features.training import SPLIT, build_training_set
from fraud_assets.model import training
from fraud_assets.model.loaded import LoadedModel, load_alias
from fraud_assets.model.loaded import load_version as _load_version
from fraud_assets.model.registry import MlflowRegistry
from fraud_assets.monitoring.columns import SCORE


@dataclass(frozen=True)
class ScoredRows:
    frame: pd.DataFrame  # the input's contract columns + FEATURES + SCORE
    rows_without_features: int  # left out: no merchant feature row within the ttl


def load_champion(registry: MlflowRegistry) -> LoadedModel | None:
    """The current champion, or None while no version carries the alias."""
    return load_alias(registry, settings.CHAMPION_ALIAS)


def load_version(registry: MlflowRegistry, version: str) -> LoadedModel:
    """A registered version with its threshold and training window, loaded for scoring."""
    return _load_version(registry, version)


def score_rows(frame: pd.DataFrame, champion: LoadedModel,
               store: MerchantFeatureStore) -> ScoredRows:
    """`frame` (contract columns) with the merchant features and the champion's score.

    Raises `features.training.TrainingSetError` on an empty frame or missing columns.
    """
    # holdout_days=0: every row is "train", so nothing is held back; the split is dropped.
    joined = build_training_set(frame, store, holdout_days=0)
    rows = joined.frame.drop(columns=[SPLIT])
    rows[SCORE] = training.fraud_probability(champion.model, rows) if len(rows) else []
    return ScoredRows(rows, joined.rows_without_history)
