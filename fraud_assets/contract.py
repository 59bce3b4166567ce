"""The transaction contract: the one definition of a valid card transaction.

The simulator, the Great Expectations suite, the quarantine rules and the serving
validation are all derived from the objects in this module; nothing else may restate
column names, types or ranges.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

MERCHANT_CATEGORIES: tuple[str, ...] = ("grocery", "restaurant", "retail", "online", "travel")
AMOUNT_MAX = 50_000.0

Kind = Literal["string", "timestamp", "float", "int", "category"]


@dataclass(frozen=True)
class Field:
    """One column of the contract.

    `low_exclusive` marks a lower bound that is not itself allowed (amount > 0).
    """

    name: str
    kind: Kind
    description: str
    low: float | None = None
    high: float | None = None
    low_exclusive: bool = False
    allowed: tuple[str | int, ...] | None = None
    is_feature_input: bool = True  # part of a scoring request (not ids or labels)

    def rule(self) -> str:
        """A human-readable statement of the value rule, used in error messages."""
        if self.allowed is not None:
            return f"{self.name} must be one of {', '.join(map(str, self.allowed))}"
        if self.low is not None and self.high is not None:
            op = ">" if self.low_exclusive else ">="
            return f"{self.name} must be {op} {self.low:g} and <= {self.high:g}"
        return f"{self.name} must be a valid {self.kind}"


TRANSACTION_ID = Field("transaction_id", "string", "unique id of the transaction",
                       is_feature_input=False)
EVENT_TIMESTAMP = Field("event_timestamp", "timestamp", "when the card was used (UTC)",
                        is_feature_input=False)
AMOUNT = Field("amount", "float", "transaction amount", low=0.0, high=AMOUNT_MAX,
               low_exclusive=True)
HOUR = Field("hour", "int", "hour of day of the event", low=0, high=23)
DAY_OF_WEEK = Field("day_of_week", "int", "day of week of the event, Monday=0", low=0, high=6)
MERCHANT_CATEGORY = Field("merchant_category", "category", "merchant category",
                          allowed=MERCHANT_CATEGORIES)
IS_FRAUD = Field("is_fraud", "int", "label: 1 if the transaction was fraud", allowed=(0, 1),
                 is_feature_input=False)

FIELDS: tuple[Field, ...] = (
    TRANSACTION_ID, EVENT_TIMESTAMP, AMOUNT, HOUR, DAY_OF_WEEK, MERCHANT_CATEGORY, IS_FRAUD,
)
FIELDS_BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}
COLUMNS: tuple[str, ...] = tuple(f.name for f in FIELDS)
# What a caller sends to score a transaction (the handbook's request body).
REQUEST_FIELDS: tuple[Field, ...] = tuple(f for f in FIELDS if f.is_feature_input)
LABEL = IS_FRAUD.name


def coerce_column(field: Field, values: pd.Series) -> pd.Series:
    """Parse raw (string or mixed) values into the field's type; unparseable -> NA."""
    if field.kind == "timestamp":
        return pd.to_datetime(values, errors="coerce", utc=True, format="ISO8601")
    if field.kind in ("float", "int"):
        numeric = pd.to_numeric(values, errors="coerce")
        if field.kind == "int":
            # 3.0 is an int, 3.5 is not: keep only whole numbers.
            whole = numeric.where(np.isclose(numeric, np.round(numeric)))
            return whole.astype("Int64")
        return numeric.astype("float64")
    # Strings and categories stay as given: category membership is a value rule.
    return values.astype("string")


def coerce(frame: pd.DataFrame) -> pd.DataFrame:
    """Typed view of a raw frame: every contract column present in `frame`, parsed."""
    out = {f.name: coerce_column(f, frame[f.name]) for f in FIELDS if f.name in frame.columns}
    return pd.DataFrame(out, index=frame.index)


def violations(typed: pd.DataFrame) -> pd.DataFrame:
    """Boolean frame, one column per field: True where the row breaks that field's rule.

    A value that is missing, unparseable or out of range is a violation (`reasons` tells
    which, from the raw text).
    """
    out = {}
    for f in FIELDS:
        if f.name not in typed.columns:
            continue
        col = typed[f.name]
        bad = col.isna()
        if f.allowed is not None:
            bad |= ~col.isin(list(f.allowed))
        if f.low is not None:
            bad |= (col <= f.low) if f.low_exclusive else (col < f.low)
        if f.high is not None:
            bad |= col > f.high
        out[f.name] = bad.fillna(True).astype(bool)
    return pd.DataFrame(out, index=typed.index)


def reasons(typed: pd.DataFrame, raw: pd.DataFrame) -> pd.Series:
    """One readable reason per row ('' for a valid row), naming every broken field."""
    bad = violations(typed)
    out = pd.Series("", index=typed.index, dtype=object)
    rows = bad.any(axis=1)
    if not rows.any():
        return out
    # Only the (few) bad rows are described, so a per-field loop over them is cheap.
    messages: list[pd.Series] = []
    for f in FIELDS:
        if f.name not in bad.columns:
            continue
        hit = bad.loc[rows, f.name]
        raw_col = raw.loc[rows, f.name]
        missing = raw_col.isna() | (raw_col.astype("string").str.strip() == "").fillna(True)
        unparsed = typed.loc[rows, f.name].isna()
        text = np.where(missing, f"{f.name} is missing",
                        np.where(unparsed, f"{f.name} is not a valid {f.kind}", f.rule()))
        messages.append(pd.Series(np.where(hit, text, None), index=hit.index))
    joined = pd.concat(messages, axis=1).apply(lambda r: "; ".join(r.dropna()), axis=1)
    out.loc[rows] = joined
    return out
