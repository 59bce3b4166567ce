"""Per-day merchant sums: the state merchant features roll forward from (issue 14, item 3).

A validated day is reduced once, by the engine (`features.engine`, out of core), to a few
rows: per category its amount sum, transaction count and fraud count
(`aggregates.SUM_COLUMNS`). They are kept next to the lake as
`lake/merchant_day_sums/<day>.parquet` with the size and mtime of the validated file they
came from, so a corrected (rewritten) day is reduced again and an unchanged one never is.
A day's feature rows then read the window's small sum files, so a new day costs one scan
of its previous day whatever the length of the history.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from fraud_assets import contract, names
from fraud_assets.features import aggregates
from fraud_assets.features.engine import DAY_COLUMN, Engine
from fraud_assets.features.names import ENTITY
from fraud_assets.lake import partition_path

SUMS_ASSET = "merchant_day_sums"
SOURCE_SIZE, SOURCE_MTIME = "source_size", "source_mtime_ns"
VIEW = "validated_days"


def sums_path(lake_root: Path, day: str) -> Path:
    return partition_path(lake_root, SUMS_ASSET, day)


def sums_sql(view: str = VIEW) -> str:
    """Per (day, category) sums of a view of validated days (DuckDB and Spark SQL)."""
    return (f"SELECT {DAY_COLUMN} AS {aggregates.DAY}, CAST({ENTITY} AS STRING) AS {ENTITY}, "
            f"CAST(SUM({contract.AMOUNT.name}) AS DOUBLE) AS amount_sum, "
            f"CAST(COUNT(*) AS BIGINT) AS txn_count, "
            # Labels known at landing only (NULL = still to come, counted as no fraud): the
            # feature never reads a label from the future of its day.
            f"CAST(COALESCE(SUM({contract.LABEL}), 0) AS BIGINT) AS fraud_count "
            f"FROM {view} GROUP BY {DAY_COLUMN}, {ENTITY}")


def _signature(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def _cached(lake_root: Path, day: str, source: Path) -> pd.DataFrame | None:
    path = sums_path(lake_root, day)
    if not path.exists():
        return None
    cached = pd.read_parquet(path)
    size, mtime = _signature(source)
    if cached.empty or (int(cached[SOURCE_SIZE].iloc[0]), int(cached[SOURCE_MTIME].iloc[0])) \
            != (size, mtime):
        return None
    return aggregates.cast_sums(cached)


def window_sums(days: list[str], lake_root: Path,
                open_engine: Callable[[], Engine]) -> pd.DataFrame:
    """SUM_COLUMNS of the validated `days` that landed (others are skipped).

    Days without up-to-date cached sums are reduced in one engine query (opened only then)
    and cached. Raises `engine.EngineError` when the engine cannot run.
    """
    sources = {day: partition_path(lake_root, names.TRANSACTIONS_VALIDATED, day)
               for day in days}
    sources = {day: path for day, path in sources.items() if path.exists()}
    found = {day: _cached(lake_root, day, path) for day, path in sources.items()}
    stale = {day: sources[day] for day, sums in found.items() if sums is None}
    if stale:
        signatures = {day: _signature(path) for day, path in stale.items()}
        with open_engine() as engine:
            engine.register(VIEW, stale)
            computed = aggregates.cast_sums(engine.frame(sums_sql()))
        for day in stale:
            rows = computed[computed[aggregates.DAY] == day].sort_values(ENTITY)
            found[day] = rows.reset_index(drop=True)
            _store(lake_root, day, found[day], signatures[day])
    frames = [found[day] for day in sorted(found) if len(found[day])]
    return pd.concat(frames, ignore_index=True) if frames else aggregates.empty_sums()


def _store(lake_root: Path, day: str, sums: pd.DataFrame, signature: tuple[int, int]) -> None:
    """Cache one day's sums with the signature of its source (an empty day keeps a row
    of signature only, so it is not reduced again)."""
    size, mtime = signature
    frame = sums.assign(**{SOURCE_SIZE: size, SOURCE_MTIME: mtime})
    path = sums_path(lake_root, day)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    frame.to_parquet(tmp, index=False)
    tmp.replace(path)
