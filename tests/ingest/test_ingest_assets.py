"""The daily job on a real (temporary) Dagster instance with real GE validation."""

import datetime as dt

import pandas as pd
import pytest
from dagster import AssetKey, DagsterInstance

from fraud_assets import contract, landing, simulator
from fraud_assets.orchestration.pipeline import load_defs
from tests.support import checks, lake_frame, land, materialized, run_day

DAY = "2025-01-10"


@pytest.fixture
def instance(fraud_home):
    with DagsterInstance.ephemeral() as inst:
        yield inst


def test_lineage_raw_feeds_validated_and_quarantine():
    graph = load_defs().resolve_asset_graph()
    raw = AssetKey("transactions_raw")
    for key in ("transactions_validated", "transactions_quarantine"):
        assert raw in graph.get(AssetKey(key)).parent_keys


def test_a_clean_day_flows_through(fraud_home, instance):
    land(fraud_home, DAY)
    result = run_day(instance, DAY)
    assert result.success
    assert materialized(result) >= {"transactions_raw", "transactions_validated",
                                    "transactions_quarantine", "merchant_features"}
    evaluations = checks(result)
    assert {name: evaluations[name].passed for name in (
        "contract_structure", "contract_values", "fraud_rate_sane")} == {
        "contract_structure": True, "contract_values": True, "fraud_rate_sane": True}
    validated = lake_frame(fraud_home, "transactions_validated", DAY)
    assert len(validated) == 2_000
    assert lake_frame(fraud_home, "transactions_quarantine", DAY).empty
    assert str(validated["event_timestamp"].dtype) == "datetime64[ns, UTC]"
    assert validated["hour"].dtype == "int64"
    # Once the day is split, the run's later steps do not carry the raw day's frames.
    from fraud_assets.defs import resources
    from fraud_assets.validation import judged
    assert resources._shared is None and judged._latest is None


@pytest.mark.parametrize("kind", simulator.BAD_ROW_KINDS)
def test_each_kind_of_bad_row_goes_to_quarantine_with_its_reason(fraud_home, instance, kind):
    land(fraud_home, DAY, rows=1_000, bad_rate=0.03, bad_kinds=(kind,))
    result = run_day(instance, DAY)
    assert result.success, "row-level defects must not stop the day"
    quarantine = lake_frame(fraud_home, "transactions_quarantine", DAY)
    validated = lake_frame(fraud_home, "transactions_validated", DAY)
    assert len(quarantine) == 30
    assert len(validated) + len(quarantine) == 1_000
    assert set(validated["transaction_id"]).isdisjoint(quarantine["transaction_id"])
    expected = {"null": "is missing", "negative_amount": "amount must be > 0",
                "hour_25": "hour must be >= 0 and <= 23", "day_9": "day_of_week must be",
                "unknown_category": "merchant_category must be one of",
                "amount_text": "amount is not a valid float"}[kind]
    assert quarantine["quarantine_reason"].str.contains(expected).all()
    values = checks(result)["contract_values"]
    assert not values.passed
    assert values.metadata["bad_rows"].value == 30
    counts = values.metadata["unexpected_counts"].value
    assert sum(counts.values()) >= 30  # a null is also out of range / set
    assert checks(result)["contract_structure"].passed


def test_check_metadata_carries_examples(fraud_home, instance):
    land(fraud_home, DAY, rows=1_000, bad_rate=0.02, bad_kinds=("hour_25",))
    values = checks(run_day(instance, DAY))["contract_values"]
    # the value as landed (text), not as parsed
    assert values.metadata["examples"].value["hour must be >= 0 and <= 23"][0] == "25"


def test_missing_column_blocks_downstream_and_names_file_and_column(fraud_home, instance):
    good_day = "2025-01-09"
    land(fraud_home, good_day)
    assert run_day(instance, good_day).success
    before = (fraud_home / "lake" / "transactions_validated" / f"{good_day}.parquet").read_bytes()

    path = land(fraud_home, DAY)
    pd.read_csv(path).drop(columns=["merchant_category"]).to_csv(path, index=False)
    result = run_day(instance, DAY)
    structure = checks(result)["contract_structure"]
    assert not structure.passed
    assert str(path) in structure.description
    assert "merchant_category" in structure.description
    assert "transactions_validated" not in materialized(result)
    assert not result.success
    after = (fraud_home / "lake" / "transactions_validated" / f"{good_day}.parquet").read_bytes()
    assert before == after, "an earlier partition must be untouched"

    land(fraud_home, DAY)  # the corrected file
    rerun = run_day(instance, DAY)
    assert rerun.success
    assert len(lake_frame(fraud_home, "transactions_validated", DAY)) == 2_000


def test_a_column_of_the_wrong_type_is_structural(fraud_home, instance):
    path = land(fraud_home, DAY, rows=200)
    frame = pd.read_csv(path)
    frame["amount"] = "n/a"
    frame.to_csv(path, index=False)
    structure = checks(run_day(instance, DAY))["contract_structure"]
    assert not structure.passed
    assert "amount is mostly a valid float" in structure.description


@pytest.mark.parametrize(("content", "message"), [
    (b"", "the file is empty"),
    (b"transaction_id,event_timestamp,amount,hour,day_of_week,merchant_category,is_fraud\n",
     "no rows"),
    (bytes(range(256)) * 8, "not a readable CSV file"),
])
def test_unreadable_files_fail_the_run_naming_the_file(fraud_home, instance, content, message):
    path = landing.landing_file(fraud_home / "landing", dt.date.fromisoformat(DAY))
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    result = run_day(instance, DAY)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    text = failure.event_specific_data.error.message
    assert str(path) in text and message in text
    assert not (fraud_home / "lake" / "transactions_raw" / f"{DAY}.parquet").exists()


def test_a_users_own_csv_with_the_contract_columns_works(fraud_home, instance):
    path = landing.landing_file(fraud_home / "landing", dt.date.fromisoformat(DAY))
    path.parent.mkdir(parents=True)
    rows = [["u1", "2025-01-10T09:30:00Z", "12.5", "9", "4", "grocery", "0"],
            ["u2", "2025-01-10T23:10:00+00:00", "900", "23", "4", "online", "1"]]
    pd.DataFrame(rows, columns=contract.COLUMNS).to_csv(path, index=False)
    result = run_day(instance, DAY)
    assert result.success
    assert lake_frame(fraud_home, "transactions_validated", DAY)["transaction_id"].tolist() == [
        "u1", "u2"]
