"""The offline card features of one day: the `card_velocity` rows of a validated day.

Every validated transaction of day D with a card gets `features.cards.card_window_features`
against the events of its card on days D-30 .. D (earlier days and its own day's earlier
events; never itself). A day costs the same however many days are stored: only the 30 days
the features look back over are opened, only the columns they need are read, and from the
earlier days only the rows of cards that occur on day D (a parquet filter, so other cards
never reach memory).

Days D-29 .. D-2 are read as per-card summaries, not events (`day_summaries`: per card
its event count, amount sum in `cards.to_micro` units and latest event time; computed once
per validated file version and kept as `lake/card_day_sums/<day>.parquet`). For every row
of day D those days lie wholly inside the 30-day window and wholly before the 24-hour one,
so a summary gives exactly the values its events give (`cards.CardEvents.with_summaries`;
test: tests/features/test_card_days.py). Only D-30 (the 30-day window's edge) and D-1 (the
24-hour windows) are read as events. Why: at a million transactions a day about 370,000
cards a day, 80% of them seen the day before, so the day's cards' events of 30 days are
most of 30 million rows; their summaries are a third of that, in three numeric columns.

The 28 summaries are summed per card once per day and rolled forward (`window_sums`): day
D's table is D-1's plus D-2's summaries minus D-30's, so a new day hashes about three days'
card ids, not 28 (at 1M rows a day, 10M ids took 2.0-2.4 s to look up on day 30).

A day (or a file written before cards existed) without a `card_id` column has no card rows:
its transactions are "unknown card", and it adds no history.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from fraud_assets import contract, lake, names
from fraud_assets.features.cards import (
    INPUT_COLUMNS,
    LOOKBACK,
    SUMMARY_COLUMNS,
    SUMMARY_EVENTS,
    SUMMARY_LAST,
    SUMMARY_MICRO,
    TIMESTAMP,
    WINDOWS,
    card_text,
    card_window_features,
    nanoseconds,
    to_micro,
)
from fraud_assets.features.names import CARD_FEATURES, CARD_JOIN_KEY

TRANSACTION_ID = contract.TRANSACTION_ID.name
# The earlier days a day's rows can look back into (a row at 00:00 of D reaches D-30 00:00).
HISTORY_DAYS = math.ceil(LOOKBACK / pd.Timedelta(days=1))
# The earlier days the short windows (24 h) reach into: read as events, never summarised.
RECENT_DAYS = math.ceil(max(WINDOWS.values()) / pd.Timedelta(days=1))
READ_COLUMNS: tuple[str, ...] = (TRANSACTION_ID, *INPUT_COLUMNS)
# The feature view's offline rows: the transaction they belong to, the entity, its time.
COLUMNS: tuple[str, ...] = (TRANSACTION_ID, CARD_JOIN_KEY, TIMESTAMP, *CARD_FEATURES)
VALIDATED = names.TRANSACTIONS_VALIDATED
SUMS_ASSET = "card_day_sums"  # per-card summaries of validated days, next to the lake
WINDOW_ASSET = "card_window_sums"  # per day D, the summaries of D-29 .. D-2 summed per card
VERSIONS = b"versions"  # a window table's metadata: {day: validated file version} summed
TEXT = lake.ARROW_TEXT  # the frames' text columns, Arrow-backed


@dataclass(frozen=True)
class CardDay:
    """One day's card feature rows and what they were computed from."""

    rows: pd.DataFrame  # COLUMNS, one row per transaction of the day with a card
    transactions: int  # validated transactions of the day
    cards: int  # distinct cards among them
    history_days: list[str]  # earlier validated days read (present ones, oldest first)
    history_rows: int  # events of the day's cards on those days (read or summarised)
    events: pd.DataFrame  # the day's validated rows with a card (`read_card_rows`' columns)
    version: str | None  # `validated_version` of the file those rows were read from

    @property
    def share_with_card(self) -> float:
        return len(self.rows) / self.transactions if self.transactions else 0.0


def history_days(day: dt.date) -> list[str]:
    """ISO dates of the HISTORY_DAYS days strictly before `day`, oldest first."""
    return [(day - dt.timedelta(days=back)).isoformat() for back in range(HISTORY_DAYS, 0, -1)]


def summarised_days(day: dt.date) -> list[str]:
    """The history days read as per-card summaries for `day`'s rows (D-29 .. D-2, ISO,
    oldest first): all but the window's first day and the days the short windows reach."""
    window = history_days(day)
    return window[1:len(window) - RECENT_DAYS]


