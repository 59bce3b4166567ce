"""The label feed: the label contract, unknown and early transaction ids, held labels, the
Dagster split and the label sensor, on a real instance and the real engine (DuckDB)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from dagster import AssetMaterialization, DagsterInstance, build_sensor_context, materialize

from fraud_assets import contract, labels, landing, names, simulator
from fraud_assets.defs.labels.assets import labels as labels_asset
from fraud_assets.defs.labels.assets import labels_raw
from fraud_assets.defs.labels.checks import label_structure, label_values
from fraud_assets.defs.labels.sensors import label_sensor
from fraud_assets.defs.resources import FraudHome
from fraud_assets.features.engine import DuckDBEngine
from tests.support import (
    checks,
    lake_frame,
    land,
    resources,
    run_day,
    validated_day,
    write_validated,
)

DAY = "2025-01-02"


def raw_labels(*rows: tuple[object, object, object]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(contract.LABEL_COLUMNS), dtype=object)


def judge(raw: pd.DataFrame, home, day: str = DAY) -> labels.JudgedLabels:
    return labels.judge(raw, day, home / "lake", DuckDBEngine)


@pytest.fixture
def home(tmp_path):
    """A lake with one validated day (2025-01-01, 50 transactions)."""
    write_validated(tmp_path, validated_day("2025-01-01", rows=50), "2025-01-01")
    return tmp_path


def test_bad_ids_values_and_timestamps_are_quarantined_with_the_field_named(home):
    tid = str(validated_day("2025-01-01", rows=50).transaction_id.iloc[3])
    raw = raw_labels(
        (tid, "1", "2025-01-02T10:00:00Z"),  # good
        ("  ", "1", "2025-01-02T10:00:00Z"),  # blank id
        (tid + "x", "yes", "2025-01-02T10:00:00Z"),  # not 0/1
        (tid + "y", "0", "soon"),  # not a timestamp
        (tid + "z", "0", "2025-01-05T10:00:00Z"),  # not on the file's day
        (tid + "w", None, "2025-01-02T10:00:00Z"),  # a label without a value
    )
    got = judge(raw, home)
    assert got.accepted[labels.TRANSACTION_ID].tolist() == [tid]
    assert got.accepted[labels.TRANSACTION_DAY].tolist() == ["2025-01-01"]
    why = got.quarantined[labels.REASON].tolist()
    assert len(why) == 5 and not len(got.held)
    assert why[0].startswith("transaction_id is missing")
    assert why[1] == "is_fraud is not a valid int (got 'yes')"
    assert why[2] == "label_timestamp is not a valid timestamp (got 'soon')"
    assert why[3].startswith("label_timestamp is not on the file's day of arrival 2025-01-02")
    assert why[4] == "is_fraud is missing"


def test_unknown_ids_are_held_and_accepted_once_their_transaction_lands(home):
    later = validated_day("2025-01-02", rows=20)
    tid = str(later.transaction_id.iloc[0])
    stamp = (later.event_timestamp.iloc[0] + pd.Timedelta(minutes=5)).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    raw = raw_labels((tid, "1", stamp), ("nobody-knows", "0", stamp))
    first = judge(raw, home)
    assert first.accepted.empty and len(first.held) == 2
    assert "held until its transaction lands" in first.held[labels.HELD_REASON].iloc[0]
    write_validated(home, later, "2025-01-02")  # the transactions land after their label
    second = judge(raw, home)
    assert second.accepted[labels.TRANSACTION_ID].tolist() == [tid]
    assert second.held[labels.TRANSACTION_ID].tolist() == ["nobody-knows"]


def test_a_label_before_its_transaction_and_an_id_on_two_days_are_refused(home):
    day1 = validated_day("2025-01-01", rows=50)
    once = day1.iloc[-1]
    early = (once.event_timestamp - pd.Timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    got = judge(raw_labels((once.transaction_id, "1", early)), home, day="2025-01-01")
    assert got.accepted.empty and not len(got.held)
    assert "is before the transaction's event_timestamp" in got.quarantined[labels.REASON][0]
    # The same id landed again on the next day: no telling which transaction it labels.
    twice = str(day1.transaction_id.iloc[0])
    write_validated(home, day1.head(1).assign(
        event_timestamp=pd.Timestamp("2025-01-02T01:00:00Z")), "2025-01-02")
    got = judge(raw_labels((twice, "0", "2025-01-02T12:00:00Z")), home)
    assert "is on several landed days (2025-01-01, 2025-01-02)" in \
        got.quarantined[labels.REASON][0]


def test_labels_as_of_a_time_use_only_what_was_known_then():
    landed = pd.DataFrame({labels.TRANSACTION_ID: ["a", "b", "c"],
                           labels.LABEL: pd.array([0, pd.NA, pd.NA], dtype="Int64")})
    days = pd.Series(["2025-01-01"] * 3)
    feed = pd.DataFrame({labels.TRANSACTION_ID: ["a", "b", "c"], labels.LABEL: [1, 1, 0],
                         labels.LABEL_TIMESTAMP: pd.to_datetime(
                             ["2025-01-10", "2025-01-03", "2025-01-20"], utc=True)})
    at = labels.as_of(landed, days, feed, pd.Timestamp("2025-01-05", tz="UTC"))
    assert at.tolist() == [0, 1, pd.NA]  # a: landed 0 (the chargeback comes later)
    now = labels.as_of(landed, days, feed, None)
    assert now.tolist() == [1, 1, 0]
    before_landing = labels.as_of(landed, days, feed.iloc[:0], pd.Timestamp("2025-01-01T12:00Z"))
    assert before_landing.isna().all()  # the day's file had not landed yet


def test_the_simulator_emits_delayed_labels_behind_an_option(tmp_path):
    delay = simulator.LabelDelay(until=dt.date(2025, 1, 20))
    land(tmp_path, "2025-01-01", rows=2_000, label_delay=delay)
    landed = pd.read_csv(tmp_path / "landing" / "transactions_2025-01-01.csv")
    assert landed[contract.LABEL].isna().all()  # unknown at landing
    folder = landing.label_folder(tmp_path / "landing")
    feed = pd.concat([pd.read_csv(p) for p in sorted(folder.glob("labels_*.csv"))])
    truth = simulator.generate_day(simulator.DayPlan(dt.date(2025, 1, 1), rows=2_000))
    delays = (pd.to_datetime(feed.label_timestamp, utc=True) - pd.to_datetime(
        truth.set_index("transaction_id").loc[feed.transaction_id].event_timestamp.to_numpy(),
        utc=True)).dt.total_seconds() / 86_400
    assert (delays > 0).all() and delays.max() <= 20
    assert 0.6 < (delays <= 7).mean() < 0.9  # most within days ...
    assert len(feed) < 2_000  # ... and the tail after the 20th has not arrived
    merged = feed.merge(truth, on="transaction_id", suffixes=("", "_true"))
    assert (merged.is_fraud == merged.is_fraud_true).all()
    # Off by default: the demo's files carry their labels.
    land(tmp_path, "2025-01-02", rows=100)
    assert pd.read_csv(tmp_path / "landing" / "transactions_2025-01-02.csv")[
        contract.LABEL].notna().all()


def test_a_label_file_is_checked_split_and_sensed_on_a_real_instance(tmp_path):
    write_validated(tmp_path, validated_day("2025-01-01", rows=40), "2025-01-01")
    folder = landing.label_folder(tmp_path / "landing")
    folder.mkdir(parents=True)
    tids = validated_day("2025-01-01", rows=40).transaction_id.astype(str).tolist()
    path = landing.label_file(folder, dt.date(2025, 1, 2))
    raw_labels(*[(t, "1" if i < 3 else "0", "2025-01-02T08:00:00Z")
                 for i, t in enumerate(tids[:10])], ("ghost", "1", "2025-01-02T09:00:00Z"),
               (tids[10], "2", "2025-01-02T09:00:00Z")).to_csv(path, index=False)
    with DagsterInstance.ephemeral() as instance:
        home = {"fraud_home": FraudHome(path=str(tmp_path))}
        tick = label_sensor(build_sensor_context(instance=instance, resources=home))
        [request] = tick.run_requests
        assert request.partition_key == DAY and request.job_name == names.LABELS_JOB
        result = materialize([labels_raw, label_structure, label_values, labels_asset],
                             partition_key=DAY, instance=instance,
                             resources=resources(tmp_path))
        assert result.success
        checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
        assert checks[names.LABEL_STRUCTURE].passed
        assert not checks[names.LABEL_VALUES].passed
        assert "1 of 12 labels break a rule" in checks[names.LABEL_VALUES].description
        accepted = lake_frame(tmp_path, names.LABELS, DAY)
        assert len(accepted) == 10 and accepted.is_fraud.sum() == 3
        assert len(lake_frame(tmp_path, names.LABELS_QUARANTINE, DAY)) == 1
        assert lake_frame(tmp_path, names.LABELS_HELD, DAY).transaction_id.tolist() == ["ghost"]
        # Up to date now; the held label waits for transactions to land.
        tick = label_sensor(build_sensor_context(instance=instance, resources=home,
                                                 cursor=tick.cursor))
        assert tick.run_requests == [] and "1 file(s) up to date" in tick.skip_reason.skip_message
        # Transactions land after the split: the day with a held label is judged again.
        instance.report_runless_asset_event(AssetMaterialization(
            names.TRANSACTIONS_VALIDATED, partition="2025-01-02"))
        tick = label_sensor(build_sensor_context(instance=instance, resources=home,
                                                 cursor=tick.cursor))
        [request] = tick.run_requests
        assert request.partition_key == DAY and request.run_key.startswith("labels-held:")


def test_transactions_without_labels_pass_the_daily_job(fraud_home):
    delay = simulator.LabelDelay()
    for day in ("2025-01-01", "2025-01-02"):
        land(fraud_home, day, rows=500, label_delay=delay)
    with DagsterInstance.ephemeral() as instance:
        for day in ("2025-01-01", "2025-01-02"):
            result = run_day(instance, day)
            assert result.success
        evaluations = checks(result)
        assert all(evaluations[name].passed for name in (
            names.CONTRACT_STRUCTURE, names.CONTRACT_VALUES, names.FRAUD_RATE_SANE))
        assert "labels come later" in evaluations[names.FRAUD_RATE_SANE].description
    validated = lake_frame(fraud_home, names.TRANSACTIONS_VALIDATED, "2025-01-02")
    assert len(validated) == 500 and validated[contract.LABEL].isna().all()
    assert lake_frame(fraud_home, names.TRANSACTIONS_QUARANTINE, "2025-01-02").empty
    # A value that is there but is no label is still refused (never read as "unknown").
    raw = pd.DataFrame({**{c: ["x"] for c in contract.COLUMNS}, contract.LABEL: ["maybe"]})
    assert "is_fraud is not a valid int (got 'maybe')" in contract.reasons(
        contract.coerce(raw), raw).iloc[0]
