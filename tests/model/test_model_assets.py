"""`fraud_model` and `champion` materialized by Dagster on a temporary instance."""

from __future__ import annotations

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
from fraud_assets.settings import CHAMPION_ALIAS
from tests.support import registry_resource


def stub_training_set(frame: pd.DataFrame):
    """Stands in for the Feast-backed `training_set` asset (tested with the features)."""

    @asset(name="training_set")
    def training_set() -> pd.DataFrame:
        return frame

    return training_set


def run(frame: pd.DataFrame, registry, instance: DagsterInstance) -> ExecuteInProcessResult:
    return materialize([stub_training_set(frame), fraud_model, champion], instance=instance,
                       resources={"mlflow_registry": registry_resource(registry)},
                       raise_on_error=False)


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
               for name in ("pr_curve", "roc_curve", "confusion_matrix"))
    run_tags = registry.client().get_run(model["mlflow_run_id"]).data.tags
    assert run_tags["dagster_run_id"] == result.run_id
    gate = metadata(result, "champion")
    assert gate["decision"] == "promoted" and gate["champion_version"] == "1"
    assert gate["challenger_pr_auc"] == pytest.approx(model["holdout_pr_auc"], abs=1e-6)
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
                       resources={"mlflow_registry": registry_resource(registry)})
    graph = defs.resolve_asset_graph()
    assert graph.get(AssetKey("champion")).parent_keys == {AssetKey("fraud_model"),
                                                           AssetKey("training_set")}
    assert graph.get(AssetKey("fraud_model")).parent_keys == {AssetKey("training_set")}
