"""The Feast offline source: one parquet file per feature day in a folder Feast reads whole.

One file per day is what makes re-materializing a day idempotent: the day's file is
replaced, never appended to. Temporary files start with a dot, which the parquet
readers behind Feast skip, so a reader never sees half a day.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from fraud_assets.features.aggregates import TIMESTAMP, day_start
from fraud_assets.features.names import FEATURE_VIEW


def source_dir(feast_dir: Path) -> Path:
    """The folder the feature view's FileSource points at."""
    return feast_dir / "offline" / FEATURE_VIEW


def day_file(feast_dir: Path, day: dt.date) -> Path:
    return source_dir(feast_dir) / f"{day.isoformat()}.parquet"


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
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    rows.to_parquet(tmp, index=False)
    tmp.replace(target)
    return target


def stored_days(feast_dir: Path) -> list[str]:
    """ISO dates that have feature rows, oldest first."""
    folder = source_dir(feast_dir)
    return sorted(p.stem for p in folder.glob("*.parquet")) if folder.exists() else []


def read_rows(feast_dir: Path) -> pd.DataFrame:
    """Every stored feature row (for checks and tests; Feast reads the folder itself)."""
    files = sorted(source_dir(feast_dir).glob("*.parquet"))
    if not files:
        return pd.DataFrame()
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
