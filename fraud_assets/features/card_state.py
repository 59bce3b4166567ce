"""The service's per-card state and the online card features (issue 15).

Per card the online store holds its events of the last 30 days (`features.cards.LOOKBACK`)
as three arrays of the `card_state` Feast view, in time order: times (ns since the epoch,
UTC), amounts and merchant categories. For a call, `CardState.score_and_update`:

1. reads the state of the call's cards (one Feast online read);
2. computes `CARD_FEATURES` with THE definition, `cards.card_window_features`, the stored
   events plus the call's own as history and the call's rows as rows: an event counts only
   events strictly before it, as offline, so offline and online agree (parity);
3. inserts the call's events into each card's arrays in time order (an event older than the
   card's newest goes where its time says, never at the end: out-of-order traffic cannot
   corrupt the state), drops events older than the newest minus 30 days, and writes the
   cards' rows back (one `write_to_online_store`).

The row's Feast timestamp is the write's wall-clock time, strictly increasing per process:
Feast's Redis store skips a write not newer than the stored row's, which would drop an
out-of-order event's update if the timestamp were the card's newest event.

Shared by replicas: the state lives in the online store (SQLite file locally, Redis in the
server profile), so another replica reads what this one wrote. The read-modify-write is not
atomic across replicas: two replicas updating one card at the same moment may lose one of
the two events (last write wins). Within one process, calls are serialised by the caller.

Freshness: the card group's age is the time from the card's newest stored event to the
event being scored; past the view's limit (30 days) nothing stored can be in a window and
the group is stale (scored as unknown, see `features.freshness`).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from feast import FeatureStore

from fraud_assets.features import cards
from fraud_assets.features.names import (
    CARD_FEATURES,
    CARD_JOIN_KEY,
    CARD_STATE_FIELDS,
    CARD_STATE_TIMESTAMP,
    CARD_STATE_VIEW,
)

TIMES, AMOUNTS, CATEGORIES = CARD_STATE_FIELDS
LOOKBACK_NS = int(cards.LOOKBACK.value)  # Timedelta.value: nanoseconds


@dataclass
class Events:
    """One card's stored events, in time order (arrays of equal length)."""

    times_ns: np.ndarray  # int64, ns since the epoch (UTC)
    amounts: np.ndarray  # float64
    categories: np.ndarray  # object (str)

    @classmethod
    def empty(cls) -> Events:
        return cls(np.empty(0, "int64"), np.empty(0, "float64"), np.empty(0, object))

    def inserted(self, times_ns: np.ndarray, amounts: np.ndarray,
                 categories: np.ndarray) -> Events:
        """These events plus the given ones, in time order (stable: a tie keeps the stored
        event first), without those older than the newest minus the 30-day look-back."""
        t = np.concatenate([self.times_ns, np.asarray(times_ns, "int64")])
        order = np.argsort(t, kind="stable")
        t = t[order]
        a = np.concatenate([self.amounts, np.asarray(amounts, "float64")])[order]
        c = np.concatenate([self.categories, np.asarray(categories, object)])[order]
        keep = t >= t[-1] - LOOKBACK_NS if len(t) else np.ones(0, bool)
        return Events(t[keep], a[keep], c[keep])


@dataclass(frozen=True)
class CardFeatures:
    """The card features of a call's rows (a float64 frame, one column per CARD_FEATURES,
    NaN = unknown) and, per row, the time (epoch seconds) of the card's newest stored event
    before the call (NaN without a card or a stored event)."""

    frame: pd.DataFrame
    newest_seconds: np.ndarray


