"""Jobs: the daily partition run, and retraining (what the drift sensor requests)."""

from dagster import AssetSelection, define_asset_job

from fraud_assets.defs.partitions import daily_partitions

# Everything that is computed per landed day, with the checks on it.
daily_job = define_asset_job(
    "daily_job",
    selection=AssetSelection.groups("ingest"),
    partitions_def=daily_partitions,
    description="Process one landed day: raw file, checks, validated rows and quarantine.",
)
