"""Does the stored threshold still fit as the history grows? (issue 11, kind 2)

For histories of 8, 15 and 30 landed days, does what the pipeline does: merchant features
per day from the days strictly before it (`features.aggregates`: per-day sums, then the
window), the `training_set` split (the holdout is `default_holdout_days` of the days with
features), `model.training.train` (threshold = best F1 on the latest slice of the training
rows), then scores the holdout at the stored threshold and reports the model's best F1 on
the same holdout. Goal: the gap (best F1 - F1 at the stored threshold) <= 0.02 for each
history.

`--legacy-count` replaces the volume feature by what the platform used before, the window's
transaction *count* (per-day volume x days present), to show the drift that caused issue 11.

Usage: .venv/bin/python -m benchmarks.window_calibration [--rows 100000] [--histories 8 15 30]
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

import pandas as pd

from fraud_assets import contract, simulator
from fraud_assets.features import aggregates
from fraud_assets.features.names import ENTITY, FEATURES
from fraud_assets.features.training import default_holdout_days
from fraud_assets.model import evaluation, training

TIME = contract.EVENT_TIMESTAMP.name
VOLUME = "merchant_txn_per_day"
GOAL = 0.02
FIRST = dt.date(2025, 1, 1)


def landed(days: int, rows: int, seed: int) -> list[pd.DataFrame]:
    return [simulator.generate_day(simulator.DayPlan(day=FIRST + dt.timedelta(days=i),
                                                     rows=rows, seed=seed))
            for i in range(days)]


def with_features(frames: list[pd.DataFrame], legacy_count: bool) -> pd.DataFrame:
    """Each day's rows joined to its feature rows (the point-in-time join for midnight rows);
    the first day has none and is left out, as `training_set` does."""
    sums = pd.concat([aggregates.day_sums(f, (FIRST + dt.timedelta(days=i)).isoformat())
                      for i, f in enumerate(frames)], ignore_index=True)
    out = []
    for i, frame in enumerate(frames[1:], start=1):
        day = FIRST + dt.timedelta(days=i)
        stats = aggregates.window_stats(sums, day)
        if legacy_count:
            present = min(i, aggregates.DEFAULT_WINDOW_DAYS)
            stats[VOLUME] = stats[VOLUME] * present
        out.append(frame.merge(stats[[ENTITY, *FEATURES]], on=ENTITY, how="left",
                               validate="many_to_one").assign(_day=day.isoformat()))
    return pd.concat(out, ignore_index=True)


def one_history(days: int, rows: int, seed: int, legacy_count: bool) -> dict[str, float]:
    frame = with_features(landed(days, rows, seed), legacy_count)
    feature_days = sorted(frame["_day"].unique())
    holdout_days = default_holdout_days(len(feature_days))
    first_holdout = feature_days[-holdout_days]
    train_rows = frame[frame["_day"] < first_holdout]
    holdout = frame[frame["_day"] >= first_holdout]
    trained = training.train(train_rows)
    labels = holdout[contract.LABEL].to_numpy()
    proba = training.fraud_probability(trained.pipeline, holdout)
    stored = evaluation.score(labels, proba, trained.threshold)
    best = evaluation.score(labels, proba, evaluation.best_f1_threshold(labels, proba))
    return {"days": days, "holdout_days": holdout_days, "holdout_rows": len(holdout),
            "threshold": trained.threshold, "pr_auc": stored["pr_auc"],
            "f1_stored": stored["f1"], "f1_best": best["f1"],
            "gap": best["f1"] - stored["f1"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000, help="rows per landed day")
    parser.add_argument("--histories", type=int, nargs="+", default=[8, 15, 30])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--legacy-count", action="store_true",
                        help="use the old window count instead of the per-day volume")
    args = parser.parse_args()
    feature = "window count (legacy)" if args.legacy_count else VOLUME
    print(f"{args.rows:,} rows/day, volume feature: {feature}, goal: gap <= {GOAL}")
    print(f"{'days':>4} {'holdout':>7} {'rows':>9} {'thresh':>7} {'PR-AUC':>7} "
          f"{'F1@stored':>9} {'F1 best':>8} {'gap':>7}  verdict   time")
    worst = 0.0
    for days in args.histories:
        t = time.perf_counter()
        r = one_history(days, args.rows, args.seed, args.legacy_count)
        worst = max(worst, r["gap"])
        verdict = "ok" if r["gap"] <= GOAL else "TOO FAR"
        print(f"{days:>4} {r['holdout_days']:>7} {r['holdout_rows']:>9,} {r['threshold']:7.4f} "
              f"{r['pr_auc']:7.4f} {r['f1_stored']:9.4f} {r['f1_best']:8.4f} {r['gap']:7.4f}"
              f"  {verdict:<8} {time.perf_counter() - t:5.1f}s", flush=True)
    print(f"largest gap {worst:.4f} ({'within' if worst <= GOAL else 'over'} {GOAL})")


if __name__ == "__main__":
    main()
