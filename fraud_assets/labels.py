"""The label feed: verdicts that arrive days or weeks after their transactions (issue 16).

A label file lands per day of arrival (`landing.LABELS`) with `transaction_id`, `is_fraud`
and `label_timestamp` (`contract.LABEL_FIELDS`). Each row ends up in exactly one of three
places:

* refused (quarantine, with the reason): it breaks the label contract (a bad id, a value
  other than 0/1, a timestamp that does not parse or is not on the file's day), it
  conflicts with another row of the file, its transaction lies on several landed days, or
  it is stamped before its own transaction happened;
* held: its transaction is not in the validated lake (not landed yet, or an unknown id).
  It is kept aside and judged again when more transactions land (the label sensor
  re-runs the arrival day), so a label that came before its transaction is not lost;
* accepted: the verdict, its time and the partition day of its transaction.

"Labels as of T" (`as_of`) are the accepted labels with `label_timestamp <= T`; a label a
transaction carried at landing counts as known at the end of its day (when its file
landed). Where both exist, the feed's latest verdict known at T wins (a chargeback
overrides an "ok" given at landing). Free of Dagster.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from fraud_assets import contract, lake, names
from fraud_assets.features.engine import DAY_COLUMN, Engine

TRANSACTION_ID = contract.TRANSACTION_ID.name
LABEL = contract.LABEL
LABEL_TIMESTAMP = contract.LABEL_TIMESTAMP.name
TRANSACTION_DAY = "transaction_day"  # partition day of the labelled transaction
REASON = "quarantine_reason"
HELD_REASON = "held_reason"
ACCEPTED_COLUMNS: tuple[str, ...] = (TRANSACTION_ID, LABEL, LABEL_TIMESTAMP, TRANSACTION_DAY)
_VALIDATED_VIEW = "label_lookup_validated"
_LABELS_VIEW = "label_lookup_ids"


@dataclass(frozen=True)
class JudgedLabels:
    """One label file, every row in exactly one frame (indexes of the raw file kept)."""

    accepted: pd.DataFrame  # ACCEPTED_COLUMNS, typed
    quarantined: pd.DataFrame  # the raw rows as landed + REASON
    held: pd.DataFrame  # the raw rows as landed + HELD_REASON

    @property
    def transaction_days(self) -> list[str]:
        """The partition days whose transactions got a label from this file."""
        return sorted(self.accepted[TRANSACTION_DAY].unique().tolist())


def landing_label_time(day: str | dt.date) -> pd.Timestamp:
    """When a label carried by a transaction of partition `day` became known: the end of
    that day (its file lands once the day is complete)."""
    return pd.Timestamp(str(day), tz="UTC") + pd.Timedelta(days=1)


def judge(raw: pd.DataFrame, day: str, lake_root: Path,
          open_engine: Callable[[], Engine]) -> JudgedLabels:
    """Split the label file of arrival `day` (`raw`: values as landed) into accepted,
    quarantined and held rows, matching transaction ids against the validated days up to
    `day` in `lake_root`. Raises `engine.EngineError` if the engine cannot run."""
    typed, why = contract.landed_reasons(raw, day, contract.LABEL_FIELDS)
    why = why.copy()
    good = why == ""
    ids = typed[TRANSACTION_ID].astype(str)
    found = _lookup(ids[good], day, lake_root, open_engine)
    per_id = found.groupby(TRANSACTION_ID)
    n_days = ids.map(per_id.size()).fillna(0).astype(int).where(good, 0)
    first = found.drop_duplicates(TRANSACTION_ID).set_index(TRANSACTION_ID)
    event = ids.map(first[contract.EVENT_TIMESTAMP.name])
    transaction_day = ids.map(first[DAY_COLUMN])
    held = good & (n_days == 0)
    several = n_days > 1
    if several.any():
        listed = ids.map(per_id[DAY_COLUMN].agg(lambda d: ", ".join(sorted(d))))
        why[several] = ("transaction_id " + ids[several].map(repr) + " is on several landed "
                        "days (" + listed[several] + "): no telling which one it labels")
    early = good & (n_days == 1) & (typed[LABEL_TIMESTAMP] < event)
    if early.any():
        why[early] = ("label_timestamp " + raw.loc[early, LABEL_TIMESTAMP].map(repr)
                      + " is before the transaction's event_timestamp "
                      + event[early].map(lambda t: t.isoformat())
                      + ": a verdict cannot precede its transaction")
    refused = why != ""
    ok = ~refused & ~held
    # Values, not a Series: assigning a Series to an empty frame would adopt its index.
    accepted = typed[ok].assign(**{TRANSACTION_DAY: transaction_day[ok].to_numpy()})
    # Microseconds: the unit DuckDB and Spark both read as a timestamp.
    accepted = accepted[list(ACCEPTED_COLUMNS)].reset_index(drop=True).astype(
        {LABEL: "int64", TRANSACTION_ID: "string", TRANSACTION_DAY: "string",
         LABEL_TIMESTAMP: "datetime64[us, UTC]"})
    quarantined = raw[refused].assign(**{REASON: why[refused]}).reset_index(drop=True)
    last = max(lake.stored_partitions(names.TRANSACTIONS_VALIDATED, lake_root) or ["none"])
    kept = raw[held].assign(**{HELD_REASON: (
        "transaction_id not among the validated transactions landed so far (latest day "
        f"{last}): held until its transaction lands, judged again then")})
    return JudgedLabels(accepted, quarantined, kept.reset_index(drop=True))


def _lookup(ids: pd.Series, day: str, lake_root: Path, open_engine: Callable[[], Engine],
            ) -> pd.DataFrame:
    """The validated transactions (TRANSACTION_ID, its partition day `_day`,
    event_timestamp in UTC) whose ids are among `ids`, on days up to `day` (a label cannot
    arrive before its transaction's day); one row per (id, day) found."""
    columns = [TRANSACTION_ID, DAY_COLUMN, contract.EVENT_TIMESTAMP.name]
    days = [d for d in lake.stored_partitions(names.TRANSACTIONS_VALIDATED, lake_root)
            if d <= day]
    if ids.empty or not days:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    files = {d: lake.partition_path(lake_root, names.TRANSACTIONS_VALIDATED, d) for d in days}
    with open_engine() as engine:
        engine.register(_VALIDATED_VIEW, files)
        engine.register_frame(_LABELS_VIEW, pd.DataFrame({TRANSACTION_ID: ids.unique()}))
        rows = engine.frame(
            f"SELECT DISTINCT v.{TRANSACTION_ID}, v.{DAY_COLUMN}, "
            f"v.{contract.EVENT_TIMESTAMP.name} FROM {_VALIDATED_VIEW} v "
            f"JOIN {_LABELS_VIEW} l ON v.{TRANSACTION_ID} = l.{TRANSACTION_ID}")
    rows[TRANSACTION_ID] = rows[TRANSACTION_ID].astype(str)
    rows[DAY_COLUMN] = rows[DAY_COLUMN].astype(str)
    rows[contract.EVENT_TIMESTAMP.name] = pd.to_datetime(rows[contract.EVENT_TIMESTAMP.name],
                                                         utc=True)
    return rows.sort_values([TRANSACTION_ID, DAY_COLUMN]).reset_index(drop=True)


def accepted_files(lake_root: Path, since: str | None = None) -> dict[str, Path]:
    """{arrival day: file} of the stored accepted labels (arrival days >= `since`)."""
    days = lake.stored_partitions(names.LABELS, lake_root)
    return {d: lake.partition_path(lake_root, names.LABELS, d) for d in days
            if since is None or d >= since}


def read_accepted_empty() -> pd.DataFrame:
    """No accepted labels, typed as `read_accepted`'s answer."""
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in (
        (TRANSACTION_ID, "string"), (LABEL, "int64"),
        (LABEL_TIMESTAMP, "datetime64[us, UTC]"), (TRANSACTION_DAY, "string"))})


