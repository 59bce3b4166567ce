"""Parity of the card features: a landed day replayed through the online path must give
exactly the offline values (issue 15).

`replay_day` seeds a scratch online store (its own SQLite Feast store in a temporary folder,
never the store serving uses, whatever the profile) with the day's cards' events of the 30
days before, then feeds the day's transactions in time order, in chunks, through
`CardState.score_and_update`: the serving code path, Feast reads and writes included. Each
transaction's online values are compared with the offline `card_velocity` row of the same
transaction (written by the card_features asset), NaN equal to NaN and numbers exactly.

The replayed cards are the day's cards of lowest hash (`card_hashes`), so the same cards
recur from day to day, and each earlier day's events of its own lowest-hash cards are kept
once per validated file version (`lowest_hash_events`, `lake/card_parity_events/<day>`):
a replay reads 30 small files and one new day, not the card ids of 30 whole days (at 1M
rows a day that read was 3.2-4.1 s of the check's 5.3-7.3 s).
"""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from feast import FeatureStore, RepoConfig

from fraud_assets import lake, names
from fraud_assets.features import card_days, cards, offline
from fraud_assets.features.card_state import CardState, Events
from fraud_assets.features.names import CARD_FEATURE_VIEW, CARD_FEATURES, CARD_JOIN_KEY
from fraud_assets.features.repo import build_repo

# Rows per online call: each costs one Feast read and one write of the chunk's cards.
CHUNK_ROWS = 50_000
# Cards replayed per day (every card's transactions of the day, when there are fewer).
# Why a sample: seeding the scratch store writes each card's 30 days of events through
# Feast, which grew with the history: 39 s for day 29 of a 10,000-row demo (every card),
# most of `make pipeline`'s 868 s; 300 cards: 2.3 s, 782 transactions compared, 0 differing.
MAX_CARDS = 300
TRANSACTION_ID = card_days.TRANSACTION_ID
EVENTS_ASSET = "card_parity_events"  # per validated day, its lowest-hash cards' events
# Cards whose events a day keeps, per card replayed: room for days with more cards than
# the replayed day (the replay takes only cards every earlier day kept).
KEPT_PER_REPLAYED = 4
ALL_HASHES = np.iinfo("uint64").max


@dataclass(frozen=True)
class Parity:
    """What the replay compared: transactions, those with any differing feature, per
    feature the number of differing values, and up to five differing transaction ids."""

    compared: int
    differing: int
    per_feature: dict[str, int]
    examples: list[str]

    @property
    def passed(self) -> bool:
        return self.differing == 0


def scratch_store(folder: Path) -> FeatureStore:
    """A Feast store of only the card state view, SQLite in `folder` (local, throwaway)."""
    config = RepoConfig(project="fraud_parity", provider="local",
                        registry=str(folder / "registry.db"),
                        online_store={"type": "sqlite", "path": str(folder / "online.db")},
                        offline_store={"type": "file"}, entity_key_serialization_version=3)
    store = FeatureStore(config=config)
    repo = build_repo(folder)
    store.apply([repo.card_entity, repo.card_state.batch_source, repo.card_state])
    return store


