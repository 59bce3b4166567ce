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
best F1 0.580). This handbook part uses the card-less inputs it always used (its rows
carry card ids, but no card features are computed: they are unknown to the model).

Then, per card scenario (issue 15; docs/CARDS.md: `normal` with cards, `card_testing`,
`burst_across_merchants`), the same training and test windows drawn from that scenario,
with the per-card features computed by THE definition
(`features.cards.card_window_features`, each row against every event of the window
strictly before it, as the `card_features` asset computes them offline) and joined to the
merchant features: the PR-AUC of the model trained on them (`training.train`, as
`fraud_model` trains), the generator's card ceiling on the same test rows
(`benchmarks.card_ceiling.posterior`, an upper bound; goal: within 0.02), and the lift
over the same model trained without the card features. Rows per day are the same in
training and test: the merchant features are counts per day, so a test at another daily
volume scores the model outside the range it was fitted on.

Usage: .venv/bin/python -m benchmarks.model_quality [--test-days 101] [--rows 10000]
       [--scenarios normal card_testing burst_across_merchants] [--no-handbook]
       [--model-family logistic_regression|hist_gradient_boosting]
Runtime (2 cores shared with other sessions): the defaults (1,000,000 test rows per part)
6 min 41 s, 2.5 GB peak (the handbook ~2 min, each card scenario ~1.5 min);
`--rows 2000 --test-days 21` (40,000 test rows) ~15 s per card scenario.

Numbers (the defaults; docs/CARDS.md, "The platform's model against the ceiling"):
PR-AUC with cards / ceiling / without cards: normal 0.8825 / 0.9017 / 0.6362, card_testing
0.9687 / 0.9828 / 0.6573, burst_across_merchants 0.8741 / 0.8926 / 0.5142.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

import numpy as np
import pandas as pd

from fraud_assets import contract, simulator
from fraud_assets.features import aggregates
from fraud_assets.features.cards import card_window_features
from fraud_assets.features.names import CARD_FEATURES, ENTITY, FEATURES
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


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-days", type=int, default=30)
    parser.add_argument("--holdout-days", type=int, default=5)
    parser.add_argument("--rows", type=int, default=10_000,
                        help="rows per day, in training and test (test rows = rows x "
                             "(test days - 1))")
    parser.add_argument("--test-days", type=int, default=101,
                        help="test days (the first has no history and is dropped)")
    parser.add_argument("--scenarios", nargs="*", default=list(CARD_SCENARIOS),
                        choices=CARD_SCENARIOS,
                        help="card scenarios to measure (none: only the handbook part)")
    parser.add_argument("--no-handbook", action="store_true",
                        help="skip the handbook (card-less) part")
    parser.add_argument("--model-family", choices=training.MODEL_FAMILIES,
                        default=training.LOGISTIC_REGRESSION,
                        help="the model family of the card part (fraud_model's default: "
                             "logistic_regression)")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if not args.no_handbook:
        handbook(args)
    if args.scenarios:
        cards(args)


def handbook(args: argparse.Namespace) -> None:
    """The handbook's model against its ceiling (the row's own fields), as before cards."""
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


# The card scenarios of docs/CARDS.md (benchmarks.card_ceiling.SCENARIOS; a literal here
# because card_ceiling imports this module).
CARD_SCENARIOS = ("normal", "card_testing", "burst_across_merchants")
TRAIN_START, TEST_START = dt.date(2025, 1, 1), dt.date(2026, 3, 1)
TRAIN_SEED, TEST_SEED = 42, 20_260
CEILING = "_card_ceiling"  # the test rows' ceiling score, carried through the joins


