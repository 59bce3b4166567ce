"""Which columns drift is measured on, how, and at what threshold.

Every feature column is derived from `contract.REQUEST_FIELDS`, so a field added to the
contract is monitored without touching this module. The drift method is pinned per column
instead of left to Evidently's size-based default (K-S / chi-square p-values below about
1,000 rows, distances above): a verdict must mean the same thing on a 600-row day of
production traffic as on a 50,000-row landed file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from fraud_assets import contract

SCORE = "fraud_probability"  # the model's answer, as the serving log records it
LOG_AMOUNT = "log_amount"

NUMERICAL_METHOD = "wasserstein"  # Wasserstein distance normed by the reference's std
CATEGORICAL_METHOD = "jensenshannon"  # Jensen-Shannon distance (natural log)
DEFAULT_THRESHOLD = 0.1  # Evidently's own default for both distances
# Jensen-Shannon distance is compressive near 0 for a rare class: at a 2% base rate, 0.1 is
# only reached at about 7.5% fraud, 0.05 at about 4.5%. Daily binomial noise at 2,000 rows
# stays below 0.02, so 0.05 flags a doubled fraud rate without false alarms.
LABEL_THRESHOLD = 0.05

# Fields of the request that are not compared, and why (shown in every report summary).
EXCLUDED: dict[str, str] = {
    contract.DAY_OF_WEEK.name: (
        "constant within a day's file, so one day always 'drifts' against a multi-day "
        "reference; weekday mix is a property of the window, not of a day"),
}

Role = Literal["feature", "target", "prediction"]
Kind = Literal["numerical", "categorical"]


@dataclass(frozen=True)
class ColumnSpec:
    """One compared column: its name in the report and the data column it comes from."""

    name: str
    source: str
    kind: Kind
    role: Role
    method: str
    threshold: float
    note: str = ""


def _small_int_range(field: contract.Field) -> bool:
    """An int field with few possible values (hour): compared as categories."""
    if field.kind != "int" or field.low is None or field.high is None:
        return False
    return field.high - field.low < 32


def _feature_spec(field: contract.Field) -> ColumnSpec:
    if field.name == contract.AMOUNT.name:
        # Amounts are log-normal: on the raw scale the std that normalises the distance is
        # set by a handful of fraud outliers (one 40,000 payment moves a day's score by
        # ~0.06), on the log scale a multiplicative shift is a plain location shift.
        return ColumnSpec(LOG_AMOUNT, field.name, "numerical", "feature", NUMERICAL_METHOD,
                          DEFAULT_THRESHOLD, "natural log of amount")
    if field.kind == "category" or _small_int_range(field):
        # Hour is cyclic (23 and 0 are neighbours): comparing the histogram of the 24 values
        # sees late-night traffic without pretending 23 is far from 0.
        return ColumnSpec(field.name, field.name, "categorical", "feature", CATEGORICAL_METHOD,
                          DEFAULT_THRESHOLD)
    return ColumnSpec(field.name, field.name, "numerical", "feature", NUMERICAL_METHOD,
                      DEFAULT_THRESHOLD)


FEATURES: tuple[ColumnSpec, ...] = tuple(
    _feature_spec(f) for f in contract.REQUEST_FIELDS if f.name not in EXCLUDED)
TARGET = ColumnSpec(contract.LABEL, contract.LABEL, "categorical", "target", CATEGORICAL_METHOD,
                    LABEL_THRESHOLD, "fraud rate of the day (labels)")
PREDICTION = ColumnSpec(SCORE, SCORE, "numerical", "prediction", NUMERICAL_METHOD,
                        DEFAULT_THRESHOLD, "model score distribution")
ALL: tuple[ColumnSpec, ...] = (*FEATURES, TARGET, PREDICTION)


def present(frame: pd.DataFrame) -> list[ColumnSpec]:
    """The specs whose source column is in `frame` (features are required elsewhere).

    The target only when every row carries its label: with labels still to come (the
    label feed, issue 16) a day's label mix is not comparable; `model_performance` judges
    the labels once they arrive."""
    return [s for s in ALL if s.source in frame.columns
            and not (s is TARGET and frame[s.source].isna().any())]


def derive(frame: pd.DataFrame, specs: list[ColumnSpec]) -> pd.DataFrame:
    """The compared columns, with plain dtypes so both datasets agree category by category."""
    out = {}
    for spec in specs:
        values = frame[spec.source]
        if spec.name == LOG_AMOUNT:
            out[spec.name] = np.log(values.astype("float64"))
        elif spec.kind == "numerical":
            out[spec.name] = values.astype("float64")
        elif spec.source == contract.MERCHANT_CATEGORY.name:
            out[spec.name] = values.astype(str)
        else:
            out[spec.name] = values.astype("int64")
    return pd.DataFrame(out, index=frame.index)
