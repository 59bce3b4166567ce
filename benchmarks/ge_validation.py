"""Judging a landed day: contract parsing, row reasons and Great Expectations validation,
per 1M rows, on the platform's own suites.

Prints each stage's seconds: parse to contract types (`contract.coerce`), the row reasons
of a landed file (`contract.landed_reasons`: coerce + rules + duplicates), GE's frame
(`runner.for_ge`) and each suite. With `--reference`, also the pandas per-value operations
the Arrow paths of `contract` and `runner` replaced, on the same columns (their docstrings
quote these numbers).

Usage: .venv/bin/python -m benchmarks.ge_validation [--rows 1000000] [--reference]
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from collections.abc import Callable

import pandas as pd

from fraud_assets import contract, simulator
from fraud_assets.validation import runner, suites


def timed(label: str, work: Callable[[], object]) -> object:
    """Run `work`, print its wall seconds under `label`, return its result."""
    t = time.perf_counter()
    out = work()
    print(f"{label:<44} {time.perf_counter() - t:6.2f}s", flush=True)
    return out


def reference(raw: pd.DataFrame) -> None:
    """The pandas operations replaced by Arrow (`contract._arrow_text`, `runner._as_category`)
    beside the functions that replaced them."""
    ts, amount, ids = (raw[c] for c in ("event_timestamp", "amount", "transaction_id"))
    timed("pandas str.contains(offset regex)", lambda: ts.astype("string").str.contains(
        contract._OFFSET, na=False))
    timed("arrow  contract._has_offset", lambda: contract._has_offset(ts))
    timed("pandas to_numeric(amount)", lambda: pd.to_numeric(amount, errors="coerce"))
    timed("arrow  contract.parse_numbers(amount)", lambda: contract.parse_numbers(amount))
    timed("pandas str.strip().eq('') (ids)", lambda: ids.astype("string").str.strip().eq(""))
    timed("arrow  contract.is_blank (ids)", lambda: contract.is_blank(ids))
    timed("pandas astype('category') (ids)", lambda: ids.astype("string").astype("category"))
    timed("factorize runner._as_category (ids)",
          lambda: runner._as_category(ids.astype("string")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the day")
    parser.add_argument("--reference", action="store_true",
                        help="also time the pandas operations the Arrow paths replaced")
    args = parser.parse_args()
    day = dt.date(2025, 1, 1)
    plan = simulator.DayPlan(day=day, rows=args.rows, bad_rate=0.01)
    # As a landed file is read: every value a string.
    raw = simulator.generate_day(plan).astype("string").astype(object)
    runner.run_suite(suites.fraud_rate_suite(), runner.for_ge(contract.coerce(raw[:100])))
    print(f"rows: {len(raw):,}")
    timed("parse to contract types (coerce)", lambda: contract.coerce(raw))
    typed, _ = timed("landed_reasons (coerce, rules, duplicates)",
                     lambda: contract.landed_reasons(raw, day))
    frame = timed("GE frame (for_ge)", lambda: runner.for_ge(typed))
    total = 0.0
    for suite in (suites.structure_suite(), suites.values_suite(day, columns=raw.columns),
                  suites.fraud_rate_suite()):
        t = time.perf_counter()
        result = runner.run_suite(suite, frame, raw)
        seconds = time.perf_counter() - t
        total += seconds
        print(f"{suite.name:<26} {len(suite.expectations):>2} expectations  {seconds:6.2f}s  "
              f"failed: {len(result.failed)}")
    print(f"GE validation total: {total:.2f}s  ({total / len(raw) * 1e6:.2f}s per 1M rows)")
    if args.reference:
        reference(raw)


if __name__ == "__main__":
    main()
