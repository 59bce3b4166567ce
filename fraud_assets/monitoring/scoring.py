"""Score labelled lake rows with the champion, features joined the way training joined them.

Monitoring scores two kinds of rows after the fact: a landed day (to measure the model on
its labels) and the reference sample (to compare its score distribution with served
traffic). Both go through `features.training.build_training_set`, the very path that built
the champion's training rows: the Feast feature service, point in time by each row's own
timestamp, rows without a feature row inside the ttl left out (and counted).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
from sklearn.pipeline import Pipeline

from fraud_assets import settings
from fraud_assets.features.store import MerchantFeatureStore
from fraud_assets.features.training import SPLIT, build_training_set
from fraud_assets.model import training
from fraud_assets.model.registry import TAG_TRAINING_END, TAG_TRAINING_START, MlflowRegistry
from fraud_assets.monitoring.columns import SCORE


@dataclass(frozen=True)
class ChampionModel:
    """The version behind the `champion` alias, loaded, with what scoring it needs."""

    version: str
    model: Pipeline
    threshold: float
    training_start: dt.date | None  # None when the version lacks the tag
    training_end: dt.date | None

    def trained_on(self, day: str) -> bool:
        """True if `day` lies inside the training window (its metrics are in-sample)."""
        if self.training_start is None or self.training_end is None:
            return False
        return self.training_start <= dt.date.fromisoformat(day) <= self.training_end


@dataclass(frozen=True)
class ScoredRows:
    frame: pd.DataFrame  # the input's contract columns + FEATURES + SCORE
    rows_without_features: int  # left out: no merchant feature row within the ttl


def _tag_date(tags: dict[str, str], key: str) -> dt.date | None:
    return pd.Timestamp(tags[key]).date() if key in tags else None


def load_champion(registry: MlflowRegistry) -> ChampionModel | None:
    """The current champion, or None while no version carries the alias."""
    version = registry.alias_version(settings.CHAMPION_ALIAS)
    return None if version is None else load_version(registry, version)


def load_version(registry: MlflowRegistry, version: str) -> ChampionModel:
    """A registered version with its threshold and training window, loaded for scoring."""
    tags = dict(registry.version(version).tags)
    return ChampionModel(version=version, model=registry.load_model(version),
                         threshold=registry.threshold(version),
                         training_start=_tag_date(tags, TAG_TRAINING_START),
                         training_end=_tag_date(tags, TAG_TRAINING_END))


def score_rows(frame: pd.DataFrame, champion: ChampionModel,
               store: MerchantFeatureStore) -> ScoredRows:
    """`frame` (contract columns) with the merchant features and the champion's score.

    Raises `features.training.TrainingSetError` on an empty frame or missing columns.
    """
    # holdout_days=0: every row is "train", so nothing is held back; the split is dropped.
    joined = build_training_set(frame, store, holdout_days=0)
    rows = joined.frame.drop(columns=[SPLIT])
    rows[SCORE] = training.fraud_probability(champion.model, rows) if len(rows) else []
    return ScoredRows(rows, joined.rows_without_history)
