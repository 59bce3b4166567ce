"""The engine of the heavy per-day and window transforms: DuckDB locally, Spark by configuration.

One SQL text, two engines. The transforms (`features.daily_sums`: a day's per-category
sums; `features.window_join`: the point-in-time join of a training window) are written in
the SQL both DuckDB and Spark SQL accept (joins, GROUP BY, CASE, md5/substr, TIMESTAMP
literals), over views of parquet files that the engine registers. Each view gets the
column `_day`: the partition day of the file a row came from.

Why our own engine layer and not Feast's offline stores: Feast's DuckDB offline store takes
the entity frame only as pandas (docs.feast.dev, offline-stores/duckdb: "Entity dataframes
can be provided as a Pandas dataframe"; no arrow-batch export), so a 30 x 1M window would
be held in memory whole; its file store sorts and merges the entity frame in memory (4.8 GB
at 4M rows, issue 14). Here the join reads parquet and writes parquet: DuckDB streams and
spills to FRAUD_HOME/engine past its memory limit; Spark does the same on a cluster.

Choose with $FRAUD_ENGINE (duckdb | spark); $FRAUD_ENGINE_MEMORY bounds DuckDB (and is
Spark's driver memory); $FRAUD_SPARK_MASTER is Spark's master (default local[2]).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from pathlib import Path

import pandas as pd

from fraud_assets import contract, settings

DAY_COLUMN = "_day"
TIMESTAMP = contract.EVENT_TIMESTAMP.name
_log = logging.getLogger(__name__)


class EngineError(RuntimeError):
    """The engine cannot run (not installed, no Java, a bad setting); the message says which."""


class Engine(ABC):
    """Registers parquet files as views and runs SQL over them."""

    name: str

    @abstractmethod
    def register(self, view: str, files: Mapping[str, Path]) -> None:
        """View `view` = the rows of `files` (partition day -> parquet file), each with
        column `_day` = its day. An empty mapping is an error (no schema to give)."""

    @abstractmethod
    def register_frame(self, view: str, frame: pd.DataFrame) -> None:
        """View `view` = the rows of an in-memory `frame` (its own `_day` column)."""

    @abstractmethod
    def frame(self, sql: str) -> pd.DataFrame:
        """The (small) result of `sql` as a pandas frame."""

    @abstractmethod
    def write(self, sql: str, target: Path) -> Path:
        """The result of `sql` as parquet at `target` (a file for DuckDB, a folder of part
        files for Spark; both read back with `pd.read_parquet`), replacing it atomically."""

    @abstractmethod
    def close(self) -> None:
        """Release the engine's resources."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _quote(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


class DuckDBEngine(Engine):
    """DuckDB in this process: bounded by `memory` (spills to `spill_dir` past it)."""

    name = "duckdb"

    def __init__(self, memory: str | None = None, spill_dir: Path | None = None,
                 threads: int | None = None) -> None:
        import duckdb

        spill = spill_dir or settings.engine_dir() / "duckdb"
        spill.mkdir(parents=True, exist_ok=True)
        self.memory = memory or settings.engine_memory()
        self.con = duckdb.connect(config={
            "memory_limit": self.memory,
            "temp_directory": str(spill),
            "threads": threads or max(1, os.cpu_count() or 1),
            # Row order within a result is not promised anywhere: callers sort.
            "preserve_insertion_order": False,
        })
        self.con.execute("SET TimeZone = 'UTC'")

    def register(self, view: str, files: Mapping[str, Path]) -> None:
        if not files:
            raise EngineError(f"view {view!r}: no parquet files to read")
        first = next(iter(files.values()))
        kinds = dict(self.con.execute(
            f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM "
            f"read_parquet({_quote(first)}))").fetchall())
        # pandas writes nanosecond timestamps: one microsecond type for every view, so
        # comparisons between views bind (Spark has microseconds only, too).
        star = (f"* REPLACE (CAST({TIMESTAMP} AS TIMESTAMPTZ) AS {TIMESTAMP})"
                if TIMESTAMP in kinds else "*")
        parts = [f"SELECT {star}, '{day}' AS {DAY_COLUMN} FROM read_parquet({_quote(path)})"
                 for day, path in sorted(files.items())]
        # By name: days landed with and without an optional column (card_id) line up, the
        # column null on the days without it.
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS "
                         + " UNION ALL BY NAME ".join(parts))

    def register_frame(self, view: str, frame: pd.DataFrame) -> None:
        self.con.register(f"{view}_frame", frame)
        star = (f"* REPLACE (CAST({TIMESTAMP} AS TIMESTAMPTZ) AS {TIMESTAMP})"
                if TIMESTAMP in frame.columns else "*")
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT {star} "
                         f"FROM {view}_frame")

    def frame(self, sql: str) -> pd.DataFrame:
        with self._bounded():
            return self.con.sql(sql).df()

    def write(self, sql: str, target: Path) -> Path:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
        try:
            with self._bounded():
                self.con.execute(f"COPY ({sql}) TO {_quote(tmp)} (FORMAT parquet)")
            _replace(tmp, target)
        finally:
            _remove(tmp)
        return target

    @contextlib.contextmanager
    def _bounded(self) -> Iterator[None]:
        """DuckDB's out-of-memory error as an EngineError naming the setting to raise (a
        query that cannot spill, e.g. a large join's hash table, needs it in memory)."""
        import duckdb

        try:
            yield
        except duckdb.OutOfMemoryException as exc:
            raise EngineError(
                f"DuckDB needed more than its memory limit {self.memory} "
                f"(${settings.ENGINE_MEMORY_ENV}); raise it, e.g. "
                f"{settings.ENGINE_MEMORY_ENV}={settings.DEFAULT_ENGINE_MEMORY} or more, and "
                f"run the step again (nothing was written). DuckDB said: "
                f"{str(exc).splitlines()[0]}") from None

    def close(self) -> None:
        self.con.close()


