"""Serving's part of the test support: a champion and an online store in a state folder,
and a real `bentoml serve` of the fraud API started with the platform's own launcher
(`orchestration.servers.api_server`). Everything else comes from tests/support.py.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from fraud_assets.features.store import MerchantFeatureStore
from fraud_assets.model.registry import MlflowRegistry
from fraud_assets.orchestration.processes import Server, free_port
from fraud_assets.orchestration.servers import api_server
from tests.support import (
    build_store,
    recent_first,
    registry_at,
    train_and_register,
    transactions,
    with_features,
)

# A valid request body.
GOOD = {"amount": 150.0, "hour": 14, "day_of_week": 3, "merchant_category": "online"}
FEATURE_DAYS = 4


def training_frame(seed: int) -> pd.DataFrame:
    """Three simulated days with their merchant features: a real fitted pipeline is the
    point here, not a good one."""
    return with_features(transactions(n_days=3, rows=2_000, seed=seed, fraud_ratio=0.05))


def add_version(registry: MlflowRegistry, seed: int, promote: bool = True) -> str:
    """Train, log, register; optionally make it the champion. Returns the version."""
    return train_and_register(registry, training_frame(seed), promote=promote)


def build_feature_store(home: Path, seed: int = 1,
                        first: dt.date | None = None) -> MerchantFeatureStore:
    """Validated days and their merchant features in `home`, applied and materialized;
    the days end today unless `first` says otherwise, so answers find them fresh
    (`features.freshness`) as live traffic would."""
    return build_store(home, FEATURE_DAYS, rows=2_000, seed=seed,
                       first=first or recent_first(FEATURE_DAYS))


def server_env(home: Path, poll_seconds: float = 30) -> dict[str, str]:
    """A server whose state and registry are those of `home`."""
    return {"FRAUD_HOME": str(home), "MLFLOW_TRACKING_URI": registry_at(home).tracking_uri,
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


def wait_for_log(home: Path, ids: set[str], count: int, timeout: float = 10) -> list[dict]:
    """The prediction-log lines of request ids `ids` once `count` are there (or at the
    timeout, what there is)."""
    deadline = time.monotonic() + timeout
    while True:
        found = [json.loads(line) for path in (home / "predictions").glob("*/*.jsonl")
                 for line in path.read_text().splitlines()]
        found = [x for x in found if x["request_id"] in ids]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.2)
