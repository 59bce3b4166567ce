"""The training set: validated transactions joined to merchant features, point in time.

Each transaction gets the feature row that was valid at its own `event_timestamp`: Feast's
point-in-time semantics (the latest row at or before it, within the feature view's ttl),
run as SQL over the offline store's parquet files (`features.offline.point_in_time_select`)
by DuckDB or Spark (`features.engine`), and tested equal to Feast's own
`get_historical_features`. Two entry points: `build_window_training_set` for the lake's
window (out of core, sampled: the `training_set` asset) and `build_training_set` for a frame
already in memory (monitoring's scoring). The split is by time: the rows
of the last landed (partition) days that have merchant features are the holdout, never a
random shuffle across time. By default the holdout is a fifth of those days (at least one),
so short histories train too: 3 landed days (the first has no earlier day, so no features)
give one training and one holdout day; fewer are refused before any training.

Labels "as of" a time (issue 16; the train / delay / test protocol of the
Fraud-Detection-Handbook, Le Borgne et al., ch. 5.2): the window's cut-off is the start of
the holdout, the moment the model would have been put to work. Training rows carry the
label known at the cut-off (`fraud_assets.labels`: the label feed's latest verdict by
then, else the label the transaction landed with); rows without one are left out. The
holdout is judged on every label known now. `gap_days` calendar days before the holdout
(the delay period) are neither trained nor tested: their labels were the least mature at
the cut-off. The gap defaults to 0: with labels known at landing (the demo's data) there
is nothing immature to skip and the numbers stay those of before; with a delayed feed set
it (the handbook uses 7 days).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from fraud_assets import contract, labels, lake, names
from fraud_assets.features import offline
from fraud_assets.features.engine import DAY_COLUMN, DuckDBEngine, Engine
from fraud_assets.features.names import (
    CARD_FEATURE_VIEW,
    CARD_FEATURES,
    ENTITY,
    FEATURES,
    HOLDOUT,
    SPLIT,
    TRAIN,
    WEIGHT,
)
from fraud_assets.features.repo import FEATURE_TTL
from fraud_assets.features.schema import FEATURE_DTYPES, cast_features
from fraud_assets.features.store import FeatureStoreError, MerchantFeatureStore
from fraud_assets.lake import partition_path, read_partitions

TIMESTAMP = contract.EVENT_TIMESTAMP.name
KEYS = [ENTITY, TIMESTAMP]
_DAY = "_partition_day"  # working column: each row's landed day
COLUMNS: tuple[str, ...] = (*contract.COLUMNS, *FEATURES, *CARD_FEATURES, SPLIT, WEIGHT)
# The holdout's default share of the days with features, and the fewest days that can be
# split into training and holdout (one each).
HOLDOUT_FRACTION = 0.2
MIN_SPLIT_DAYS = 2

_log = logging.getLogger(__name__)


class TrainingSetError(ValueError):
    """The requested window cannot give a training set; the message says why."""


@dataclass(frozen=True)
class Sampling:
    """The training rows' sampling: every fraud row, a uniform sample of the legitimate ones
    (each kept with probability `rate`, weight 1/rate), so a weighted fit sees the full
    window's class balance and its probabilities stay calibrated. The holdout is whole."""

    legit_sample_rows: int  # the configured size (0: keep every row)
    legit_train_rows: int  # legitimate training rows with features in the window
    fraud_train_rows: int
    rate: float  # the share of legitimate training rows kept
    weight: float  # 1 / rate

    @property
    def scheme(self) -> str:
        return ("every fraud row + uniform sample of legitimate rows (md5 of transaction_id), "
                "weight 1/rate" if self.rate < 1 else "none: every row")


@dataclass(frozen=True)
class LabelWindow:
    """The labels of a window: the cut-off and how mature they were."""

    cutoff: pd.Timestamp  # training labels are those known at this instant (UTC)
    gap_days: int  # calendar days between the last training day and the holdout
    train_end: str  # last training day (ISO)
    train_rows: int  # training rows with features (labelled or not)
    train_labelled: int  # ... with a label known at the cut-off (the ones trained on)
    holdout_rows: int
    holdout_labelled: int  # holdout rows with a label known now (the ones judged)

    @property
    def train_maturity(self) -> float:
        """Share of the training window's transactions with a label known at the cut-off."""
        return self.train_labelled / self.train_rows if self.train_rows else 1.0

    @property
    def holdout_maturity(self) -> float:
        return self.holdout_labelled / self.holdout_rows if self.holdout_rows else 1.0


