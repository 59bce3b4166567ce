"""The data lake: parquet files under FRAUD_HOME/lake, one per asset and partition.

Free of Dagster: the code location's IO manager (`defs/resources.py`) stores and loads
asset outputs through these functions, and monitoring, Feast and benchmarks read the same
files with them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from fraud_assets import settings


def partition_path(root: Path, asset: str, partition: str | None) -> Path:
    folder = root / asset
    return folder / f"{partition}.parquet" if partition else folder / "data.parquet"


def write_frame(frame: pd.DataFrame, path: Path) -> None:
    """Write atomically, so a failed run never leaves a half-written partition.

    Text is stored as Arrow `string` whatever the frame's pandas string type (Arrow-backed
    pandas strings are `large_string`): every file of an asset then has one schema, so
    days written before and after can be concatenated and filtered alike."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    schema = table.schema
    for i, field in enumerate(schema):
        if pa.types.is_large_string(field.type):
            schema = schema.set(i, field.with_type(pa.string()))
    write_table(table.cast(schema), path)


def write_table(table: pa.Table, path: Path) -> None:
    """Write `table` (its schema metadata included) to `path` atomically: a reader sees the
    old file or the new one, never half of one. The temporary file's name is fixed, so a
    write killed half-way leaves one that the rerun overwrites (the crash tests look for
    leftovers)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        pq.write_table(table, tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


# Text columns read as Arrow-backed pandas strings (`read_arrow_text`); ARROW_TEXT_TYPES
# is the `types_mapper` of `pa.Table.to_pandas` that does it.
ARROW_TEXT = pd.StringDtype("pyarrow")
ARROW_TEXT_TYPES = {pa.string(): ARROW_TEXT, pa.large_string(): ARROW_TEXT}


def read_frame(path: Path, columns: Sequence[str] | None = None,
               filters: list[tuple[str, str, object]] | None = None,
               dictionary: Sequence[str] | None = None,
               arrow_text: bool = False) -> pd.DataFrame:
    """One stored frame, or part of it: `columns` (default all), the rows matching
    `filters` (pyarrow's `[(column, op, value), ...]`, ANDed; row groups that cannot match
    are skipped), `dictionary` text columns as pandas categoricals, the other text columns
    Arrow-backed with `arrow_text` (`read_arrow_text`). Row order is kept.

    The Arrow table is freed while it is converted and Arrow's allocator then hands unused
    pages back: reading the 7.5M-row training set of a 30 x 1M window left the process at
    3.7 GB for a 2.0 GB frame, 1.5 GB with `arrow_text` (`benchmarks.scale`)."""
    kwargs = {"read_dictionary": list(dictionary)} if dictionary else {}
    table = pq.read_table(path, columns=list(columns) if columns else None,
                          filters=filters or None, **kwargs)
    frame = table.to_pandas(types_mapper=ARROW_TEXT_TYPES.get if arrow_text else None,
                            self_destruct=True)
    del table
    pa.default_memory_pool().release_unused()
    return frame


def read_arrow_text(path: Path) -> pd.DataFrame:
    """A stored frame whose text columns are `string[pyarrow]`: handed over from Arrow
    without a copy, where plain `read_frame` makes a Python string per value. A 1M-row raw
    day (8 text columns): 0.36 s against 2.35 s, and judging it (`contract.landed_reasons`,
    whose string rules are Arrow kernels) 1.5 s against 5.8 s (loaded machine). Missing
    values are `pd.NA`. Written back, such columns read as pandas `string` again."""
    return read_frame(path, arrow_text=True)


def read_partitions(asset: str, partitions: Iterable[str], root: Path | None = None,
                    arrow_text: bool = False) -> pd.DataFrame:
    """Concatenate the stored partitions that exist (missing days are skipped); text
    columns Arrow-backed with `arrow_text` (`read_frame`)."""
    root = root or settings.lake_dir()
    paths = [partition_path(root, asset, p) for p in partitions]
    frames = [read_frame(p, arrow_text=arrow_text) for p in paths if p.exists()]
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True)


def stored_partitions(asset: str, root: Path | None = None) -> list[str]:
    folder = (root or settings.lake_dir()) / asset
    return sorted(p.stem for p in folder.glob("*.parquet")) if folder.exists() else []
