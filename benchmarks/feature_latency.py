"""Feature store numbers: online lookup latency and the training-set build time.

Builds a throwaway FRAUD_HOME (validated days in the lake, merchant features for each
day, Feast apply + materialize), then times
- `features.online.online_features` for one transaction (p50/p99 over --calls calls),
  for 100 and for 10,000 transactions (one online read each), and the bare Feast read
  underneath it;
- the `training_set` asset's work for --rows transactions: read the validated days from
  the lake, join the features point in time through Feast, split.

`--profile server` does the same on the server profile: Redis online store, SQL registry
on PostgreSQL (the servers of `make servers`, started if they are not running; the
benchmark uses its own databases `bench_*` and Redis database 15, so a platform's data is
left alone). `--profile local` (the default): SQLite online store, file registry.

Usage: .venv/bin/python -m benchmarks.feature_latency [--rows 1000000] [--days 30]
       .venv/bin/python -m benchmarks.feature_latency --profile server --rows 100000
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from fraud_assets import contract, lake, settings, simulator
from fraud_assets.features import aggregates, offline, online, training
from fraud_assets.features.store import MerchantFeatureStore

VALIDATED = "transactions_validated"
FIRST_DAY = dt.date(2025, 1, 1)


def land_days(home: Path, days: int, rows_per_day: int) -> list[str]:
    """Validated days in the lake, typed as the ingest assets write them."""
    keys = []
    for i in range(days):
        day = FIRST_DAY + dt.timedelta(days=i)
        frame = simulator.generate_day(simulator.DayPlan(day=day, rows=rows_per_day))
        frame = frame.astype({"transaction_id": "string", "merchant_category": "string"})
        lake.write_frame(frame, lake.partition_path(home / "lake", VALIDATED, day.isoformat()))
        keys.append(day.isoformat())
    return keys


def build_features(home: Path, keys: list[str]) -> MerchantFeatureStore:
    history = lake.read_partitions(VALIDATED, keys, home / "lake")
    store = MerchantFeatureStore(home)
    store.apply()
    for key in keys:
        day = dt.date.fromisoformat(key)
        offline.write_day(store.feast_dir, day, aggregates.merchant_stats(history, day))
    store.materialize()
    return store


def latency(call: Callable[[], object], calls: int) -> tuple[float, float]:
    """(p50, p99) in milliseconds, after a few warm-up calls."""
    for _ in range(min(20, calls)):
        call()
    times = np.empty(calls)
    for i in range(calls):
        t = time.perf_counter()
        call()
        times[i] = time.perf_counter() - t
    return float(np.percentile(times, 50) * 1e3), float(np.percentile(times, 99) * 1e3)


def transactions(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"merchant_category": rng.choice(contract.MERCHANT_CATEGORIES, n)})


def report_online(store: MerchantFeatureStore, calls: int) -> None:
    one, hundred, batch = transactions(1), transactions(100), transactions(10_000)
    rows = [
        ("online_features, 1 transaction", calls, lambda: online.online_features(one, store)),
        ("  bare Feast read, 1 key + prior", calls, lambda: store.online(["grocery", "__all__"])),
        ("online_features, 100 transactions", calls // 4,
         lambda: online.online_features(hundred, store)),
        ("online_features, 10,000 transactions", 100,
         lambda: online.online_features(batch, store)),
    ]
    for label, n, call in rows:
        p50, p99 = latency(call, n)
        print(f"{label:<40} p50 {p50:7.2f} ms   p99 {p99:7.2f} ms   ({n:,} calls)")


def report_training(home: Path, store: MerchantFeatureStore, keys: list[str]) -> None:
    t0 = time.perf_counter()
    validated = lake.read_partitions(VALIDATED, training.select_days(keys), home / "lake")
    t1 = time.perf_counter()
    result = training.build_training_set(validated, store, holdout_days=5)
    t2 = time.perf_counter()
    print(f"training_set: {len(validated):,} validated transactions -> {len(result.frame):,} "
          f"rows ({result.rows_without_history:,} without history)")
    print(f"  read lake {t1 - t0:.2f}s + Feast point-in-time join and split {t2 - t1:.2f}s "
          f"= {t2 - t0:.2f}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="training transactions")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--calls", type=int, default=2_000)
    parser.add_argument("--profile", choices=settings.PROFILES, default=settings.LOCAL,
                        help="local: SQLite online store; server: Redis + SQL registry")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    if args.profile == settings.SERVER:
        from benchmarks.profiles import use_server_profile

        use_server_profile()
    print(f"profile {args.profile}")
    with tempfile.TemporaryDirectory(prefix="feature_bench_") as tmp:
        home = Path(tmp)
        t = time.perf_counter()
        keys = land_days(home, args.days, -(-args.rows // args.days))
        store = build_features(home, keys)
        print(f"setup: {args.days} days, features applied and materialized "
              f"in {time.perf_counter() - t:.1f}s")
        report_online(store, args.calls)
        report_training(home, store, keys)


if __name__ == "__main__":
    main()
