"""`daily_job`: everything computed for one landed day, with the checks on it."""

from dagster import AssetSelection, define_asset_job

from fraud_assets import names
from fraud_assets.defs.partitions import daily_partitions

daily_job = define_asset_job(
    names.DAILY_JOB,
    selection=AssetSelection.groups(names.INGEST)
    | AssetSelection.assets(names.MERCHANT_FEATURES, names.CARD_FEATURES, names.DRIFT_REPORT,
                            names.MODEL_PERFORMANCE),
    partitions_def=daily_partitions,
    description="Process one landed day: raw file, checks, validated rows, quarantine, "
                "the day's merchant and card features, its drift report and the champion's "
                "performance on its labels.",
)
