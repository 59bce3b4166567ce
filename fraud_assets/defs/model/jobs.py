"""`retraining_job`: what the drift sensor requests (training set -> model -> gate -> Bento)."""

from dagster import AssetSelection, define_asset_job

from fraud_assets import names

retraining_job = define_asset_job(
    names.RETRAINING_JOB,
    selection=AssetSelection.assets(*names.RETRAINING_ASSETS),
    description="Retrain on the latest window, register the version, gate it and rebuild "
                "the bento; requested by the drift_retraining sensor.",
)
