"""Merchant features for scoring: the one place serving reads the feature store.

Serving asks the same Feast definitions training used, through
`fraud_assets.features.online.online_features(frame)`: FEATURES for each row of a frame
holding the entity column, plus `FALLBACK_COLUMN` where the store had no row for the
category and the all-merchant prior stands in. One lookup per scored batch, for the
batch's distinct categories only, so 10,000 rows cost one call for five keys.

When that module is absent or the lookup fails (store not materialized, file missing),
the features are missing values: the logged pipeline imputes them as it does for the
first days of a training window, which had no history either. Each row's source is
logged (`feast`, `feast_prior`, `imputed`, `stale`) and /health reports failures.

Freshness (`read`): each row's merchant values are aged at the row's event time against
the merchant view's registered limit (`fraud_assets.features.freshness`); a stale row's
features become missing values, exactly as when the store is unreadable (source `stale`),
and /health counts such answers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from fraud_assets import contract
from fraud_assets.features import freshness
from fraud_assets.features.names import (
    ENTITY,
    FALLBACK_COLUMN,
    FEATURE_TIMESTAMP_COLUMN,
    FEATURE_VIEW,
    FEATURES,
)

log = logging.getLogger(__name__)
ONLINE_MODULE = "fraud_assets.features.online"
FEAST, PRIOR, IMPUTED, STALE = "feast", "feast_prior", "imputed", "stale"
MERCHANT_GROUP = FEATURE_VIEW  # the feature group's name in answers: its Feast view


@dataclass(frozen=True)
class MerchantRead:
    """FEATURES per row as the model gets them (stale rows missing), each row's source,
    and the group's freshness per row."""

    rows: pd.DataFrame
    sources: np.ndarray
    freshness: freshness.GroupFreshness


def _load_limit() -> Callable[[], float] | None:
    try:
        from fraud_assets.features.online import freshness_limit
    except ModuleNotFoundError as exc:
        if exc.name != ONLINE_MODULE:
            raise
        return None
    return freshness_limit


def _load_online() -> Callable[[pd.DataFrame], pd.DataFrame] | None:
    try:
        from fraud_assets.features.online import online_features
    except ModuleNotFoundError as exc:
        if exc.name != ONLINE_MODULE:  # a broken dependency must not pass for "absent"
            raise
        log.warning("%s is not available: merchant features will be imputed", ONLINE_MODULE)
        return None
    return online_features


