"""Per-card velocity features: the ONE definition, used offline and online (issue 15).

`card_window_features(history, rows)` gives, for each row, numbers about the events of the
same card in `history` that happened strictly before the row's own `event_timestamp`:

- `card_txn_count_{10m,1h,24h}`, `card_amount_sum_{10m,1h,24h}`: count and amount sum of
  the card's events in the window;
- `card_seconds_since_prev`: seconds since the card's latest earlier event;
- `card_distinct_categories_24h`: distinct merchant categories of the card in 24 h;
- `card_amount_to_mean_30d`: the row's amount over the mean amount of the card's events in
  30 days.

Window edges: an event at time `e` is in the window of width `w` of a row at time `t` when
`t - w <= e < t`. So an event exactly 10 minutes before is IN the 10-minute window; an event
at the same instant as the row (the row itself, or a tie) is in no window and is never the
"previous" event. Online state must therefore keep a card's events with `e >= t - 30 days`.

Unknown is NaN, never 0: a row without a card (missing or blank `card_id`) gets NaN in every
column; a known card without a prior event gets counts and sums 0 (it did nothing) but NaN
seconds-since-previous, and NaN amount-to-mean when it has no event in 30 days.

Exactness (parity): amounts are summed as integers of 1e-6 units (`AMOUNT_SCALE`), so a sum
does not depend on which other events (other cards, older days) share `history`: the offline
asset (a day's rows against 31 days of everyone) and the online service (one request against
one card's stored events) get bit-identical values. Sums differ from float sums by at most
0.5e-6 per event.

Why our own code: Feast's windowed aggregations are still open requests; this is numpy on
sorted keys (sort history by card then time; `searchsorted` on a combined key; cumulative
sums): `python -m benchmarks.card_features` measures 1,000,000 rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from fraud_assets.features.names import CARD_FEATURES, CARD_JOIN_KEY

TIMESTAMP = "event_timestamp"
AMOUNT = "amount"
CATEGORY = "merchant_category"
INPUT_COLUMNS: tuple[str, ...] = (CARD_JOIN_KEY, TIMESTAMP, AMOUNT, CATEGORY)
# Window widths of the count and sum features, and of the mean the amount is compared to.
WINDOWS: dict[str, pd.Timedelta] = {
    "10m": pd.Timedelta(minutes=10),
    "1h": pd.Timedelta(hours=1),
    "24h": pd.Timedelta(hours=24),
}
MEAN_WINDOW = pd.Timedelta(days=30)
# The longest look-back of any feature: history older than this never changes a value.
LOOKBACK = MEAN_WINDOW
AMOUNT_SCALE = 1_000_000  # amounts are summed as integers of 1/AMOUNT_SCALE


def card_window_features(history: pd.DataFrame, rows: pd.DataFrame,
                         summaries: pd.DataFrame | None = None,
                         rows_are_events: bool = False) -> pd.DataFrame:
    """Per-card velocity features of `rows` from the events in `history`.

    Args:
        history: events, columns `card_id` (str; missing/blank rows are ignored),
            `event_timestamp` (datetime, tz-aware or naive UTC), `amount` (float),
            `merchant_category` (str). Any order; may contain `rows` themselves (a row is
            never in its own window).
        rows: the transactions to compute features for, the same columns; any order.
        summaries: optional, events not in `history` given per card as
            `SUMMARY_COLUMNS` (`card_id`, `events`, `micro` = sum of `to_micro` amounts,
            `last_ns` = the latest event's time in ns): each must lie, for every row, inside
            the 30-day window and before every 24-hour window (offline: whole days D-29 ..
            D-2 for rows of day D, `features.card_days`); their values are then exactly
            those of the events themselves.
        rows_are_events: the rows are events too, exactly as if `history` also held them
            (a day's rows against the day's own earlier events, `features.card_days`):
            their cards, times and amounts are then read once, not again from a
            concatenation (at 1M rows, 1M card ids less to look up).

    Returns:
        A float64 frame indexed like `rows`, one column per `CARD_FEATURES` (counts in
        events, sums in amount units, seconds since previous in seconds); NaN = unknown
        (see the module docstring).

    Raises:
        ValueError: a needed column is absent, a `card_id` is not text, or an
            `event_timestamp` is missing or not a time (naming the frame and column).
    """
    for name, frame in (("history", history), ("rows", rows)):
        _check_columns(name, frame)
    out = np.full((len(rows), len(CARD_FEATURES)), np.nan)
    row_cards = card_text("rows", rows[CARD_JOIN_KEY])
    known = row_cards.is_valid().to_numpy(zero_copy_only=False)
    if known.all():
        out[:] = _known_card_features(history, rows, row_cards, summaries, rows_are_events)
    elif known.any():
        out[known] = _known_card_features(history, rows.loc[known],
                                          row_cards.filter(pa.array(known)), summaries,
                                          rows_are_events)
    return pd.DataFrame(out, index=rows.index, columns=list(CARD_FEATURES))


def _check_columns(name: str, frame: pd.DataFrame) -> None:
    missing = [c for c in INPUT_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{name}: missing column(s) {', '.join(missing)} needed by the card "
                         f"features (expected {', '.join(INPUT_COLUMNS)})")


def card_text(name: str, values: pd.Series) -> pa.Array:
    """Card ids as one Arrow text array, missing or blank -> null (unknown card).

    Arrow-backed columns (`read_card_rows`' `string[pyarrow]`) are taken without a copy;
    the blank test is Arrow's vectorised regex, several times faster than pandas'
    per-value `str.strip`.

    Raises:
        ValueError: a value is not text (naming the frame `name`).
    """
    try:
        text = _arrow(values)
    except ValueError as exc:
        raise ValueError(f"{name}: {CARD_JOIN_KEY} must be text (or missing): {exc}") from exc
    if pa.types.is_dictionary(text.type):  # categorical columns
        text = text.dictionary_decode()
    if pa.types.is_null(text.type):  # every value missing
        text = text.cast(pa.string())
    if not (pa.types.is_string(text.type) or pa.types.is_large_string(text.type)):
        raise ValueError(f"{name}: {CARD_JOIN_KEY} must be text (or missing), got {text.type}")
    blank = pc.match_substring_regex(text, r"^\s*$").fill_null(True)
    return pc.if_else(blank, pa.scalar(None, text.type), text)


def _arrow(values: pd.Series) -> pa.Array:
    """`values` as one Arrow array (zero-copy when Arrow-backed); a frame column that
    Arrow cannot type (e.g. text mixed with numbers) is a ValueError."""
    try:
        out = pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ValueError(f"{values.name}: mixed or unsupported values: {exc}") from exc
    return out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out


def _codes(text: pa.Array, index: pa.Array) -> np.ndarray:
    """Each value's position in `index` (int64), -1 where absent or null."""
    found = pc.index_in(text, value_set=index.cast(text.type)).fill_null(-1)
    return found.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


def nanoseconds(name: str, values: pd.Series) -> np.ndarray:
    """UTC nanoseconds since the epoch (int64); naive times are taken as UTC.

    Raises:
        ValueError: a value is missing or not a time (naming the frame `name`).
    """
    try:
        times = pd.to_datetime(values, utc=True)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name}: {TIMESTAMP} is not a time: {exc}") from exc
    if times.isna().any():
        raise ValueError(f"{name}: {TIMESTAMP} has {int(times.isna().sum())} missing value(s)")
    return times.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]").view("int64")


