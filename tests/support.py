"""The one support module of the test suite: simulated days, lake and landing files, real
MLflow registries, real Feast stores, train-register-promote, and Dagster run helpers.

Every area's tests build their state with these functions (no copies per area); fixtures
that share the state across tests live in tests/conftest.py.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dagster import (
    AssetKey,
    AssetSpec,
    DagsterInstance,
    ExecuteInProcessResult,
    materialize,
)

from fraud_assets import contract, lake, names, settings, simulator
from fraud_assets.defs.features.resources import FeastStore
from fraud_assets.defs.model.resources import MlflowRegistryResource
from fraud_assets.defs.monitoring.assets import drift_report
from fraud_assets.defs.monitoring.performance import model_performance
from fraud_assets.defs.partitions import daily_partitions
from fraud_assets.defs.resources import FraudHome, LakeIOManager
from fraud_assets.features import aggregates, offline
from fraud_assets.features.names import FEATURES
from fraud_assets.features.store import MerchantFeatureStore
from fraud_assets.features.training import SPLIT, build_training_set
from fraud_assets.model import deploy, training
from fraud_assets.model.registry import LoggedVersion, MlflowRegistry
from fraud_assets.orchestration.pipeline import load_defs

FIRST = dt.date(2025, 1, 1)
VALIDATED = names.TRANSACTIONS_VALIDATED


# -- days -------------------------------------------------------------------------------
def days(n: int, first: dt.date = FIRST) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range(n)]


def recent_first(n_days: int) -> dt.date:
    """The first of `n_days` days ending today (UTC): feature rows fresh by the wall clock."""
    return dt.datetime.now(dt.UTC).date() - dt.timedelta(days=n_days - 1)


def day_key(offset: int, first: dt.date = FIRST) -> str:
    """The ISO date `offset` days after FIRST."""
    return (first + dt.timedelta(days=offset)).isoformat()


@cache
def _generated(day: dt.date, rows: int, scenario: str, seed: int,
               fraud_ratio: float) -> pd.DataFrame:
    return simulator.generate_day(simulator.DayPlan(day=day, rows=rows, scenario=scenario,
                                                    seed=seed, fraud_ratio=fraud_ratio))


def validated_day(day: dt.date | str, rows: int = 400, scenario: str = "normal",
                  seed: int = 42, fraud_ratio: float = simulator.DEFAULT_FRAUD_RATIO,
                  ) -> pd.DataFrame:
    """A simulated day typed like the lake's validated partitions (all rows are valid)."""
    day = dt.date.fromisoformat(day) if isinstance(day, str) else day
    frame = _generated(day, rows, scenario, seed, fraud_ratio).copy()
    return frame.astype({"transaction_id": "string", "merchant_category": "string"})


def transactions(n_days: int = 8, rows: int = 2_500, seed: int = 42,
                 first: dt.date = FIRST, fraud_ratio: float = simulator.DEFAULT_FRAUD_RATIO,
                 ) -> pd.DataFrame:
    """`n_days` simulated days, concatenated."""
    return pd.concat([validated_day(day, rows, seed=seed, fraud_ratio=fraud_ratio)
                      for day in days(n_days, first)], ignore_index=True)


def scrambled(frame: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Same rows with the labels shuffled: fraud no longer follows any learnable pattern."""
    labels = np.random.default_rng(seed).permutation(frame[contract.LABEL].to_numpy())
    return frame.assign(**{contract.LABEL: labels})


# -- landing files and the lake ---------------------------------------------------------
def land(home: Path, day: str, rows: int = 2_000, **plan) -> Path:
    """Write the day's landing CSV (the simulator's) into `home`/landing."""
    return simulator.write_day(home / "landing", simulator.DayPlan(
        day=dt.date.fromisoformat(day), rows=rows, **plan))


def with_cards(frame: pd.DataFrame, seed: int = 0, cards: int = 40,
               unknown: float = 0.1) -> pd.DataFrame:
    """`frame` with a `card_id` from a pool of `cards` ids (a share `unknown` card-less),
    typed as the lake keeps it (until the simulator makes cards itself)."""
    rng = np.random.default_rng(seed)
    ids = pd.array([f"card-{c}" for c in rng.integers(0, cards, len(frame))], dtype="string")
    ids[rng.random(len(frame)) < unknown] = pd.NA
    return frame.assign(card_id=ids)


def write_validated(home: Path, frame: pd.DataFrame, day: dt.date | str) -> None:
    """Store `frame` as the day's transactions_validated partition."""
    key = day if isinstance(day, str) else day.isoformat()
    lake.write_frame(frame, lake.partition_path(home / "lake", VALIDATED, key))


