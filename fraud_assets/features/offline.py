"""The Feast offline sources: one parquet file per feature day in a folder Feast reads whole
(per feature view: `merchant_stats`, `card_velocity`).

One file per day is what makes re-materializing a day idempotent: the day's file is
replaced, never appended to. Temporary files start with a dot, which the parquet
readers behind Feast skip, so a reader never sees half a day.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from fraud_assets import lake
from fraud_assets.features.aggregates import TIMESTAMP, day_start
from fraud_assets.features.names import CARD_FEATURE_VIEW, FEATURE_VIEW


def source_dir(feast_dir: Path, view: str = FEATURE_VIEW) -> Path:
    """The folder the FileSource of feature view `view` points at."""
    return feast_dir / "offline" / view


def day_file(feast_dir: Path, day: dt.date, view: str = FEATURE_VIEW) -> Path:
    return source_dir(feast_dir, view) / f"{day.isoformat()}.parquet"


def write_day(feast_dir: Path, day: dt.date, rows: pd.DataFrame) -> Path | None:
    """Replace the day's feature rows with `rows`; no rows removes the day's file."""
    target = day_file(feast_dir, day)
    if rows.empty:
        target.unlink(missing_ok=True)
        return None
    stamps = rows[TIMESTAMP].unique()
    if len(stamps) != 1 or stamps[0] != day_start(day):
        raise ValueError(f"{target}: rows for {day} must all have {TIMESTAMP} "
                         f"{day_start(day)}, got {sorted(map(str, stamps))}")
    lake.write_frame(rows, target)
    return target


def write_card_day(feast_dir: Path, day: dt.date, rows: pd.DataFrame) -> Path | None:
    """Replace the day's card feature rows (`card_velocity`, one per transaction with a
    card, at the transaction's own timestamp) with `rows`; no rows removes the file."""
    target = day_file(feast_dir, day, CARD_FEATURE_VIEW)
    if rows.empty:
        target.unlink(missing_ok=True)
        return None
    start = day_start(day)
    outside = ~rows[TIMESTAMP].between(start, start + pd.Timedelta(days=1), inclusive="left")
    if outside.any():
        raise ValueError(f"{target}: {int(outside.sum())} card feature row(s) with a "
                         f"{TIMESTAMP} outside {day}, e.g. {rows.loc[outside, TIMESTAMP].iloc[0]}")
    lake.write_frame(rows, target)
    return target




def stored_days(feast_dir: Path, view: str = FEATURE_VIEW) -> list[str]:
    """ISO dates that have feature rows of `view`, oldest first."""
    folder = source_dir(feast_dir, view)
    return sorted(p.stem for p in folder.glob("*.parquet")) if folder.exists() else []


def read_rows(feast_dir: Path) -> pd.DataFrame:
    """Every stored feature row (for checks and tests; Feast reads the folder itself)."""
    files = sorted(source_dir(feast_dir).glob("*.parquet"))
    if not files:
        return pd.DataFrame()
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


# The point-in-time join out of core (issue 14). Feast's file offline store (and its DuckDB
# store) take the entity rows as one pandas frame; a 30 x 1M window does not fit that way.
# Our feature rows are one per category and day at midnight, so "the latest feature row at
# or before the transaction, no older than the ttl" (Feast's semantics) is an equality join
# on (category, day) for each possible age 0..ttl days, the youngest match winning: hash
# joins against a few hundred rows, which DuckDB and Spark stream over any window.
FEATURE_VIEW_PREFIX = "features_age"


def feature_files_by_age(feast_dir: Path, ttl_days: int) -> dict[int, dict[str, Path]]:
    """For each age k in 0..ttl_days: {day D: the feature file of day D-k} (the rows a
    transaction of partition day D may use at age k)."""
    files = {day: source_dir(feast_dir) / f"{day}.parquet" for day in stored_days(feast_dir)}
    return {age: {(dt.date.fromisoformat(day) + dt.timedelta(days=age)).isoformat(): path
                  for day, path in files.items()}
            for age in range(ttl_days + 1)}


def point_in_time_select(transactions: str, ages: list[int], ttl_days: int,
                         features: tuple[str, ...], entity: str, day_column: str,
                         columns: tuple[str, ...]) -> str:
    """SQL (DuckDB and Spark) of `transactions` (a view with `columns` and `day_column`)
    left-joined to the feature views `features_age<k>`: each feature column as of the row's
    own timestamp (NULL without a row inside the ttl) and `_has_features`."""
    joins, cases, has = [], {name: [] for name in features}, []
    for age in ages:
        alias = f"f{age}"
        joins.append(
            f"LEFT JOIN {FEATURE_VIEW_PREFIX}{age} {alias} ON {alias}.{entity} = t.{entity} "
            f"AND {alias}.{day_column} = t.{day_column} "
            f"AND {alias}.{TIMESTAMP} <= t.{TIMESTAMP} "
            f"AND t.{TIMESTAMP} <= {alias}.{TIMESTAMP} + INTERVAL '{ttl_days}' DAY")
        matched = f"{alias}.{day_column} IS NOT NULL"
        has.append(matched)
        for name in features:
            cases[name].append(f"WHEN {matched} THEN {alias}.{name}")
    selected = [f"t.{c}" for c in (*columns, day_column)]
    selected += [f"CASE {' '.join(whens)} END AS {name}" for name, whens in cases.items()]
    selected.append(f"({' OR '.join(has)}) AS _has_features")
    return f"SELECT {', '.join(selected)} FROM {transactions} t {' '.join(joins)}"