class CardState:
    """Reads and writes the per-card state through a Feast store (`feast`)."""

    def __init__(self, feast: FeatureStore) -> None:
        self.feast = feast
        self._last_write_ns = 0
        self._lock = threading.Lock()

    def read(self, card_ids: list[str]) -> dict[str, Events]:
        """The stored events of each card (empty for a card never seen)."""
        if not card_ids:
            return {}
        got = self.feast.get_online_features(
            features=[f"{CARD_STATE_VIEW}:{name}" for name in CARD_STATE_FIELDS],
            entity_rows={CARD_JOIN_KEY: card_ids}).to_dict()
        out = {}
        for i, card in enumerate(card_ids):
            times = got[TIMES][i]
            if times is None:
                out[card] = Events.empty()
                continue
            out[card] = Events(np.asarray(times, "int64"),
                               np.asarray(got[AMOUNTS][i], "float64"),
                               np.asarray(got[CATEGORIES][i], object))
        return out

    def write(self, states: dict[str, Events]) -> None:
        """Store each card's events (one online write for all cards)."""
        if not states:
            return
        stamp = pd.Timestamp(self._next_write_ns(), unit="ns", tz="UTC")
        frame = pd.DataFrame({
            CARD_JOIN_KEY: list(states),
            CARD_STATE_TIMESTAMP: [stamp] * len(states),
            TIMES: [e.times_ns.tolist() for e in states.values()],
            AMOUNTS: [e.amounts.tolist() for e in states.values()],
            CATEGORIES: [[str(c) for c in e.categories] for e in states.values()]})
        self.feast.write_to_online_store(CARD_STATE_VIEW, frame)

    def _next_write_ns(self) -> int:
        """Now, in whole microseconds (Feast keeps no finer), after the previous write."""
        with self._lock:
            now = time.time_ns() // 1_000 * 1_000
            self._last_write_ns = max(now, self._last_write_ns + 1_000)
            return self._last_write_ns

    def score_and_update(self, rows: pd.DataFrame) -> CardFeatures:
        """Card features of `rows` (columns `card_id` (str or None), `event_timestamp`
        (tz-aware UTC), `amount`, `merchant_category`; any index), then the rows' events
        stored. Rows without a card get NaN features and change no state."""
        rows = rows.reset_index(drop=True)
        card = rows[CARD_JOIN_KEY]
        has = card.notna().to_numpy() & (card.astype("string").str.strip() != "").fillna(
            False).to_numpy()
        known = [str(c) for c in pd.unique(card[has])]
        stored = self.read(known)
        history = _history(stored, rows[has])
        frame = cards.card_window_features(history, rows)
        newest = np.full(len(rows), np.nan)
        for card_id, events in stored.items():
            if len(events.times_ns):
                newest[(card == card_id).to_numpy()] = events.times_ns[-1] / 1e9
        self.write(_updated(stored, rows[has]))
        return CardFeatures(frame.loc[:, list(CARD_FEATURES)].astype("float64"), newest)


def _history(stored: dict[str, Events], rows: pd.DataFrame) -> pd.DataFrame:
    """The stored events of the call's cards plus the call's own events, as one frame of
    `cards.INPUT_COLUMNS`."""
    parts = [pd.DataFrame({CARD_JOIN_KEY: card, cards.TIMESTAMP: events.times_ns,
                           cards.AMOUNT: events.amounts, cards.CATEGORY: events.categories})
             for card, events in stored.items() if len(events.times_ns)]
    own = rows.loc[:, list(cards.INPUT_COLUMNS)]
    if not parts:
        return own
    stored_frame = pd.concat(parts, ignore_index=True)
    stored_frame[cards.TIMESTAMP] = pd.to_datetime(stored_frame[cards.TIMESTAMP], unit="ns",
                                                   utc=True)
    return pd.concat([stored_frame, own], ignore_index=True)


def _updated(stored: dict[str, Events], rows: pd.DataFrame) -> dict[str, Events]:
    """Each card's events with the call's events of that card inserted in time order."""
    times = rows[cards.TIMESTAMP].dt.tz_convert("UTC").dt.as_unit("ns").astype("int64").to_numpy()
    out = {}
    for card_id, group in rows.groupby(CARD_JOIN_KEY, sort=False).indices.items():
        out[str(card_id)] = stored[str(card_id)].inserted(
            times[group], rows[cards.AMOUNT].to_numpy()[group],
            rows[cards.CATEGORY].to_numpy()[group])
    return out
