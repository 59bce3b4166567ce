"""The data lake: parquet files under FRAUD_HOME/lake, one per asset and partition.

`LakeIOManager` is how Dagster assets store and load DataFrames; the helper functions
let non-Dagster code (Feast, serving, benchmarks) read the same files.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd
from dagster import ConfigurableIOManager, InputContext, OutputContext

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


class LakeIOManager(ConfigurableIOManager):
    """Stores each DataFrame output as parquet; multi-partition inputs are concatenated."""

    root: str = ""

    def _root(self) -> Path:
        return Path(self.root) if self.root else settings.lake_dir()

    def handle_output(self, context: OutputContext, obj: pd.DataFrame | None) -> None:
        if obj is None:
            return
        name = context.asset_key.to_python_identifier()
        partition = context.asset_partition_key if context.has_asset_partitions else None
        path = partition_path(self._root(), name, partition)
        write_frame(obj, path)
        context.add_output_metadata({"path": str(path)})

    def load_input(self, context: InputContext) -> pd.DataFrame:
        name = context.asset_key.to_python_identifier()
        if context.has_asset_partitions:
            return read_partitions(name, context.asset_partition_keys, self._root())
        return pd.read_parquet(partition_path(self._root(), name, None))
