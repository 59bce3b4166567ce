"""The training window with labels as of its cut-off, and the delay gap before the holdout
(real DuckDB engine, real offline feature files)."""

from __future__ import annotations

import functools

import pandas as pd
import pytest

from fraud_assets import contract, labels, lake, names
from fraud_assets.features import training
from fraud_assets.features.engine import DuckDBEngine
from fraud_assets.features.names import HOLDOUT, SPLIT, TRAIN
from tests.support import build_store, day_key, days, validated_day, write_validated

N_DAYS, ROWS = 8, 300
LABEL = contract.LABEL


def at(offset: int, hour: int = 12) -> pd.Timestamp:
    return pd.Timestamp(day_key(offset), tz="UTC") + pd.Timedelta(hours=hour)


def write_feed(home, rows: list[tuple[str, int, pd.Timestamp]]) -> None:
    """Accepted labels, one lake partition per day of arrival."""
    frame = pd.DataFrame(rows, columns=[labels.TRANSACTION_ID, LABEL, labels.LABEL_TIMESTAMP])
    frame[labels.TRANSACTION_DAY] = frame[labels.TRANSACTION_ID].str[:8].map(
        lambda d: f"{d[:4]}-{d[4:6]}-{d[6:]}")
    for day, part in frame.groupby(frame[labels.LABEL_TIMESTAMP].dt.strftime("%Y-%m-%d")):
        lake.write_frame(part.reset_index(drop=True),
                         lake.partition_path(home / "lake", names.LABELS, day))


@pytest.fixture
def window(fraud_home):
    """8 days with features; days 3..7 landed without labels, which the feed brings:
    day 3 on day 4; day 4 half on day 5, half on day 8; day 5 on day 9; the holdout days
    6 and 7 on day 10, except 10 rows of day 7 whose labels never come. And a chargeback:
    a day-2 row landed as legitimate is reported fraud on day 3."""
    store = build_store(fraud_home, N_DAYS, rows=ROWS)
    feed, truth = [], {}
    for offset in range(3, N_DAYS):
        day = validated_day(days(N_DAYS)[offset], ROWS)
        truth.update(zip(day.transaction_id.astype(str), day[LABEL], strict=True))
        write_validated(fraud_home, day.assign(**{LABEL: pd.array([pd.NA] * ROWS,
                                                                  dtype="Int64")}), day_key(offset))
        for i, tid in enumerate(day.transaction_id.astype(str)):
            arrival = {3: at(4), 4: at(5) if i % 2 else at(8), 5: at(9)}.get(offset, at(10))
            if offset == 7 and i < 10:
                continue
            feed.append((tid, int(truth[tid]), arrival))
    charged = validated_day(days(N_DAYS)[2], ROWS)
    charged = str(charged.loc[charged[LABEL] == 0, "transaction_id"].iloc[0])
    feed.append((charged, 1, at(3)))
    write_feed(fraud_home, feed)
    return fraud_home, store, truth, charged


def build(home, store, **kwargs) -> training.TrainingSet:
    return training.build_window_training_set(
        [d.isoformat() for d in days(N_DAYS)], home / "lake", store.feast_dir,
        functools.partial(DuckDBEngine, spill_dir=home / "engine"), home / "engine" / "work",
        holdout_days=2, legit_sample_rows=0, **kwargs)


def test_training_uses_only_the_labels_known_at_the_cut_off(window):
    home, store, truth, charged = window
    built = build(home, store)
    frame, lw = built.frame, built.labels
    assert lw.cutoff == pd.Timestamp(day_key(6), tz="UTC")  # the holdout's start
    train = frame[frame[SPLIT] == TRAIN]
    per_day = train.event_timestamp.dt.strftime("%Y-%m-%d").value_counts()
    # Days 1-3 whole (day 0 has no features), half of day 4, nothing of day 5 (its labels
    # came after the cut-off).
    assert per_day.to_dict() == {day_key(1): ROWS, day_key(2): ROWS, day_key(3): ROWS,
                                 day_key(4): ROWS // 2}
    assert lw.train_rows == 5 * ROWS and lw.train_labelled == 3.5 * ROWS
    assert lw.train_maturity == pytest.approx(0.7)
    # The chargeback known on day 3 overrides the landed label.
    assert train.set_index("transaction_id").loc[charged, LABEL] == 1
    late = train[train.event_timestamp >= pd.Timestamp(day_key(3), tz="UTC")]
    assert (late[LABEL].to_numpy() == late.transaction_id.map(truth).to_numpy()).all()
    # The holdout is judged on every label known now; 10 rows never got one.
    holdout = frame[frame[SPLIT] == HOLDOUT]
    assert len(holdout) == 2 * ROWS - 10 and lw.holdout_labelled == len(holdout)
    assert (holdout[LABEL].to_numpy() == holdout.transaction_id.map(truth).to_numpy()).all()


def test_the_delay_gap_is_left_out_between_training_and_holdout(window):
    home, store, _, _ = window
    built = build(home, store, gap_days=2)
    frame, lw = built.frame, built.labels
    stamps = frame.event_timestamp.dt.strftime("%Y-%m-%d")
    assert lw.train_end == day_key(3)
    assert stamps[frame[SPLIT] == TRAIN].max() == day_key(3)
    assert stamps[frame[SPLIT] == HOLDOUT].min() == day_key(6)
    assert not stamps.isin([day_key(4), day_key(5)]).any()  # the gap: neither split
    assert lw.train_maturity == 1.0  # days 1-3: every label known at the cut-off
    with pytest.raises(training.TrainingSetError, match="gap_days=5 .* leaves no training day"):
        build(home, store, gap_days=5)
