"""`fraud_model` records the label cut-off and maturity of its training window in MLflow."""

from __future__ import annotations

import pandas as pd
from dagster import DagsterInstance, Output, asset, materialize

from fraud_assets.defs.features.assets import label_metadata
from fraud_assets.defs.model.assets import fraud_model
from fraud_assets.features import training
from tests.support import registry_resource

WINDOW = training.LabelWindow(pd.Timestamp("2025-01-21", tz="UTC"), 7, "2025-01-13",
                              train_rows=1_000, train_labelled=800, holdout_rows=400,
                              holdout_labelled=300)


def test_the_mlflow_run_records_the_cut_off_and_label_maturity(registry, training_set):
    @asset(name="training_set")
    def stub() -> Output[pd.DataFrame]:
        return Output(training_set, metadata=label_metadata(WINDOW))

    with DagsterInstance.ephemeral() as instance:
        result = materialize([stub, fraud_model], instance=instance,
                             resources={"mlflow_registry": registry_resource(registry)})
    assert result.success
    [event] = [e for e in result.get_asset_materialization_events()
               if e.asset_key.to_user_string() == "fraud_model"]
    meta = {k: v.value for k, v in event.materialization.metadata.items()}
    run = registry.client().get_run(meta["mlflow_run_id"]).data
    assert run.params["label_cutoff"] == "2025-01-21 00:00:00+00:00"
    assert run.params["label_gap_days"] == "7"
    assert run.metrics["label_maturity_train"] == 0.8
    assert run.metrics["label_maturity_holdout"] == 0.75
    tags = registry.version(meta["model_version"]).tags
    assert tags["label_cutoff"] == "2025-01-21 00:00:00+00:00"
    assert meta["label_maturity_train"] == 0.8