def card_day(lake_dir: Path, day: dt.date) -> CardDay:
    """The card feature rows of validated day `day` from the lake under `lake_dir`.

    Raises:
        FileNotFoundError: the day's validated partition is not in the lake.
        ValueError: a partition lacks a needed column other than `card_id`, or holds a bad
            value (`card_window_features` names it).
    """
    path = lake.partition_path(lake_dir, VALIDATED, day.isoformat())
    if not path.exists():
        raise FileNotFoundError(f"{path}: validated partition {day} is not in the lake; "
                                "materialize transactions_validated for it first")
    version = validated_version(lake_dir, day.isoformat())  # before the read: never newer
    today = read_card_rows(path)
    transactions = pq.read_metadata(path).num_rows
    rows = today[has_card(today)]
    cards = pc.unique(card_text("rows", rows[CARD_JOIN_KEY]))
    stored = set(lake.stored_partitions(VALIDATED, lake_dir))
    window = history_days(day)
    present = [d for d in window if d in stored]
    # As events: the days the short windows reach and the window's first day (a row's
    # 30-day window starts inside it); every day between lies wholly inside each row's
    # 30-day window and before its short ones, so a per-card summary of it is exact.
    summarised = set(summarised_days(day))
    earlier = [read_card_rows(lake.partition_path(lake_dir, VALIDATED, d), cards)
               for d in present if d not in summarised]
    summaries = window_summaries(lake_dir, day, cards)
    history = pd.concat(earlier, ignore_index=True) if earlier else empty_card_rows()
    # The day's own rows are events of its later rows: passed once, not concatenated.
    features = card_window_features(history, rows, summaries, rows_are_events=True)
    out = pd.concat([rows[[TRANSACTION_ID, CARD_JOIN_KEY, TIMESTAMP]], features], axis=1)
    out = out.take(contract.event_order(out)).reset_index(drop=True)
    events_read = len(history) + int(summaries[SUMMARY_EVENTS].sum())
    return CardDay(out, transactions, len(cards), present, events_read, rows, version)


def has_card(frame: pd.DataFrame) -> np.ndarray:
    """Per row (bool): the row has a card (a `card_id` that is not missing or blank)."""
    return card_text("frame", frame[CARD_JOIN_KEY]).is_valid().to_numpy(zero_copy_only=False)


def read_card_rows(path: Path, cards=None) -> pd.DataFrame:
    """READ_COLUMNS of a validated partition (of `cards` only, when given: any sequence
    of card ids, or an Arrow array); a file without `card_id` gives no rows. Text columns
    are `string[pyarrow]`: taken from Arrow without a copy (0.02 s against 0.3 s per
    million values made into Python strings)."""
    schema = pq.read_schema(path)
    missing = [c for c in READ_COLUMNS if c not in schema.names and c != CARD_JOIN_KEY]
    if missing:
        raise ValueError(f"{path}: column(s) {', '.join(missing)} missing for the card features")
    if CARD_JOIN_KEY not in schema.names:
        return empty_card_rows()
    filters = None if cards is None else pc.field(CARD_JOIN_KEY).isin(_text_values(cards))
    table = pq.read_table(path, columns=list(READ_COLUMNS), filters=filters)
    frame = table.to_pandas(types_mapper=lake.ARROW_TEXT_TYPES.get)
    frame[TIMESTAMP] = pd.to_datetime(frame[TIMESTAMP], utc=True)
    return frame


def empty_card_rows() -> pd.DataFrame:
    """`read_card_rows`' frame without rows (its columns and dtypes)."""
    return pd.DataFrame({TRANSACTION_ID: pd.Series(dtype=TEXT),
                         CARD_JOIN_KEY: pd.Series(dtype=TEXT),
                         TIMESTAMP: pd.Series(dtype="datetime64[ns, UTC]"),
                         contract.AMOUNT.name: pd.Series(dtype="float64"),
                         contract.MERCHANT_CATEGORY.name: pd.Series(dtype=TEXT)})


def _text_values(cards) -> pa.Array:
    """Card ids as an Arrow `string` array (the lake's type, for parquet filters)."""
    if isinstance(cards, pa.ChunkedArray):
        cards = cards.combine_chunks()
    if isinstance(cards, pa.Array):
        return cards.cast(pa.string())
    return pa.array(cards, type=pa.string())


def summary_path(lake_dir: Path, day: str) -> Path:
    return lake.partition_path(lake_dir, SUMS_ASSET, day)


