"""Model quality against the data's ceiling, on a large fresh sample the model never saw.

Trains exactly as the `fraud_model` asset does (`fraud_assets.model.training.train`, the
threshold chosen on the latest slice of the training rows) on the demo's default data, then
scores a fresh simulated sample (another seed, later days) at the stored threshold.

Merchant features come from the features package's own offline function
(`features.aggregates.merchant_stats`: per category, the trailing 28 days strictly before
each day), joined per (category, day) as the point-in-time `training_set` join yields.
Days without any earlier day (the first of each sample) have no features and are left
out, as `training_set` does. The train/holdout split mirrors `training_set`'s default
(the last 5 days are the holdout); only the train rows are used for fitting.

"oracle" is the exact log-likelihood ratio of the simulator's distributions on the same
test rows: the best any model can do there (the ceiling: ROC-AUC 0.978, PR-AUC 0.630,
best F1 0.580).

Usage: .venv/bin/python benchmarks/model_quality.py [--test-days 101] [--rows 10000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

import numpy as np
import pandas as pd

from fraud_assets import contract, simulator
from fraud_assets.features import aggregates
from fraud_assets.features.names import ENTITY, FEATURES
from fraud_assets.model import evaluation, training

TIME = contract.EVENT_TIMESTAMP.name
TARGETS = {"roc_auc": 0.975, "pr_auc": 0.615, "f1": 0.560}


def simulate(start: dt.date, days: int, rows: int, seed: int) -> pd.DataFrame:
    plans = (simulator.DayPlan(day=start + dt.timedelta(days=i), rows=rows, seed=seed)
             for i in range(days))
    return pd.concat([simulator.generate_day(p) for p in plans], ignore_index=True)


def with_features(frame: pd.DataFrame) -> pd.DataFrame:
    """Each row joined to its category's feature row for its day; no-history rows dropped."""
    days = sorted(frame[TIME].dt.date.unique())
    stats = pd.concat([aggregates.merchant_stats(frame, day) for day in days],
                      ignore_index=True)
    keyed = frame.assign(_day=frame[TIME].dt.floor("D"))
    stats = stats.rename(columns={TIME: "_day"})[[ENTITY, "_day", *FEATURES]]
    joined = keyed.merge(stats, on=[ENTITY, "_day"], how="inner", validate="many_to_one")
    return joined.drop(columns="_day").sort_values(TIME, kind="stable").reset_index(drop=True)


def oracle_score(frame: pd.DataFrame) -> np.ndarray:
    """The exact log-likelihood ratio fraud/legit under the simulator's distributions."""
    log_amount = np.log(frame[contract.AMOUNT.name].to_numpy())
    (mu_l, s_l), (mu_f, s_f) = simulator.LEGIT_AMOUNT, simulator.FRAUD_AMOUNT
    amount = (np.log(s_l / s_f) - (log_amount - mu_f) ** 2 / (2 * s_f ** 2)
              + (log_amount - mu_l) ** 2 / (2 * s_l ** 2))
    fraud_hour = frame[contract.HOUR.name].isin(simulator.FRAUD_HOURS).to_numpy()
    hour = np.where(fraud_hour, np.log(24 / len(simulator.FRAUD_HOURS)), -1e9)
    ratio = dict(zip(contract.MERCHANT_CATEGORIES,
                     np.log(np.array(simulator.FRAUD_CATEGORY_WEIGHTS)
                            / np.array(simulator.LEGIT_CATEGORY_WEIGHTS)), strict=True))
    category = frame[contract.MERCHANT_CATEGORY.name].map(ratio).to_numpy()
    return amount + hour + category


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-days", type=int, default=30)
    parser.add_argument("--holdout-days", type=int, default=5)
    parser.add_argument("--rows", type=int, default=10_000, help="rows per day")
    parser.add_argument("--test-days", type=int, default=101,
                        help="test days (the first has no history and is dropped)")
    args = parser.parse_args()

    t = time.perf_counter()
    window = with_features(simulate(dt.date(2025, 1, 1), args.train_days, args.rows, seed=42))
    last_train_day = dt.date(2025, 1, 1) + dt.timedelta(days=args.train_days - args.holdout_days)
    train_rows = window[window[TIME] < pd.Timestamp(last_train_day, tz="UTC")]
    trained = training.train(train_rows)
    print(f"trained on {len(train_rows):,} rows ({trained.fraud_rows:,} fraud) from "
          f"{trained.training_start:%Y-%m-%d} to {trained.training_end:%Y-%m-%d} in "
          f"{time.perf_counter() - t:.1f}s; threshold {trained.threshold:.4f}")

    t = time.perf_counter()
    test = with_features(simulate(dt.date(2026, 3, 1), args.test_days, args.rows, seed=20_260))
    labels = test[contract.LABEL].to_numpy()
    proba = training.fraud_probability(trained.pipeline, test)
    print(f"fresh test sample: {len(test):,} rows ({int(labels.sum()):,} fraud), seed 20260, "
          f"{test[TIME].min():%Y-%m-%d} .. {test[TIME].max():%Y-%m-%d}, scored in "
          f"{time.perf_counter() - t:.1f}s")

    model = evaluation.score(labels, proba, trained.threshold)
    oracle = oracle_score(test)
    ceiling = evaluation.score(labels, oracle, evaluation.best_f1_threshold(labels, oracle))
    best_f1 = evaluation.score(labels, proba, evaluation.best_f1_threshold(labels, proba))["f1"]
    print(f"{'metric':<8} {'model':>8} {'target':>8} {'oracle':>8}")
    for name, target in TARGETS.items():
        verdict = "ok" if model[name] >= target else "BELOW TARGET"
        print(f"{name:<8} {model[name]:8.4f} {target:8.3f} {ceiling[name]:8.4f}  {verdict}")
    print(f"F1 at the stored threshold {model['f1']:.4f} vs the model's best F1 on this "
          f"sample {best_f1:.4f} (precision {model['precision']:.4f}, "
          f"recall {model['recall']:.4f})")


if __name__ == "__main__":
    main()