def _micro(values: pd.Series) -> np.ndarray:
    return to_micro(values.to_numpy(dtype="float64"))


def _dense_ranks(values: np.ndarray) -> tuple[np.ndarray, int]:
    """Each value's rank among the distinct values (0-based, order kept), and their number."""
    order = np.argsort(values)
    ordered = values[order]
    new = np.empty(len(values), dtype=bool)
    new[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    ranks = np.empty(len(values), dtype=np.int64)
    ranks[order] = np.cumsum(new) - 1
    return ranks, int(new.sum())


# Units a time key may count in, coarsest first (ns): whole seconds, ms, µs.
TIME_UNITS = (1_000_000_000, 1_000_000, 1_000)


def _time_keys(values: np.ndarray, cards: int) -> tuple[np.ndarray, int]:
    """Order-keeping integer keys of times (ns, int64) and their span: `card * span + key`
    must sort events by card then time, exactly, within int64 for `cards` cards.

    When every time is a whole number of a unit in TIME_UNITS (the lake's times are whole
    seconds), the offset from the earliest in that unit, with no sort; else dense ranks
    (`_dense_ranks`, an argsort of every time: 0.75 s of a 1M-row card day)."""
    if len(values):
        low, high = int(values.min()), int(values.max())
        for unit in TIME_UNITS:
            span = (high - low) // unit + 1
            if span * cards < 2**62 and not np.any(values % unit):
                return (values - low) // unit, span
    return _dense_ranks(values)


def _known_card_features(history: pd.DataFrame, rows: pd.DataFrame, row_cards: pa.Array,
                         summaries: pd.DataFrame | None, rows_are_events: bool) -> np.ndarray:
    """CARD_FEATURES for rows that all have a card (`row_cards`: theirs, no nulls):
    (len(rows), 9) float64. Cards are coded by Arrow's hash kernels (dictionary encoding,
    `index_in`): at 1M rows and 2M history events 0.5 s against 2.9 s for pandas'
    `factorize` + `Index.get_indexer` (day 3 of `benchmarks.scale`'s 1M state)."""
    encoded = pc.dictionary_encode(row_cards)
    r_code = encoded.indices.to_numpy(zero_copy_only=False)
    r_time = nanoseconds("rows", rows[TIMESTAMP])
    # History of cards no row has is never looked at.
    h_code = _codes(card_text("history", history[CARD_JOIN_KEY]), encoded.dictionary)
    keep = h_code >= 0
    h_category = _arrow(history[CATEGORY]).filter(pa.array(keep))
    codes = [h_code[keep]]
    times = [nanoseconds("history", history[TIMESTAMP][keep])]
    micro = [_micro(history[AMOUNT][keep])]
    if rows_are_events:
        codes.append(r_code)
        times.append(r_time)
        micro.append(_micro(rows[AMOUNT]))
        h_category = pa.concat_arrays([_text(h_category), _text(_arrow(rows[CATEGORY]))])
    category = pc.dictionary_encode(h_category)
    events = CardEvents(np.concatenate(codes), np.concatenate(times), np.concatenate(micro),
                        category.indices.fill_null(-1).to_numpy(zero_copy_only=False))
    if summaries is not None and len(summaries):
        events = events.with_summaries(
            _codes(card_text("summaries", summaries[CARD_JOIN_KEY]), encoded.dictionary),
            summaries)
    return window_arrays(events, r_code, r_time, rows[AMOUNT].to_numpy(dtype="float64"))


def _text(values: pa.Array) -> pa.Array:
    """Category values as plain Arrow text (a categorical column's dictionary decoded), so
    history's and the rows' can be coded together."""
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    return values.cast(pa.large_string())


# A card's events summarised (`card_window_features`' `summaries`): how many, their amounts
# summed as `to_micro` units, the latest one's time (ns since the epoch, UTC).
SUMMARY_EVENTS, SUMMARY_MICRO, SUMMARY_LAST = "events", "micro", "last_ns"
SUMMARY_COLUMNS: tuple[str, ...] = (CARD_JOIN_KEY, SUMMARY_EVENTS, SUMMARY_MICRO, SUMMARY_LAST)


@dataclass(frozen=True)
class CardEvents:
    """Events as arrays of equal length, any order: `code` (int, the card's number: equal
    codes = one card), `time_ns` (int64 ns since the epoch, UTC), `micro` (int64 amounts in
    1/AMOUNT_SCALE units, see `to_micro`), `category` (int, equal codes = one category;
    -1 = none); `weight` (int64, optional): how many events each entry stands for (a
    summary, see `with_summaries`; None = one each)."""

    code: np.ndarray
    time_ns: np.ndarray
    micro: np.ndarray
    category: np.ndarray
    weight: np.ndarray | None = None

    def with_summaries(self, codes: np.ndarray, summaries: pd.DataFrame) -> CardEvents:
        """These events plus one entry per summary row (`SUMMARY_COLUMNS`; `codes`: its
        card's code, -1 = a card no row has, dropped): at the latest event's time, with the
        events' count as weight and their amount sum. Exact where the summarised events
        are all inside a row's 30-day window and outside its 24-hour one: counts and sums
        add up, the latest event is the previous one if nothing later is, and no category
        is counted."""
        keep = codes >= 0
        n = len(self.code)
        weight = np.ones(n, np.int64) if self.weight is None else self.weight
        return CardEvents(
            np.concatenate([self.code, codes[keep]]),
            np.concatenate([self.time_ns, summaries[SUMMARY_LAST].to_numpy("int64")[keep]]),
            np.concatenate([self.micro, summaries[SUMMARY_MICRO].to_numpy("int64")[keep]]),
            np.concatenate([self.category, np.full(int(keep.sum()), -1, np.int64)]),
            np.concatenate([weight, summaries[SUMMARY_EVENTS].to_numpy("int64")[keep]]))


def to_micro(amounts: np.ndarray) -> np.ndarray:
    """Amounts (float64) as int64 units of 1/AMOUNT_SCALE, the way every sum is taken."""
    return np.rint(np.asarray(amounts, dtype="float64") * AMOUNT_SCALE).astype("int64")


def window_arrays(history: CardEvents, r_code: np.ndarray, r_time: np.ndarray,
                  amount: np.ndarray) -> np.ndarray:
    """THE computation of CARD_FEATURES, on arrays: `card_window_features` (offline, a day
    against 31 days of every card) and the serving path (`card_state`, one call's cards
    against their stored events) both end here, so their values are bit-identical.

    Args:
        history: the events (codes as the rows' `r_code`; events of other codes are fine).
        r_code: (n,) int, each row's card code; every row has a card.
        r_time: (n,) int64, each row's time in ns since the epoch (UTC).
        amount: (n,) float64, each row's amount.

    Returns:
        (n, len(CARD_FEATURES)) float64, columns in CARD_FEATURES order.
    """
    h_code, h_time, h_micro, h_cat = history.code, history.time_ns, history.micro, history.category
    r_code = np.asarray(r_code)
    n, m = len(r_time), len(h_time)

    # Combined key card * span + key(time): one sorted int64 array in which searchsorted
    # finds a card's events before any time (`_time_keys`: exact, without overflow).
    bounds = {"t": r_time} | {w: r_time - width.value
                              for w, width in {**WINDOWS, "30d": MEAN_WINDOW}.items()}
    ranks, span = _time_keys(np.concatenate([h_time, *bounds.values()]),
                             int(max(h_code.max(initial=0), r_code.max(initial=0))) + 1)
    h_key = h_code.astype(np.int64) * span + ranks[:m]
    r_base = r_code.astype(np.int64) * span
    q_key = {name: r_base + ranks[m + i * n: m + (i + 1) * n] for i, name in enumerate(bounds)}
    order = np.argsort(h_key)
    h_key, h_time, h_micro, h_cat = h_key[order], h_time[order], h_micro[order], h_cat[order]
    # Events standing for several (summaries): counts add their weights, not positions.
    cum_n = (None if history.weight is None
             else np.concatenate([[0], np.cumsum(history.weight[order])]))
    # Queries in key order: searchsorted then walks memory forwards (several times faster).
    r_order = np.argsort(q_key["t"])
    q_key = {name: k[r_order] for name, k in q_key.items()}
    r_code, r_time = r_code[r_order], r_time[r_order]
    amount = np.asarray(amount, dtype="float64")[r_order]

    cum = np.concatenate([[0], np.cumsum(h_micro)])  # int64; differences are exact
    pos = {name: np.searchsorted(h_key, k, side="left") for name, k in q_key.items()}
    end = pos["t"]  # first event at or after t: everything before it is strictly before
    out = np.empty((n, len(CARD_FEATURES)))
    col = {name: i for i, name in enumerate(CARD_FEATURES)}
    def count(start: np.ndarray) -> np.ndarray:
        return end - start if cum_n is None else cum_n[end] - cum_n[start]

    for w in WINDOWS:
        out[:, col[f"card_txn_count_{w}"]] = count(pos[w])
        out[:, col[f"card_amount_sum_{w}"]] = (cum[end] - cum[pos[w]]) / AMOUNT_SCALE

    prev = end - 1  # the latest event strictly before t, if it is the same card's
    has_prev = end > 0
    has_prev[has_prev] = h_key[prev[has_prev]] // span == r_code[has_prev]
    seconds = np.full(n, np.nan)
    seconds[has_prev] = (r_time[has_prev] - h_time[prev[has_prev]]) / 1e9
    out[:, col["card_seconds_since_prev"]] = seconds

    # A category is in a row's 24 hours when its latest key before the row's is at or after
    # the window's start (keys hold the card: an earlier card's key is below the start).
    distinct = np.zeros(n)
    for category in range(h_cat.max(initial=-1) + 1):
        keys = h_key[h_cat == category]
        before = np.searchsorted(keys, q_key["t"])
        latest = keys[np.maximum(before - 1, 0)] if len(keys) else q_key["24h"] - 1
        distinct += (before > 0) & (latest >= q_key["24h"])
    out[:, col["card_distinct_categories_24h"]] = distinct

    count30 = count(pos["30d"])
    sum30 = cum[end] - cum[pos["30d"]]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = amount * count30 * AMOUNT_SCALE / sum30
    out[:, col["card_amount_to_mean_30d"]] = np.where((count30 > 0) & (sum30 > 0), ratio, np.nan)
    result = np.empty_like(out)
    result[r_order] = out
    return result