def read_validated(home: Path) -> pd.DataFrame:
    root = home / "lake"
    return lake.read_partitions(VALIDATED, lake.stored_partitions(VALIDATED, root), root)


def lake_frame(home: Path, asset: str, day: str) -> pd.DataFrame:
    return pd.read_parquet(home / "lake" / asset / f"{day}.parquet")


# -- features -------------------------------------------------------------------------------
def compute_features(home: Path, store: MerchantFeatureStore, feature_days: list[dt.date],
                     window: int = 28) -> None:
    """What the merchant_features asset writes for each day, from the lake."""
    history = read_validated(home)
    for day in feature_days:
        offline.write_day(store.feast_dir, day, aggregates.merchant_stats(history, day, window))


def build_store(home: Path, n_days: int, rows: int = 400, seed: int = 42,
                fraud_ratio: float = simulator.DEFAULT_FRAUD_RATIO,
                first: dt.date = FIRST) -> MerchantFeatureStore:
    """`n_days` validated days from `first`, features for each, applied and materialized
    online (`first=recent_first(n_days)` ends on today: a store fresh by the wall clock)."""
    for day in days(n_days, first):
        write_validated(home, validated_day(day, rows, seed=seed, fraud_ratio=fraud_ratio), day)
    store = MerchantFeatureStore(home)
    store.apply()
    compute_features(home, store, days(n_days, first))
    store.materialize()
    return store


def with_features(frame: pd.DataFrame) -> pd.DataFrame:
    """Per category: average amount, count and fraud rate of all strictly earlier days
    (no Feast: for model tests that need a training frame fast)."""
    day = frame[contract.EVENT_TIMESTAMP.name].dt.floor("D")
    cat = contract.MERCHANT_CATEGORY.name
    daily = (frame.assign(day=day)
             .groupby([cat, "day"])
             .agg(amount=(contract.AMOUNT.name, "sum"), count=(contract.AMOUNT.name, "size"),
                  frauds=(contract.LABEL, "sum"))
             .groupby(level=0).cumsum()
             .groupby(level=0).shift(1))  # shift: only days before, never the day itself
    stats = pd.DataFrame({
        FEATURES[0]: daily["amount"] / daily["count"],
        FEATURES[1]: daily["count"],
        FEATURES[2]: daily["frauds"] / daily["count"],
    }).reset_index()
    return frame.assign(day=day).merge(stats, on=[cat, "day"], how="left").drop(columns="day")


def training_set(n_days: int = 8, rows: int = 2_500, holdout_days: int = 2,
                 seed: int = 42) -> pd.DataFrame:
    """Contract columns + FEATURES + split: the last `holdout_days` days are the holdout."""
    frame = with_features(transactions(n_days, rows, seed))
    first_holdout = pd.Timestamp(FIRST + dt.timedelta(days=n_days - holdout_days), tz="UTC")
    is_holdout = frame[contract.EVENT_TIMESTAMP.name] >= first_holdout
    return frame.assign(**{training.SPLIT: np.where(is_holdout, training.HOLDOUT,
                                                    training.TRAIN)})


# -- the registry -------------------------------------------------------------------------
def registry_at(home: Path) -> MlflowRegistry:
    """Real MLflow in `home`: SQLite backend and a local artifact folder; under the server
    profile the MLflow tracking server of the test (over HTTP, artifacts served by it)."""
    if settings.profile() == settings.SERVER:
        return MlflowRegistry(tracking_uri=settings.mlflow_tracking_uri(home))
    return MlflowRegistry(tracking_uri=f"sqlite:///{home / 'mlflow' / 'mlflow.db'}",
                          artifact_location=str(home / "mlflow" / "artifacts"))


def register(registry: MlflowRegistry, trained: training.TrainedModel, sample: pd.DataFrame,
             dagster_run_id: str = "test-run", fingerprint: str = "") -> LoggedVersion:
    """Log and register without metrics or plots (the asset test covers those)."""
    return registry.log_training(trained, metrics={}, plots={}, dagster_run_id=dagster_run_id,
                                 sample=sample, fingerprint=fingerprint)


