"""Is a landed day plausible against the recent days in the lake?

Two rules, both judged against the validated days before the day (at most
`HISTORY_DAYS`, the lake's latest ones):

* fraud rate: the day's frauds are compared with the pooled fraud rate of the recent days
  by a two-sided binomial test; the day is implausible when either tail probability is
  below `ALPHA` (1 in 10,000). Zero frauds on a day large enough that zero is that
  unlikely means "labels possibly missing". Always, the rate must be within the hard
  bounds `FRAUD_RATE_BOUNDS`. Without history only the bounds apply.
* categories: a merchant category seen on every one of the recent days (at least
  `MIN_HISTORY_DAYS`) and absent today, when its recent share makes absence unlikely at
  the day's size (probability of no row below `ALPHA`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.compute as pc
import pyarrow.parquet as pq
from scipy.stats import binom

from fraud_assets import contract, lake, names
from fraud_assets.validation.suites import FRAUD_RATE_BOUNDS

HISTORY_DAYS = 28
MIN_HISTORY_DAYS = 3
ALPHA = 1e-4
LABEL = contract.LABEL
CATEGORY = contract.MERCHANT_CATEGORY.name


@dataclass(frozen=True)
class DayStats:
    day: str
    rows: int
    frauds: int
    categories: dict[str, int]
    labelled: int = -1  # rows labelled at landing (-1: every row)

    @property
    def labelled_rows(self) -> int:
        return self.rows if self.labelled < 0 else self.labelled


@dataclass(frozen=True)
class Verdict:
    passed: bool
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)


def history(lake_root: Path, day: str, days: int = HISTORY_DAYS) -> list[DayStats]:
    """Label and category counts of the (at most `days`) latest validated days before `day`."""
    stored = [d for d in lake.stored_partitions(names.TRANSACTIONS_VALIDATED, lake_root)
              if d < day][-days:]
    out = []
    for d in stored:
        path = lake.partition_path(lake_root, names.TRANSACTIONS_VALIDATED, d)
        out.append(_day_stats(d, str(path), path.stat().st_mtime_ns))
    return out


@functools.lru_cache(maxsize=512)
def _day_stats(day: str, path: str, mtime_ns: int) -> DayStats:
    """One stored day's counts, read once per file version: two checks of each daily run
    and every later day whose history holds it ask for the same file (a re-landed day is
    a new file version, so it is read again).

    Counted in Arrow, the category column read as a dictionary: a run in a fresh process
    (the daemon's way) reads all 28 days, 0.015 s per 1M-row day against 0.24 s through
    pandas' Python strings (6.7 s of the category check on day 30 of `benchmarks.scale`'s
    1M state). A missing category (none is, in a validated day) counts as no category."""
    table = pq.read_table(path, columns=[LABEL, CATEGORY], read_dictionary=[CATEGORY])
    counts = pc.value_counts(table[CATEGORY])
    categories = {str(value): count for value, count in
                  zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist(),
                      strict=True) if value is not None}
    labels = table[LABEL]
    return DayStats(day, table.num_rows, int(pc.sum(labels).as_py() or 0), categories,
                    int(pc.count(labels).as_py()))


def _pct(rate: float) -> str:
    return f"{rate:.2%}"


def fraud_rate(labels: pd.Series | None, recent: list[DayStats]) -> Verdict:
    """The day's fraud rate (from its typed `is_fraud`, None if the column is absent)."""
    low, high = FRAUD_RATE_BOUNDS
    if labels is None:
        return Verdict(False, f"cannot compute the fraud rate: the file has no {LABEL} "
                              "column; land a file with every contract column "
                              "(contract_structure names what is missing)")
    valid = labels[labels.isin([0, 1])]
    n, k = len(valid), int(valid.sum())
    if n == 0 and len(labels) and labels.isna().all():
        return Verdict(True, f"no row carries {LABEL} at landing: the labels come later, "
                             "through the label feed (landing/labels)",
                       {"labelled_rows": 0, "bounds": list(FRAUD_RATE_BOUNDS)})
    if n == 0:
        return Verdict(False, f"cannot compute the fraud rate: no row has a valid {LABEL} "
                              "(0 or 1); see contract_values for the values that landed")
    rate = k / n
    hist_rows = sum(d.labelled_rows for d in recent)
    hist_frauds = sum(d.frauds for d in recent)
    meta: dict[str, Any] = {"fraud_rate": rate, "frauds": k, "labelled_rows": n,
                            "bounds": list(FRAUD_RATE_BOUNDS), "history_days": len(recent),
                            "alpha": ALPHA}
    today = f"fraud rate {_pct(rate)} ({k:,} of {n:,} labelled rows)"
    if not low <= rate <= high:
        return Verdict(False, f"{today} is outside the bounds [{low:.0%}, {high:.0%}]; check "
                              "the labels of the file", meta)
    if not hist_rows or not hist_frauds:
        return Verdict(True, f"{today} within the bounds [{low:.0%}, {high:.0%}]; no recent "
                             "day with fraud to compare with", meta)
    p = hist_frauds / hist_rows
    expected = n * p
    low_tail, high_tail = float(binom.cdf(k, n, p)), float(binom.sf(k - 1, n, p))
    meta |= {"history_fraud_rate": p, "expected_frauds": expected,
             "p_low": low_tail, "p_high": high_tail}
    recent_text = (f"the last {len(recent)} validated day(s) had {_pct(p)} "
                   f"(about {expected:,.0f} frauds expected)")
    if k == 0 and low_tail < ALPHA:
        return Verdict(False, f"0 frauds in {n:,} labelled rows while {recent_text}: labels "
                              "possibly missing; check the upstream label feed and re-land "
                              "the day with its labels", meta)
    if low_tail < ALPHA:
        return Verdict(False, f"{today} is implausibly low: {recent_text} (binomial P = "
                              f"{low_tail:.1e} < {ALPHA:g}); check for missing labels", meta)
    if high_tail < ALPHA:
        return Verdict(False, f"{today} is implausibly high: {recent_text} (binomial P = "
                              f"{high_tail:.1e} < {ALPHA:g}); check the labels, or confirm "
                              "a real fraud wave", meta)
    return Verdict(True, f"{today} plausible: {recent_text}", meta)


