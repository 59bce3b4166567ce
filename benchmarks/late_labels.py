"""Late labels on a simulated month: label maturity per day, and how far the estimated
precision, recall and decision cost of `model_performance` are from the measured ones.

The simulator's default label delay (`simulator.LabelDelay`: log-normal, median 3 days,
sigma 1.2, capped at 90 days) stamps every transaction's verdict. A model is trained as
`fraud_model` trains (`model.training.train`) on the `--train-days` before the month, then
each day of the month is scored at the stored threshold. Per day:

* maturity: the share of its transactions whose label is known at the end of the month
  (what `model_performance` sees that day: `labels.maturity`);
* measured precision / recall: with every label (they all arrive, the delay is capped);
* estimated at landing: `monitoring.performance.estimate` with no label known (pure
  confidence-based estimation from the model's probabilities, as `model_performance`
  does), the value the UI shows on the day itself; also from the version's
  Platt-calibrated probabilities, for comparison;
* estimated at month end: the same with the labels known by then;
* cost: the day's decisions at the version's bands and stored costs priced on the labels
  (`decisions.realized_costs`) and estimated at landing from the probabilities
  (`decisions.expected_costs`, as `model_performance` does).

"Matured days" are those at or above `model_performance`'s default maturity (95%) at month
end: there the first estimate can be checked against the measured value, which is the
number the issue asks for.

Usage: .venv/bin/python -m benchmarks.late_labels [--rows 5000] [--train-days 30] [--days 30]
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

import numpy as np
import pandas as pd

from benchmarks.model_quality import simulate, with_features
from fraud_assets import contract, labels, simulator
from fraud_assets.model import decisions, evaluation, training
from fraud_assets.monitoring import performance

TIME = contract.EVENT_TIMESTAMP.name
START = dt.date(2025, 1, 1)


def delayed_labels(frame: pd.DataFrame, day: dt.date, seed: int) -> pd.Series:
    """Each row's label_timestamp under the simulator's default delay (same index)."""
    plan = simulator.DayPlan(day=day, rows=len(frame), seed=seed,
                             label_delay=simulator.LabelDelay())
    feed = simulator.day_labels(frame, plan).set_index(contract.TRANSACTION_ID.name)
    return frame[contract.TRANSACTION_ID.name].map(feed[contract.LABEL_TIMESTAMP.name])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=5_000, help="transactions per day")
    parser.add_argument("--train-days", type=int, default=30)
    parser.add_argument("--days", type=int, default=30, help="days of the simulated month")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    t = time.perf_counter()
    frame = with_features(simulate(START, args.train_days + args.days, args.rows, args.seed))
    first_month_day = START + dt.timedelta(days=args.train_days)
    cut = pd.Timestamp(first_month_day, tz="UTC")
    trained = training.train(frame[frame[TIME] < cut])
    month = frame[frame[TIME] >= cut].reset_index(drop=True)
    month_end = cut + pd.Timedelta(days=args.days)
    print(f"trained on {trained.rows:,} rows before {first_month_day} (threshold "
          f"{trained.threshold:.4f}) in {time.perf_counter() - t:.1f}s; month "
          f"{first_month_day} .. {(month_end - pd.Timedelta(days=1)):%Y-%m-%d}, "
          f"{args.rows:,} rows a day, labels known as of {month_end:%Y-%m-%d}")

    rows = []
    all_delays = []
    for day, part in month.groupby(month[TIME].dt.date, sort=True):
        part = part.reset_index(drop=True)
        stamps = delayed_labels(part, day, args.seed)
        all_delays.append((stamps - part[TIME]).dt.total_seconds() / 86_400)
        truth = part[contract.LABEL].astype("Int64")
        scores = training.fraud_probability(trained.pipeline, part)
        known = truth.where((stamps <= month_end).to_numpy(), pd.NA)
        measured = evaluation.score(truth.to_numpy(int), scores, trained.threshold)
        calibrated = (trained.policy.calibration.apply(scores) if trained.policy is not None
                      else scores)  # the version's Platt calibration (decisions)
        nothing = pd.Series(pd.NA, index=part.index, dtype="Int64")
        at_landing = performance.estimate(nothing, scores, trained.threshold)
        at_end = performance.estimate(known, scores, trained.threshold)
        platt = performance.estimate(nothing, scores, trained.threshold, calibrated)
        cost, cost_est = day_costs(trained, truth.to_numpy(int), scores, scores, part)
        _, cost_platt = day_costs(trained, truth.to_numpy(int), scores, calibrated, part)
        rows.append({"day": str(day), "maturity": labels.maturity(known),
                     "frauds": int(truth.sum()),
                     "precision": measured["precision"], "est_landing": at_landing["precision"],
                     "est_month_end": at_end["precision"], "recall": measured["recall"],
                     "recall_est_landing": at_landing["recall"],
                     "recall_est_month_end": at_end["recall"],
                     "est_landing_platt": platt["precision"],
                     "cost": cost, "cost_est_landing": cost_est,
                     "cost_est_landing_platt": cost_platt})
    table = pd.DataFrame(rows)
    delays = pd.concat(all_delays)
    print("label delay (days): " + ", ".join(
        f"p{int(q * 100)} {delays.quantile(q):.1f}" for q in (0.5, 0.75, 0.9, 0.99))
          + f"; within 7 days {(delays <= 7).mean():.1%}, after 14 days "
          f"{(delays > 14).mean():.1%}")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    matured = table[table["maturity"] >= performance.DEFAULT_MIN_LABEL_MATURITY]
    print(f"\n{len(matured)} of {len(table)} days matured (>= "
          f"{performance.DEFAULT_MIN_LABEL_MATURITY:.0%} of labels known at month end)")
    for name, est, measured_name in (
            ("precision at landing", "est_landing", "precision"),
            ("recall at landing", "recall_est_landing", "recall"),
            ("precision at month end (immature days)", "est_month_end", "precision"),
            ("precision at landing, every day (all labels)", "est_landing", "precision"),
            ("same from Platt-calibrated probabilities", "est_landing_platt", "precision")):
        part = matured if "landing" in est else table[
            table["maturity"] < performance.DEFAULT_MIN_LABEL_MATURITY]
        part = table if "every day" in name or "Platt" in name else part
        if part.empty:
            continue
        error = part[est] - part[measured_name]
        print(f"{name:<45} on {len(part):>2} days: mean abs error {error.abs().mean():.4f}, "
              f"bias {error.mean():+.4f}, max abs {error.abs().max():.4f} "
              f"(measured mean {part[measured_name].mean():.4f})")
    for name, column in (("raw", "cost_est_landing"), ("Platt", "cost_est_landing_platt")):
        error = (table[column] - table["cost"]) / table["cost"]
        print(f"decision cost at landing from {name} probabilities, relative error, every "
              f"day: mean abs {error.abs().mean():.1%}, bias {error.mean():+.1%}")
    print(f"day-to-day spread of the measured precision on matured days: "
          f"{np.std(matured['precision']):.4f} (the noise an estimate competes with)")


def day_costs(trained: training.TrainedModel, truth: np.ndarray, scores: np.ndarray,
              proba: np.ndarray, part: pd.DataFrame) -> tuple[float, float]:
    """The day's decision cost at the version's bands: measured, and estimated at landing
    from `proba` (P(fraud) per row)."""
    policy = trained.policy
    bands = policy.bands if policy else decisions.Bands.from_threshold(trained.threshold)
    costs = policy.costs if policy else decisions.DEFAULT_COSTS
    amount, day = part[contract.AMOUNT.name].to_numpy(), np.zeros(len(part))
    return (decisions.realized_costs(truth, scores, amount, day, bands, costs).cost,
            decisions.expected_costs(proba, scores, amount, day, bands, costs).cost)


if __name__ == "__main__":
    main()