@dataclass(frozen=True)
class TrainingSet:
    frame: pd.DataFrame  # COLUMNS, sorted by event time
    rows_without_history: int  # transactions with no feature row within the ttl, left out
    sampling: Sampling | None = None  # None: built in memory, every row kept
    labels: LabelWindow | None = None  # None: built in memory, labels as landed


def select_days(days: list[str], last: int = 0) -> list[str]:
    """The `last` most recent of the (ISO) `days`; 0 means all of them."""
    if last < 0:
        raise TrainingSetError(f"training_set: days must be >= 0 (0 = all), got {last}")
    ordered = sorted(days)
    return ordered[-last:] if last else ordered


def read_window(days: list[str], lake_root: Path) -> tuple[pd.DataFrame, pd.Series]:
    """The validated partitions of `days`, and the partition day each row came from."""
    frames = [(day, read_partitions(names.TRANSACTIONS_VALIDATED, [day], lake_root))
              for day in days]
    frames = [(day, frame) for day, frame in frames if len(frame)]
    if not frames:
        return pd.DataFrame(), pd.Series(dtype=object)
    validated = pd.concat([frame for _, frame in frames], ignore_index=True)
    partition_days = pd.Series(np.repeat([day for day, _ in frames],
                                         [len(frame) for _, frame in frames]), dtype=object)
    return validated, partition_days


def default_holdout_days(n_days: int) -> int:
    """A fifth of `n_days` (rounded), at least one, leaving at least one training day.

    Raises TrainingSetError when fewer than MIN_SPLIT_DAYS days can be split."""
    if n_days < MIN_SPLIT_DAYS:
        raise TrainingSetError(
            f"training_set: {n_days} landed day(s) with merchant features; training and a "
            f"holdout need at least {MIN_SPLIT_DAYS} (3 landed days: the first day has no "
            "earlier day to compute features from). Land more days first")
    return min(max(1, round(HOLDOUT_FRACTION * n_days)), n_days - 1)


def split_by_day(days: pd.Series, holdout_days: int | None) -> pd.Series:
    """'holdout' for rows of the last `holdout_days` partition days present, 'train' before;
    None: `default_holdout_days` of the days present.

    `days` is each row's partition day (ISO date): the landed day it came from, so one
    stray timestamp can never make a day of its own. Timestamps are taken as their UTC
    day (validated rows of day D have timestamps inside D, so both agree)."""
    if pd.api.types.is_datetime64_any_dtype(days):
        days = pd.Series(contract.utc_days(days).astype(str), index=days.index)
    days = days.astype(str)
    present = sorted(days.unique())
    if holdout_days is None:
        holdout_days = default_holdout_days(len(present))
    if not 0 <= holdout_days < len(present):
        raise TrainingSetError(
            f"training_set: holdout_days={holdout_days} must be >= 0 and leave at least one "
            f"training day, but the window has {len(present)} day(s)")
    if holdout_days == 0:
        return pd.Series(TRAIN, index=days.index)
    first_holdout = present[-holdout_days]
    return pd.Series(TRAIN, index=days.index).where(days < first_holdout, HOLDOUT)


