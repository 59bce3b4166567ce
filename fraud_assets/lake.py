"""The data lake: parquet files under FRAUD_HOME/lake, one per asset and partition.

Free of Dagster: the code location's IO manager (`defs/resources.py`) stores and loads
asset outputs through these functions, and monitoring, Feast and benchmarks read the same
files with them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from fraud_assets import settings


def partition_path(root: Path, asset: str, partition: str | None) -> Path:
    folder = root / asset
    return folder / f"{partition}.parquet" if partition else folder / "data.parquet"


def write_frame(frame: pd.DataFrame, path: Path) -> None:
    """Write atomically, so a failed run never leaves a half-written partition."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".parquet.tmp")
    frame.to_parquet(tmp, index=False)
    tmp.replace(path)


def read_frame(path: Path, columns: Sequence[str] | None = None,
               filters: list[tuple[str, str, object]] | None = None,
               dictionary: Sequence[str] | None = None) -> pd.DataFrame:
    """One stored frame, or part of it: `columns` (default all), the rows matching
    `filters` (pyarrow's `[(column, op, value), ...]`, ANDed; row groups that cannot match
    are skipped), `dictionary` text columns as pandas categoricals. Row order is kept."""
    kwargs = {"read_dictionary": list(dictionary)} if dictionary else {}
    return pd.read_parquet(path, columns=list(columns) if columns else None,
                           filters=filters or None, **kwargs)


def read_partitions(asset: str, partitions: Iterable[str], root: Path | None = None,
                    ) -> pd.DataFrame:
    """Concatenate the stored partitions that exist (missing days are skipped)."""
    root = root or settings.lake_dir()
    paths = [partition_path(root, asset, p) for p in partitions]
    frames = [pd.read_parquet(p) for p in paths if p.exists()]
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True)


def stored_partitions(asset: str, root: Path | None = None) -> list[str]:
    folder = (root or settings.lake_dir()) / asset
    return sorted(p.stem for p in folder.glob("*.parquet")) if folder.exists() else []
