"""The offline card features of one day: the `card_velocity` rows of a validated day.

Every validated transaction of day D with a card gets `features.cards.card_window_features`
against the events of its card on days D-30 .. D (earlier days and its own day's earlier
events; never itself). A day costs the same however many days are stored: only the 30 days
the features look back over are opened, only the columns they need are read, and from the
earlier days only the rows of cards that occur on day D (a parquet filter, so other cards
never reach memory).

A day (or a file written before cards existed) without a `card_id` column has no card rows:
its transactions are "unknown card", and it adds no history.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from fraud_assets import contract, lake, names
from fraud_assets.features.cards import INPUT_COLUMNS, LOOKBACK, TIMESTAMP, card_window_features
from fraud_assets.features.names import CARD_FEATURES, CARD_JOIN_KEY

TRANSACTION_ID = contract.TRANSACTION_ID.name
# The earlier days a day's rows can look back into (a row at 00:00 of D reaches D-30 00:00).
HISTORY_DAYS = math.ceil(LOOKBACK / pd.Timedelta(days=1))
READ_COLUMNS: tuple[str, ...] = (TRANSACTION_ID, *INPUT_COLUMNS)
# The feature view's offline rows: the transaction they belong to, the entity, its time.
COLUMNS: tuple[str, ...] = (TRANSACTION_ID, CARD_JOIN_KEY, TIMESTAMP, *CARD_FEATURES)
VALIDATED = names.TRANSACTIONS_VALIDATED


@dataclass(frozen=True)
class CardDay:
    """One day's card feature rows and what they were computed from."""

    rows: pd.DataFrame  # COLUMNS, one row per transaction of the day with a card
    transactions: int  # validated transactions of the day
    cards: int  # distinct cards among them
    history_days: list[str]  # earlier validated days read (present ones, oldest first)
    history_rows: int  # events of the day's cards read from those days

    @property
    def share_with_card(self) -> float:
        return len(self.rows) / self.transactions if self.transactions else 0.0


def history_days(day: dt.date) -> list[str]:
    """ISO dates of the HISTORY_DAYS days strictly before `day`, oldest first."""
    return [(day - dt.timedelta(days=back)).isoformat() for back in range(HISTORY_DAYS, 0, -1)]


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
    today = _read(path)
    transactions = pq.read_metadata(path).num_rows
    rows = today[_has_card(today)]
    cards = pd.unique(rows[CARD_JOIN_KEY].to_numpy(dtype=object))
    stored = set(lake.stored_partitions(VALIDATED, lake_dir))
    present = [d for d in history_days(day) if d in stored]
    earlier = [_read(lake.partition_path(lake_dir, VALIDATED, d), cards) for d in present]
    history = pd.concat([*earlier, rows], ignore_index=True)
    features = card_window_features(history, rows)
    out = pd.concat([rows[[TRANSACTION_ID, CARD_JOIN_KEY, TIMESTAMP]], features], axis=1)
    out = out.sort_values([TIMESTAMP, TRANSACTION_ID], kind="stable", ignore_index=True)
    return CardDay(out, transactions, len(cards), present, len(history) - len(rows))


def _has_card(frame: pd.DataFrame) -> pd.Series:
    card = frame[CARD_JOIN_KEY].astype("string")
    return (card.str.strip().str.len() > 0).fillna(False).astype(bool)


def _read(path: Path, cards=None) -> pd.DataFrame:
    """READ_COLUMNS of a validated partition (of `cards` only, when given); a file without
    `card_id` gives no rows."""
    schema = pq.read_schema(path)
    missing = [c for c in READ_COLUMNS if c not in schema.names and c != CARD_JOIN_KEY]
    if missing:
        raise ValueError(f"{path}: column(s) {', '.join(missing)} missing for the card features")
    if CARD_JOIN_KEY not in schema.names:
        return _empty()
    filters = None if cards is None else pc.field(CARD_JOIN_KEY).isin(
        pa.array(cards, type=pa.string()))
    table = pq.read_table(path, columns=list(READ_COLUMNS), filters=filters)
    frame = table.to_pandas()
    frame[TIMESTAMP] = pd.to_datetime(frame[TIMESTAMP], utc=True)
    return frame


def _empty() -> pd.DataFrame:
    return pd.DataFrame({TRANSACTION_ID: pd.Series(dtype="string"),
                         CARD_JOIN_KEY: pd.Series(dtype="string"),
                         TIMESTAMP: pd.Series(dtype="datetime64[ns, UTC]"),
                         contract.AMOUNT.name: pd.Series(dtype="float64"),
                         contract.MERCHANT_CATEGORY.name: pd.Series(dtype="string")})


def card_ids(lake_dir: Path, transaction_ids: pd.Series, days: list[str]) -> pd.Series:
    """The validated `card_id` of each transaction (indexed like `transaction_ids`), from
    the validated partitions of `days` (ISO); NA where a transaction has no card or its
    day's file has no `card_id` column. Reads two columns per day, never the whole day."""
    parts = []
    for day in days:
        path = lake_dir / VALIDATED / f"{day}.parquet"
        if path.exists() and CARD_JOIN_KEY in pq.read_schema(path).names:
            parts.append(pq.read_table(path, columns=[TRANSACTION_ID, CARD_JOIN_KEY]))
    if not parts:
        return pd.Series(pd.NA, index=transaction_ids.index, dtype="string")
    known = pa.concat_tables(parts).to_pandas().drop_duplicates(TRANSACTION_ID, keep="last")
    lookup = pd.Series(known[CARD_JOIN_KEY].to_numpy(), index=known[TRANSACTION_ID].astype(str))
    return pd.Series(lookup.reindex(transaction_ids.astype(str)).to_numpy(),
                     index=transaction_ids.index, dtype="string")

