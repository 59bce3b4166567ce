"""The model that answers: the registry's `champion`, loaded once, re-checked, swapped whole.

A `Champion` is immutable: a request (or a batch) takes the current one once and uses its
model, version and threshold together, so a swap never mixes two versions in one answer,
and in-flight work finishes on the model it started with.

Two sources:
* `registry` (the default from source): `models:/<name>@champion` in MLflow; a background
  thread re-reads the alias every `FRAUD_CHAMPION_POLL_SECONDS` and swaps when it moves.
  If the registry is unreachable the current model keeps serving and /health says so.
* `bento` (the default inside a built Bento): the champion imported into the BentoML model
  store at build time, so a container needs no MLflow server. No polling.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

# Set before mlflow is imported anywhere in this process: a dead server must not stall a
# poll for minutes of retries.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # the next poll retries
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")

import mlflow  # noqa: E402
import mlflow.sklearn  # noqa: E402
from mlflow import MlflowClient  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402

from fraud_assets import settings  # noqa: E402
from fraud_assets.features.names import FEATURES  # noqa: E402

log = logging.getLogger(__name__)

# Version tags written at training time (fraud_assets.model.registry.TAG_*; a test keeps
# them equal). Not imported: that module pulls Dagster into the serving process.
TAG_THRESHOLD = "threshold"
TAG_TRAINING_START = "training_start"
TAG_TRAINING_END = "training_end"
TAG_FEATURES = "features"
# Where bentoml.mlflow.import_model puts the MLflow model inside a BentoML model.
BENTO_MLFLOW_FOLDER = "mlflow_model"
_NOT_FOUND = ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")


@dataclass(frozen=True)
class Champion:
    """A loaded model and what answers and /model-info say about it."""

    model: Any  # fitted sklearn Pipeline: predict_proba(request fields + FEATURES frame)
    name: str
    version: str
    alias: str
    run_id: str | None
    threshold: float
    training_start: str | None
    training_end: str | None
    features: tuple[str, ...]
    source: str  # "registry" or "bento"
    loaded_at: str = field(default_factory=lambda: _now())

    def info(self) -> dict[str, Any]:
        return {"registered_model_name": self.name, "version": self.version,
                "alias": self.alias, "run_id": self.run_id, "threshold": self.threshold,
                "training_window": {"start": self.training_start, "end": self.training_end},
                "features": list(self.features), "source": self.source,
                "loaded_at": self.loaded_at}


class RegistryUnavailable(RuntimeError):
    """The registry cannot be asked right now (server down, database missing...)."""


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def single_threaded(model: Any) -> Any:
    """n_jobs=1 everywhere: a one-row call fanning out to a pool is what made the
    handbook's server slow under load; concurrency comes from batching instead."""
    if hasattr(model, "get_params"):
        jobs = {k: 1 for k in model.get_params(deep=True) if k.endswith("n_jobs")}
        if jobs:
            model.set_params(**jobs)
    return model


def _float_tag(tags: dict[str, str], key: str, version: str) -> float:
    if key not in tags:
        raise ValueError(f"version {version} has no {key!r} tag: it cannot be scored")
    return float(tags[key])


def _features(tags: dict[str, str]) -> tuple[str, ...]:
    raw = tags.get(TAG_FEATURES)
    return tuple(x for x in raw.split(",") if x) if raw else FEATURES


class Registry:
    """The MLflow registry as serving sees it: which version is champion, and loading it."""

    def __init__(self, uri: str | None = None, name: str = settings.REGISTERED_MODEL_NAME,
                 alias: str = settings.CHAMPION_ALIAS) -> None:
        self.uri = uri or settings.mlflow_tracking_uri()
        self.name = name
        self.alias = alias
        # models:/ URIs resolve through the process-wide URIs; this process only serves.
        mlflow.set_tracking_uri(self.uri)
        mlflow.set_registry_uri(self.uri)

    @property
    def display_uri(self) -> str:
        """The URI without credentials, for /health."""
        parts = urlsplit(self.uri)
        if "@" not in parts.netloc:
            return self.uri
        return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1]))

    def champion_version(self) -> Any | None:
        """The ModelVersion the alias points at; None if no champion is set yet."""
        if self.uri.startswith("sqlite:///"):
            path = Path(self.uri.removeprefix("sqlite:///"))
            if not path.exists():  # SQLAlchemy would silently create an empty registry
                raise RegistryUnavailable(f"no MLflow database at {path}")
        try:
            client = MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)
            return client.get_model_version_by_alias(self.name, self.alias)
        except MlflowException as exc:
            if exc.error_code in _NOT_FOUND:
                return None
            raise RegistryUnavailable(f"{type(exc).__name__}: {exc.message}") from exc
        except Exception as exc:  # connection refused, timeouts, a broken database file
            raise RegistryUnavailable(f"{type(exc).__name__}: {exc}") from exc

    def load(self, version: Any) -> Champion:
        tags = dict(version.tags or {})
        model = mlflow.sklearn.load_model(f"models:/{self.name}/{version.version}")
        return Champion(
            model=single_threaded(model), name=self.name, version=str(version.version),
            alias=self.alias, run_id=version.run_id,
            threshold=_float_tag(tags, TAG_THRESHOLD, str(version.version)),
            training_start=tags.get(TAG_TRAINING_START),
            training_end=tags.get(TAG_TRAINING_END), features=_features(tags),
            source="registry")


