"""Run a suite on a DataFrame with an ephemeral GE context and summarise the result."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import great_expectations as gx
import pandas as pd
from great_expectations.data_context.types.base import ProgressBarsConfig

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


@lru_cache(maxsize=1)
def _batch_definition() -> Any:
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
    for f in contract.FIELDS:
        if f.name in out and f.kind == "int":
            out[f.name] = out[f.name].astype("Float64").astype("float64")
        if f.name in out and f.kind in ("string", "category"):
            out[f.name] = out[f.name].astype(object).where(out[f.name].notna(), None)
    return out


def run_suite(suite: gx.ExpectationSuite, frame: pd.DataFrame,
              raw: pd.DataFrame | None = None) -> SuiteResult:
    """Validate `frame` (typed, `for_ge`). With `raw` (the file as landed, same index), the
    examples are the unexpected rows' values as landed, not the parsed ones (a value that
    did not parse would show as null)."""
    batch = _batch_definition().get_batch(batch_parameters={"dataframe": frame})
    result = batch.validate(suite, result_format="SUMMARY")
    rules = []
    for r in result.results:
        cfg = r.expectation_config
        res = dict(r.result or {})
        rules.append(RuleResult(
            rule=(cfg.meta or {}).get("rule", cfg.type),
            expectation=cfg.type,
            column=cfg.kwargs.get("column"),
            success=bool(r.success),
            unexpected_count=int(res.get("unexpected_count") or 0),
            examples=_examples(res, cfg.kwargs.get("column") or cfg.kwargs.get("column_A"), raw),
            observed=_plain(res.get("observed_value")),
        ))
    return SuiteResult(suite=suite.name, rows=len(frame), rules=rules)


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
