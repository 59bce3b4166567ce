"""Accuracy of the drift alarm on the handbook's scenarios.

A reference of `--reference-days` normal days (the champion's training window), then
`--normal-days` normal days (every alarm is a false alarm) and, for each scenario,
`--scenario-days` days of it starting the day after the reference. Targets at 2,000 rows
per day: at most one false alarm over 30 normal days, and amount_x2, late_night and
fraud_spike each alarm on their first day.

Two modes, the two reports the platform produces:
  transactions  a landed day: request fields + label (is_fraud), no score
  predictions   a day of the serving log: request fields + score, no label; the score
                comes from a stand-in logistic regression trained on the reference
                (the real champion is trained by the model assets)

Usage: .venv/bin/python benchmarks/drift_alarm_accuracy.py [--seeds 42,7] [--mode both]
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder

from fraud_assets import contract, simulator
from fraud_assets.monitoring import columns
from fraud_assets.monitoring.drift import DriftPolicy, compare

START = dt.date(2025, 1, 1)
SCENARIOS = ("amount_x2", "late_night", "fraud_spike")


@dataclass(frozen=True)
class Row:
    mode: str
    seed: int
    scenario: str
    days: int
    alarms: int
    first_day: str  # "yes" / "no" / "-" for normal days
    false_alarms: int
    first_day_columns: str
    # Highest score per column over the days: for normal days, the margin to the threshold.
    peak_scores: str


def days(seed: int, first: int, count: int, rows: int, scenario: str = "normal") -> list:
    return [simulator.generate_day(simulator.DayPlan(
        START + dt.timedelta(days=first + i), rows=rows, scenario=scenario, seed=seed))
        for i in range(count)]


def stand_in_model(reference: pd.DataFrame) -> Callable[[pd.DataFrame], np.ndarray]:
    """A small scorer of the champion's kind (log amount, one-hot hour and category)."""
    log = FunctionTransformer(lambda x: np.log(np.asarray(x, dtype=float)))
    encode = ColumnTransformer([
        ("amount", log, [contract.AMOUNT.name]),
        ("cats", OneHotEncoder(handle_unknown="ignore"),
         [contract.HOUR.name, contract.MERCHANT_CATEGORY.name])])
    model = make_pipeline(encode, LogisticRegression(max_iter=1000))
    model.fit(reference, reference[contract.LABEL])
    return lambda frame: model.predict_proba(frame)[:, 1]


def as_mode(frame: pd.DataFrame, mode: str, score) -> pd.DataFrame:
    if mode == "transactions":
        return frame
    # What the serving log holds: the request and the answer, no label yet.
    return frame.drop(columns=[contract.LABEL]).assign(**{columns.SCORE: score(frame)})


def evaluate(mode: str, seed: int, args: argparse.Namespace) -> list[Row]:
    reference = pd.concat(days(seed, 0, args.reference_days, args.rows), ignore_index=True)
    policy = DriftPolicy()
    score = stand_in_model(reference) if mode == "predictions" else None
    ref = as_mode(reference, mode, score)
    out = []
    cases = [("normal", args.normal_days)] + [(s, args.scenario_days) for s in SCENARIOS]
    for scenario, count in cases:
        summaries = [compare(ref, as_mode(day, mode, score), policy).summary
                     for day in days(seed, args.reference_days, count, args.rows, scenario)]
        alarms = sum(s.dataset_drift for s in summaries)
        normal = scenario == "normal"
        out.append(Row(mode, seed, scenario, count, alarms,
                       "-" if normal else ("yes" if summaries[0].dataset_drift else "no"),
                       alarms if normal else 0,
                       ", ".join(summaries[0].drifted_columns) or "none",
                       peaks(summaries) if normal else ""))
    return out


def peaks(summaries: list) -> str:
    top: dict[str, float] = {}
    for summary in summaries:
        for c in summary.columns:
            top[c.column] = max(top.get(c.column, 0.0), c.score)
    return ", ".join(f"{name} {score:.3f}" for name, score in top.items())


def print_table(rows: list[Row]) -> None:
    frame = pd.DataFrame([r.__dict__ for r in rows]).rename(columns={
        "first_day": "first-day alarm", "false_alarms": "false alarms",
        "first_day_columns": "drifted on first day"})
    print(frame.drop(columns=["peak_scores"]).to_markdown(index=False))
    print("\nhighest score per column over the normal days (threshold in the rule above):")
    for row in rows:
        if row.scenario == "normal":
            print(f"  {row.mode:<12} seed {row.seed:<4} {row.peak_scores}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=2_000)
    parser.add_argument("--reference-days", type=int, default=28)
    parser.add_argument("--normal-days", type=int, default=30)
    parser.add_argument("--scenario-days", type=int, default=3)
    parser.add_argument("--seeds", default="42", help="comma-separated simulator seeds")
    parser.add_argument("--mode", choices=("transactions", "predictions", "both"),
                        default="both")
    args = parser.parse_args()
    modes = ("transactions", "predictions") if args.mode == "both" else (args.mode,)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    policy = DriftPolicy()
    print(f"rule: alarm when >= {policy.min_drifted_columns} column(s) drift "
          f"(and >= {policy.min_rows:,} rows); per column:")
    for spec in columns.ALL:
        print(f"  {spec.name:<18} {spec.role:<10} {spec.method:<13} >= {spec.threshold:g}")
    started = time.perf_counter()
    rows = [row for mode in modes for seed in seeds for row in evaluate(mode, seed, args)]
    print()
    print_table(rows)
    print(f"\n{args.rows:,} rows/day, reference {args.reference_days} days; "
          f"{time.perf_counter() - started:.1f}s")


if __name__ == "__main__":
    main()