def train_and_register(registry: MlflowRegistry, frame: pd.DataFrame,
                       promote: bool = True) -> str:
    """Train on `frame` (contract columns + FEATURES), register, optionally make champion."""
    logged = register(registry, training.train(frame), frame)
    if promote:
        deploy.promote(registry, logged.version, reason="tests")
    return logged.version


# -- Dagster ----------------------------------------------------------------------------------
def registry_resource(registry: MlflowRegistry) -> MlflowRegistryResource:
    """The Dagster resource for the same MLflow store as `registry`."""
    return MlflowRegistryResource(tracking_uri=registry.tracking_uri,
                                  artifact_location=registry.artifact_location)


def resources(home: Path) -> dict:
    """The code location's resources, all pointed at `home`."""
    return {"fraud_home": FraudHome(path=str(home)),
            "lake": LakeIOManager(root=str(home / "lake")),
            "feast_store": FeastStore(fraud_home=FraudHome(path=str(home))),
            "mlflow_registry": registry_resource(registry_at(home))}


def run_day(instance: DagsterInstance, day: str) -> ExecuteInProcessResult:
    """The code location's real daily_job for `day`."""
    return load_defs().resolve_job_def(names.DAILY_JOB).execute_in_process(
        partition_key=day, instance=instance, raise_on_error=False)


def checks(result: ExecuteInProcessResult) -> dict:
    """Check name -> evaluation of the run."""
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def materialized(result: ExecuteInProcessResult) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}


def metadata(result: ExecuteInProcessResult, asset: str) -> dict:
    """The metadata values of `asset`'s materialization in the run."""
    event = next(e for e in result.get_asset_materialization_events()
                 if e.asset_key == AssetKey(asset))
    return {k: getattr(v, "value", v) for k, v in event.materialization.metadata.items()}


def lake_spec(asset: str) -> AssetSpec:
    """An upstream daily asset read from the lake, as in production."""
    return AssetSpec(asset, partitions_def=daily_partitions).with_io_manager_key("lake")


def run_drift_report(instance: DagsterInstance, home: Path, day: str,
                     run_config: dict | None = None) -> ExecuteInProcessResult:
    """Materialize drift_report for `day`, its input read from the lake."""
    return materialize([lake_spec(VALIDATED), drift_report], selection=[drift_report.key],
                       partition_key=day, instance=instance, resources=resources(home),
                       run_config=run_config)


# model_performance's upstream, as specs: its input is read from the lake like in production.
PERFORMANCE_UPSTREAM = [lake_spec(VALIDATED),
                        AssetSpec(names.MERCHANT_FEATURES, partitions_def=daily_partitions)]


def run_performance(home: Path, day: str, instance: DagsterInstance,
                    run_config: dict | None = None) -> tuple[dict, list]:
    """Materialize model_performance for `day`: its metadata values and check evaluations."""
    result = materialize([*PERFORMANCE_UPSTREAM, model_performance],
                         selection=[model_performance.key], partition_key=day,
                         instance=instance, resources=resources(home), run_config=run_config)
    assert result.success
    return metadata(result, names.MODEL_PERFORMANCE), result.get_asset_check_evaluations()


# -- a small trained platform -------------------------------------------------------------
TRAINING_DAYS = 10
PLATFORM_ROWS = 1_000
# Offsets of the days `landed_platform` adds after the champion's window.
NORMAL, CONCEPT_DRIFT, FEW_FRAUDS = TRAINING_DAYS, TRAINING_DAYS + 1, TRAINING_DAYS + 2


@dataclass(frozen=True)
class Platform:
    home: Path
    store: MerchantFeatureStore
    registry: MlflowRegistry
    champion_version: str


def build_platform(home: Path, n_days: int = TRAINING_DAYS,
                   rows: int = PLATFORM_ROWS, first: dt.date = FIRST) -> Platform:
    """`n_days` validated days from `first` with Feast features, and a champion trained on
    all of them through `build_training_set` (no Dagster job: seconds, not a pipeline run)."""
    store = build_store(home, n_days, rows, first=first)
    frame = build_training_set(read_validated(home), store, holdout_days=0).frame
    registry = registry_at(home)
    version = train_and_register(registry, frame.drop(columns=[SPLIT]))
    return Platform(home, store, registry, version)