def join_features(validated: pd.DataFrame, store: MerchantFeatureStore) -> pd.DataFrame:
    """`validated` with the FEATURES valid at each row's own timestamp (NaN if none).

    The same point-in-time SQL as the lake's window (`build_window_training_set`), run by
    DuckDB on the in-memory frame and the offline feature files: Feast's file store took
    ~10 s per million rows (sorting and merging the entity frame in pandas), and this
    answer is tested equal to Feast's (`tests/features/test_window.py`).
    """
    ttl_days = int(FEATURE_TTL / dt.timedelta(days=1))
    by_age = offline.feature_files_by_age(store.feast_dir, ttl_days)
    if not by_age[0]:
        raise FeatureStoreError(
            f"{offline.source_dir(store.feast_dir)}: no merchant feature rows yet; "
            "materialize merchant_features for the days before the training window")
    frame = validated[KEYS].copy()
    frame[ENTITY] = frame[ENTITY].astype(str)
    frame[DAY_COLUMN] = contract.utc_days(frame[TIMESTAMP]).astype(str)
    frame["_row"] = np.arange(len(frame))
    ages = [age for age, found in by_age.items() if found]
    with DuckDBEngine() as engine:
        engine.register_frame("rows_in_memory", frame)
        for age in ages:
            engine.register(f"{offline.FEATURE_VIEW_PREFIX}{age}", by_age[age])
        found = engine.frame(offline.point_in_time_select(
            "rows_in_memory", ages, ttl_days, FEATURES, ENTITY, DAY_COLUMN, ("_row",)))
    found = found.sort_values("_row").reset_index(drop=True)
    out = validated.reset_index(drop=True).copy()
    for name in FEATURES:
        out[name] = found[name].to_numpy(dtype="float64", na_value=np.nan)
    return join_card_features(out, store.feast_dir, sorted(set(frame[DAY_COLUMN])))


def join_card_features(frame: pd.DataFrame, feast_dir: Path, days: list[str]) -> pd.DataFrame:
    """`frame` with CARD_FEATURES per transaction (by `transaction_id`) from the
    card_features files of `days` (ISO); NaN (unknown) where a transaction has no row, the
    last file's row where one is stored twice (`contract.rows_by_transaction_id`)."""
    files = [offline.day_file(feast_dir, dt.date.fromisoformat(d), CARD_FEATURE_VIEW)
             for d in days]
    tid = contract.TRANSACTION_ID.name
    parts = [pq.read_table(f, columns=[tid, *CARD_FEATURES]) for f in files if f.exists()]
    out = frame.drop(columns=[c for c in CARD_FEATURES if c in frame.columns])
    if not parts:
        return out.assign(**{name: np.nan for name in CARD_FEATURES})
    cards = pa.concat_tables([p.cast(pa.schema([(tid, pa.string()), *(
        (name, pa.float64()) for name in CARD_FEATURES)])) for p in parts])
    found = contract.rows_by_transaction_id(cards, frame[tid])
    for name in CARD_FEATURES:
        out[name] = found[name].to_numpy()  # null -> NaN
    return out


def build_training_set(validated: pd.DataFrame, store: MerchantFeatureStore,
                       holdout_days: int | None = None,
                       partition_days: pd.Series | None = None) -> TrainingSet:
    """Contract columns + FEATURES + split, sorted by event time.

    `partition_days`: the partition day of each row of `validated` (`read_window`); the
    holdout is the last `holdout_days` of the days whose rows have features (None: a fifth
    of them, at least one; 0: no holdout). Without it, each row's UTC day is used."""
    if validated.empty:
        raise TrainingSetError("training_set: the window has no validated transactions")
    absent = [c for c in contract.COLUMNS if c not in validated.columns]
    if absent:
        raise TrainingSetError(f"training_set: validated transactions lack column(s) {absent}")
    frame = validated[list(contract.COLUMNS)].reset_index(drop=True)
    frame[_DAY] = (frame[TIMESTAMP] if partition_days is None
                   else partition_days.reset_index(drop=True).to_numpy())
    joined = join_features(frame, store)
    has_history = joined[list(FEATURES)].notna().all(axis=1)
    missing = int((~has_history).sum())
    if missing:
        _log.warning("training_set: %d transaction(s) have no merchant feature row within the "
                     "ttl (no earlier validated day, or merchant_features not materialized for "
                     "their day or the day before) and are left out", missing)
    kept = cast_features(joined[has_history])
    # Split among the days that kept rows: a day without features cannot train or test.
    # (Scoring asks no holdout and may get no rows at all: that is an answer, not an error.)
    no_split_needed = holdout_days == 0 and kept.empty
    kept[SPLIT] = [] if no_split_needed else split_by_day(kept[_DAY], holdout_days).to_numpy()
    kept[WEIGHT] = 1.0
    ordered = kept.take(contract.event_order(kept))
    return TrainingSet(ordered[list(COLUMNS)].reset_index(drop=True), missing)


