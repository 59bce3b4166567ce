"""Merchant aggregates: per category and day, from a trailing window of earlier days only.

The row for day D has event timestamp D 00:00 UTC and is computed from validated days
D-window .. D-1. Nothing of day D itself (amounts or labels) can reach it, so a
transaction on day D never sees its own day, let alone its own label.

Two steps, so a new day costs the same however long the window (issue 14):
1. `day_sums`: one validated day -> per category its amount sum, transaction count and
   fraud count (a few rows; `features.engine` computes them out of core from the day's
   parquet on DuckDB or Spark, `features.daily_sums` keeps them per day).
2. `window_stats`: the sums of the days present in the window -> the feature rows.

No feature depends on how many days of the window happen to be present (issue 11): the
volume is `merchant_txn_per_day`, transactions per day *present* in the window, and the
average amount and fraud rate are ratios of sums. A missing day, or a history still
ramping up to the window's length, leaves them unchanged in expectation.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from fraud_assets import contract
from fraud_assets.features.names import (
    ALL_MERCHANTS,
    DEFAULT_WINDOW_DAYS,
    ENTITY,
    FEATURES,
)
from fraud_assets.features.schema import FEATURE_DTYPES, cast_features

TIMESTAMP = contract.EVENT_TIMESTAMP.name
AMOUNT = contract.AMOUNT.name
LABEL = contract.LABEL
COLUMNS: tuple[str, ...] = (ENTITY, TIMESTAMP, *FEATURES)
# The per-day state: one row per (day, category) with these sums.
DAY = "day"
SUMS: tuple[str, ...] = ("amount_sum", "txn_count", "fraud_count")
SUM_COLUMNS: tuple[str, ...] = (DAY, ENTITY, *SUMS)


def window_days(day: dt.date, window: int = DEFAULT_WINDOW_DAYS) -> list[str]:
    """ISO dates of the `window` days strictly before `day`, oldest first."""
    if window < 1:
        raise ValueError(f"window must be at least 1 day, got {window}")
    return [(day - dt.timedelta(days=back)).isoformat() for back in range(window, 0, -1)]


def day_start(day: dt.date) -> pd.Timestamp:
    """The event timestamp of the day's feature rows: midnight UTC."""
    return pd.Timestamp(day, tz="UTC")


def day_sums(rows: pd.DataFrame, day: str) -> pd.DataFrame:
    """SUM_COLUMNS of one validated day held in memory (the pandas reference of the engines'
    SQL in `features.engine`): one row per category present, sorted by category."""
    if rows.empty:
        return empty_sums()
    grouped = rows.groupby(rows[ENTITY].astype(str), sort=True)
    sums = pd.DataFrame({"amount_sum": grouped[AMOUNT].sum(), "txn_count": grouped.size(),
                         "fraud_count": grouped[LABEL].sum()}).rename_axis(ENTITY).reset_index()
    sums.insert(0, DAY, day)
    return cast_sums(sums)


def cast_sums(sums: pd.DataFrame) -> pd.DataFrame:
    """SUM_COLUMNS in their dtypes: day and category strings, amount float, counts int."""
    return sums[list(SUM_COLUMNS)].astype({DAY: str, ENTITY: str, "amount_sum": "float64",
                                           "txn_count": "int64", "fraud_count": "int64"})


def empty_sums() -> pd.DataFrame:
    return cast_sums(pd.DataFrame({name: [] for name in SUM_COLUMNS}))


def window_stats(sums: pd.DataFrame, day: dt.date,
                 window: int = DEFAULT_WINDOW_DAYS) -> pd.DataFrame:
    """Feature rows valid for `day` from per-day sums (SUM_COLUMNS) of earlier days.

    Sums of days outside [day - window, day) are ignored, so a caller that passes too
    much cannot leak the future. Every contract category gets a row; one without
    transactions in the window gets 0 per day and the all-merchant average and fraud rate
    (the volume tells the model there was no evidence). No earlier day: no rows.
    """
    wanted = set(window_days(day, window))
    past = sums[sums[DAY].astype(str).isin(wanted)]
    days_present = past[DAY].nunique()
    if days_present == 0:
        return empty_stats()
    totals = past.groupby(past[ENTITY].astype(str), sort=True)[list(SUMS)].sum()
    categories = sorted(set(contract.MERCHANT_CATEGORIES) | set(totals.index))
    totals = totals.reindex(categories, fill_value=0).astype("float64")
    totals.loc[ALL_MERCHANTS] = totals.sum()
    rows = _rates(totals, days_present)
    rows.insert(0, TIMESTAMP, day_start(day))
    return cast_features(rows.rename_axis(ENTITY).reset_index())[list(COLUMNS)]


def merchant_stats(history: pd.DataFrame, day: dt.date,
                   window: int = DEFAULT_WINDOW_DAYS) -> pd.DataFrame:
    """Feature rows valid for `day` from validated transactions held in memory.

    The in-memory form of `day_sums` + `window_stats` (tests, benchmarks, small data):
    rows are assigned to their UTC day, and only days inside the window count.
    """
    end = day_start(day)
    ts = history[TIMESTAMP] if len(history) else pd.Series(dtype="datetime64[ns, UTC]")
    past = history[(ts >= end - pd.Timedelta(days=window)) & (ts < end)]
    if past.empty:
        return empty_stats()
    day_of = past[TIMESTAMP].dt.tz_convert("UTC").dt.strftime("%Y-%m-%d")
    sums = pd.concat([day_sums(rows, d) for d, rows in past.groupby(day_of, sort=True)],
                     ignore_index=True)
    return window_stats(sums, day, window)


def _rates(totals: pd.DataFrame, days_present: int) -> pd.DataFrame:
    """Average amount, transactions per day present, fraud rate; a category without rows
    takes the all-merchant average and fraud rate."""
    total = totals.loc[ALL_MERCHANTS]
    count = totals["txn_count"]
    seen = count > 0
    avg = (totals["amount_sum"] / count.where(seen)).fillna(
        total["amount_sum"] / total["txn_count"])
    rate = (totals["fraud_count"] / count.where(seen)).fillna(
        total["fraud_count"] / total["txn_count"])
    return pd.DataFrame({"merchant_avg_amount": avg,
                         "merchant_txn_per_day": count / days_present,
                         "merchant_fraud_rate": rate}, index=totals.index)


def empty_stats() -> pd.DataFrame:
    """No feature rows, with the columns and dtypes of real ones."""
    dtypes = {ENTITY: "object", TIMESTAMP: "datetime64[ns, UTC]", **FEATURE_DTYPES}
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in dtypes.items()})
