"""The platform's Feast store under one state folder: config, apply, materialize, read.

The configuration is `feature_repo/feature_store.yaml`, the same file the `feast` CLI
reads, with ${FRAUD_HOME} filled in here, so the CLI and the platform share one
registry, one offline source and one online store, and a change of store types there
(e.g. Redis) changes both.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sqlite3
import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml
from feast import FeatureService, FeatureStore, RepoConfig
from feast.errors import FeatureServiceNotFoundException, FeatureViewNotFoundException
from feast.repo_config import FeastConfigError
from pydantic import ValidationError

from fraud_assets import settings
from fraud_assets.features import freshness, offline
from fraud_assets.features.aggregates import day_start
from fraud_assets.features.names import CARD_FEATURE_VIEW, ENTITY, FEATURE_SERVICE, FEATURE_VIEW
from fraud_assets.features.repo import FeastRepo, build_repo

FEATURE_REPO = settings.REPO_ROOT / "feature_repo"
CONFIG_FILE = "feature_store.yaml"
HOME_VARIABLE = "${FRAUD_HOME}"


class FeatureStoreError(RuntimeError):
    """The feature store cannot answer; the message says what to run or fix."""


def server_stores(home: Path | None = None) -> dict:
    """The server profile's `registry` and `online_store` sections: a SQL registry on the
    profile's PostgreSQL and a Redis online store (passwords included: never print them).

    Only these two sections differ between the profiles; everything else (the offline
    store above all) is the one `feature_store.yaml` as it stands, whatever it says.
    """
    return {
        "registry": {"registry_type": "sql", "path": settings.postgres_url("feast", home),
                     # A PostgreSQL restart must not leave serving with dead connections.
                     "sqlalchemy_config_kwargs": {"echo": False, "pool_pre_ping": True}},
        "online_store": {"type": "redis", "connection_string":
                         settings.redis_connection_string(home)},
    }


def config_dict(home: Path, repo_dir: Path = FEATURE_REPO) -> dict:
    """`feature_store.yaml` of `repo_dir` as a dict, ${FRAUD_HOME} set to `home`, with the
    server profile's registry and online store under FRAUD_PROFILE=server."""
    path = repo_dir / CONFIG_FILE
    if not path.exists():
        raise FeatureStoreError(f"{path}: the Feast configuration file is missing")
    text = path.read_text(encoding="utf-8").replace(HOME_VARIABLE, str(home))
    # Other ${VAR}s (a Redis URL, say) come from the environment, as they do for the CLI.
    raw = yaml.safe_load(os.path.expandvars(text))
    if settings.profile() == settings.SERVER:
        servers = server_stores(home)
        # The registry's own options (its cache TTL) carry over; only where it lives changes.
        kept = {k: v for k, v in (raw.get("registry") or {}).items()
                if k == "cache_ttl_seconds"} if isinstance(raw.get("registry"), dict) else {}
        raw = {**raw, "online_store": servers["online_store"],
               "registry": {**kept, **servers["registry"]}}
    return raw


def online_store_type(home: Path | None = None) -> str:
    """The online store's type (`sqlite`, `redis`...) the profile uses, for /health."""
    if settings.profile() == settings.SERVER:
        return "redis"
    raw = yaml.safe_load((FEATURE_REPO / CONFIG_FILE).read_text(encoding="utf-8"))
    return str((raw.get("online_store") or {}).get("type", "sqlite"))


def repo_config(home: Path, repo_dir: Path = FEATURE_REPO) -> RepoConfig:
    """`feature_store.yaml` of `repo_dir` with ${FRAUD_HOME} set to `home` (and the
    server profile's stores under FRAUD_PROFILE=server, see `config_dict`)."""
    path = repo_dir / CONFIG_FILE
    raw = config_dict(home, repo_dir)
    try:
        config = RepoConfig(**raw)
    except ValidationError as exc:
        raise FeastConfigError(exc, path) from None
    config.repo_path = repo_dir
    return config


@dataclass(frozen=True)
class MaterializedWindow:
    start: pd.Timestamp
    end: pd.Timestamp
    days: int