def read_accepted(lake_root: Path, transaction_days: list[str] | None = None) -> pd.DataFrame:
    """Accepted labels (ACCEPTED_COLUMNS) of every arrival day, or only those of the
    transactions of `transaction_days` (then only arrival days from the first of them are
    read: a label never arrives before its transaction's day)."""
    since = min(transaction_days) if transaction_days else None
    frames = [pd.read_parquet(path) for path in accepted_files(lake_root, since).values()]
    frames = [f for f in frames if len(f)]
    if not frames:
        return read_accepted_empty()
    out = pd.concat(frames, ignore_index=True)
    if transaction_days is not None:
        out = out[out[TRANSACTION_DAY].isin(transaction_days)]
    return out.reset_index(drop=True)


def as_of(landed: pd.DataFrame, partition_days: pd.Series, feed: pd.DataFrame,
          when: pd.Timestamp | None) -> pd.Series:
    """Each row's label known at `when` (None: every label known now), NA if none.

    `landed`: transactions (TRANSACTION_ID, LABEL as landed, NA = not known at landing);
    `partition_days`: each row's landed day (same index); `feed`: accepted labels. The
    feed's latest verdict with `label_timestamp <= when` wins over the landed label, which
    counts from the end of its day (`landing_label_time`)."""
    if when is not None:
        feed = feed[feed[LABEL_TIMESTAMP] <= when]
    # The latest verdict: the last copy of an id once sorted by label time (stable).
    ordered = feed.sort_values(LABEL_TIMESTAMP, kind="stable")
    verdicts = pa.table({TRANSACTION_ID: contract.id_text(ordered[TRANSACTION_ID]),
                         LABEL: pa.array(ordered[LABEL], type=pa.int64())})
    found = contract.rows_by_transaction_id(verdicts, landed[TRANSACTION_ID])[LABEL]
    from_feed = pd.Series(pd.array(found.to_pandas(), dtype="Int64"), index=landed.index)
    at_landing = landed[LABEL].astype("Int64")
    if when is not None:
        known_then = pd.to_datetime(partition_days.astype(str)).dt.tz_localize("UTC") \
            + pd.Timedelta(days=1) <= when
        at_landing = at_landing.where(known_then.to_numpy(), pd.NA)
    return from_feed.fillna(at_landing)


def maturity(known: pd.Series, weight: np.ndarray | None = None) -> float:
    """Share of rows with a known label, each row counted `weight` times (default 1);
    1.0 for no rows: nothing is waiting."""
    if not len(known):
        return 1.0
    return float(np.average(known.notna().to_numpy(), weights=weight))
