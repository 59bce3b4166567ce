"""`online_features_job`: the online store follows the offline features (serving reads it)."""

from dagster import AssetSelection, define_asset_job

from fraud_assets import names

online_features_job = define_asset_job(
    names.ONLINE_FEATURES_JOB,
    selection=AssetSelection.assets(names.ONLINE_FEATURES),
    description="Apply the Feast repository and materialize the latest features online.",
)
