"""The model that answers: the registry's `champion`, loaded once, re-checked, swapped whole.

A `LoadedModel` (fraud_assets.model.loaded) is immutable: a request (or a batch) takes
the current one once and uses its model, version and threshold together, so a swap never
mixes two versions in one answer, and in-flight work finishes on the model it started with.

Two sources:
* `registry` (the default from source): `models:/<name>@champion` in MLflow, through the
  platform's one registry client (`MlflowRegistry`); a background thread re-reads the
  alias every `FRAUD_CHAMPION_POLL_SECONDS` and swaps when it moves. If the registry is
  unreachable the current model keeps serving and /health says so.
* `bento` (the default inside a built Bento): the champion imported into the BentoML model
  store at build time, so a container needs no MLflow server. No polling.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from fraud_assets import settings
from fraud_assets.model import deploy
from fraud_assets.model.loaded import REGISTRY, LoadedModel, load_bento_model, load_version
from fraud_assets.model.registry import MlflowRegistry

log = logging.getLogger(__name__)


class RegistryUnavailable(RuntimeError):
    """The registry cannot be asked right now (server down, database missing...)."""


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def display_uri(uri: str) -> str:
    """A tracking URI without credentials, for /health."""
    parts = urlsplit(uri)
    if "@" not in parts.netloc:
        return uri
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1]))


def alias_version(registry: MlflowRegistry, alias: str) -> str | None:
    """The version `alias` points at (None if unset); RegistryUnavailable when the registry
    cannot be asked. A missing SQLite file is unavailable: asking would create it."""
    if not registry.store_exists():
        raise RegistryUnavailable(f"no MLflow database at {registry.resolved_tracking_uri()}")
    try:
        return registry.alias_version(alias)
    except Exception as exc:  # connection refused, timeouts, a broken database file
        raise RegistryUnavailable(f"{type(exc).__name__}: {exc}") from exc


class ChampionHolder:
    """Holds the current LoadedModel and keeps it in step with the registry alias."""

    def __init__(self, registry: MlflowRegistry | None, packaged_tag: str | None = None,
                 poll_seconds: float = 30.0,
                 warm_up: Callable[[LoadedModel], None] | None = None,
                 alias: str = settings.CHAMPION_ALIAS,
                 also: Callable[[], None] | None = None,
                 keep_when_unset: bool = True) -> None:
        self.registry = registry
        # The champion keeps answering when its alias vanishes (deleted version); a
        # challenger whose alias is removed stops being scored in shadow.
        self.keep_when_unset = keep_when_unset
        self._also = also or (lambda: None)  # more to re-read on every poll (the canary)
        self.alias = alias
        self.packaged_tag = packaged_tag
        self.poll_seconds = poll_seconds
        self._warm_up = warm_up or (lambda champion: None)
        self._current: LoadedModel | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._status: dict[str, Any] = {"reachable": None, "last_check": None,
                                        "last_error": None, "champion_version": None,
                                        "loaded_version_registered": None}

    @property
    def current(self) -> LoadedModel | None:
        return self._current  # one reference read: atomic under the GIL

    def start(self) -> None:
        """Load the first model (blocking), then poll in the background."""
        if self.registry is not None:
            self.refresh()
        if self._current is None and self.packaged_tag:
            self._install(load_bento_model(self.packaged_tag))
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
            self._also()

    def refresh(self) -> None:
        """One look at the alias; load and swap if it moved. Never raises."""
        assert self.registry is not None
        try:
            seen = alias_version(self.registry, self.alias)
        except RegistryUnavailable as exc:
            self._record(reachable=False, error=str(exc))
            return
        current = self._current
        # Whether the served version still exists is known before the alias state is
        # published, so /health never shows one without the other.
        if not self._check_loaded(current, seen):
            return
        self._record(reachable=True, error=None if seen else "no version has the alias",
                     champion_version=seen)
        if seen is None and not self.keep_when_unset and current is not None:
            log.info("alias %r removed: dropping version %s", self.alias, current.version)
            self._current = None
            return
        if seen is None or (current is not None and current.source == REGISTRY
                            and current.version == seen):
            return
        try:
            self._install(load_version(self.registry, seen, alias=self.alias))
        except Exception as exc:  # a broken new version must not take down the old one
            log.exception("could not load version %s; keeping the current model", seen)
            self._record(reachable=True, error=f"loading version {seen} failed: {exc}",
                         champion_version=seen)

    def _check_loaded(self, current: LoadedModel | None, seen: str | None) -> bool:
        """Is the version being served still registered? Deleting a version in MLflow
        drops its aliases too, so an alias that moved or vanished prompts the question;
        an alias still on the loaded version answers it without another call. False when
        the registry could not be asked (recorded as unreachable)."""
        registered: bool | None = None
        if current is not None and current.source == REGISTRY:
            registered = current.version == seen
            if not registered:
                try:
                    registered = self.registry.version_exists(current.version)
                except Exception as exc:  # the registry went away between two calls
                    self._record(reachable=False, error=f"{type(exc).__name__}: {exc}")
                    return False
        with self._lock:
            self._status["loaded_version_registered"] = registered
        return True

    def problems(self) -> list[str]:
        """What is not as it should be with the model being served, for /health's
        warnings (empty when all is well or when serving a packaged Bento model)."""
        if self.registry is None:
            return []
        status, current = self.status(), self._current
        if status["reachable"] is False:
            return [f"model registry unreachable ({status['last_error']}); "
                    "serving the model already loaded"]
        found: list[str] = []
        serving = f"serving version {current.version}" if current else "no model loaded"
        if current is not None and status["loaded_version_registered"] is False:
            found.append(f"version {current.version}, which this service answers with, was "
                         f"deleted from the registry; {serving} until the alias "
                         f"{self.alias!r} points at a registered version")
        if status["reachable"] and status["champion_version"] is None and current:
            found.append(f"no version carries the alias {self.alias!r} in the registry; "
                         f"{serving} (loaded before); `fraud-platform rollback` restores "
                         "the previous champion")
        elif status["last_error"] and status["last_error"].startswith("loading version"):
            found.append(f"{status['last_error']}; {serving}")
        return found

    def _install(self, champion: LoadedModel) -> None:
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
            return {"mode": "bento", "polling": False, "packaged_model": self.packaged_tag,
                    "tracking_uri": None}
        uri = self.registry.resolved_tracking_uri()
        return {"mode": "registry", "uri": display_uri(uri),
                "tracking_uri": settings.mask_url(uri),
                "polling": self._thread is not None, "poll_seconds": self.poll_seconds,
                **status}


class Canary:
    """The share of traffic the challenger answers: the registry's `canary_percent` tag
    (`fraud-platform canary set`), else $FRAUD_CANARY_PERCENT (default 0), re-read with
    the challenger alias so every replica follows a change without a restart."""

    def __init__(self, registry: MlflowRegistry | None) -> None:
        self.registry = registry
        raw = os.environ.get(deploy.CANARY_ENV, "")
        self.default = deploy.parse_canary_percent(raw, deploy.CANARY_ENV) if raw else 0.0
        self.from_registry: float | None = None
        self.last_error: str | None = None

    @property
    def percent(self) -> float:
        return self.default if self.from_registry is None else self.from_registry

    def refresh(self) -> None:
        """Re-read the registry's setting; on any failure keep the last one (and say so)."""
        if self.registry is None or not self.registry.store_exists():
            return
        try:
            self.from_registry = deploy.canary_percent(self.registry)
            self.last_error = None
        except Exception as exc:  # an unreachable registry or a bad tag: keep the last value
            self.last_error = f"{type(exc).__name__}: {exc}"

    def status(self) -> dict[str, Any]:
        return {"percent": self.percent, "source": "registry" if self.from_registry is not None
                else "environment", "last_error": self.last_error}
