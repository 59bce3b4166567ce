"""Card features for scoring: the service's per-card state, read and updated through Feast.

Every scored call hands its rows (card, event time, amount, category) to
`fraud_assets.features.card_state.CardState`, which computes `CARD_FEATURES` with the one
offline definition from the card's stored events and stores the new events (SQLite locally,
Redis in the server profile: every replica reads what the others wrote). Per row the
answer's `card_features` says what the model got:

* `known`: computed from the card's state;
* `unknown`: the request had no card: every card feature is NaN (imputed by the model's
  missing-value path, with its indicator), never 0;
* `stale`: the card's newest stored event is older than the card view's freshness limit
  at the event's time: scored as unknown (the state is updated all the same);
* `unavailable`: the store could not be read or written: scored as unknown, counted and
  reported by /health (the call is answered all the same).
"""

from __future__ import annotations

import functools
import logging
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from fraud_assets.features import freshness
from fraud_assets.features.names import CARD_FEATURE_VIEW, CARD_FEATURES, CARD_STATE_VIEW

log = logging.getLogger(__name__)
CARD_GROUP = CARD_FEATURE_VIEW  # the feature group's name in answers
KNOWN, UNKNOWN, STALE, UNAVAILABLE = "known", "unknown", "stale", "unavailable"


@dataclass(frozen=True)
class CardRead:
    """CARD_FEATURES per row as the model gets them, each row's status, the freshness."""

    rows: pd.DataFrame
    status: np.ndarray
    freshness: freshness.GroupFreshness


class CardLookup:
    """Per-card features and state updates for scored calls; counters feed /health.

    `state`: a `CardState` (default: on the store of FRAUD_HOME, opened on first use)."""

    def __init__(self, state: Any = None, use_store: bool = True) -> None:
        self._state = state
        self._use_store = use_store
        self._lock = threading.Lock()
        self.failures = 0
        self.failing = False
        self.last_error: str | None = None
        self.stale_answers = 0
        self.unknown_answers = 0
        self._limit: float | None = None

    def _open(self) -> Any:
        if self._state is None and self._use_store:
            self._state = _default_state()
        return self._state

    def limit(self) -> float:
        """The card state view's freshness limit (seconds), as registered; inf until read."""
        if self._limit is None and self._use_store:
            try:
                from fraud_assets.features.online import default_store
                self._limit = default_store().freshness_limit(CARD_STATE_VIEW)
            except Exception as exc:  # not applied yet: try again next call
                log.debug("card freshness limit not readable yet: %s", exc)
        return self._limit if self._limit is not None else float("inf")

    def read(self, card_ids: np.ndarray, times_ns: np.ndarray, amounts: np.ndarray,
             categories: np.ndarray, at_seconds: np.ndarray) -> CardRead:
        """Card features of n rows, judged at `at_seconds`; their events stored. Arrays of
        length n: `card_ids` (object: str; None/NaN = no card), `times_ns` (int64 event
        times, ns since the epoch, UTC), `amounts` (float64), `categories` (object: str).
        Arrays, not a frame: this runs on every scored call (benchmarks.card_state)."""
        n = len(card_ids)
        has = pd.notna(np.asarray(card_ids, dtype=object))
        values = np.full((n, len(CARD_FEATURES)), np.nan)
        status = np.where(has, KNOWN, UNKNOWN).astype(object)
        newest = np.full(n, np.nan)
        if has.any():
            try:
                computed = self._open().score_and_update_arrays(card_ids, times_ns, amounts,
                                                                categories)
                values, newest = computed.values, computed.newest_seconds
                self._note(None)
            except Exception as exc:  # the store being down must not turn into a 500
                self._note(exc)
                status = np.where(has, UNAVAILABLE, UNKNOWN).astype(object)
        judged = freshness.assess(CARD_GROUP, newest, at_seconds, self.limit())
        status = np.where(judged.stale, STALE, status).astype(object)
        values = np.where((status == KNOWN)[:, None], values, np.nan)
        with self._lock:
            self.stale_answers += int(judged.stale.sum())
            self.unknown_answers += int((status == UNKNOWN).sum())
        return CardRead(pd.DataFrame(values, columns=list(CARD_FEATURES)), status, judged)

    def _note(self, exc: Exception | None) -> None:
        with self._lock:
            if exc is None:
                if self.failing:
                    log.info("card state works again")
                self.failing = False
                return
            self.failures += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            if not self.failing:
                log.warning("card state unreadable or unwritable, card features unknown: %s",
                            exc)
            self.failing = True

    def problem(self) -> str | None:
        return f"card state failing ({self.last_error})" if self.failing else None

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {"failing": self.failing, "failures": self.failures,
                    "last_error": self.last_error, "unknown_answers": self.unknown_answers,
                    "freshness": {CARD_GROUP: {"freshness_limit_seconds": self._limit,
                                               "stale_answers": self.stale_answers}}}


@functools.lru_cache(maxsize=1)
def _default_state() -> Any:
    from fraud_assets.features.card_state import CardState
    from fraud_assets.features.online import default_store
    return CardState(default_store().feast)
