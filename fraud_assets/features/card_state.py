"""The service's per-card state and the online card features (issue 15).

Per card the online store holds its events of the last 30 days (`features.cards.LOOKBACK`)
as three arrays of the `card_state` Feast view, in time order: times (ns since the epoch,
UTC), amounts and merchant categories. For a call, `CardState.score_and_update`:

1. reads the state of the call's cards (one Feast online read);
2. computes `CARD_FEATURES` with THE definition's core, `cards.window_arrays` (what
   `cards.card_window_features` computes offline), the stored events plus the call's own
   as history and the call's rows as rows: an event counts only events strictly before
   it, as offline, so offline and online agree bit for bit (parity);
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

Speed: the serving path (`score_and_update_arrays`) builds no frame; reads and writes go
through the online store's interface with protos built from the arrays (see `CardState`);
the SQLite online store is in WAL mode (`store.sqlite_wal`). `python -m
benchmarks.card_state` (1,000 cards x 50 events, quiet 2-core machine): one transaction per
call p50 0.78 ms, p99 1.19 ms (read 0.11 ms, `window_arrays` 0.18 ms, write 0.34 ms;
through the `FeatureStore` calls: p50 3.1 ms, p99 5.1 ms); 32 per call p50 6.1 ms (10.1 ms).

Freshness: the card group's age is the time from the card's newest stored event to the
event being scored; past the view's limit (30 days) nothing stored can be in a window and
the group is stale (scored as unknown, see `features.freshness`).
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from feast import FeatureStore, FeatureView
from feast.infra.online_stores.helpers import get_online_store_from_config
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import DoubleList, Int64List, StringList
from feast.protos.feast.types.Value_pb2 import Value as ValueProto

from fraud_assets.features import cards, store
from fraud_assets.features.names import (
    CARD_FEATURES,
    CARD_JOIN_KEY,
    CARD_STATE_FIELDS,
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
    """The card features of a call's rows (`values`: (n, len(CARD_FEATURES)) float64, NaN =
    unknown; `frame`: the same as a frame, one column per CARD_FEATURES) and, per row, the
    time (epoch seconds) of the card's newest stored event before the call (NaN without a
    card or a stored event)."""

    values: np.ndarray
    newest_seconds: np.ndarray

    @property
    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.values, columns=list(CARD_FEATURES))


class CardState:
    """Reads and writes the per-card state through a Feast store (`feast`).

    Through the store's `OnlineStore` (`online_read`, `online_write_batch`: the interface
    every Feast online store implements, the one `get_online_features` and
    `write_to_online_store` end in), with the values as Feast's protos built directly from
    the arrays. Why not the two `FeatureStore` calls: they convert every value of every
    card's 30-day arrays through pandas, Arrow and per-value Python
    (`python -m benchmarks.card_state --rows-per-call 32`: read 2.65 ms and write 5.97 ms
    per call of 32 transactions that way); what is stored is the same bytes either way
    (tests/features/test_card_state.py reads it back through `get_online_features`)."""

    def __init__(self, feast: FeatureStore) -> None:
        self.feast = feast
        store.sqlite_wal(feast.config)  # one fsync per write, not four (see there)
        self._last_write_ns = 0
        self._lock = threading.Lock()
        self._online = get_online_store_from_config(feast.config.online_store)
        self._view: FeatureView | None = None

    def _table(self) -> FeatureView:
        """The registered `card_state` view (read once: raises until the repo is applied)."""
        if self._view is None:
            self._view = self.feast.get_feature_view(CARD_STATE_VIEW)
        return self._view

    def read(self, card_ids: list[str]) -> dict[str, Events]:
        """The stored events of each card (empty for a card never seen)."""
        if not card_ids:
            return {}
        got = self._online.online_read(self.feast.config, self._table(),
                                       [_entity_key(c) for c in card_ids],
                                       list(CARD_STATE_FIELDS))
        out = {}
        for card, (_, values) in zip(card_ids, got, strict=True):
            if not values or not values[TIMES].HasField("int64_list_val"):
                out[card] = Events.empty()
                continue
            out[card] = Events(np.array(values[TIMES].int64_list_val.val, "int64"),
                               np.array(values[AMOUNTS].double_list_val.val, "float64"),
                               np.array(values[CATEGORIES].string_list_val.val, object))
        return out

    def write(self, states: dict[str, Events]) -> None:
        """Store each card's events (one online write for all cards)."""
        if not states:
            return
        stamp = pd.Timestamp(self._next_write_ns(), unit="ns", tz="UTC").to_pydatetime()
        rows = [(_entity_key(card), {
            TIMES: ValueProto(int64_list_val=Int64List(val=e.times_ns.tolist())),
            AMOUNTS: ValueProto(double_list_val=DoubleList(val=e.amounts.tolist())),
            CATEGORIES: ValueProto(string_list_val=StringList(
                val=[str(c) for c in e.categories]))}, stamp, None)
            for card, e in states.items()]
        self._online.online_write_batch(self.feast.config, self._table(), rows, None)

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
        times = pd.DatetimeIndex(pd.to_datetime(rows[cards.TIMESTAMP], utc=True))
        return self.score_and_update_arrays(
            rows[CARD_JOIN_KEY].to_numpy(dtype=object), times.as_unit("ns").asi8,
            rows[cards.AMOUNT].to_numpy(dtype="float64"),
            rows[cards.CATEGORY].to_numpy(dtype=object))

    def score_and_update_arrays(self, card_ids: np.ndarray, times_ns: np.ndarray,
                                amounts: np.ndarray, categories: np.ndarray) -> CardFeatures:
        """`score_and_update` on arrays of equal length n, the serving path without frames:
        `card_ids` (object: str, or None/NaN/blank = no card), `times_ns` (int64, ns since
        the epoch, UTC), `amounts` (float64), `categories` (object: str).

        Raises:
            ValueError: a card id is not text (naming `card_id`).
        """
        codes, card_list = _card_codes(card_ids)
        times_ns = np.asarray(times_ns, dtype="int64")
        amounts = np.asarray(amounts, dtype="float64")
        categories = np.asarray(categories, dtype=object)
        values = np.full((len(codes), len(CARD_FEATURES)), np.nan)
        newest = np.full(len(codes), np.nan)
        if not card_list:
            return CardFeatures(values, newest)
        stored = self.read(card_list)
        has = codes >= 0
        history = _history([stored[c] for c in card_list], codes[has], times_ns[has],
                           amounts[has], categories[has])
        values[has] = cards.window_arrays(history, codes[has], times_ns[has], amounts[has])
        updated = {}
        for code, card in enumerate(card_list):
            events, mine = stored[card], codes == code
            if len(events.times_ns):
                newest[mine] = events.times_ns[-1] / 1e9
            updated[card] = events.inserted(times_ns[mine], amounts[mine], categories[mine])
        self.write(updated)
        return CardFeatures(values, newest)


