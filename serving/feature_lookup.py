"""Merchant features for scoring: the one place serving reads the feature store.

Serving asks the same Feast definitions training used, through
`fraud_assets.features.online.online_features(frame)`: FEATURES for each row of a frame
holding the entity column, plus `FALLBACK_COLUMN` where the store had no row for the
category and the all-merchant prior stands in. One lookup per scored batch, for the
batch's distinct categories only, so 10,000 rows cost one call for five keys.

When that module is absent or the lookup fails (store not materialized, file missing),
the features are missing values: the logged pipeline imputes them as it does for the
first days of a training window, which had no history either. Each row's source is
logged (`feast`, `feast_prior`, `imputed`) and /health reports failures.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from fraud_assets import contract
from fraud_assets.features.names import ENTITY, FALLBACK_COLUMN, FEATURES

log = logging.getLogger(__name__)
ONLINE_MODULE = "fraud_assets.features.online"
FEAST, PRIOR, IMPUTED = "feast", "feast_prior", "imputed"


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
                 use_store: bool = True) -> None:
        self._online = online if online is not None else (_load_online() if use_store else None)
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
        """FEATURES for each row of `categories` (same order), and each row's source."""
        keys = pd.Index(pd.unique(categories.to_numpy()), name=ENTITY)
        table, sources = self._table(keys)
        positions = keys.get_indexer(categories.to_numpy())
        rows = table.iloc[positions].reset_index(drop=True).astype("float64")
        return rows, sources[positions]

    def _table(self, keys: pd.Index) -> tuple[pd.DataFrame, np.ndarray]:
        if self._online is None:
            return _missing(keys), np.full(len(keys), IMPUTED, dtype=object)
        try:
            found = self._online(pd.DataFrame({ENTITY: keys.to_numpy()}))
            table = found.loc[:, list(FEATURES)].set_axis(keys, axis=0)
            prior = (found[FALLBACK_COLUMN].to_numpy(dtype=bool)
                     if FALLBACK_COLUMN in found.columns else np.zeros(len(keys), bool))
            self._note(None)
            return table, np.where(prior, PRIOR, FEAST).astype(object)
        except Exception as exc:  # the store being down must not turn into a 500
            self._note(exc)
            return _missing(keys), np.full(len(keys), IMPUTED, dtype=object)

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
            return {"source": self.source, "store": self.store, "failing": self.failing,
                    "lookup_failures": self.failures, "last_error": self.last_error}


def _store_type() -> str:
    """Which online store the profile reads (`sqlite` or `redis`), for /health."""
    try:
        from fraud_assets.features.store import online_store_type
    except ModuleNotFoundError:
        return "unknown"
    return online_store_type()


def _missing(keys: pd.Index) -> pd.DataFrame:
    return pd.DataFrame(np.nan, index=keys, columns=list(FEATURES))
