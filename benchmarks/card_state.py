"""Online card state numbers: what reading, computing and writing one card's state costs per
scored call (`features.card_state.CardState.score_and_update`, the serving path).

Builds a throwaway FRAUD_HOME, applies the Feast repository, seeds --cards cards with
--events events each (spread over 30 days), then times --calls single-transaction calls on
random seeded cards (read + card_window_features + write), and a 1,000-row call.
Local profile only: SQLite online store (the server profile's Redis is exercised by
tests/features/test_card_state.py under `-m server`, not timed here).

Each part of a call is timed on its own too (p50/p99 per call): the Feast online read
(`CardState.read`), THE definition on the arrays (`cards.window_arrays`) and the Feast
online write (`CardState.write`, `write_to_online_store`); the rest is the glue around them.
Each also as this thread's CPU time ("CPU", system time included): the wall time minus
the waiting, mostly for the SQLite commit's fsync, which other sessions' disk use slows.

Usage: .venv/bin/python -m benchmarks.card_state [--cards 1000] [--events 50] [--calls 500]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from fraud_assets import settings
from fraud_assets.features import card_state, cards
from fraud_assets.features.card_state import CardState, Events
from fraud_assets.features.store import MerchantFeatureStore

T0 = pd.Timestamp("2025-01-01T00:00:00Z")


def seeded(home: Path, cards: int, events: int, rng: np.random.Generator) -> CardState:
    store = MerchantFeatureStore(home)
    store.apply()
    state = CardState(store.feast)
    span = 30 * 86_400 * 10**9
    states = {}
    for c in range(cards):
        times = np.sort(T0.value + rng.integers(0, span, events))
        states[f"card-{c}"] = Events.empty().inserted(
            times, rng.uniform(1, 500, events).round(2),
            rng.choice(["online", "grocery", "travel"], events).astype(object))
    state.write(states)
    return state


PARTS: dict[str, list[float]] = defaultdict(list)


def timed(name: str, function: Callable) -> Callable:
    """`function`, its every call's milliseconds appended to PARTS[name] (wall time) and
    PARTS[name + " CPU"] (this thread's CPU time, system time included)."""
    def wrapper(*args, **kwargs):
        started, cpu = time.perf_counter(), time.thread_time()
        try:
            return function(*args, **kwargs)
        finally:
            PARTS[name].append((time.perf_counter() - started) * 1000)
            PARTS[f"{name} CPU"].append((time.thread_time() - cpu) * 1000)
    return wrapper


def call(state: CardState, cards: list[str], when: pd.Timestamp,
         rng: np.random.Generator) -> float:
    arrays = (np.array(cards, object), np.full(len(cards), when.value, "int64"),
              rng.uniform(1, 500, len(cards)).round(2), np.array(["online"] * len(cards), object))
    started, cpu = time.perf_counter(), time.thread_time()
    state.score_and_update_arrays(*arrays)
    PARTS["CPU of the whole call"].append((time.thread_time() - cpu) * 1000)
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cards", type=int, default=1000)
    parser.add_argument("--events", type=int, default=50, help="stored events per card")
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--rows-per-call", type=int, default=1,
                        help="transactions per call (the service's micro-batch at 32 "
                             "clients holds about 32)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    settings.disable_telemetry()
    with tempfile.TemporaryDirectory(prefix="bench-card-state-") as folder:
        state = seeded(Path(folder), args.cards, args.events, rng)
        state.read = timed("Feast read", state.read)
        state.write = timed("Feast write", state.write)
        card_state.cards.window_arrays = timed("window_arrays", cards.window_arrays)
        when = T0 + pd.Timedelta(days=30)
        times = [call(state, [f"card-{c}" for c in rng.integers(0, args.cards,
                                                                   args.rows_per_call)],
                      when + pd.Timedelta(seconds=i), rng) for i in range(args.calls)]
        batch = call(state, [f"card-{c}" for c in rng.integers(0, args.cards, 1000)],
                     when + pd.Timedelta(hours=1), rng)
    p50, p99 = np.percentile(times, [50, 99])
    print(f"card state, {args.rows_per_call} transaction(s) per call ({args.calls} calls, "
          f"{args.cards} cards x {args.events} stored events, SQLite WAL): "
          f"p50 {p50:.2f} ms, p99 {p99:.2f} ms")
    for name, spent in PARTS.items():
        part50, part99 = np.percentile(spent[:args.calls], [50, 99])
        print(f"  {name}: p50 {part50:.3f} ms, p99 {part99:.3f} ms")
    print(f"card state, 1,000 transactions in one call: {batch:.1f} ms")


if __name__ == "__main__":
    main()
