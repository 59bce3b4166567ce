"""Seconds of one day's card features as the `card_features` asset computes them, with a
full 30-day history in the lake (`features.card_days.card_day`), against reading every
event of those days (how it was before the per-card day summaries).

Builds a throwaway lake of --history-days + 1 validated days of --rows transactions on a
pool of --cards cards (uniform: at 1,000,000 rows and 470,000 cards about 410,000 cards a
day, close to the simulator's 374,000), then times for the last day:

1. `events`: the day's cards' events of all 30 earlier days read and computed (before);
2. `summaries, cold`: `card_day` computing and caching the 28 per-card day summaries and
   summing them per card (`card_days.window_sums`);
3. `summaries, new day`: the steady state. The day before was computed (untimed, its
   window table kept), D-2's summary and the day's window table are deleted, and
   `card_day` runs: it summarises D-2 (the one day a new day adds) and rolls the day
   before's window table forward (+D-2, -D-30);

checks that 1 and 3 give the same values bit for bit, and prints the rows read and each
step's peak resident memory (each runs in a forked process; Linux `ru_maxrss`).

Usage: .venv/bin/python -m benchmarks.card_days [--rows 1000000] [--cards 470000]
       [--history-days 30]
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from fraud_assets import contract, lake
from fraud_assets.features import card_days
from fraud_assets.features.cards import card_window_features
from fraud_assets.features.names import CARD_FEATURES

LAST = dt.date(2025, 2, 1)
NEW_DAY = "new day"


def write_day(lake_dir: Path, day: dt.date, rows: int, cards: int,
              rng: np.random.Generator) -> None:
    start = pd.Timestamp(day, tz="UTC")
    frame = pd.DataFrame({
        "transaction_id": pd.array([f"{day:%Y%m%d}-{i:07d}" for i in range(rows)],
                                   dtype="string"),
        "card_id": pd.array([f"card-{c:07d}" for c in rng.integers(0, cards, rows)],
                            dtype="string"),
        "event_timestamp": start + pd.to_timedelta(np.sort(rng.integers(0, 86_400_000, rows)),
                                                   unit="ms"),
        "amount": np.round(rng.lognormal(3.5, 1.0, rows), 2),
        "merchant_category": pd.array(rng.choice(contract.MERCHANT_CATEGORIES, rows),
                                      dtype="string")})
    lake.write_frame(frame, lake.partition_path(lake_dir, card_days.VALIDATED, day.isoformat()))


def all_events(lake_dir: Path, day: dt.date) -> tuple[pd.DataFrame, int]:
    """The day's card features from every event of the 30 days before (the old read)."""
    today = card_days.read_card_rows(lake.partition_path(lake_dir, card_days.VALIDATED,
                                                         day.isoformat()))
    cards = pd.unique(today["card_id"].to_numpy(dtype=object))
    earlier = [card_days.read_card_rows(
        lake.partition_path(lake_dir, card_days.VALIDATED, d), cards)
        for d in card_days.history_days(day)]
    history = pd.concat([*earlier, today], ignore_index=True)
    features = card_window_features(history, today)
    features.index = today["transaction_id"].to_numpy()
    return features, len(history) - len(today)


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def in_child(function, *args) -> None:
    """Run `function(*args)` in a forked process, so each step's peak memory is its own."""
    child = multiprocessing.get_context("fork").Process(target=function, args=args)
    child.start()
    child.join()
    if child.exitcode:
        raise SystemExit(f"{function.__name__} failed (exit {child.exitcode})")


def events_step(lake_dir: Path, out: Path) -> None:
    started = time.perf_counter()
    before, read = all_events(lake_dir, LAST)
    print(f"events (before): {time.perf_counter() - started:.2f} s, {read:,} earlier "
          f"events read; peak {peak_gb():.2f} GB", flush=True)
    before.to_parquet(out)


def summaries_step(lake_dir: Path, label: str, out: Path) -> None:
    if label == NEW_DAY:  # as the pipeline leaves the lake when day LAST runs
        card_days.card_day(lake_dir, LAST - dt.timedelta(days=1))
        card_days.summary_path(lake_dir, (LAST - dt.timedelta(days=2)).isoformat()).unlink()
        card_days.window_path(lake_dir, LAST).unlink(missing_ok=True)
    started = time.perf_counter()
    result = card_days.card_day(lake_dir, LAST)
    print(f"summaries, {label}: {time.perf_counter() - started:.2f} s, "
          f"{result.history_rows:,} earlier events covered; peak {peak_gb():.2f} GB",
          flush=True)
    result.rows.to_parquet(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--cards", type=int, default=470_000)
    parser.add_argument("--history-days", type=int, default=30)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="bench-card-days-") as folder:
        lake_dir = Path(folder) / "lake"
        started = time.perf_counter()
        for back in range(args.history_days, -1, -1):
            write_day(lake_dir, LAST - dt.timedelta(days=back), args.rows, args.cards, rng)
        print(f"lake: {args.history_days + 1} days x {args.rows:,} rows written in "
              f"{time.perf_counter() - started:.0f} s", flush=True)
        before, after = Path(folder) / "before.parquet", Path(folder) / "after.parquet"
        in_child(events_step, lake_dir, before)
        in_child(summaries_step, lake_dir, "cold", after)
        in_child(summaries_step, lake_dir, NEW_DAY, after)
        want = pd.read_parquet(before)
        got = pd.read_parquet(after).set_index("transaction_id").loc[want.index,
                                                                     list(CARD_FEATURES)]
        same = np.array_equal(got.to_numpy(), want.to_numpy(), equal_nan=True)
        print(f"values equal bit for bit: {same}")


if __name__ == "__main__":
    main()