def absent_categories(categories: pd.Series | None, recent: list[DayStats]) -> Verdict:
    """Categories seen on every recent day whose absence today is implausible."""
    if categories is None:
        return Verdict(False, f"cannot compare categories: the file has no {CATEGORY} column")
    if len(recent) < MIN_HISTORY_DAYS:
        return Verdict(True, f"fewer than {MIN_HISTORY_DAYS} earlier validated days: "
                             "categories not compared yet", {"history_days": len(recent)})
    n = len(categories)
    # The distinct values first: a set of a million strings took 0.4 s, `unique` 0.02 s.
    present = {str(value) for value in categories.dropna().unique()}
    hist_rows = sum(d.rows for d in recent)
    always = set.intersection(*(set(c for c, count in d.categories.items() if count)
                                for d in recent))
    missing = []
    for cat in sorted(always - present):
        share = sum(d.categories.get(cat, 0) for d in recent) / hist_rows
        if (1 - share) ** n < ALPHA:
            missing.append(f"{cat} ({_pct(share)} of rows on each of the last "
                           f"{len(recent)} days, none today in {n:,} rows)")
    meta = {"history_days": len(recent), "absent": ", ".join(missing) or "none"}
    if missing:
        return Verdict(False, "category absent: " + "; ".join(missing) + ". Check whether "
                              "upstream dropped it (a filter, a renamed value) and re-land "
                              "the day if so", meta)
    return Verdict(True, f"every category seen on each of the last {len(recent)} days is "
                         "present", meta)