def with_card_features(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with CARD_FEATURES: every row against every event of `frame` strictly before
    it (the offline asset's history is the 30 days before a day plus the day itself, which
    gives the same values: nothing older than 30 days, and nothing not before, counts)."""
    return frame.join(card_window_features(frame, frame))


def card_windows(args: argparse.Namespace, scenario: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train rows, test rows) of `scenario` with merchant and card features; the test
    rows carry the card ceiling's score in CEILING."""
    from benchmarks import card_ceiling  # imports this module: not at the top

    window = card_ceiling.simulate(TRAIN_START, args.train_days, args.rows, TRAIN_SEED, scenario)
    window = with_features(with_card_features(window))
    last_train_day = TRAIN_START + dt.timedelta(days=args.train_days - args.holdout_days)
    train_rows = window[window[TIME] < pd.Timestamp(last_train_day, tz="UTC")]
    test = card_ceiling.simulate(TEST_START, args.test_days, args.rows, TEST_SEED, scenario)
    test[CEILING] = card_ceiling.posterior(test, card_ceiling.card_model(scenario), scenario,
                                           TEST_SEED, args.rows)
    return train_rows, with_features(with_card_features(test))


def card_quality(args: argparse.Namespace, scenario: str) -> dict[str, float]:
    """PR-AUC (and ROC-AUC) of the model with and without card features and of the
    ceiling, on `scenario`'s fresh test sample."""
    t = time.perf_counter()
    train_rows, test = card_windows(args, scenario)
    labels = test[contract.LABEL].to_numpy()
    params = training.TrainParams(model_family=args.model_family)
    without = list(CARD_FEATURES)
    with_cards = training.train(train_rows, params)
    plain = training.train(train_rows.drop(columns=without), params)
    scores = {
        "model": training.fraud_probability(with_cards.pipeline, test),
        "ceiling": test[CEILING].to_numpy(),
        "no_cards": training.fraud_probability(plain.pipeline, test.drop(columns=without)),
    }
    result: dict[str, float] = {"rows": len(test), "fraud": int(labels.sum())}
    for name, score in scores.items():
        measured = evaluation.score(labels, score, 0.5)
        result[f"{name}_pr_auc"], result[f"{name}_roc_auc"] = (measured["pr_auc"],
                                                                measured["roc_auc"])
    result["seconds"] = time.perf_counter() - t
    print(f"  {scenario}: {len(test):,} test rows ({result['fraud']:,} fraud) after training "
          f"on {len(train_rows):,}, {result['seconds']:.0f}s", flush=True)
    return result


def cards(args: argparse.Namespace) -> None:
    """The card scenarios' table: model with card features vs the ceiling and vs no cards."""
    print(f"card scenarios: train {args.train_days - args.holdout_days} days x {args.rows:,} "
          f"rows/day (seed {TRAIN_SEED}), test {args.test_days - 1} days x {args.rows:,} "
          f"(seed {TEST_SEED}, from {TEST_START + dt.timedelta(days=1)}), "
          f"model family {args.model_family}", flush=True)
    results = {scenario: card_quality(args, scenario) for scenario in args.scenarios}
    print(f"{'PR-AUC':<24} {'cards':>7} {'ceiling':>8} {'gap':>7} {'no cards':>9} "
          f"{'lift':>7}  goal: gap <= 0.02")
    for scenario, r in results.items():
        gap = r["ceiling_pr_auc"] - r["model_pr_auc"]
        lift = r["model_pr_auc"] - r["no_cards_pr_auc"]
        verdict = "ok" if gap <= 0.02 else "ABOVE GOAL"
        print(f"{scenario:<24} {r['model_pr_auc']:7.4f} {r['ceiling_pr_auc']:8.4f} "
              f"{gap:7.4f} {r['no_cards_pr_auc']:9.4f} {lift:+7.4f}  {verdict}")
    print(f"{'ROC-AUC':<24} {'cards':>7} {'ceiling':>8} {'gap':>7} {'no cards':>9}")
    for scenario, r in results.items():
        print(f"{scenario:<24} {r['model_roc_auc']:7.4f} {r['ceiling_roc_auc']:8.4f} "
              f"{r['ceiling_roc_auc'] - r['model_roc_auc']:7.4f} {r['no_cards_roc_auc']:9.4f}")


if __name__ == "__main__":
    main()