def _entity_key(card: str) -> EntityKeyProto:
    return EntityKeyProto(join_keys=[CARD_JOIN_KEY], entity_values=[ValueProto(string_val=card)])


# Blank as `cards.card_window_features` sees it (Arrow's RE2 `\s`: these five characters).
_BLANK = re.compile(r"[\t\n\f\r ]*")


def _card_codes(card_ids: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Each row's card number (-1: no card) and the distinct cards in first-seen order."""
    codes = np.full(len(card_ids), -1, dtype=np.int64)
    index: dict[str, int] = {}
    for i, card in enumerate(card_ids):
        if card is None or (not isinstance(card, str) and pd.isna(card)):
            continue
        if not isinstance(card, str):
            raise ValueError(f"rows: {CARD_JOIN_KEY} must be text (or missing), got "
                             f"{type(card).__name__} {card!r}")
        if not _BLANK.fullmatch(card):
            codes[i] = index.setdefault(card, len(index))
    return codes, list(index)


def _history(stored: list[Events], codes: np.ndarray, times_ns: np.ndarray,
             amounts: np.ndarray, categories: np.ndarray) -> cards.CardEvents:
    """The stored events of the call's cards (card k = stored[k]) plus the call's own
    events, as the arrays of `cards.window_arrays`."""
    return cards.CardEvents(
        np.concatenate([np.full(len(e.times_ns), k, np.int64) for k, e in enumerate(stored)]
                       + [codes]),
        np.concatenate([e.times_ns for e in stored] + [times_ns]),
        cards.to_micro(np.concatenate([e.amounts for e in stored] + [amounts])),
        pd.factorize(np.concatenate([e.categories for e in stored] + [categories]))[0])
