"""Great Expectations validation time per 1M rows, on the platform's own suites.

Usage: .venv/bin/python benchmarks/ge_validation.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

from fraud_assets import contract, simulator
from fraud_assets.validation import runner, suites


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    plan = simulator.DayPlan(day=dt.date(2025, 1, 1), rows=args.rows, bad_rate=0.01)
    # As a landed file is read: every value a string.
    raw = simulator.generate_day(plan).astype("string").astype(object)
    runner.run_suite(suites.fraud_rate_suite(), runner.for_ge(contract.coerce(raw[:100])))

    t = time.perf_counter()
    typed = runner.for_ge(contract.coerce(raw))
    coerce_s = time.perf_counter() - t
    print(f"rows: {len(raw):,}")
    print(f"parse to contract types: {coerce_s:.2f}s")
    total = 0.0
    for suite in (suites.structure_suite(), suites.values_suite(), suites.fraud_rate_suite()):
        t = time.perf_counter()
        result = runner.run_suite(suite, typed)
        seconds = time.perf_counter() - t
        total += seconds
        print(f"{suite.name:<26} {len(suite.expectations):>2} expectations  {seconds:6.2f}s  "
              f"failed: {len(result.failed)}")
    print(f"GE validation total: {total:.2f}s  ({total / len(raw) * 1e6:.2f}s per 1M rows)")


if __name__ == "__main__":
    main()