# -- The window out of core (issue 14) --------------------------------------------------
# The `training_set` asset's path: the lake's validated days and the offline feature files
# are joined by the engine (DuckDB or Spark, `features.engine`), never held whole in pandas.
# Only the training sample and the holdout come back as a frame.
DEFAULT_LEGIT_SAMPLE_ROWS = 1_000_000
_HASH_DIGITS = 8  # the sample keeps rows whose md5(transaction_id) starts below a cut
VALIDATED_VIEW = "window_validated"
LABELS_VIEW = "window_labels"
_LANDED_LABEL = "_landed_label"


def _joined_sql(ttl_days: int, ages: list[int], transactions: str = VALIDATED_VIEW) -> str:
    return offline.point_in_time_select(
        transactions, ages, ttl_days, FEATURES, ENTITY, DAY_COLUMN, tuple(contract.COLUMNS))


def _latest_label_sql(cutoff: pd.Timestamp | None) -> str:
    """Per transaction id, the feed's latest verdict (known at `cutoff`; None: ever)."""
    when = "" if cutoff is None else \
        f"WHERE {contract.LABEL_TIMESTAMP.name} <= TIMESTAMP '{cutoff:%Y-%m-%d %H:%M:%S}'"
    return (f"SELECT {contract.TRANSACTION_ID.name}, {contract.LABEL} FROM (SELECT "
            f"{contract.TRANSACTION_ID.name}, {contract.LABEL}, ROW_NUMBER() OVER (PARTITION "
            f"BY {contract.TRANSACTION_ID.name} ORDER BY {contract.LABEL_TIMESTAMP.name} DESC) "
            f"AS _rank FROM {LABELS_VIEW} {when}) r WHERE _rank = 1")


def _labelled_sql(first_holdout: str, cutoff: pd.Timestamp, with_feed: bool) -> str:
    """The window's transactions with `is_fraud` as known: at the cut-off for the days
    before the holdout, now for the holdout (a label landed with its transaction is known
    from the end of its day, before any cut-off of a later holdout). NULL: not known."""
    tid, label = contract.TRANSACTION_ID.name, contract.LABEL
    others = ", ".join(f"t.{c}" for c in contract.COLUMNS if c != label)
    if not with_feed:
        return (f"(SELECT {others}, t.{label}, t.{DAY_COLUMN} FROM {VALIDATED_VIEW} t)")
    return (f"(SELECT {others}, CASE WHEN t.{DAY_COLUMN} >= '{first_holdout}' "
            f"THEN COALESCE(n.{label}, t.{label}) ELSE COALESCE(c.{label}, t.{label}) END "
            f"AS {label}, t.{DAY_COLUMN} FROM {VALIDATED_VIEW} t "
            f"LEFT JOIN ({_latest_label_sql(cutoff)}) c ON c.{tid} = t.{tid} "
            f"LEFT JOIN ({_latest_label_sql(None)}) n ON n.{tid} = t.{tid})")


def _sample_cut(rate: float) -> tuple[str, float]:
    """(hex prefix cut, the exact rate it keeps) for keeping `rate` of the rows."""
    space = 16 ** _HASH_DIGITS
    cut = max(1, min(space, int(np.ceil(rate * space))))
    return f"{cut:0{_HASH_DIGITS}x}" if cut < space else "", cut / space