def land_day(platform: Platform, offset: int, scenario: str = "normal",
             rows: int = PLATFORM_ROWS, concept_drift: bool = False) -> pd.DataFrame:
    """A validated day after the window, with its merchant features, as the daily job does.

    `concept_drift`: the day's labels are shuffled, so fraud no longer follows the pattern
    the model learned while every column's distribution (labels included) stays the same.
    """
    day = FIRST + dt.timedelta(days=offset)
    frame = validated_day(day, rows, scenario=scenario)
    if concept_drift:
        frame = scrambled(frame)
    write_validated(platform.home, frame, day)
    compute_features(platform.home, platform.store, [day])
    return frame


def landed_platform(home: Path) -> Platform:
    """The platform plus three days after its window: normal, concept drift, few frauds."""
    platform = build_platform(home)
    land_day(platform, NORMAL)
    land_day(platform, CONCEPT_DRIFT, concept_drift=True)
    land_day(platform, FEW_FRAUDS, rows=200)  # 4 frauds: recorded, not judged
    return platform


# -- drift: a reference of ten normal days and the days after it ------------------------------
DRIFT_ROWS = 2_000  # the alarm's accuracy targets are stated at 2,000 rows per day
REFERENCE_DAYS = 10  # 20,000 rows: the default reference sample size


def day_frame(day: str, scenario: str = "normal", rows: int = DRIFT_ROWS) -> pd.DataFrame:
    """A day as `transactions_validated` stores it (the simulator's rows are all valid)."""
    return validated_day(day, rows, scenario=scenario)


def reference_frame() -> pd.DataFrame:
    return pd.concat([day_frame(day_key(i)) for i in range(REFERENCE_DAYS)], ignore_index=True)


def write_day(home: Path, day: str, scenario: str = "normal", rows: int = DRIFT_ROWS) -> None:
    """Store a simulated day (of `scenario`) as its validated partition."""
    write_validated(home, day_frame(day, scenario, rows), day)


def write_reference_days(home: Path) -> None:
    for i in range(REFERENCE_DAYS):
        write_day(home, day_key(i))


# -- the server profile: real PostgreSQL, Redis and MLflow servers ------------------------------
SERVER_ENV_KEYS = (settings.PROFILE_ENV, settings.SERVERS_HOME_ENV,
                   *(variable for variable, _ in settings.SERVER_ENV.values()))
TEMPLATE_PREFIX = "tmpl_"


