"""Run the real daily job of the code location on a temporary instance."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
from dagster import DagsterInstance, ExecuteInProcessResult

from fraud_assets import simulator
from fraud_assets.definitions import defs


def land(home: Path, day: str, rows: int = 2_000, **plan) -> Path:
    return simulator.write_day(home / "landing",
                               simulator.DayPlan(day=dt.date.fromisoformat(day), rows=rows, **plan))


def run_day(instance: DagsterInstance, day: str) -> ExecuteInProcessResult:
    return defs.resolve_job_def("daily_job").execute_in_process(
        partition_key=day, instance=instance, raise_on_error=False)


def checks(result: ExecuteInProcessResult) -> dict:
    """Check name -> evaluation of the run."""
    return {e.event_specific_data.check_name: e.event_specific_data
            for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}


def materialized(result: ExecuteInProcessResult) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}


def lake(home: Path, asset: str, day: str) -> pd.DataFrame:
    return pd.read_parquet(home / "lake" / asset / f"{day}.parquet")