def build_window_training_set(days: list[str], lake_root: Path, feast_dir: Path,
                              open_engine: Callable[[], Engine], work_dir: Path,
                              holdout_days: int | None = None,
                              legit_sample_rows: int = DEFAULT_LEGIT_SAMPLE_ROWS,
                              gap_days: int = 0,
                              ) -> TrainingSet:
    """The training set of the validated `days`: COLUMNS with the holdout whole and the
    training rows sampled (`Sampling`; `legit_sample_rows` 0 keeps every row), labels as
    of the cut-off (the holdout's start) for training and as known now for the holdout,
    `gap_days` calendar days left out between them (module docstring).

    Three passes of an engine from `open_engine` over the window: per-day counts (which
    days have features), the labelled counts (how many training rows have a label at the
    cut-off, how many legitimate ones), then the join writing the kept rows as parquet
    under `work_dir`. The engine is closed before the rows are read back sorted by event
    time, so its buffers (up to its memory limit) are not held beside them. Raises
    TrainingSetError with the reason (no validated day, no feature rows, too few days to
    split, a gap leaving no training day); `engine.EngineError` when the engine fails."""
    if gap_days < 0:
        raise TrainingSetError(f"training_set: gap_days must be >= 0, got {gap_days}")
    if legit_sample_rows < 0:
        raise TrainingSetError(f"training_set: legit_sample_rows must be >= 0, got "
                               f"{legit_sample_rows}")
    files = {day: partition_path(lake_root, names.TRANSACTIONS_VALIDATED, day) for day in days}
    files = {day: path for day, path in files.items() if path.exists()}
    if not files:
        raise TrainingSetError("training_set: the window has no validated transactions")
    ttl_days = int(FEATURE_TTL / dt.timedelta(days=1))
    by_age = offline.feature_files_by_age(feast_dir, ttl_days)
    if not by_age[0]:
        raise TrainingSetError(
            f"training_set: {offline.source_dir(feast_dir)}: no merchant feature rows yet; "
            "materialize merchant_features for the days before the training window")
    ages = [age for age, found in by_age.items() if found]
    with open_engine() as engine:
        engine.register(VALIDATED_VIEW, files)
        for age in ages:
            engine.register(f"{offline.FEATURE_VIEW_PREFIX}{age}", by_age[age])
        missing, present = _days_with_features(engine, _joined_sql(ttl_days, ages))
        first_holdout, train_end = _holdout_start(present, holdout_days, gap_days)
        cutoff = pd.Timestamp(first_holdout, tz="UTC")
        feed = labels.accepted_files(lake_root)
        if feed:
            engine.register(LABELS_VIEW, feed)
        joined = _joined_sql(ttl_days, ages, _labelled_sql(first_holdout, cutoff, bool(feed)))
        kept_rows = (f"_has_features AND ({DAY_COLUMN} <= '{train_end}' OR "
                     f"{DAY_COLUMN} >= '{first_holdout}')")
        window, fraud_train = _label_window(engine, joined, kept_rows, first_holdout,
                                            cutoff, gap_days, train_end)
        legit_train = window.train_labelled - fraud_train
        wanted = legit_sample_rows / legit_train if legit_sample_rows and legit_train else 1.0
        cut, rate = _sample_cut(min(1.0, wanted))
        sampling = Sampling(legit_sample_rows, legit_train, fraud_train, rate, 1.0 / rate)
        # Sorted by the engine, out of core within its memory limit: `_read_sorted` then
        # finds the rows in order and does not hold a sorted copy beside the read one.
        kept = _kept_sql(joined, kept_rows, first_holdout, cut, sampling)
        ordered = (f"SELECT * FROM ({_with_card_sql(kept, engine, feast_dir, list(files))}) s "
                   f"ORDER BY {TIMESTAMP}, {contract.TRANSACTION_ID.name}")
        target = engine.write(ordered, work_dir / "training_set.parquet")
    _log.info("training_set: %s; %d of %d legitimate training rows kept (rate %.4f)",
              sampling.scheme, int(round(legit_train * rate)), legit_train, rate)
    return TrainingSet(_read_sorted(target), missing, sampling, window)


def _days_with_features(engine: Engine, joined: str) -> tuple[int, list[str]]:
    """(rows without a feature row within the ttl, the ISO days with any feature row)."""
    counts = engine.frame(
        f"SELECT {DAY_COLUMN}, COUNT(*) AS rows_, "
        f"SUM(CASE WHEN _has_features THEN 1 ELSE 0 END) AS kept "
        f"FROM ({joined}) j GROUP BY {DAY_COLUMN}").sort_values(DAY_COLUMN)
    counts = counts.astype({"rows_": "int64", "kept": "int64"})
    missing = int((counts["rows_"] - counts["kept"]).sum())
    if missing:
        _log.warning("training_set: %d transaction(s) have no merchant feature row within "
                     "the ttl and are left out", missing)
    return missing, list(counts.loc[counts["kept"] > 0, DAY_COLUMN])


