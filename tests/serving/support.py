"""The one support module of the serving tests (and the load benchmark's state builder).

Platform state built the way the pipeline builds it: a real MLflow registry with trained
champions, and a real Feast online store; and a real `bentoml serve` of the fraud API,
started with the platform's own launcher (`orchestration.servers.api_server`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from fraud_assets import contract, simulator
from fraud_assets.features import aggregates, offline
from fraud_assets.features.names import FEATURES
from fraud_assets.features.store import MerchantFeatureStore
from fraud_assets.model import deploy, training
from fraud_assets.model.registry import MlflowRegistry
from fraud_assets.orchestration.processes import Server, free_port
from fraud_assets.orchestration.servers import api_server

FIRST_DAY = dt.date(2025, 1, 6)
# A valid request body.
GOOD = {"amount": 150.0, "hour": 14, "day_of_week": 3, "merchant_category": "online"}


def simulated_days(seed: int, days: int = 3, rows: int = 2_000) -> pd.DataFrame:
    return pd.concat([simulator.generate_day(simulator.DayPlan(
        day=FIRST_DAY + dt.timedelta(days=i), rows=rows, fraud_ratio=0.05, seed=seed))
        for i in range(days)], ignore_index=True)


def training_frame(seed: int) -> pd.DataFrame:
    """Simulated days plus merchant features (per-category stats of the same days: the
    point here is a real fitted pipeline, not a good one)."""
    frame = simulated_days(seed)
    by = frame.groupby(contract.MERCHANT_CATEGORY.name)
    stats = pd.DataFrame({FEATURES[0]: by[contract.AMOUNT.name].mean(),
                          FEATURES[1]: by[contract.AMOUNT.name].size().astype(float),
                          FEATURES[2]: by[contract.LABEL].mean()})
    return frame.join(stats, on=contract.MERCHANT_CATEGORY.name)


def registry_at(home: Path) -> MlflowRegistry:
    return MlflowRegistry(tracking_uri=tracking_uri(home),
                          artifact_location=str(home / "mlflow" / "artifacts"))


def add_version(registry: MlflowRegistry, seed: int, promote: bool = True) -> str:
    """Train, log, register; optionally make it the champion. Returns the version."""
    frame = training_frame(seed)
    trained = training.train(frame)
    logged = registry.log_training(trained, metrics={}, plots={},
                                   dagster_run_id="serving-tests", sample=frame)
    if promote:
        deploy.promote(registry, logged.version, reason="serving tests")
    return logged.version


def build_feature_store(home: Path, seed: int = 1) -> MerchantFeatureStore:
    """Merchant features for the simulated days (what merchant_features writes), applied
    and materialized into the SQLite online store of `home`."""
    history = simulated_days(seed)
    store = MerchantFeatureStore(home)
    store.apply()
    for i in range(1, 4):  # features valid on the days after the first one
        day = FIRST_DAY + dt.timedelta(days=i)
        offline.write_day(store.feast_dir, day, aggregates.merchant_stats(history, day))
    store.materialize()
    return store


def tracking_uri(home: Path) -> str:
    return f"sqlite:///{home / 'mlflow' / 'mlflow.db'}"


def server_env(home: Path, poll_seconds: float = 30) -> dict[str, str]:
    """A server whose state and registry are those of `home`."""
    return {"FRAUD_HOME": str(home), "MLFLOW_TRACKING_URI": tracking_uri(home),
            "BENTOML_HOME": str(home.parent / f"{home.name}-bentoml"),
            "FRAUD_CHAMPION_POLL_SECONDS": str(poll_seconds)}


def started(server: Server, timeout: float = 180.0) -> Server:
    """Start and wait until ready; stopped again if it never gets there."""
    server.start()
    try:
        server.wait_ready(timeout)
    except BaseException:
        server.stop()
        raise
    return server


def running_server(home: Path, poll_seconds: float,
                   ready_path: str = "/readyz") -> Iterator[Server]:
    """For a module-scoped fixture: one server from source for all tests of a module."""
    server = api_server(free_port(), env=server_env(home, poll_seconds),
                        log_path=home / "serve.log")
    server.ready_path = ready_path  # /healthz for a server that starts without a model
    started(server)
    try:
        yield server
    finally:
        server.stop()