def replay_day(lake_dir: Path, feast_dir: Path, day: dt.date,
               chunk_rows: int = CHUNK_ROWS, max_cards: int = MAX_CARDS) -> Parity:
    """Replay validated day `day` (lake under `lake_dir`) through the online path and
    compare with the offline card feature rows under `feast_dir`: all transactions of up
    to `max_cards` cards of the day, those of lowest hash among the cards every earlier
    day kept the events of (`lowest_hash_events`), so the same cards on every run.

    Raises FileNotFoundError when the day's offline card rows are missing (materialize
    card_features for the day first)."""
    # The day's own kept events (`keep_day_events`: card_features keeps them from the rows
    # it read; else made from the file here). The replayed cards are among them: the
    # day's cards of lowest hash under `limit` are among its cards of lowest hash.
    today, _ = lowest_hash_events(lake_dir, day.isoformat(), KEPT_PER_REPLAYED * max_cards)
    if today.empty:  # a day without card ids: nothing to compare (and no offline rows)
        return Parity(0, 0, dict.fromkeys(CARD_FEATURES, 0), [])
    path = offline.day_file(feast_dir, day, CARD_FEATURE_VIEW)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no offline card feature rows for {day}; "
                                "materialize card_features for the day first")
    earlier = _earlier_events(lake_dir, day, KEPT_PER_REPLAYED * max_cards)
    limit = min((cut for _, cut in earlier), default=ALL_HASHES)
    day_cards = _sample_cards(cards.card_text("today", today[CARD_JOIN_KEY]), max_cards, limit)
    today = today[_of_cards(today, day_cards)]
    # Only the sampled transactions' rows (a parquet filter: 828 of 1M rows read).
    expected = pd.read_parquet(path, filters=[(TRANSACTION_ID, "in", list(
        today[TRANSACTION_ID].astype(str)))])
    history = pd.concat([events[_of_cards(events, day_cards)] for events, _ in earlier]
                        or [card_days.empty_card_rows()], ignore_index=True)
    with tempfile.TemporaryDirectory(prefix="card-parity-") as folder:
        state = CardState(scratch_store(Path(folder)))
        state.write(_seed(history))
        ordered = today.sort_values(cards.TIMESTAMP, kind="stable", ignore_index=True)
        online = pd.concat([state.score_and_update(ordered.iloc[i:i + chunk_rows]).frame
                            for i in range(0, len(ordered), chunk_rows)] or
                           [pd.DataFrame(columns=list(CARD_FEATURES))], ignore_index=True)
    online[TRANSACTION_ID] = ordered[TRANSACTION_ID].to_numpy()
    return compare(online, expected)


def compare(online: pd.DataFrame, offline_rows: pd.DataFrame) -> Parity:
    """Exact comparison per transaction id (NaN equals NaN); a transaction present on one
    side only counts as differing in every feature."""
    joined = online.merge(offline_rows, on=TRANSACTION_ID, how="outer",
                          suffixes=("_online", "_offline"), indicator=True)
    differs = np.zeros(len(joined), dtype=bool)
    per_feature = {}
    for name in CARD_FEATURES:
        a = joined[f"{name}_online"].to_numpy(dtype="float64")
        b = joined[f"{name}_offline"].to_numpy(dtype="float64")
        bad = ~((a == b) | (np.isnan(a) & np.isnan(b))) | (joined["_merge"] != "both").to_numpy()
        per_feature[name] = int(bad.sum())
        differs |= bad
    examples = joined.loc[differs, TRANSACTION_ID].astype(str).head(5).tolist()
    return Parity(len(joined), int(differs.sum()), per_feature, examples)


def card_hashes(card_ids: pa.Array) -> np.ndarray:
    """(n,) uint64 per card id: pandas' fixed-key SipHash (`pd.util.hash_array`), the same
    on every run and machine."""
    # Not categorized first: for distinct ids that only costs (0.22 s against 0.97 s for a
    # million), with the same hashes.
    return pd.util.hash_array(card_ids.to_numpy(zero_copy_only=False), categorize=False)


def _sample_cards(day_cards: pa.Array, max_cards: int, limit: int = ALL_HASHES) -> pa.Array:
    """Up to `max_cards` of the distinct non-null ids in `day_cards` whose hash is at most
    `limit`: those of lowest hash (the same cards on every run, most of them again the next
    day)."""
    distinct = pc.unique(day_cards.drop_null())
    hashes = card_hashes(distinct)
    eligible = np.flatnonzero(hashes <= np.uint64(limit))
    lowest = eligible[np.argsort(hashes[eligible], kind="stable")[:max_cards]]
    return distinct.take(pa.array(np.sort(lowest)))


def _of_cards(frame: pd.DataFrame, day_cards: pa.Array) -> np.ndarray:
    """Per row of `frame` (bool): its card is one of `day_cards`."""
    return pc.is_in(cards.card_text("frame", frame[CARD_JOIN_KEY]),
                    value_set=day_cards).to_numpy(zero_copy_only=False)


