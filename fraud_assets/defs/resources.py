"""What every domain of the code location shares: the state folder, the lake, the executor.

Domain resources live next to their assets (`features/resources.py`, `model/resources.py`);
this module binds the two platform-wide ones and sets the executor, once for every job.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pandas as pd
from dagster import (
    ConfigurableIOManager,
    ConfigurableResource,
    Definitions,
    InitResourceContext,
    InputContext,
    MetadataValue,
    OutputContext,
    TableColumn,
    TableSchema,
    in_process_executor,
)

from fraud_assets import lake, names, settings
from fraud_assets.orchestration import runs


class FraudHome(ConfigurableResource):
    """The state folder (FRAUD_HOME). Empty means: resolve from the environment."""

    path: str = ""

    @property
    def root(self) -> Path:
        return Path(self.path).resolve() if self.path else settings.fraud_home()

    @property
    def landing(self) -> Path:
        return settings.landing_dir(self.root)

    @property
    def lake(self) -> Path:
        return settings.lake_dir(self.root)

    @property
    def labels_landing(self) -> Path:
        """Where the label feed lands (`landing.label_folder`)."""
        from fraud_assets import landing

        return landing.label_folder(self.landing)


def table_metadata(frame: pd.DataFrame) -> dict[str, MetadataValue]:
    """Dagster's standard table keys, so the UI shows row count and schema natively."""
    schema = TableSchema(columns=[TableColumn(name=str(c), type=str(t))
                                  for c, t in frame.dtypes.items()])
    return {"dagster/row_count": MetadataValue.int(len(frame)),
            "dagster/column_schema": MetadataValue.table_schema(schema)}


# `AssetIn(metadata=...)` keys a step may use to read less of a stored frame, as
# Dagster's own DuckDB/Snowflake IO managers read `columns`: only these columns, only the
# rows matching a pyarrow filter, these text columns as pandas categoricals (a 7.5M-row
# training set holds `split` as 470 MB of Python strings, 7 MB as a categorical), the
# other text columns Arrow-backed (`lake.read_frame`).
READ_COLUMNS, READ_FILTERS, READ_DICTIONARY = "columns", "filters", "dictionary"
READ_ARROW_TEXT = "arrow_text"


class LakeIOManager(ConfigurableIOManager):
    """Stores each DataFrame output as parquet (`lake.partition_path`), atomically;
    multi-partition inputs are concatenated. An unpartitioned input honours the
    READ_COLUMNS / READ_FILTERS / READ_DICTIONARY / READ_ARROW_TEXT keys of its `AssetIn`
    metadata."""

    root: str = ""

    def setup_for_execution(self, context: InitResourceContext) -> None:
        # Every run that touches the lake records its process: a run whose process dies
        # can then be failed and retried (orchestration/runs.py).
        if context.instance is not None and context.run_id:
            runs.record_run_process(context.instance, context.run_id)

    def _root(self) -> Path:
        return Path(self.root) if self.root else settings.lake_dir()

    def handle_output(self, context: OutputContext, obj: pd.DataFrame | None) -> None:
        if obj is None:
            return
        name = context.asset_key.to_python_identifier()
        partition = context.asset_partition_key if context.has_asset_partitions else None
        path = lake.partition_path(self._root(), name, partition)
        lake.write_frame(obj, path)
        context.add_output_metadata({"path": MetadataValue.path(str(path)),
                                     **table_metadata(obj)})

    def load_input(self, context: InputContext) -> pd.DataFrame:
        name = context.asset_key.to_python_identifier()
        if context.has_asset_partitions:
            keys = list(context.asset_partition_keys)
            if name in SHARED_READS and len(keys) == 1:
                return _shared_read(lake.partition_path(self._root(), name, keys[0]))
            return lake.read_partitions(name, keys, self._root(),
                                        arrow_text=name in ARROW_TEXT_READS)
        meta = context.definition_metadata or {}
        return lake.read_frame(lake.partition_path(self._root(), name, None),
                               columns=meta.get(READ_COLUMNS), filters=meta.get(READ_FILTERS),
                               dictionary=meta.get(READ_DICTIONARY),
                               arrow_text=bool(meta.get(READ_ARROW_TEXT, False)))


# Assets whose stored day is read by several steps of one run, none of which modifies the
# frame it gets: the raw day feeds four checks and the split (at 1M rows each read cost
# ~2.5 s). One frame per file version (path, size, mtime) is kept and handed to each.
SHARED_READS = frozenset({names.TRANSACTIONS_RAW})
# Assets whose days are read with Arrow-backed text (`lake.read_frame`'s `arrow_text`): the
# validated day feeds the drift report and `model_performance`, which sample it before any
# per-value work. A 1M-row day: 0.07-0.14 s against 0.36-0.95 s and 57k page faults
# (~230 MB of Python strings) for `pd.read_parquet` (day 30 of `benchmarks.scale`'s
# 1M-row state, 2026-12-03).
ARROW_TEXT_READS = frozenset({names.TRANSACTIONS_VALIDATED})
_shared: tuple[tuple, pd.DataFrame] | None = None
_shared_lock = threading.Lock()


def release_shared_reads() -> None:
    """Drop the frame kept for SHARED_READS (the raw day: at 3M rows ~2 GB of text), once
    its last reader is done; a later reader reads the file again."""
    global _shared
    with _shared_lock:
        _shared = None


def _shared_read(path: Path) -> pd.DataFrame:
    global _shared
    if not path.exists():
        return pd.DataFrame()
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    with _shared_lock:
        if _shared is not None and _shared[0] == key:
            return _shared[1]
    frame = lake.read_arrow_text(path)  # the checks' and the split's rules run in Arrow
    with _shared_lock:
        _shared = (key, frame)
    return frame


defs = Definitions(
    resources={"fraud_home": FraudHome(), "lake": LakeIOManager()},
    # On one machine a subprocess per step costs far more than the steps themselves
    # (shared/STACK.md: 130 s vs 9 s for a small graph); set once, for every job.
    executor=in_process_executor,
)
