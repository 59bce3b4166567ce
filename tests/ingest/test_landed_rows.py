"""Landed data as it really arrives: row identity and time, one verdict with the API,
plausibility against recent days, and messages that say what happened and what to do.
Rules are tested on the contract directly; each kind also once through the real daily job
(real Dagster instance, real Great Expectations)."""

import datetime as dt

import pandas as pd
import pytest
from dagster import DagsterInstance

from fraud_assets import contract, landing
from fraud_assets.validation import plausibility
from serving import http_contract
from tests.support import checks, lake_frame, land, run_day, validated_day, write_validated

DAY = "2025-02-03"  # a Monday
ROW = {"transaction_id": "t1", "event_timestamp": "2025-02-03T14:05:00Z", "amount": "150.0",
       "hour": "14", "day_of_week": "0", "merchant_category": "online", "is_fraud": "0"}


def frame(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame([ROW | r for r in rows], dtype=object)


def judged(raw: pd.DataFrame, day: str = DAY) -> list[str]:
    return contract.landed_reasons(raw, day)[1].tolist()


@pytest.fixture
def instance(fraud_home):
    with DagsterInstance.ephemeral() as inst:
        yield inst


# -- kind 3: row identity and time ----------------------------------------------------------
def test_a_timestamp_without_offset_is_utc_whatever_its_neighbours():
    raw = frame({"transaction_id": "a", "event_timestamp": "2025-02-03T15:30:00+05:30",
                 "hour": "10"},
                {"transaction_id": "b", "event_timestamp": "2025-02-03 10:00:00", "hour": "10"})
    typed = contract.coerce(raw)
    assert typed["event_timestamp"].tolist() == [pd.Timestamp("2025-02-03T10:00Z")] * 2
    assert judged(raw) == ["", ""]


def test_exact_duplicates_keep_one_copy_and_conflicts_show_both_values():
    raw = frame({}, {"transaction_id": "t2"}, {}, {"transaction_id": "t2", "amount": "13.0"})
    why = judged(raw)
    assert why[0] == ""
    assert why[2] == "exact duplicate of line 2 (transaction_id 't1'); one copy kept"
    assert why[1] == ("transaction_id 't2' is also on line 5 with other values "
                      "(amount '150.0' vs '13.0'); both refused")
    assert "line 3" in why[3] and "amount '13.0' vs '150.0'" in why[3]


@pytest.mark.parametrize("stamp", ["1970-01-01T00:00:00Z", "2099-02-03T14:05:00Z",
                                   "2025-02-04T14:05:00Z", "2025-02-03T23:30:00-01:00"])
def test_a_timestamp_outside_the_files_utc_day_is_quarantined(stamp):
    [why] = judged(frame({"event_timestamp": stamp}))
    assert f"event_timestamp is not on the file's day {DAY} (UTC) (got {stamp!r})" in why


def test_hour_and_day_of_week_must_be_those_of_the_timestamp():
    [why] = judged(frame({"hour": "15", "day_of_week": "3"}))
    assert "hour is not the UTC hour of event_timestamp, 14 (got '15')" in why
    assert "day_of_week is not the weekday of event_timestamp (UTC), 0 (got '3')" in why


def test_a_resent_chunk_and_stray_rows_are_quarantined_by_the_daily_job(fraud_home, instance):
    path = land(fraud_home, DAY, rows=400)
    rows = pd.read_csv(path, dtype=str)
    stray = rows.iloc[[0]].assign(transaction_id="far", event_timestamp="2099-02-03T01:00:00Z")
    pd.concat([rows, rows.iloc[100:200], stray]).to_csv(path, index=False)  # chunk resent
    result = run_day(instance, DAY)
    assert result.success
    validated = lake_frame(fraud_home, "transactions_validated", DAY)
    quarantine = lake_frame(fraud_home, "transactions_quarantine", DAY)
    assert len(validated) == 400 and validated["transaction_id"].is_unique
    assert len(quarantine) == 101
    assert quarantine["quarantine_reason"].str.contains("exact duplicate of line").sum() == 100
    values = checks(result)["contract_values"]
    assert not values.passed and values.metadata["bad_rows"].value == 101
    assert values.metadata["unexpected_counts"].value["transaction_id is unique in the file"]


# -- kind 4: one contract, one verdict --------------------------------------------------------
@pytest.mark.parametrize("category", ["online", " online", "online ", "ONLINE"])
def test_a_value_gets_the_same_verdict_in_a_file_and_at_the_api(category, tmp_path):
    path = tmp_path / f"transactions_{DAY}.csv"
    frame({"merchant_category": category}).to_csv(path, index=False)
    raw = landing.read_raw(path)
    assert raw.loc[0, "merchant_category"] == category, "read as landed, never trimmed"
    [file_reason] = judged(raw)
    api = http_contract.check_items([{"amount": 150.0, "hour": 14, "day_of_week": 0,
                                      "merchant_category": category}])
    assert (file_reason == "") == (not api.errors)
    if file_reason:
        assert f"(got {category!r})" in file_reason


def test_quarantine_reasons_and_check_examples_quote_the_values_as_landed(fraud_home,
                                                                          instance):
    path = land(fraud_home, DAY, rows=300)
    rows = pd.read_csv(path, dtype=str)
    rows.loc[0, "merchant_category"] = "online "
    rows.loc[1, "amount"] = "twelve dollars"
    rows.loc[2, "event_timestamp"] = "yesterday"
    rows.to_csv(path, index=False)
    result = run_day(instance, DAY)
    reasons = lake_frame(fraud_home, "transactions_quarantine", DAY)["quarantine_reason"]
    assert "(got 'online ')" in reasons.iloc[0]
    assert "amount is not a valid float (got 'twelve dollars')" in reasons.iloc[1]
    assert "event_timestamp is not a valid timestamp (got 'yesterday')" in reasons.iloc[2]
    examples = checks(result)["contract_values"].metadata["examples"].value
    assert examples["amount is present and a valid float"] == ["twelve dollars"]
    assert examples["event_timestamp is present and a valid timestamp"] == ["yesterday"]
    assert "online " in examples["merchant_category must be one of grocery, restaurant, "
                                 "retail, online, travel"]


# -- kind 6: plausibility against the recent days ---------------------------------------------
def _history(fraud_home, n: int = 5, rows: int = 2_000):
    first = dt.date.fromisoformat(DAY) - dt.timedelta(days=n)
    for i in range(n):
        day = first + dt.timedelta(days=i)
        write_validated(fraud_home, validated_day(day, rows), day)


def test_zero_frauds_on_a_large_day_means_labels_possibly_missing(fraud_home, instance):
    _history(fraud_home)
    path = land(fraud_home, DAY, rows=2_000, fraud_ratio=0.0)
    rows = pd.read_csv(path, dtype=str)
    rows[rows["merchant_category"] != "travel"].to_csv(path, index=False)
    result = run_day(instance, DAY)
    evaluations = checks(result)
    rate = evaluations["fraud_rate_sane"]
    assert not rate.passed
    assert "0 frauds in" in rate.description and "labels possibly missing" in rate.description
    absent = evaluations["categories_present"]
    assert not absent.passed and "category absent: travel" in absent.description
    assert result.success, "plausibility only warns"


def test_the_recent_days_are_counted_as_stored(fraud_home):
    """Rows, frauds, labelled rows and category counts of each earlier validated day are
    those pandas counts in the stored file, labels still to come (nulls) included; days
    on or after the judged one are not history."""
    _history(fraud_home, n=3, rows=500)
    first = dt.date.fromisoformat(DAY) - dt.timedelta(days=3)
    late = validated_day(first, rows=300, seed=7).astype({"is_fraud": "Int64"})
    late.loc[late.index[::3], "is_fraud"] = pd.NA  # labels of these rows come later
    write_validated(fraud_home, late, first)
    write_validated(fraud_home, validated_day(DAY, rows=50), DAY)
    recent = plausibility.history(fraud_home / "lake", DAY)
    assert [d.day for d in recent] == [(first + dt.timedelta(days=i)).isoformat()
                                       for i in range(3)]
    for stats in recent:
        stored = lake_frame(fraud_home, "transactions_validated", stats.day)
        assert stats.rows == len(stored)
        assert stats.frauds == int(stored["is_fraud"].sum())
        assert stats.labelled_rows == int(stored["is_fraud"].notna().sum())
        assert stats.categories == stored["merchant_category"].value_counts().to_dict()
    assert recent[0].labelled_rows == 200 and recent[1].labelled_rows == 500


def test_plausibility_judges_by_the_days_size():
    recent = [plausibility.DayStats(f"2025-01-0{i}", 2_000, 40,
                                    {"online": 300, "travel": 100, "grocery": 1_600})
              for i in range(1, 6)]
    small = pd.Series([0] * 8)
    assert plausibility.fraud_rate(small, recent).passed, "8 rows without fraud is normal"
    assert plausibility.fraud_rate(pd.Series([0] * 1_960 + [1] * 40), recent).passed
    spike = plausibility.fraud_rate(pd.Series([0] * 1_800 + [1] * 200), recent)
    assert not spike.passed and "implausibly high" in spike.description
    assert plausibility.absent_categories(pd.Series(["grocery"] * 8), recent).passed
    assert not plausibility.absent_categories(pd.Series(["grocery"] * 2_000), recent).passed


# -- kind 7: messages -------------------------------------------------------------------------
def test_a_semicolon_delimited_file_is_refused_with_the_hint(fraud_home, instance):
    path = land(fraud_home, DAY, rows=50)
    pd.read_csv(path).to_csv(path, index=False, sep=";")
    result = run_day(instance, DAY)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    text = failure.event_specific_data.error.message
    assert str(path) in text and "looks `;`-delimited" in text
    assert "export it as comma-separated" in text


def test_descriptions_agree_with_the_results(fraud_home, instance):
    path = land(fraud_home, DAY, rows=200)
    rows = pd.read_csv(path, dtype=str)
    rows.loc[0, "hour"] = "25"
    rows.drop(columns=["is_fraud"]).to_csv(path, index=False)
    evaluations = checks(run_day(instance, DAY))
    values, rate = evaluations["contract_values"], evaluations["fraud_rate_sane"]
    assert not values.passed
    assert values.description.startswith("1 of 200 rows break a rule") or (
        "rows break a rule" in values.description)
    assert "every row meets the contract" not in values.description
    assert not rate.passed and "None" not in rate.description
    assert "no is_fraud column" in rate.description

    land(fraud_home, DAY, rows=200)
    clean = checks(run_day(instance, DAY))["contract_values"]
    assert clean.passed and clean.description == "all 200 rows meet the contract"


def test_a_day_whose_file_has_another_name_says_which_name(fraud_home, instance):
    path = land(fraud_home, DAY, rows=20)
    misnamed = path.with_name("transactions_20250203.csv")
    path.rename(misnamed)
    result = run_day(instance, DAY)
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    text = failure.event_specific_data.error.message
    assert f"found {misnamed.name}: rename it to {path.name}" in text
    assert misnamed.exists(), "the landed file is never renamed or rewritten by the platform"
