"""The feature assets on a temporary Dagster instance, from simulated landed days."""

import datetime as dt

import pandas as pd
import pytest
from dagster import (
    AssetKey,
    AssetSelection,
    DagsterInstance,
    Definitions,
    define_asset_job,
    in_process_executor,
    materialize,
)

from fraud_assets import contract, simulator
from fraud_assets.defs.features import assets as features
from fraud_assets.defs.features.resources import FeastStore
from fraud_assets.defs.ingest import assets as ingest
from fraud_assets.defs.ingest import checks as ingest_checks
from fraud_assets.defs.partitions import daily_partitions
from fraud_assets.defs.resources import FraudHome, LakeIOManager
from fraud_assets.features import offline
from fraud_assets.features.names import CARD_FEATURES, FEATURES

DAYS = ["2025-01-01", "2025-01-02", "2025-01-03", "2025-01-04"]
ROWS = 2_000
INGEST = [ingest.transactions_raw, ingest.transactions_validated]


def _resources() -> dict:
    return {"fraud_home": FraudHome(), "lake": LakeIOManager(),
            "feast_store": FeastStore(fraud_home=FraudHome())}


def _run(assets, instance, **kwargs):
    result = materialize(assets, instance=instance, resources=_resources(), **kwargs)
    assert result.success
    return result


def _metadata(result, key: str) -> dict:
    event = next(e for e in result.get_asset_materialization_events()
                 if e.asset_key == AssetKey(key))
    return {k: v.value for k, v in event.materialization.metadata.items()}


@pytest.fixture
def instance(fraud_home):
    for day in DAYS:
        simulator.write_day(fraud_home / "landing",
                            simulator.DayPlan(day=dt.date.fromisoformat(day), rows=ROWS))
    with DagsterInstance.ephemeral() as inst:
        yield inst


def test_daily_features_online_store_and_training_set(fraud_home, instance):
    for day in DAYS:
        result = _run([*INGEST, features.merchant_features], instance, partition_key=day)
    assert _metadata(result, "merchant_features")["history_days"] == 3
    _run([features.online_features], instance)
    run_config = {"ops": {"training_set": {"config": {"holdout_days": 1}}}}
    result = _run([features.training_set], instance, run_config=run_config)

    frame = pd.read_parquet(fraud_home / "lake" / "training_set" / "data.parquet")
    assert list(frame.columns) == [*contract.COLUMNS, *FEATURES, *CARD_FEATURES, "split",
                                   "sample_weight"]
    assert frame[list(CARD_FEATURES)].isna().all().all()  # card-less days: unknown
    assert (frame["sample_weight"] == 1.0).all()  # a small window is not sampled
    assert len(frame) == ROWS * (len(DAYS) - 1)  # the first day has no earlier day
    assert frame["event_timestamp"].is_monotonic_increasing
    assert set(frame.loc[frame["split"] == "holdout", "event_timestamp"].dt.date) == {
        dt.date.fromisoformat(DAYS[-1])}
    meta = _metadata(result, "training_set")
    assert meta["dagster/row_count"] == len(frame) and meta["rows_without_history"] == ROWS
    assert meta["features"] == ", ".join(FEATURES)
    assert meta["fraud_rate"] == pytest.approx(frame["is_fraud"].mean())


def test_rematerializing_a_day_replaces_its_rows(fraud_home, instance):
    for day in DAYS[:3]:
        _run([*INGEST, features.merchant_features], instance, partition_key=day)
    feast_dir = fraud_home / "feast"
    before = offline.read_rows(feast_dir)
    _run([features.merchant_features], instance, partition_key=DAYS[2])
    pd.testing.assert_frame_equal(offline.read_rows(feast_dir), before)
    assert offline.stored_days(feast_dir) == DAYS[1:3]


def test_a_day_without_history_succeeds_with_no_rows(fraud_home, instance):
    result = _run([features.merchant_features], instance, partition_key=DAYS[0])
    assert _metadata(result, "merchant_features")["dagster/row_count"] == 0
    assert offline.stored_days(fraud_home / "feast") == []


def test_online_features_fails_clearly_without_feature_rows(fraud_home, instance):
    result = materialize([features.online_features], instance=instance,
                         resources=_resources(), raise_on_error=False)
    assert not result.success
    failure = result.get_step_failure_events()[0].event_specific_data.error
    assert "no merchant feature rows" in str(failure)


def test_lineage_declares_the_prior_validated_days():
    defs = Definitions(assets=[*INGEST, features.merchant_features, features.online_features,
                               features.training_set], resources=_resources())
    graph = defs.resolve_asset_graph()
    validated = AssetKey("transactions_validated")
    assert validated in graph.get(AssetKey("merchant_features")).parent_keys
    assert AssetKey("merchant_features") in graph.get(AssetKey("online_features")).parent_keys
    mapping = graph.get_partition_mapping(AssetKey("merchant_features"), validated)
    daily = graph.get(validated).partitions_def
    upstream = mapping.get_upstream_mapped_partitions_result_for_partitions(
        daily.subset_with_partition_keys(["2025-02-01"]), daily, daily)
    keys = sorted(upstream.partitions_subset.get_partition_keys())
    assert keys[0] == "2025-01-04" and keys[-1] == "2025-01-31" and len(keys) == 28


def test_the_daily_job_can_carry_merchant_features(fraud_home, instance):
    """The wiring proposed for defs/jobs.py: one run per day does ingest and features."""
    job = define_asset_job("daily_job", partitions_def=daily_partitions,
                           selection=AssetSelection.groups("ingest")
                           | AssetSelection.assets(features.merchant_features))
    defs = Definitions(assets=[*INGEST, features.merchant_features],
                       asset_checks=[ingest_checks.contract_structure,
                                     ingest_checks.contract_values,
                                     ingest_checks.fraud_rate_sane],
                       jobs=[job], resources=_resources(), executor=in_process_executor)
    for day in DAYS[:2]:
        result = defs.resolve_job_def("daily_job").execute_in_process(partition_key=day,
                                                                      instance=instance)
        assert result.success
        done = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
        assert "merchant_features" in done and "transactions_validated" in done
    assert offline.stored_days(fraud_home / "feast") == [DAYS[1]]
