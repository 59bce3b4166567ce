"""`fraud_model` and `champion` materialized by Dagster on a temporary instance."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from dagster import (
    AssetKey,
    DagsterEventType,
    DagsterInstance,
    Definitions,
    ExecuteInProcessResult,
    asset,
    materialize,
)

from fraud_assets import contract
from fraud_assets.defs.model.assets import champion, fraud_model
from fraud_assets.defs.resources import FraudHome
from fraud_assets.settings import CHAMPION_ALIAS
from tests.support import registry_resource


def stub_training_set(frame: pd.DataFrame):
    """Stands in for the Feast-backed `training_set` asset (tested with the features)."""

    @asset(name="training_set")
    def training_set() -> pd.DataFrame:
        return frame

    return training_set


# Every test on its own FRAUD_HOME (conftest's fraud_home), whose lake holds no validated
# day: the gate finds no card ids, so card precision@k is the transaction measure.
pytestmark = pytest.mark.usefixtures("fraud_home")


def resources(registry) -> dict:
    return {"mlflow_registry": registry_resource(registry), "fraud_home": FraudHome()}


def run(frame: pd.DataFrame, registry, instance: DagsterInstance) -> ExecuteInProcessResult:
    return materialize([stub_training_set(frame), fraud_model, champion], instance=instance,
                       resources=resources(registry), raise_on_error=False)


def metadata(result: ExecuteInProcessResult, key: str) -> dict:
    events = [e for e in result.get_asset_materialization_events()
              if e.asset_key == AssetKey(key)]
    assert len(events) == 1, f"{key} was not materialized once"
    return {k: v.value for k, v in events[0].materialization.metadata.items()}


@pytest.fixture
def instance():
    with DagsterInstance.ephemeral() as inst:
        yield inst


def test_assets_train_register_and_promote(registry, training_set, instance, alert_receiver):
    result = run(training_set, registry, instance)
    assert result.success
    model = metadata(result, "fraud_model")
    assert model["model_version"] == "1"
    assert model["mlflow_run_id"] and 0.0 < model["threshold"] < 1.0
    assert model["holdout_pr_auc"] > 0.5
    assert all(Path(model[f"plot_{name}"]).is_file()
               for name in ("pr_curve", "roc_curve", "confusion_matrix", "reliability"))
    logged = registry.client().get_run(model["mlflow_run_id"]).data
    assert logged.tags["dagster_run_id"] == result.run_id
    # The decision bands, costs and calibration: asset metadata, MLflow run, version tags.
    assert 0 < model["decision_review_threshold"] <= model["decision_block_threshold"]
    assert model["decision_costs"]["review_capacity_per_day"] == 100
    assert "| score >= | false-positive rate |" in model["score_fpr_table"]
    assert (float(logged.params["decision_review_threshold"])
            == model["decision_review_threshold"])
    assert logged.params["cost_review"] == "10.0"
    assert {"validation_brier_raw", "validation_brier_calibrated", "holdout_cost_saved",
            "holdout_transaction_precision_at_k"} <= set(logged.metrics)
    version_tags = registry.version("1").tags
    assert json.loads(version_tags["decision_bands"])["block"] == model[
        "decision_block_threshold"]
    gate = metadata(result, "champion")
    assert gate["decision"] == "promoted" and gate["champion_version"] == "1"
    assert gate["challenger_pr_auc"] == pytest.approx(model["holdout_pr_auc"], abs=1e-6)
    assert gate["criterion"] == "cost_saved"
    assert gate["challenger_cost_saved"] == pytest.approx(model["holdout_cost_saved"], abs=1e-4)
    assert "challenger_transaction_precision_at_k" in gate
    assert registry.alias_version(CHAMPION_ALIAS) == "1"
    [posted] = alert_receiver.received  # the gate's decision reaches the team's chat
    assert posted["fraud_alert"]["kind"] == "gate_decision"
    assert posted["fraud_alert"]["facts"]["champion now"] == "v1"


def test_a_failed_training_run_leaves_the_champion(registry, training_set, instance):
    assert run(training_set, registry, instance).success
    one_class = training_set[training_set[contract.LABEL] == 0]
    result = run(one_class, registry, instance)
    assert not result.success
    failure = next(e for e in result.all_events
                   if e.event_type == DagsterEventType.STEP_FAILURE)
    assert failure.step_key == "fraud_model"
    assert "single class" in failure.event_specific_data.error.message
    assert registry.versions() == ["1"]
    assert registry.alias_version(CHAMPION_ALIAS) == "1"


def test_assets_load_into_definitions(registry):
    """The asset graph: champion depends on fraud_model and on training_set."""
    defs = Definitions(assets=[stub_training_set(pd.DataFrame()), fraud_model, champion],
                       resources=resources(registry))
    graph = defs.resolve_asset_graph()
    assert graph.get(AssetKey("champion")).parent_keys == {AssetKey("fraud_model"),
                                                           AssetKey("training_set")}
    assert graph.get(AssetKey("fraud_model")).parent_keys == {AssetKey("training_set")}


def test_costs_and_criterion_are_configured_per_run(registry, training_set, instance):
    config = {"ops": {"fraud_model": {"config": {"costs": {
                  "review": 2.0, "review_capacity_per_day": 7}}},
              "champion": {"config": {"criterion": "pr_auc"}}}}
    result = materialize([stub_training_set(training_set), fraud_model, champion],
                         instance=instance, run_config=config, resources=resources(registry))
    model = metadata(result, "fraud_model")
    assert model["decision_costs"] == {"review": 2.0, "blocked_legit": 25.0,
                                       "review_capacity_per_day": 7, "fraud_loss_share": 1.0,
                                       "fraud_loss_fixed": 0.0}
    assert metadata(result, "champion")["criterion"] == "pr_auc"


def test_the_gate_reads_only_the_holdout_rows_and_columns_it_scores(training_set, tmp_path,
                                                                     instance):
    """Through the lake IO manager, `champion`'s input reads the stored training set's
    holdout rows and the gate's columns only, text as categoricals (memory at 30 x 1M)."""
    from dagster import AssetIn

    from fraud_assets.defs.resources import LakeIOManager
    from fraud_assets.features.names import HOLDOUT, SPLIT
    from fraud_assets.model import gate

    seen: dict[str, pd.DataFrame] = {}
    [gate_input] = [d for d in champion.node_def.input_defs if d.name == "training_set"]

    from fraud_assets.features.training import COLUMNS

    # As the training_set asset stores it: every column (card features unknown here).
    training_set = training_set.reindex(columns=list(COLUMNS))

    @asset(name="training_set", io_manager_key="lake")
    def stored() -> pd.DataFrame:
        return training_set

    @asset(ins={"training_set": AssetIn(key="training_set", metadata=gate_input.metadata)})
    def probe(training_set: pd.DataFrame) -> None:
        seen["holdout"] = training_set

    assert materialize([stored, probe], instance=instance,
                       resources={"lake": LakeIOManager(root=str(tmp_path))}).success
    holdout = seen["holdout"]
    expected = training_set[training_set[SPLIT] == HOLDOUT]
    assert list(holdout.columns) == list(gate.holdout_columns())
    assert len(holdout) == len(expected) > 0 and (holdout[SPLIT] == HOLDOUT).all()
    assert isinstance(holdout[contract.MERCHANT_CATEGORY.name].dtype, pd.CategoricalDtype)
    pd.testing.assert_series_equal(
        holdout[contract.AMOUNT.name].reset_index(drop=True),
        expected[contract.AMOUNT.name].reset_index(drop=True))  # same rows, same order
