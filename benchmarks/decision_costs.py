"""Money-based decisions on a simulated month: cost and review load at the chosen bands
versus the best-F1 threshold, and calibration.

A month of the simulator's days (default 30 x 10,000 rows) with their merchant features
(`benchmarks.model_quality`'s offline join); the first days train, the last
`--holdout-days` are the holdout, the same rows for every policy. The model is trained
exactly as the `fraud_model` asset does (`training.train`: threshold = best F1 on the
validation slice; calibration and bands by expected cost on the same slice). Every policy
is then priced on the holdout with its labels (`decisions.realized_costs`: a missed fraud
costs its amount, a review `--review-cost`, a blocked legitimate customer
`--blocked-cost`, at most `--capacity` reviews a day, the overflow approved):

* approve all (no model);
* best-F1 threshold, flagged = blocked (the handbook's `is_fraud` acted on);
* best-F1 threshold, flagged = reviewed (capacity applies);
* cost-optimal block threshold alone (the bands' search with no review capacity);
* the chosen review/block bands.

Calibration: the Brier score of the raw and the calibrated probabilities on the holdout,
and a reliability diagram logged to MLflow (experiment `decision-benchmarks` in the
profile's store, FRAUD_HOME) with every number as a metric.

Labels here are known at landing; the delayed-label protocol (train / delay / test) is
the label feed's (issue 16 parts 1-2).

Usage: .venv/bin/python -m benchmarks.decision_costs [--days 30] [--rows 10000]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from mlflow import MlflowClient

from benchmarks.model_quality import simulate, with_features
from fraud_assets import contract, settings
from fraud_assets.model import decisions, evaluation, training

TIME = contract.EVENT_TIMESTAMP.name
EXPERIMENT = "decision-benchmarks"


def price(name: str, bands: decisions.Bands, holdout: pd.DataFrame, proba: np.ndarray,
          costs: decisions.Costs) -> dict[str, object]:
    truth = holdout[contract.LABEL].to_numpy()
    day = contract.utc_days(holdout[TIME])
    report = decisions.realized_costs(truth, proba, holdout[contract.AMOUNT.name].to_numpy(),
                                      day, bands, costs)
    days = len(np.unique(day))
    return {"policy": name, "review_at": round(bands.review, 4),
            "block_at": round(min(bands.block, 1.0), 4) if bands.block <= 1 else "never",
            "cost_per_day": round(report.cost / days, 1),
            "saved_per_day": round(report.cost_saved / days, 1),
            "reviews_per_day": round(report.reviews_per_day, 1),
            "overflow_per_day": round(report.review_overflow / days, 1),
            "blocks_per_day": round(report.blocks / days, 1),
            "blocked_legit_per_day": round(report.blocked_legit / days, 1),
            "fraud_missed_per_day": round(report.fraud_missed / days, 1)}


def log_to_mlflow(results: list[dict[str, object]], brier: dict[str, float],
                  plot: Path, args: argparse.Namespace) -> str:
    """One MLflow run in EXPERIMENT: params, every number as a metric, the plot."""
    uri = settings.mlflow_tracking_uri()
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    client = MlflowClient(tracking_uri=uri)
    found = client.get_experiment_by_name(EXPERIMENT)
    experiment = found.experiment_id if found else client.create_experiment(
        EXPERIMENT, artifact_location=(settings.mlflow_artifacts_dir().resolve().as_uri()
                                       if uri.startswith("sqlite") else None))
    run = client.create_run(experiment, run_name="decision-costs")
    run_id = run.info.run_id
    for key, value in vars(args).items():
        client.log_param(run_id, key, value)
    for key, value in brier.items():
        client.log_metric(run_id, key, value)
    for row in results:
        for key, value in row.items():
            if isinstance(value, int | float):
                client.log_metric(run_id, f"{row['policy'].replace(' ', '_')}.{key}", value)
    client.log_artifact(run_id, str(plot), artifact_path="plots")
    client.log_dict(run_id, {"policies": results, "calibration": brier}, "results.json")
    client.set_terminated(run_id)
    return run_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=30, help="simulated days in all")
    parser.add_argument("--holdout-days", type=int, default=7)
    parser.add_argument("--rows", type=int, default=10_000, help="rows per day")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--review-cost", type=float, default=decisions.DEFAULT_COSTS.review)
    parser.add_argument("--blocked-cost", type=float,
                        default=decisions.DEFAULT_COSTS.blocked_legit)
    parser.add_argument("--capacity", type=int,
                        default=decisions.DEFAULT_COSTS.review_capacity_per_day,
                        help="reviews per day")
    args = parser.parse_args()
    costs = decisions.Costs(review=args.review_cost, blocked_legit=args.blocked_cost,
                            review_capacity_per_day=args.capacity)
    started = time.perf_counter()
    print(f"simulating {args.days} days x {args.rows:,} rows ...", flush=True)
    frame = with_features(simulate(dt.date(2025, 1, 1), args.days, args.rows, args.seed))
    first_holdout = frame[TIME].dt.floor("D").max() - pd.Timedelta(days=args.holdout_days - 1)
    train_rows = frame[frame[TIME] < first_holdout].reset_index(drop=True)
    holdout = frame[frame[TIME] >= first_holdout].reset_index(drop=True)
    print(f"training on {len(train_rows):,} rows, holdout {len(holdout):,} rows "
          f"({args.holdout_days} days) ...", flush=True)
    trained = training.train(train_rows, costs=costs)
    policy = trained.policy
    assert policy is not None
    proba = training.fraud_probability(trained.pipeline, holdout)
    # The best block threshold without any review, chosen like the bands on the same
    # validation slice and model: what the review band adds.
    fit, validation = training.split_validation(train_rows, trained.params.validation_fraction)
    validation_proba = training.fraud_probability(training.fit_pipeline(fit), validation)
    block_only = decisions.choose_bands(
        validation_proba, policy.calibration.apply(validation_proba),
        validation[contract.AMOUNT.name].to_numpy(),
        training.validation_days(train_rows, validation),
        dataclasses.replace(costs, review_capacity_per_day=0))
    results = [
        price("approve all", decisions.Bands(decisions.NEVER, decisions.NEVER), holdout,
              proba, costs),
        price("best-F1 block", decisions.Bands.from_threshold(trained.threshold), holdout,
              proba, costs),
        price("best-F1 review", decisions.Bands(trained.threshold, decisions.NEVER), holdout,
              proba, costs),
        price("cost-optimal block only", block_only.bands, holdout, proba, costs),
        price("chosen bands", policy.bands, holdout, proba, costs),
    ]
    truth = holdout[contract.LABEL].to_numpy()
    calibrated = policy.calibration.apply(proba)
    brier = {"holdout_brier_raw": decisions.brier(truth, proba),
             "holdout_brier_calibrated": decisions.brier(truth, calibrated),
             "validation_brier_raw": trained.decision_metrics["brier_raw"],
             "validation_brier_calibrated": trained.decision_metrics["brier_calibrated"]}
    with tempfile.TemporaryDirectory() as tmp:
        plot = evaluation.save_reliability_plot(truth, proba, calibrated, Path(tmp))
        run_id = log_to_mlflow(results, brier, plot, args)
    print(pd.DataFrame(results).to_string(index=False))
    print(json.dumps({k: round(v, 6) for k, v in brier.items()}))
    print(f"calibration: a={policy.calibration.a:.4f} b={policy.calibration.b:.4f}; "
          f"best-F1 threshold {trained.threshold:.4f}; costs {dataclasses.asdict(costs)}")
    print(f"MLflow run {run_id} in experiment {EXPERIMENT!r} ({settings.mlflow_tracking_uri()})"
          f"; {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