class TestServers:
    """One PostgreSQL, one Redis and one MLflow tracking server (free ports, a /tmp folder)
    for a session's server-profile tests, started with the platform's own `ServerProfile`.
    Each test asks `isolate()` for state of its own, as a fresh FRAUD_HOME gives in the
    local profile: its own Dagster and Feast databases, its own Redis database (flushed),
    and the MLflow server's database replaced by a fresh copy of a migrated template (the
    server reconnects: its pool pings). A server per test would cost ~40 s each to start
    on this machine, migrating a new database as long."""

    __test__ = False  # not a test class for pytest

    def __init__(self) -> None:
        import tempfile

        from fraud_assets.orchestration.processes import free_port

        # Not under pytest's tmp folder: that is private to root, and as root PostgreSQL
        # runs as the `postgres` user, which must reach its data folder.
        self.home = Path(tempfile.mkdtemp(prefix="fraud-test-servers-"))
        self.home.chmod(0o755)
        self.base = {settings.PROFILE_ENV: settings.SERVER,
                     settings.SERVERS_HOME_ENV: str(self.home),
                     "FRAUD_PG_PORT": str(free_port()), "FRAUD_REDIS_PORT": str(free_port()),
                     "FRAUD_MLFLOW_PORT": str(free_port())}
        self.count = 0
        # The MLflow server's database is <prefix>mlflow of this environment.
        self.mlflow_env = {**self.base, "FRAUD_DB_PREFIX": "session_"}

    def profile(self, env: dict[str, str]):
        """The platform's ServerProfile for `env` (read while `env` is set, then restored)."""
        import os
        from unittest import mock

        from fraud_assets.orchestration.server_profile import ServerProfile

        with mock.patch.dict(os.environ, env):
            return ServerProfile(settings.server_endpoints(), echo=lambda line: None)

    def start(self) -> TestServers:
        """PostgreSQL and Redis (waited for); the MLflow template database's migration and
        the MLflow server start in the background (`isolate(mlflow=True)` waits for them),
        so the tests that need no registry run meanwhile."""
        template = self.profile({**self.base, "FRAUD_DB_PREFIX": TEMPLATE_PREFIX})
        template.start(mlflow=False)
        url = template.ends.postgres_url("mlflow", template.secrets()["postgres"])
        self._upgrade = subprocess.Popen(
            [str(Path(sys.executable).parent / "mlflow"), "db", "upgrade", url],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        session = self.profile(self.mlflow_env)
        session.ensure_databases()  # the server migrates its own (empty) database
        self._server = session.mlflow()
        self._server.start()
        self._ready = False
        return self

    def _wait_for_mlflow(self) -> None:
        if self._ready:
            return
        _, errors = self._upgrade.communicate(timeout=300)
        assert self._upgrade.returncode == 0, errors[-2000:]
        profile = self.profile(self.mlflow_env)
        deadline = time.monotonic() + 300
        while not profile.mlflow_answers():
            assert self._server.pid() is not None, self._server.log_tail()
            assert time.monotonic() < deadline, self._server.log_tail()
            time.sleep(0.5)
        self._ready = True

    def _fresh_mlflow_database(self) -> None:
        from psycopg2 import sql

        profile = self.profile(self.mlflow_env)
        admin = profile.admin_connection()
        database = sql.Identifier(profile.ends.database("mlflow"))
        try:
            cursor = admin.cursor()
            cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(database))
            cursor.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {} OWNER {}").format(
                database, sql.Identifier(f"{TEMPLATE_PREFIX}mlflow"),
                sql.Identifier(settings.POSTGRES_USER)))
        finally:
            admin.close()

    def isolate(self, mlflow: bool = True) -> dict[str, str]:
        """The environment of a fresh server-profile state: new Dagster and Feast databases,
        a flushed Redis database and an empty MLflow registry (without `mlflow`: none)."""
        self.count += 1
        env = {**self.base, "FRAUD_DB_PREFIX": f"t{self.count}_",
               "FRAUD_REDIS_DB": str(self.count % 15 + 1)}
        profile = self.profile(env)
        profile.ensure_databases()
        profile.redis_client().flushdb()
        if mlflow:
            self._wait_for_mlflow()
            self._fresh_mlflow_database()
        else:  # no registry: a port nothing listens on, never another test's registry
            from fraud_assets.orchestration.processes import free_port

            env["FRAUD_MLFLOW_PORT"] = str(free_port())
        return env

    @contextlib.contextmanager
    def mlflow_down(self) -> Iterator[None]:
        """The MLflow tracking server stopped for the block, then started again."""
        profile = self.profile(self.mlflow_env)
        assert profile.mlflow().stop()
        try:
            yield
        finally:
            profile.start()

    @contextlib.contextmanager
    def redis_down(self) -> Iterator[None]:
        """Redis stopped for the block (its data saved), then started again."""
        profile = self.profile(self.mlflow_env)
        profile.stop_redis()
        try:
            yield
        finally:
            profile.start(mlflow=False)

    def stop(self) -> None:
        import shutil

        self._upgrade.kill()
        self.profile(self.mlflow_env).stop()
        shutil.rmtree(self.home, ignore_errors=True)


# The end-to-end suites take `profile_home` (conftest) or `profile_env` and run under both
# profiles; the server variant carries the `server` marker (not in the default run:
# `make test-server`).
PROFILES = [settings.LOCAL, pytest.param(settings.SERVER, marks=pytest.mark.server)]



@contextlib.contextmanager
def profile_env(request: pytest.FixtureRequest, profile: str,
                mlflow: bool = True) -> Iterator[dict[str, str]]:
    """The environment of `profile` for the block: nothing for local; for server, fresh
    databases, a Redis database and an MLflow server of the test's own."""
    if profile == settings.LOCAL:
        yield {}
        return
    env = request.getfixturevalue("test_servers").isolate(mlflow=mlflow)
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        yield env