class SparkEngine(Engine):
    """PySpark (local mode by default): the same SQL on a distributed engine."""

    name = "spark"

    def __init__(self, master: str | None = None, memory: str | None = None,
                 scratch: Path | None = None) -> None:
        if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
            raise EngineError("FRAUD_ENGINE=spark needs Java 17+ (no `java` on PATH and no "
                              "JAVA_HOME); install a JDK or use FRAUD_ENGINE=duckdb")
        try:
            from pyspark.sql import SparkSession
        except ImportError:
            raise EngineError("FRAUD_ENGINE=spark needs pyspark: `uv sync --group spark` "
                              "(make test-spark does it)") from None
        scratch = scratch or settings.engine_dir() / "spark"
        scratch.mkdir(parents=True, exist_ok=True)
        self.spark = (SparkSession.builder
                      .master(master or settings.spark_master())
                      .appName("fraud-platform")
                      .config("spark.driver.memory", (memory or settings.engine_memory())
                              .lower().replace("gb", "g").replace("mb", "m"))
                      .config("spark.driver.bindAddress", "127.0.0.1")
                      .config("spark.driver.host", "127.0.0.1")
                      .config("spark.ui.enabled", "false")
                      .config("spark.local.dir", str(scratch))
                      .config("spark.sql.session.timeZone", "UTC")
                      .config("spark.sql.shuffle.partitions", "8")
                      .config("spark.sql.execution.arrow.pyspark.enabled", "true")
                      # pandas writes nanosecond timestamps, which Spark reads only as longs.
                      .config("spark.sql.legacy.parquet.nanosAsLong", "true")
                      .getOrCreate())
        self.spark.sparkContext.setLogLevel("ERROR")

    def register(self, view: str, files: Mapping[str, Path]) -> None:
        from pyspark.sql import functions as F
        from pyspark.sql.types import LongType

        if not files:
            raise EngineError(f"view {view!r}: no parquet files to read")
        frames = []
        for day, path in sorted(files.items()):
            df = self.spark.read.parquet(str(path))
            if TIMESTAMP in df.columns and isinstance(df.schema[TIMESTAMP].dataType, LongType):
                micros = F.floor(F.col(TIMESTAMP) / 1000).cast("long")
                df = df.withColumn(TIMESTAMP, F.timestamp_micros(micros))
            frames.append(df.withColumn(DAY_COLUMN, F.lit(day)))
        union = frames[0]
        for df in frames[1:]:
            union = union.unionByName(df, allowMissingColumns=True)  # optional card_id
        union.createOrReplaceTempView(view)

    def register_frame(self, view: str, frame: pd.DataFrame) -> None:
        self.spark.createDataFrame(frame).createOrReplaceTempView(view)

    def frame(self, sql: str) -> pd.DataFrame:
        return self.spark.sql(sql).toPandas()

    def write(self, sql: str, target: Path) -> Path:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
        try:
            self.spark.sql(sql).write.mode("overwrite").parquet(str(tmp))
            for marker in tmp.glob("*.crc"):
                marker.unlink()
            (tmp / "_SUCCESS").unlink(missing_ok=True)
            _replace(tmp, target)
        finally:
            _remove(tmp)
        return target

    def close(self) -> None:
        # The session is shared per process (getOrCreate): stopping it here would stop it
        # for every other caller, so it lives until the process ends.
        pass


def _replace(tmp: Path, target: Path) -> None:
    """Move `tmp` onto `target` (file or folder); a folder target is swapped whole."""
    if target.is_dir():
        old = target.with_name(f".{target.name}.{uuid.uuid4().hex}.old")
        target.rename(old)
        tmp.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, target)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def open_engine(name: str | None = None) -> Engine:
    """The configured engine ($FRAUD_ENGINE, default duckdb), or `name`."""
    name = name or settings.engine_name()
    if name == "spark":
        return SparkEngine()
    if name == "duckdb":
        return DuckDBEngine()
    raise EngineError(f"unknown engine {name!r}; known: {', '.join(settings.ENGINES)}")