def day_summaries(lake_dir: Path, day: str) -> pa.Table:
    """`cards.SUMMARY_COLUMNS` of validated day `day` (ISO), one row per card of the day,
    from the cache when it was made from the file as it is now (size and mtime), else
    computed and cached. A day without card ids has no rows.

    Raises:
        ValueError: an event's time is not on its partition's day (the contract's rule;
            a summary would then not be exact).
    """
    source = lake.partition_path(lake_dir, VALIDATED, day)
    stat = source.stat()
    signature = {b"source_size": str(stat.st_size).encode(),
                 b"source_mtime_ns": str(stat.st_mtime_ns).encode()}
    path = summary_path(lake_dir, day)
    if path.exists() and all((pq.read_schema(path).metadata or {}).get(k) == v
                             for k, v in signature.items()):
        return pq.read_table(path)
    events = read_card_rows(source)
    known = card_text(str(source), events[CARD_JOIN_KEY])
    events = events[known.is_valid().to_numpy(zero_copy_only=False)]
    times = nanoseconds(str(source), events[TIMESTAMP])
    start = pd.Timestamp(day).value
    if len(times) and (times.min() < start or times.max() >= start + 86_400 * 10**9):
        raise ValueError(f"{source}: {TIMESTAMP} outside its day {day}; re-validate the day")
    table = pa.table({CARD_JOIN_KEY: known.drop_null().cast(pa.string()),
                      SUMMARY_MICRO: to_micro(events[contract.AMOUNT.name].to_numpy()),
                      SUMMARY_LAST: times})
    table = _summed(table.group_by(CARD_JOIN_KEY).aggregate(
        [(SUMMARY_MICRO, "count"), (SUMMARY_MICRO, "sum"), (SUMMARY_LAST, "max")]),
        f"{SUMMARY_MICRO}_count")
    lake.write_table(table.replace_schema_metadata(signature), path)
    return table.replace_schema_metadata(None)


def window_summaries(lake_dir: Path, day: dt.date, cards) -> pd.DataFrame:
    """The summaries of `day`'s summarised days (`summarised_days`, those in the lake) for
    `cards` only: one row per card with events, `SUMMARY_COLUMNS` (events and micro
    summed, the latest time kept), in the order of `cards`."""
    window = window_sums(lake_dir, day)
    value_set = _text_values(cards)
    row = pc.index_in(value_set, value_set=window[CARD_JOIN_KEY].combine_chunks())
    found = row.is_valid()
    row = row.drop_null()
    return pa.table({CARD_JOIN_KEY: value_set.filter(found),
                     **{name: window[name].take(row) for name in SUMMARY_COLUMNS[1:]}}
                    ).to_pandas(types_mapper=lake.ARROW_TEXT_TYPES.get)


def window_path(lake_dir: Path, day: dt.date) -> Path:
    return lake.partition_path(lake_dir, WINDOW_ASSET, day.isoformat())


def window_sums(lake_dir: Path, day: dt.date) -> pa.Table:
    """Every card's summaries over `day`'s summarised days in the lake, summed: one row per
    card with events, `SUMMARY_COLUMNS`.

    Rolled forward from D-1's table when that was made from the same file versions of the
    days both cover: add D-2's summaries, subtract D-30's. Exact: counts and sums are
    integers; D-2's latest time is later than any other day's, so the maximum stays right
    when D-30's times are dropped, and a card whose events were all on D-30 ends with 0
    events and drops out. Otherwise (first day, a corrected or backfilled day) summed
    from the day summaries. Kept as `lake/card_window_sums/<day>.parquet` with the
    versions it was made from; tables before D-1 are deleted (a rerun of an old day
    sums again)."""
    versions = _versions(lake_dir, summarised_days(day))
    path = window_path(lake_dir, day)
    kept = _kept(path)
    if kept is not None and kept[1] == versions:
        return kept[0]
    parts = _rolled_parts(lake_dir, day, versions)
    if parts is None:
        parts = [day_summaries(lake_dir, d) for d in versions]
    table = _sum_per_card(parts)
    lake.write_table(table.replace_schema_metadata({VERSIONS: json.dumps(versions).encode()}),
                     path)
    for old in path.parent.glob("*.parquet"):
        if old.stem < (day - dt.timedelta(days=1)).isoformat():
            old.unlink(missing_ok=True)
    return table


def _versions(lake_dir: Path, days: list[str]) -> dict[str, str]:
    """`validated_version` of each of `days`' validated files present in the lake."""
    found = {d: validated_version(lake_dir, d) for d in days}
    return {d: version for d, version in found.items() if version is not None}


def validated_version(lake_dir: Path, day: str) -> str | None:
    """'size:mtime_ns' of validated day `day`'s file (a rewrite changes it), None if absent."""
    try:
        stat = lake.partition_path(lake_dir, VALIDATED, day).stat()
    except FileNotFoundError:
        return None
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def _kept(path: Path) -> tuple[pa.Table, dict[str, str]] | None:
    """A kept window table (metadata dropped) and the versions it was summed from; None
    when there is none, or it was deleted meanwhile (a run of a later day prunes it)."""
    try:
        table = pq.read_table(path)
    except FileNotFoundError:
        return None
    made_from = json.loads((table.schema.metadata or {}).get(VERSIONS, b"null"))
    return (table.replace_schema_metadata(None), made_from) if isinstance(made_from, dict) \
        else None


