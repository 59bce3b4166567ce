"""What measuring a day on a weighted sample costs and changes (`model_performance`).

On a platform state with a champion (e.g. `benchmarks.scale`'s `pipeline-1000000x30`),
measures one validated day with `monitoring.performance.measure_day` scoring every row,
then with each --sample-rows (every known fraud + a hash-chosen, weighted share of the
others), and prints per run the seconds (the second of two calls, so no first-use costs),
the rows scored and every metric beside the whole day's.

Usage: FRAUD_HOME=DIR .venv/bin/python -m benchmarks.performance_sample --day 2025-01-30
       [--sample-rows 400000 200000 100000]
"""

from __future__ import annotations

import argparse
import time

from fraud_assets import labels, lake, names, settings
from fraud_assets.features.store import FEATURE_REPO, MerchantFeatureStore
from fraud_assets.model.registry import MlflowRegistry
from fraud_assets.monitoring import performance
from fraud_assets.monitoring.scoring import load_champion

WHOLE = 10**12  # more rows than any day: score every row
SHOWN = ("precision", "recall", "f1", "pr_auc", "roc_auc", "cost", "reviews_per_day",
         "blocks")


def measure(day: str, sample_rows: int) -> tuple[float, performance.DayPerformance]:
    """The seconds of the second of two calls, and its result."""
    home = settings.fraud_home()
    champion = load_champion(MlflowRegistry())
    if champion is None:
        raise SystemExit(f"{home}: no champion to measure (run the pipeline first)")
    store = MerchantFeatureStore(home, FEATURE_REPO)
    validated = lake.read_frame(lake.partition_path(settings.lake_dir(home),
                                                    names.TRANSACTIONS_VALIDATED, day))
    feed = labels.read_accepted(settings.lake_dir(home), [day])
    for _ in range(2):
        start = time.perf_counter()
        result = performance.measure_day(day, validated, champion, store, feed=feed,
                                         sample_rows=sample_rows)
        seconds = time.perf_counter() - start
    return seconds, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--day", required=True, help="a validated day with labels (ISO)")
    parser.add_argument("--sample-rows", type=int, nargs="+",
                        default=[400_000, 200_000, 100_000],
                        help="rows other than known frauds to score, about")
    args = parser.parse_args()
    settings.disable_telemetry()
    seconds, whole = measure(args.day, WHOLE)
    print(f"{args.day}: {whole.rows_scored:,} rows, {whole.frauds:,} frauds; champion "
          f"v{whole.champion.version} at threshold {whole.champion.threshold:.4f}")
    print(f"{'scored':>12} {'rate':>6} {'seconds':>8} " + " ".join(f"{m:>15}" for m in SHOWN))
    print(f"{'all':>12} {1:6.3f} {seconds:8.2f} "
          + " ".join(f"{whole.metrics[m]:15.4f}" for m in SHOWN))
    for rows in args.sample_rows:
        seconds, day = measure(args.day, rows)
        print(f"{day.rows_sampled:12,} {day.sample_rate:6.3f} {seconds:8.2f} " + " ".join(
            f"{day.metrics[m]:15.4f}" for m in SHOWN))
        print(f"{'(difference)':>29} " + " ".join(
            f"{day.metrics[m] - whole.metrics[m]:+15.4f}" for m in SHOWN))


if __name__ == "__main__":
    main()