def _holdout_start(present: list[str], holdout_days: int | None,
                   gap_days: int) -> tuple[str, str]:
    """(first holdout day, last training day), ISO, of the days with features `present`;
    TrainingSetError when the split leaves no training day."""
    if holdout_days is None:
        holdout_days = default_holdout_days(len(present))
    if not 0 < holdout_days < len(present):
        raise TrainingSetError(
            f"training_set: holdout_days={holdout_days} must be >= 1 and leave at least one "
            f"training day, but the window has {len(present)} day(s) with features")
    first_holdout = present[-holdout_days]
    train_end = (dt.date.fromisoformat(first_holdout) - dt.timedelta(days=gap_days + 1)
                 ).isoformat()
    if not any(day <= train_end for day in present[:-holdout_days]):
        raise TrainingSetError(
            f"training_set: gap_days={gap_days} before the holdout ({first_holdout}) leaves "
            f"no training day: the days with features start {present[0]}; land more days "
            "or shorten the gap")
    return first_holdout, train_end


def _label_window(engine: Engine, joined: str, kept_rows: str, first_holdout: str,
                  cutoff: pd.Timestamp, gap_days: int,
                  train_end: str) -> tuple[LabelWindow, int]:
    """(the window's label counts, fraud training rows); TrainingSetError when no training
    row has a label known at the cut-off."""
    known = engine.frame(
        f"SELECT {DAY_COLUMN} >= '{first_holdout}' AS holdout, COUNT(*) AS rows_, "
        f"SUM(CASE WHEN {contract.LABEL} IS NOT NULL THEN 1 ELSE 0 END) AS labelled, "
        f"SUM(CASE WHEN {contract.LABEL} = 1 THEN 1 ELSE 0 END) AS fraud "
        f"FROM ({joined}) j WHERE {kept_rows} GROUP BY {DAY_COLUMN} >= '{first_holdout}'")
    totals = {bool(h): (int(r), int(n or 0), int(f or 0)) for h, r, n, f in
              known[["holdout", "rows_", "labelled", "fraud"]].itertuples(index=False)}
    train_rows, train_labelled, fraud_train = totals.get(False, (0, 0, 0))
    holdout_rows, holdout_labelled, _ = totals.get(True, (0, 0, 0))
    window = LabelWindow(cutoff, gap_days, train_end, train_rows, train_labelled,
                         holdout_rows, holdout_labelled)
    _log.info("training_set: labels as of %s (train maturity %.3f), holdout from %s "
              "(maturity %.3f), gap %d day(s)", cutoff, window.train_maturity, first_holdout,
              window.holdout_maturity, gap_days)
    if not train_labelled:
        raise TrainingSetError(
            f"training_set: no training transaction has a label known at the cut-off "
            f"{cutoff} (label maturity 0 of {train_rows:,} rows); wait for the label feed "
            "or widen the gap")
    return window, fraud_train


def _kept_sql(joined: str, kept_rows: str, first_holdout: str, cut: str,
              sampling: Sampling) -> str:
    """The kept rows of `joined` (labelled; legitimate training rows whose md5 prefix is
    under `cut`, or all when `cut` is empty) with SPLIT and WEIGHT."""
    split = f"CASE WHEN {DAY_COLUMN} >= '{first_holdout}' THEN '{HOLDOUT}' ELSE '{TRAIN}' END"
    legit_train_row = f"({contract.LABEL} = 0 AND {DAY_COLUMN} < '{first_holdout}')"
    keep = (f"NOT {legit_train_row} OR substr(md5({contract.TRANSACTION_ID.name}), 1, "
            f"{_HASH_DIGITS}) < '{cut}'") if cut else "TRUE"
    weight = f"CASE WHEN {legit_train_row} THEN {sampling.weight!r} ELSE 1.0 END"
    columns = ", ".join([*contract.COLUMNS, *FEATURES])
    return (f"SELECT {columns}, {split} AS {SPLIT}, CAST({weight} AS DOUBLE) AS {WEIGHT} "
            f"FROM ({joined}) j WHERE {kept_rows} AND {contract.LABEL} IS NOT NULL AND ({keep})")


