"""Small simulated days, written where the assets read them, and a drift_report runner."""

from __future__ import annotations

import datetime as dt
from functools import cache
from pathlib import Path

import pandas as pd
from dagster import AssetSpec, DagsterInstance, ExecuteInProcessResult, materialize

from fraud_assets import lake, simulator
from fraud_assets.defs.assets.monitoring import drift_report
from fraud_assets.defs.partitions import daily_partitions
from fraud_assets.defs.resources import FraudHome
from fraud_assets.features.store import FeastStore
from fraud_assets.model.registry import MlflowRegistry

ROWS = 2_000
FIRST = dt.date(2025, 1, 1)
REFERENCE_DAYS = 10  # 20,000 rows: the default reference sample size
VALIDATED = "transactions_validated"


def day_key(offset: int) -> str:
    return (FIRST + dt.timedelta(days=offset)).isoformat()


@cache
def _generated(day: str, scenario: str, rows: int) -> pd.DataFrame:
    return simulator.generate_day(simulator.DayPlan(
        day=dt.date.fromisoformat(day), rows=rows, scenario=scenario))


def day_frame(day: str, scenario: str = "normal", rows: int = ROWS) -> pd.DataFrame:
    """A day as `transactions_validated` stores it (the simulator's rows are all valid)."""
    return _generated(day, scenario, rows).copy()


def reference_frame() -> pd.DataFrame:
    return pd.concat([day_frame(day_key(i)) for i in range(REFERENCE_DAYS)], ignore_index=True)


def write_validated(home: Path, day: str, scenario: str = "normal") -> None:
    lake.write_frame(day_frame(day, scenario),
                     lake.partition_path(home / "lake", VALIDATED, day))


def write_reference_days(home: Path) -> None:
    for i in range(REFERENCE_DAYS):
        write_validated(home, day_key(i))


def resources(home: Path) -> dict:
    return {"fraud_home": FraudHome(path=str(home)),
            "lake": lake.LakeIOManager(root=str(home / "lake")),
            "feast_store": FeastStore(fraud_home=FraudHome(path=str(home))),
            "mlflow_registry": MlflowRegistry(
                tracking_uri=f"sqlite:///{home / 'mlflow' / 'mlflow.db'}")}


def run_drift_report(instance: DagsterInstance, home: Path, day: str,
                     run_config: dict | None = None) -> ExecuteInProcessResult:
    """Materialize drift_report for `day`, its input read from the lake like in production."""
    upstream = AssetSpec(VALIDATED, partitions_def=daily_partitions).with_io_manager_key("lake")
    return materialize([upstream, drift_report], selection=[drift_report.key],
                       partition_key=day, instance=instance, resources=resources(home),
                       run_config=run_config)
