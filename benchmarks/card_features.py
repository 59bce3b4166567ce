"""Seconds for the per-card velocity features (`features.cards.card_window_features`).

A day of --rows transactions on --cards cards (string ids, 5% without a card), computed
against a history of that day plus --history-days earlier days of the same size: the work
the offline asset does for one daily partition. Prints the seconds of the best of
--repeat runs (issue 15's goal: 1,000,000 rows in under 10 s on 2 cores).

Usage: .venv/bin/python -m benchmarks.card_features [--rows 1000000] [--cards 100000]
       [--history-days 0] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from fraud_assets import contract
from fraud_assets.features.cards import card_window_features

DAY = pd.Timestamp("2025-02-01", tz="UTC")


def day_frame(rng: np.random.Generator, day: pd.Timestamp, rows: int, cards: int) -> pd.DataFrame:
    """`rows` transactions on `day` with the columns the features read."""
    card = rng.zipf(1.3, rows) % cards  # a few busy cards, many quiet ones
    ids = pd.array([f"card-{c:07d}" for c in card], dtype="string")
    ids[rng.random(rows) < 0.05] = pd.NA
    return pd.DataFrame({
        "card_id": ids,
        "event_timestamp": day + pd.to_timedelta(rng.integers(0, 86_400_000, rows), unit="ms"),
        "amount": np.round(rng.lognormal(3.5, 1.0, rows), 2),
        "merchant_category": pd.array(rng.choice(contract.MERCHANT_CATEGORIES, rows),
                                      dtype="string"),
    })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="transactions of the day")
    parser.add_argument("--cards", type=int, default=100_000, help="distinct card ids")
    parser.add_argument("--history-days", type=int, default=0,
                        help="earlier days of --rows each in the history (the day is always)")
    parser.add_argument("--repeat", type=int, default=3, help="runs; the best is printed")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    rows = day_frame(rng, DAY, args.rows, args.cards)
    earlier = [day_frame(rng, DAY - pd.Timedelta(days=d), args.rows, args.cards)
               for d in range(1, args.history_days + 1)]
    history = pd.concat([*earlier, rows], ignore_index=True)
    best = float("inf")
    for run in range(args.repeat):
        start = time.perf_counter()
        features = card_window_features(history, rows)
        seconds = time.perf_counter() - start
        best = min(best, seconds)
        print(f"run {run + 1}: {seconds:.2f} s", flush=True)
    print(f"card_window_features: {args.rows:,} rows, history {len(history):,} rows, "
          f"{args.cards:,} cards: {best:.2f} s (best of {args.repeat}); "
          f"share with a card {features['card_txn_count_24h'].notna().mean():.3f}")


if __name__ == "__main__":
    main()
