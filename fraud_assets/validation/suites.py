"""Great Expectations suites derived from the transaction contract.

Two suites: `structure` (columns exist, file not empty, each column mostly of its type:
a failure means the file cannot be trusted at all) and `values` (per-row rules: a
failure sends rows to quarantine, it does not stop the day). Both are built for a record
kind's fields: the transaction's (default) or the label feed's (`contract.LABEL_FIELDS`).
A nullable field (a transaction's `is_fraud`, unknown until its label arrives) may be
empty; its values, when there, follow its rule. An optional field (`card_id`) may be left
out of the file: `structure` does not require it, and `values` judges it only where the
file has it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

import great_expectations as gx
import great_expectations.expectations as gxe
import pandas as pd

from fraud_assets import contract

# Below this share of parseable values a column is "of the wrong type" as a whole,
# rather than a column with a few stray bad values.
MIN_PARSEABLE_SHARE = 0.5
FRAUD_RATE_BOUNDS = (0.0, 0.5)


def _kind(fields: tuple[contract.Field, ...]) -> str:
    return "transactions" if fields is contract.FIELDS else "labels"


def structure_suite(fields: tuple[contract.Field, ...] = contract.FIELDS,
                    ) -> gx.ExpectationSuite:
    expectations = [gxe.ExpectTableRowCountToBeBetween(
        min_value=1, meta={"rule": "the file has at least one row"})]
    expectations += [gxe.ExpectColumnToExist(column=f.name,
                                             meta={"rule": f"column {f.name} is present"})
                     for f in fields if not f.optional]
    # Runs on the typed frame: values that do not parse as the type are null there. A
    # nullable column may be empty throughout (every label still to come).
    expectations += [gxe.ExpectColumnValuesToNotBeNull(
        column=f.name, mostly=MIN_PARSEABLE_SHARE,
        meta={"rule": f"{f.name} is mostly a valid {f.kind}"}) for f in fields
        if not f.nullable and not f.optional]
    return gx.ExpectationSuite(name=f"{_kind(fields)}_structure", expectations=expectations)


# Columns `runner.for_ge` derives from event_timestamp for the day-aware rules.
EVENT_HOUR = "event_timestamp_hour_utc"
EVENT_WEEKDAY = "event_timestamp_weekday_utc"


def day_bounds(day: dt.date | str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First and last instant of a partition day (UTC)."""
    start = pd.Timestamp(str(day), tz="UTC")
    return start, start + pd.Timedelta(days=1) - pd.Timedelta(1, "ns")


def values_suite(day: dt.date | str | None = None,
                 fields: tuple[contract.Field, ...] = contract.FIELDS,
                 columns: Collection[str] = ()) -> gx.ExpectationSuite:
    """Per-row rules; with `day` (a landed file's partition day) also: transaction ids
    unique, event_timestamp inside the UTC day, hour and day_of_week those of the
    event_timestamp (the rules `contract.landed_reasons` quarantines by). For the label
    feed's fields: ids unique and label_timestamp on the file's day of arrival.
    `columns`: the judged file's columns; an optional field's rules are in the suite only
    when its column is among them (a file without `card_id` has no card rules)."""
    expectations: list[gxe.Expectation] = []
    for f in fields:
        if f.optional and f.name not in columns:
            continue
        if not f.nullable:
            expectations.append(gxe.ExpectColumnValuesToNotBeNull(
                column=f.name, meta={"rule": f"{f.name} is present and a valid {f.kind}"}))
        if f.allowed is not None:
            expectations.append(gxe.ExpectColumnValuesToBeInSet(
                column=f.name, value_set=list(f.allowed), meta={"rule": f.rule()}))
        elif f.low is not None and f.high is not None:
            expectations.append(gxe.ExpectColumnValuesToBeBetween(
                column=f.name, min_value=f.low, max_value=f.high,
                strict_min=f.low_exclusive, meta={"rule": f.rule()}))
        if f.max_length is not None:  # its blank values are missing (null) in the frame
            expectations.append(gxe.ExpectColumnValueLengthsToBeBetween(
                column=f.name, min_value=1, max_value=f.max_length, meta={"rule": f.rule()}))
    if day is not None and fields is not contract.FIELDS:
        start, end = day_bounds(day)
        expectations += [
            gxe.ExpectColumnValuesToBeUnique(
                column=contract.TRANSACTION_ID.name,
                meta={"rule": "transaction_id is unique in the file"}),
            gxe.ExpectColumnValuesToBeBetween(
                column=contract.LABEL_TIMESTAMP.name, min_value=start, max_value=end,
                meta={"rule": f"label_timestamp is on the file's day of arrival {day} (UTC)"})]
    elif day is not None:
        start, end = day_bounds(day)
        expectations += [
            gxe.ExpectColumnValuesToBeUnique(
                column=contract.TRANSACTION_ID.name,
                meta={"rule": "transaction_id is unique in the file"}),
            gxe.ExpectColumnValuesToBeBetween(
                column=contract.EVENT_TIMESTAMP.name, min_value=start, max_value=end,
                meta={"rule": f"event_timestamp is on the file's day {day} (UTC)"}),
            gxe.ExpectColumnPairValuesToBeEqual(
                column_A=contract.HOUR.name, column_B=EVENT_HOUR,
                ignore_row_if="either_value_is_missing",
                meta={"rule": "hour is the UTC hour of event_timestamp"}),
            gxe.ExpectColumnPairValuesToBeEqual(
                column_A=contract.DAY_OF_WEEK.name, column_B=EVENT_WEEKDAY,
                ignore_row_if="either_value_is_missing",
                meta={"rule": "day_of_week is the weekday of event_timestamp (UTC)"}),
        ]
    return gx.ExpectationSuite(name=f"{_kind(fields)}_values", expectations=expectations)


def fraud_rate_suite() -> gx.ExpectationSuite:
    low, high = FRAUD_RATE_BOUNDS
    return gx.ExpectationSuite(name="transactions_fraud_rate", expectations=[
        gxe.ExpectColumnMeanToBeBetween(
            column=contract.LABEL, min_value=low, max_value=high,
            meta={"rule": f"fraud rate between {low:.0%} and {high:.0%}"})])