def keep_day_events(lake_dir: Path, day: str, events: pd.DataFrame, version: str | None,
                    max_cards: int = MAX_CARDS) -> None:
    """Keep validated day `day`'s events for the replays (`lowest_hash_events`) from its
    card rows at hand (`events`, read from the file at `version`): the card_features
    asset calls it with the rows it read, so the replay reads a file of ~4 x `max_cards`
    cards instead of the whole day again (0.5-0.9 s of a 1M-row day's check)."""
    lowest_hash_events(lake_dir, day, KEPT_PER_REPLAYED * max_cards, (events, version))


def _earlier_events(lake_dir: Path, day: dt.date,
                    kept_cards: int) -> list[tuple[pd.DataFrame, int]]:
    stored = set(lake.stored_partitions(names.TRANSACTIONS_VALIDATED, lake_dir))
    return [lowest_hash_events(lake_dir, d, kept_cards)
            for d in card_days.history_days(day) if d in stored]


def lowest_hash_events(lake_dir: Path, day: str, kept_cards: int,
                       rows: tuple[pd.DataFrame, str | None] | None = None,
                       ) -> tuple[pd.DataFrame, int]:
    """Validated day `day`'s card rows (`card_days.read_card_rows`) of its `kept_cards`
    cards of lowest hash, and the cut: every card of the day hashing at or below it is
    among them (ALL_HASHES when the day has no more cards). Kept as
    `lake/card_parity_events/<day>.parquet` for the validated file's version (size, mtime)
    and `kept_cards`; computed again when either differs, from `rows` when given (the
    day's card rows with a card, and the file version they were read from), else from
    the file."""
    source = lake.partition_path(lake_dir, names.TRANSACTIONS_VALIDATED, day)
    version = rows[1] if rows is not None else card_days.validated_version(lake_dir, day)
    signature = {b"version": str(version).encode(), b"kept_cards": str(kept_cards).encode()}
    path = lake.partition_path(lake_dir, EVENTS_ASSET, day)
    kept = _kept_events(path, signature)
    if kept is not None:
        return kept
    if rows is None:
        events = card_days.read_card_rows(source)
        events = events[card_days.has_card(events)]
    else:
        events = rows[0]
    distinct = pc.unique(cards.card_text(str(source), events[CARD_JOIN_KEY]))
    hashes = card_hashes(distinct)
    cut = ALL_HASHES
    if len(distinct) > kept_cards:
        cut = int(np.partition(hashes, kept_cards - 1)[kept_cards - 1])
        events = events[_of_cards(events, distinct.filter(pa.array(hashes <= np.uint64(cut))))]
    events = events.reset_index(drop=True)
    table = pa.Table.from_pandas(events, preserve_index=False)
    lake.write_table(table.replace_schema_metadata(signature | {b"cut": str(cut).encode()}),
                     path)
    return events, cut


def _kept_events(path: Path, signature: dict[bytes, bytes]) -> tuple[pd.DataFrame, int] | None:
    """A kept day's events and cut, when made with `signature`; else None."""
    try:
        table = pq.read_table(path)
    except FileNotFoundError:
        return None
    meta = table.schema.metadata or {}
    if any(meta.get(k) != v for k, v in signature.items()) or b"cut" not in meta:
        return None
    frame = table.replace_schema_metadata(None).to_pandas(
        types_mapper=lake.ARROW_TEXT_TYPES.get)
    return frame, int(meta[b"cut"])


def _seed(history: pd.DataFrame) -> dict[str, Events]:
    """Each card's events of the 30 days before, as the service would have stored them."""
    ordered = history.sort_values(cards.TIMESTAMP, kind="stable", ignore_index=True)
    times = ordered[cards.TIMESTAMP].dt.as_unit("ns").astype("int64").to_numpy()
    # Each column made an array once, not once per card (0.2 s of a 1M-row day's replay).
    amounts = ordered[cards.AMOUNT].to_numpy()
    categories = ordered[cards.CATEGORY].to_numpy()
    out = {}
    for card, rows in ordered.groupby(CARD_JOIN_KEY, sort=False).indices.items():
        out[str(card)] = Events.empty().inserted(times[rows], amounts[rows], categories[rows])
    return out