CARD_VIEW = "window_card_features"


def _with_card_sql(kept: str, engine: Engine, feast_dir: Path, days: list[str]) -> str:
    """`kept` (COLUMNS but the card features) with CARD_FEATURES joined per transaction
    from the card_features files of `days` (NULL where a transaction has none: no card),
    in COLUMNS order. The engine joins: the window never comes into pandas for it."""
    tid = contract.TRANSACTION_ID.name
    files = {d: offline.day_file(feast_dir, dt.date.fromisoformat(d), CARD_FEATURE_VIEW)
             for d in days}
    files = {d: path for d, path in files.items() if path.exists()}
    head = ", ".join(f"k.{c}" for c in (*contract.COLUMNS, *FEATURES))
    tail = f"k.{SPLIT}, k.{WEIGHT}"
    if not files:
        cards = ", ".join(f"CAST(NULL AS DOUBLE) AS {name}" for name in CARD_FEATURES)
        return f"SELECT {head}, {cards}, {tail} FROM ({kept}) k"
    engine.register(CARD_VIEW, files)
    cards = ", ".join(f"c.{name}" for name in CARD_FEATURES)
    return (f"SELECT {head}, {cards}, {tail} FROM ({kept}) k LEFT JOIN (SELECT {tid}, "
            f"{', '.join(CARD_FEATURES)} FROM {CARD_VIEW}) c ON c.{tid} = k.{tid}")


def _read_sorted(target: Path) -> pd.DataFrame:
    """The engine's output (a parquet file or folder) as COLUMNS, sorted by event time then
    transaction id (stable), in the lake's dtypes.

    Selected and sorted in Arrow, whose buffers hold a row in ~100 bytes, then converted to
    pandas once, freeing Arrow's buffers as it goes (`self_destruct`): sorting and selecting
    in pandas copied the whole frame of Python strings twice more (`benchmarks.scale`
    window step: peak RSS 7.42 GB before at 30 x 1M rows; see its docstring for after).
    """
    table = pq.read_table(target, columns=list(COLUMNS))
    order = pc.sort_indices(table, sort_keys=[(TIMESTAMP, "ascending"),
                                              (contract.TRANSACTION_ID.name, "ascending")])
    # Rows the engine already wrote in order (DuckDB's ORDER BY) need no sorted copy: at
    # 30 x 1M rows the copy was ~2 GB of the retraining job's peak.
    if not _is_identity(order):
        table = table.take(order)
    del order
    # Text stays in Arrow's buffers (`string[pyarrow]`): at 30 x 1M rows the three text
    # columns of 7.5M rows as Python strings were ~1.5 GB more at the step's peak.
    frame = table.to_pandas(self_destruct=True, split_blocks=True,
                            types_mapper=lake.ARROW_TEXT_TYPES.get)
    del table
    return _typed(frame)


def _is_identity(order: pa.Array) -> bool:
    """Whether the permutation `order` leaves every row where it is."""
    return bool(np.array_equal(order.to_numpy(), np.arange(len(order))))


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """The lake's dtypes back on a frame the engine wrote (timestamps in ns UTC, ints),
    column by column in place (`cast_features`' `astype` would copy the whole frame)."""
    out = frame
    for name, dtype in FEATURE_DTYPES.items():
        out[name] = out[name].astype(dtype)
    for name in CARD_FEATURES:
        out[name] = out[name].astype("float64")
    out[TIMESTAMP] = pd.to_datetime(out[TIMESTAMP], utc=True).astype("datetime64[ns, UTC]")
    for f in contract.FIELDS:
        if f.name not in out:  # an optional column (card_id) the frame does not carry
            continue
        if f.kind == "int":
            out[f.name] = out[f.name].astype("int64")
        elif f.kind in ("string", "category") and not isinstance(out[f.name].dtype,
                                                                 pd.StringDtype):
            out[f.name] = out[f.name].astype("string")
    return out