def sqlite_wal(config: RepoConfig) -> bool:
    """Put a SQLite online store in write-ahead-log mode; True if it is one (else nothing).

    Why: the serving path writes the card state on every scored call, and in SQLite's
    default (rollback-journal) mode a commit waits for several fsyncs, in WAL mode for one
    (this machine, 200 one-row commits: p50 19.5 ms rollback journal, 4.0 ms WAL; one
    single-transaction `CardState.score_and_update` call, `python -m benchmarks.card_state`:
    p50 19.5 ms -> 3.3 ms). The mode is stored in the database file, so it holds for every
    connection and process, Feast's included; readers no longer wait for a writer either.
    Durability is unchanged (Feast's connection keeps `synchronous=FULL`). Idempotent; the
    file is created if absent (Feast creates its tables in it on apply)."""
    if config.online_store.type != "sqlite":
        return False
    path = Path(config.online_store.path)
    if config.repo_path and not path.is_absolute():
        path = Path(config.repo_path) / path
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.closing(sqlite3.connect(path, timeout=30)) as db:
        db.execute("PRAGMA journal_mode=WAL")
    return True


class MerchantFeatureStore:
    """Feast on the state folder `home` (default: FRAUD_HOME)."""

    def __init__(self, home: Path | None = None, repo_dir: Path = FEATURE_REPO) -> None:
        self.home = Path(home or settings.fraud_home()).resolve()
        self.feast_dir = settings.feast_dir(self.home)
        self.repo: FeastRepo = build_repo(self.feast_dir)
        self.feast = FeatureStore(repo_path=str(repo_dir), config=repo_config(self.home, repo_dir))
        self._service: FeatureService | None = None

    def apply(self) -> None:
        """Register the entities, sources, views and service (idempotent)."""
        for view in (FEATURE_VIEW, CARD_FEATURE_VIEW):
            offline.source_dir(self.feast_dir, view).mkdir(parents=True, exist_ok=True)
        self.feast.apply(self.repo.objects())
        sqlite_wal(self.feast.config)
        self._service = None

    def materialize(self) -> MaterializedWindow | None:
        """Load the latest row of every merchant into the online store; None if no rows."""
        days = offline.stored_days(self.feast_dir)
        if not days:
            return None
        start = day_start(dt.date.fromisoformat(days[0]))
        end = day_start(dt.date.fromisoformat(days[-1])) + pd.Timedelta(days=1)
        # An explicit window: materialize_incremental would start at now - ttl and skip
        # every day older than that, which is all of them when days are replayed.
        self.feast.materialize(start_date=start.to_pydatetime(), end_date=end.to_pydatetime(),
                               feature_views=[FEATURE_VIEW])
        return MaterializedWindow(start, end, len(days))

    def historical(self, entity_df: pd.DataFrame) -> pd.DataFrame:
        """Point-in-time join of the feature service onto `entity_df` (row order not kept)."""
        if not offline.stored_days(self.feast_dir):
            raise FeatureStoreError(
                f"{offline.source_dir(self.feast_dir)}: no merchant feature rows yet; "
                "materialize merchant_features for the days before the training window")
        job = self.feast.get_historical_features(entity_df=entity_df, features=self.service())
        with warnings.catch_warnings():
            # dask inside Feast warns about a pandas downcast it does itself: not actionable.
            warnings.filterwarnings("ignore", category=FutureWarning, module="dask")
            return job.to_df()

    def online(self, keys: list[str], timestamps: bool = False) -> dict[str, list]:
        """Online feature values of the service for each merchant key, as columns; with
        `timestamps`, also `<feature>__ts`: each value's event time in UTC epoch seconds
        (0 where the store has no value)."""
        response = self.feast.get_online_features(features=self.service(),
                                                  entity_rows={ENTITY: keys})
        return response.to_dict(include_event_timestamps=timestamps)

    def freshness_limit(self, view: str = FEATURE_VIEW) -> float:
        """The registered view's freshness limit in seconds (`features.freshness`): what
        was applied counts, not what the code says now."""
        try:
            registered = self.feast.get_feature_view(view)
        except FeatureViewNotFoundException as exc:
            raise FeatureStoreError(f"feature view {view!r} is not in the registry under "
                                    f"{self.feast_dir}; materialize the online_features "
                                    f"asset (feast apply) first") from exc
        return freshness.freshness_limit(registered)

    def service(self) -> FeatureService:
        """The feature service as registered (not just as defined in code)."""
        if self._service is None:
            try:
                self._service = self.feast.get_feature_service(FEATURE_SERVICE)
            except FeatureServiceNotFoundException as exc:
                raise FeatureStoreError(
                    f"feature service {FEATURE_SERVICE!r} is not in the registry under "
                    f"{self.feast_dir}; materialize the online_features asset (feast apply) "
                    f"first ({exc})") from exc
        return self._service