class FeatureLookup:
    """FEATURES per row, with the source of each row; counters feed /health."""

    def __init__(self, online: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
                 use_store: bool = True, limit: Callable[[], float] | None = None) -> None:
        self._online = online if online is not None else (_load_online() if use_store else None)
        self._read_limit = limit if limit is not None else (
            _load_limit() if online is None and use_store else None)
        self._limit: float | None = None  # read from the registry once it can be
        self.stale_answers = 0
        self.last_stale_age: float | None = None
        self._lock = threading.Lock()
        self.failures = 0
        self.successes = 0
        self.failing = False
        self.last_error: str | None = None
        self.store = _store_type()

    @property
    def source(self) -> str:
        return FEAST if self._online is not None else IMPUTED

    def available(self) -> bool:
        """True when features can be read now; while they cannot, each call reads the store
        once for every contract category (five keys: about a millisecond), so a store that
        comes back is noticed by the next readiness probe without waiting for traffic."""
        if self._online is None:
            return False
        if self.successes and not self.failing:
            return True
        self.lookup(pd.Series(list(contract.MERCHANT_CATEGORIES)))
        return not self.failing

    def problem(self) -> str | None:
        """Why answers use imputed merchant features, or None when they do not."""
        if self._online is None:
            return f"{ONLINE_MODULE} is not available"
        if self.failing:
            return f"online feature store unreadable ({self.store}: {self.last_error})"
        return None

    def lookup(self, categories: pd.Series) -> tuple[pd.DataFrame, np.ndarray]:
        """FEATURES for each row of `categories` (same order), and each row's source
        (no freshness judged: see `read`)."""
        rows, sources, _ = self._rows(categories)
        return rows, sources

    def read(self, categories: pd.Series, at_seconds: np.ndarray,
             record: bool = True) -> MerchantRead:
        """FEATURES for each row of `categories`, judged fresh or stale at each row's event
        time `at_seconds` (UTC epoch seconds): stale rows' features are missing values
        (source `stale`), as the model gets an unreadable store's. `record`: count stale
        answers for /health (not for a warm-up)."""
        rows, sources, stamps = self._rows(categories)
        judged = freshness.assess(MERCHANT_GROUP, stamps, at_seconds, self.limit())
        if judged.stale.any():
            rows.loc[judged.stale, :] = np.nan
            sources = np.where(judged.stale, STALE, sources).astype(object)
        if judged.stale.any() and record:
            with self._lock:
                self.stale_answers += int(judged.stale.sum())
                self.last_stale_age = float(judged.age_seconds[judged.stale].max())
        return MerchantRead(rows, sources, judged)

    def limit(self) -> float:
        """The merchant view's freshness limit in seconds; inf while it cannot be read
        (nothing is judged stale then, and the answer shows the limit as unknown)."""
        if self._limit is None and self._read_limit is not None:
            try:
                self._limit = float(self._read_limit())
            except Exception as exc:  # the store not applied yet: read it again next call
                log.debug("freshness limit not readable yet: %s", exc)
        return self._limit if self._limit is not None else float("inf")

    def _rows(self, categories: pd.Series) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
        keys = pd.Index(pd.unique(categories.to_numpy()), name=ENTITY)
        table, sources, stamps = self._table(keys)
        positions = keys.get_indexer(categories.to_numpy())
        rows = table.iloc[positions].reset_index(drop=True).astype("float64")
        return rows, sources[positions], stamps[positions]

    def _table(self, keys: pd.Index) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
        unknown = np.full(len(keys), np.nan)
        if self._online is None:
            return _missing(keys), np.full(len(keys), IMPUTED, dtype=object), unknown
        try:
            found = self._online(pd.DataFrame({ENTITY: keys.to_numpy()}))
            table = found.loc[:, list(FEATURES)].set_axis(keys, axis=0)
            prior = (found[FALLBACK_COLUMN].to_numpy(dtype=bool)
                     if FALLBACK_COLUMN in found.columns else np.zeros(len(keys), bool))
            stamps = (found[FEATURE_TIMESTAMP_COLUMN].to_numpy(dtype="float64")
                      if FEATURE_TIMESTAMP_COLUMN in found.columns else unknown)
            self._note(None)
            return table, np.where(prior, PRIOR, FEAST).astype(object), stamps
        except Exception as exc:  # the store being down must not turn into a 500
            self._note(exc)
            return _missing(keys), np.full(len(keys), IMPUTED, dtype=object), unknown

    def _note(self, exc: Exception | None) -> None:
        """Count failures; log only when the store starts or stops failing (no spam)."""
        with self._lock:
            if exc is None:
                if self.failing:
                    log.info("online feature lookup works again")
                self.failing = False
                self.successes += 1
                return
            self.failures += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            if not self.failing:
                log.warning("online feature lookup failed, imputing features: %s", exc)
            self.failing = True

    def status(self) -> dict[str, Any]:
        with self._lock:
            limit = self._limit
            return {"source": self.source, "store": self.store, "failing": self.failing,
                    "lookup_failures": self.failures, "last_error": self.last_error,
                    "freshness": {MERCHANT_GROUP: {
                        "freshness_limit_seconds": limit,
                        "stale_answers": self.stale_answers,
                        "last_stale_age_seconds": self.last_stale_age}}}


def _store_type() -> str:
    """Which online store the profile reads (`sqlite` or `redis`), for /health."""
    try:
        from fraud_assets.features.store import online_store_type
    except ModuleNotFoundError:
        return "unknown"
    return online_store_type()


def _missing(keys: pd.Index) -> pd.DataFrame:
    return pd.DataFrame(np.nan, index=keys, columns=list(FEATURES))
