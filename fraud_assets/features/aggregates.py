"""Merchant aggregates: per category and day, from a trailing window of earlier days only.

The row for day D has event timestamp D 00:00 UTC and is computed from validated days
D-window .. D-1. Nothing of day D itself (amounts or labels) can reach it, so a
transaction on day D never sees its own day, let alone its own label.
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


def window_days(day: dt.date, window: int = DEFAULT_WINDOW_DAYS) -> list[str]:
    """ISO dates of the `window` days strictly before `day`, oldest first."""
    if window < 1:
        raise ValueError(f"window must be at least 1 day, got {window}")
    return [(day - dt.timedelta(days=back)).isoformat() for back in range(window, 0, -1)]


def day_start(day: dt.date) -> pd.Timestamp:
    """The event timestamp of the day's feature rows: midnight UTC."""
    return pd.Timestamp(day, tz="UTC")


def merchant_stats(history: pd.DataFrame, day: dt.date,
                   window: int = DEFAULT_WINDOW_DAYS) -> pd.DataFrame:
    """Feature rows valid for `day`: one per merchant category plus the all-merchant row.

    Rows of `history` outside [day - window, day) are ignored, so a caller that passes too
    much cannot leak the future. Every contract category gets a row; one without
    transactions in the window gets count 0 and the all-merchant average and fraud rate
    (the count tells the model there was no evidence). No history at all: no rows.
    """
    end = day_start(day)
    ts = history[TIMESTAMP] if len(history) else pd.Series(dtype="datetime64[ns, UTC]")
    past = history[(ts >= end - pd.Timedelta(days=window)) & (ts < end)]
    if past.empty:
        return empty_stats()
    sums = _sums_per_category(past)
    sums.loc[ALL_MERCHANTS] = sums.sum()
    rows = _rates(sums)
    rows.insert(0, TIMESTAMP, end)
    return cast_features(rows.rename_axis(ENTITY).reset_index())[list(COLUMNS)]


def _sums_per_category(past: pd.DataFrame) -> pd.DataFrame:
    grouped = past.groupby(past[ENTITY].astype(str), sort=True)
    sums = pd.DataFrame({"amount": grouped[AMOUNT].sum(), "count": grouped.size(),
                         "frauds": grouped[LABEL].sum()})
    categories = sorted(set(contract.MERCHANT_CATEGORIES) | set(sums.index))
    return sums.reindex(categories, fill_value=0).astype("float64")


def _rates(sums: pd.DataFrame) -> pd.DataFrame:
    """Average amount and fraud rate; a category without rows takes the all-merchant ones."""
    total = sums.loc[ALL_MERCHANTS]
    count = sums["count"]
    seen = count > 0
    avg = (sums["amount"] / count.where(seen)).fillna(total["amount"] / total["count"])
    rate = (sums["frauds"] / count.where(seen)).fillna(total["frauds"] / total["count"])
    return pd.DataFrame({"merchant_avg_amount": avg, "merchant_txn_count": count,
                         "merchant_fraud_rate": rate}, index=sums.index)


def empty_stats() -> pd.DataFrame:
    """No feature rows, with the columns and dtypes of real ones."""
    dtypes = {ENTITY: "object", TIMESTAMP: "datetime64[ns, UTC]", **FEATURE_DTYPES}
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in dtypes.items()})