def _rolled_parts(lake_dir: Path, day: dt.date, versions: dict[str, str]) -> list | None:
    """D-1's table, D-2's summaries and D-30's negated, when D-1's table was summed from
    the versions the lake has now (D-30's included); else None."""
    kept = _kept(window_path(lake_dir, day - dt.timedelta(days=1)))
    if kept is None:
        return None
    prev, before = kept
    added, dropped = summarised_days(day)[-1], history_days(day)[0]
    if {d: v for d, v in before.items() if d != dropped} != {
            d: v for d, v in versions.items() if d != added}:
        return None
    if dropped in before and _versions(lake_dir, [dropped]).get(dropped) != before[dropped]:
        return None
    parts = [prev]
    if added in versions:
        parts.append(day_summaries(lake_dir, added))
    if dropped in before:
        gone = day_summaries(lake_dir, dropped)
        parts.append(pa.table({
            CARD_JOIN_KEY: gone[CARD_JOIN_KEY],
            SUMMARY_EVENTS: pc.negate(gone[SUMMARY_EVENTS].cast(pa.int64())),
            SUMMARY_MICRO: pc.negate(gone[SUMMARY_MICRO].cast(pa.int64())),
            # Never the latest: the oldest day's times leave the maximum.
            SUMMARY_LAST: pa.array(np.full(gone.num_rows, np.iinfo(np.int64).min))}))
    return parts


def _sum_per_card(parts: list[pa.Table]) -> pa.Table:
    """Summary tables summed per card (events and micro added, latest time kept); cards
    left with no event dropped."""
    schema = pa.schema([(CARD_JOIN_KEY, pa.string())] +
                       [(c, pa.int64()) for c in SUMMARY_COLUMNS[1:]])
    if not parts:
        return schema.empty_table()
    every = pa.concat_tables([t.select(list(SUMMARY_COLUMNS)).cast(schema) for t in parts])
    table = _summed(every.group_by(CARD_JOIN_KEY).aggregate(
        [(SUMMARY_EVENTS, "sum"), (SUMMARY_MICRO, "sum"), (SUMMARY_LAST, "max")]),
        f"{SUMMARY_EVENTS}_sum")
    return table.filter(pc.greater(table[SUMMARY_EVENTS], 0))


def _summed(table: pa.Table, events_column: str) -> pa.Table:
    """An aggregate's columns as SUMMARY_COLUMNS (Arrow names them `<column>_<function>`;
    `events_column`: the one holding the event count)."""
    names = {events_column: SUMMARY_EVENTS, f"{SUMMARY_MICRO}_sum": SUMMARY_MICRO,
             f"{SUMMARY_LAST}_max": SUMMARY_LAST, CARD_JOIN_KEY: CARD_JOIN_KEY}
    return table.rename_columns([names[c] for c in table.column_names]).select(
        list(SUMMARY_COLUMNS))


def card_ids(lake_dir: Path, transaction_ids: pd.Series, days: list[str]) -> pd.Series:
    """The validated `card_id` of each transaction (indexed like `transaction_ids`), from
    the validated partitions of `days` (ISO); NA where a transaction has no card or its
    day's file has no `card_id` column; an id stored twice takes its last copy. Reads two
    columns per day, never the whole day, and looks the ids up in Arrow (`index_in`): at a
    6M-row holdout, pandas' lookup held every stored id as a Python string (~1 GB)."""
    parts = []
    for day in days:
        path = lake_dir / VALIDATED / f"{day}.parquet"
        if path.exists() and CARD_JOIN_KEY in pq.read_schema(path).names:
            table = pq.read_table(path, columns=[TRANSACTION_ID, CARD_JOIN_KEY])
            parts.append(table.cast(pa.schema([(TRANSACTION_ID, pa.string()),
                                               (CARD_JOIN_KEY, pa.string())])))
    if not parts:
        return pd.Series(pd.NA, index=transaction_ids.index, dtype=TEXT)
    found = contract.rows_by_transaction_id(pa.concat_tables(parts), transaction_ids)
    cards = found.select([CARD_JOIN_KEY]).to_pandas(types_mapper=lake.ARROW_TEXT_TYPES.get)
    return pd.Series(cards[CARD_JOIN_KEY].array, index=transaction_ids.index,
                     name=CARD_JOIN_KEY)