def load_packaged(tag: str) -> Champion:
    """The champion a Bento carries (imported by the fraud_bento asset)."""
    import bentoml

    stored = bentoml.models.get(tag)
    meta = dict(stored.info.metadata)
    model = mlflow.sklearn.load_model(stored.path_of(BENTO_MLFLOW_FOLDER))
    return Champion(
        model=single_threaded(model), name=str(meta["registered_model_name"]),
        version=str(meta["version"]), alias=str(meta.get("alias", settings.CHAMPION_ALIAS)),
        run_id=meta.get("run_id"), threshold=float(meta[TAG_THRESHOLD]),
        training_start=meta.get(TAG_TRAINING_START), training_end=meta.get(TAG_TRAINING_END),
        features=_features({TAG_FEATURES: str(meta.get(TAG_FEATURES, ""))}), source="bento")


class ChampionHolder:
    """Holds the current Champion and keeps it in step with the registry alias."""

    def __init__(self, registry: Registry | None, packaged_tag: str | None = None,
                 poll_seconds: float = 30.0,
                 warm_up: Callable[[Champion], None] | None = None) -> None:
        self.registry = registry
        self.packaged_tag = packaged_tag
        self.poll_seconds = poll_seconds
        self._warm_up = warm_up or (lambda champion: None)
        self._current: Champion | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._status: dict[str, Any] = {"reachable": None, "last_check": None,
                                        "last_error": None, "champion_version": None}

    @property
    def current(self) -> Champion | None:
        return self._current  # one reference read: atomic under the GIL

    def start(self) -> None:
        """Load the first model (blocking), then poll in the background."""
        if self.registry is not None:
            self.refresh()
        if self._current is None and self.packaged_tag:
            self._install(load_packaged(self.packaged_tag))
        if self.registry is not None and self.poll_seconds > 0:
            self._thread = threading.Thread(target=self._poll, name="champion-poll",
                                            daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            self.refresh()

    def refresh(self) -> None:
        """One look at the alias; load and swap if it moved. Never raises."""
        assert self.registry is not None
        try:
            version = self.registry.champion_version()
        except RegistryUnavailable as exc:
            self._record(reachable=False, error=str(exc))
            return
        seen = str(version.version) if version is not None else None
        self._record(reachable=True, error=None if seen else "no version has the alias",
                     champion_version=seen)
        current = self._current
        if seen is None or (current is not None and current.source == "registry"
                            and current.version == seen):
            return
        try:
            self._install(self.registry.load(version))
        except Exception as exc:  # a broken new version must not take down the old one
            log.exception("could not load version %s; keeping the current model", seen)
            self._record(reachable=True, error=f"loading version {seen} failed: {exc}",
                         champion_version=seen)

    def _install(self, champion: Champion) -> None:
        self._warm_up(champion)  # a model that cannot score our frames never goes live
        before = self._current
        self._current = champion
        log.info("serving %s version %s (%s)%s", champion.name, champion.version,
                 champion.source, f", was version {before.version}" if before else "")

    def _record(self, reachable: bool, error: str | None,
                champion_version: str | None = None) -> None:
        with self._lock:
            self._status.update(reachable=reachable, last_check=_now(), last_error=error)
            if reachable:
                self._status["champion_version"] = champion_version

    def status(self) -> dict[str, Any]:
        with self._lock:
            status = dict(self._status)
        if self.registry is None:
            return {"mode": "bento", "polling": False, "packaged_model": self.packaged_tag}
        return {"mode": "registry", "uri": self.registry.display_uri, "polling":
                self._thread is not None, "poll_seconds": self.poll_seconds, **status}
