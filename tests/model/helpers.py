"""Small training sets for the model tests, built straight from the simulator.

The merchant features here are simple trailing aggregates per category (all earlier days
of the same sample); the real Feast-backed `training_set` is tested with the features.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from fraud_assets import contract, simulator
from fraud_assets.features.names import FEATURES
from fraud_assets.model import training

START = dt.date(2025, 1, 1)


def transactions(days: int = 8, rows: int = 2_500, seed: int = 42,
                 start: dt.date = START) -> pd.DataFrame:
    frames = [simulator.generate_day(simulator.DayPlan(day=start + dt.timedelta(days=i),
                                                       rows=rows, seed=seed))
              for i in range(days)]
    return pd.concat(frames, ignore_index=True)


def with_features(frame: pd.DataFrame) -> pd.DataFrame:
    """Per category: average amount, count and fraud rate of all strictly earlier days."""
    day = frame[contract.EVENT_TIMESTAMP.name].dt.floor("D")
    cat = contract.MERCHANT_CATEGORY.name
    daily = (frame.assign(day=day)
             .groupby([cat, "day"])
             .agg(amount=(contract.AMOUNT.name, "sum"), count=(contract.AMOUNT.name, "size"),
                  frauds=(contract.LABEL, "sum"))
             .groupby(level=0).cumsum()
             .groupby(level=0).shift(1))  # shift: only days before, never the day itself
    stats = pd.DataFrame({
        FEATURES[0]: daily["amount"] / daily["count"],
        FEATURES[1]: daily["count"],
        FEATURES[2]: daily["frauds"] / daily["count"],
    }).reset_index()
    return frame.assign(day=day).merge(stats, on=[cat, "day"], how="left").drop(columns="day")


def training_set(days: int = 8, rows: int = 2_500, holdout_days: int = 2,
                 seed: int = 42) -> pd.DataFrame:
    """Contract columns + FEATURES + split: the last `holdout_days` days are the holdout."""
    frame = with_features(transactions(days, rows, seed))
    first_holdout = pd.Timestamp(START + dt.timedelta(days=days - holdout_days), tz="UTC")
    is_holdout = frame[contract.EVENT_TIMESTAMP.name] >= first_holdout
    return frame.assign(**{training.SPLIT: np.where(is_holdout, training.HOLDOUT,
                                                    training.TRAIN)})


def scrambled(frame: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Same rows with the labels shuffled: trains a model that is clearly worse."""
    labels = np.random.default_rng(seed).permutation(frame[contract.LABEL].to_numpy())
    return frame.assign(**{contract.LABEL: labels})


def register(registry, trained: training.TrainedModel, sample: pd.DataFrame,
             dagster_run_id: str = "test-run"):
    """Log and register without metrics or plots (the asset test covers those)."""
    return registry.log_training(trained, metrics={}, plots={}, dagster_run_id=dagster_run_id,
                                 sample=sample)
