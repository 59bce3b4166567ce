"""Run a suite on a DataFrame with an ephemeral GE context and summarise the result."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import great_expectations as gx
import numpy as np
import pandas as pd
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.execution_engine import pandas_execution_engine

from fraud_assets import contract

EXAMPLES = 5


@dataclass
class RuleResult:
    rule: str
    expectation: str
    column: str | None
    success: bool
    unexpected_count: int = 0
    examples: list[Any] = field(default_factory=list)
    observed: Any = None


@dataclass
class SuiteResult:
    suite: str
    rows: int
    rules: list[RuleResult]

    @property
    def success(self) -> bool:
        return all(r.success for r in self.rules)

    @property
    def failed(self) -> list[RuleResult]:
        return [r for r in self.rules if not r.success]


# GE's pandas engine fingerprints every batch smaller than this many bytes (an md5 of
# `hash_pandas_object`, kept as a batch marker and read by nothing here): at 1M rows, 38
# one-column batches per day, 2.6 s of a 36 s daily_job (cProfile, `benchmarks.scale`
# state). 0 turns the fingerprint off; GE reads the module constant at each batch.
NO_FINGERPRINT = 0


@lru_cache(maxsize=1)
def _batch_definition() -> Any:
    if hasattr(pandas_execution_engine, "HASH_THRESHOLD"):
        pandas_execution_engine.HASH_THRESHOLD = NO_FINGERPRINT
    context = gx.get_context(mode="ephemeral")
    # Progress bars would spam Dagster's captured stderr.
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    asset = context.data_sources.add_pandas("transactions").add_dataframe_asset("frame")
    return asset.add_batch_definition_whole_dataframe("whole")


def for_ge(typed: pd.DataFrame) -> pd.DataFrame:
    """GE's pandas engine wants plain numpy dtypes: nullable ints become floats.

    With a parsed `event_timestamp`, the UTC hour and weekday it implies are added
    (`suites.EVENT_HOUR`, `suites.EVENT_WEEKDAY`) for the day-aware rules.
    """
    from fraud_assets.validation import suites

    out = typed.copy()
    ts_name = contract.EVENT_TIMESTAMP.name
    if ts_name in out and pd.api.types.is_datetime64_any_dtype(out[ts_name]):
        out[suites.EVENT_HOUR] = out[ts_name].dt.hour.astype("float64")
        out[suites.EVENT_WEEKDAY] = out[ts_name].dt.dayofweek.astype("float64")
    for f in (*contract.FIELDS, *contract.LABEL_FIELDS[1:]):  # transactions' and labels'
        if f.name in out and f.kind == "int":
            out[f.name] = out[f.name].astype("Float64").astype("float64")
        if (f.name in out and f.kind in ("string", "category")
                and not contract.arrow_backed(out[f.name])):
            # pandas categories: GE copies the column per metric, and copying a million
            # Python strings cost ~2 s per rule at 1M rows, the categorical codes ~0.1 s.
            # Arrow-backed text (the lake's, `lake.read_arrow_text`) is copied as buffer
            # references: the values suite ran as fast on it (0.81 s against 0.78 s at 1M
            # rows) and the categories' hashing (0.3-0.4 s per million ids) is saved.
            out[f.name] = _as_category(out[f.name])
    return out


def _as_category(values: pd.Series) -> pd.Series:
    """`values.astype("category")` without sorting the categories: a day's million
    distinct transaction ids took 7.1 s that way and 3.3 s through `pd.factorize`
    (`python -m benchmarks.ge_validation --reference`, loaded machine; same values, same
    nulls)."""
    codes, uniques = pd.factorize(values, sort=False)
    categorical = pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(uniques),
                                            validate=False)
    return pd.Series(categorical, index=values.index, name=values.name)


def run_suite(suite: gx.ExpectationSuite, frame: pd.DataFrame,
              raw: pd.DataFrame | None = None) -> SuiteResult:
    """Validate `frame` (typed, `for_ge`). With `raw` (the file as landed, same index), the
    examples are the unexpected rows' values as landed, not the parsed ones (a value that
    did not parse would show as null).

    Each group of expectations that read the same columns is validated on a frame of just
    those columns: GE's pandas engine copies the batch's frame per metric, so at 1M rows a
    rule on one column took 2.7 s on the whole typed day and 0.13 s on its own column
    (benchmarks/scale.py measures the daily job). Results keep the suite's order."""
    rules: list[RuleResult | None] = [None] * len(suite.expectations)
    for columns, members in _by_columns(suite).items():
        present = [c for c in columns if c in frame.columns]
        part = frame[present] if columns else _rows_only(frame)
        one = gx.ExpectationSuite(name=suite.name, expectations=[
            suite.expectations[i].__class__(**suite.expectations[i].configuration.kwargs,
                                            meta=suite.expectations[i].meta)
            for i in members])
        batch = _batch_definition().get_batch(batch_parameters={"dataframe": part})
        result = batch.validate(one, result_format="SUMMARY")
        for i, r in zip(members, result.results, strict=True):
            rules[i] = _rule(r, raw)
    return SuiteResult(suite=suite.name, rows=len(frame), rules=[r for r in rules if r])


_COLUMN_KWARGS = ("column", "column_A", "column_B")


def _rows_only(frame: pd.DataFrame) -> pd.DataFrame:
    """A one-byte column with the frame's rows, for table-level rules (row counts)."""
    return pd.DataFrame({"_row": np.zeros(len(frame), dtype="int8")}, index=frame.index)


def _by_columns(suite: gx.ExpectationSuite) -> dict[tuple[str, ...], list[int]]:
    """Expectation positions grouped by the columns they read (() = the table's rows)."""
    groups: dict[tuple[str, ...], list[int]] = {}
    for i, expectation in enumerate(suite.expectations):
        kwargs = expectation.configuration.kwargs
        columns = tuple(kwargs[k] for k in _COLUMN_KWARGS if kwargs.get(k))
        groups.setdefault(columns, []).append(i)
    return groups


def _rule(r: Any, raw: pd.DataFrame | None) -> RuleResult:
    cfg = r.expectation_config
    res = dict(r.result or {})
    return RuleResult(
        rule=(cfg.meta or {}).get("rule", cfg.type),
        expectation=cfg.type,
        column=cfg.kwargs.get("column"),
        success=bool(r.success),
        unexpected_count=int(res.get("unexpected_count") or 0),
        examples=_examples(res, cfg.kwargs.get("column") or cfg.kwargs.get("column_A"), raw),
        observed=_plain(res.get("observed_value")),
    )


def _examples(res: dict[str, Any], column: str | None, raw: pd.DataFrame | None) -> list[Any]:
    positions = res.get("partial_unexpected_index_list")
    if raw is not None and column in getattr(raw, "columns", ()) and positions is not None:
        values = raw[column]
        return [_plain(values.loc[i]) if i in values.index else None
                for i in positions[:EXAMPLES]]
    return [_plain(v) for v in (res.get("partial_unexpected_list") or [])[:EXAMPLES]]


def _plain(value: Any) -> Any:
    """JSON-friendly value for Dagster metadata."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    if hasattr(value, "item"):
        return value.item()
    return value if isinstance(value, int | float | str | bool) else str(value)
