"""Jobs: the daily partition run, and retraining (what the drift sensor requests)."""

from dagster import AssetSelection, define_asset_job, in_process_executor

from fraud_assets.defs.partitions import daily_partitions

# Everything that is computed per landed day, with the checks on it.
daily_job = define_asset_job(
    "daily_job",
    selection=AssetSelection.groups("ingest")
    | AssetSelection.assets("merchant_features", "drift_report", "model_performance"),
    partitions_def=daily_partitions,
    description="Process one landed day: raw file, checks, validated rows, quarantine, "
                "the day's merchant features, its drift report and the champion's "
                "performance on its labels.",
)

# The online store follows the offline features (serving reads it).
online_features_job = define_asset_job(
    "online_features_job",
    selection=AssetSelection.assets("online_features"),
    description="Apply the Feast repository and materialize the latest features online.",
)

# What the drift sensor requests. Selected by key through the selection syntax, which, unlike
# a list of keys, resolves to the subset that exists: the job is valid while the model and
# serving assets are still being added. Keys are listed upstream first.
RETRAINING_ASSETS: tuple[str, ...] = ("training_set", "fraud_model", "champion", "fraud_bento")
retraining_job = define_asset_job(
    "retraining_job",
    selection=AssetSelection.from_string(" or ".join(f'key:"{k}"' for k in RETRAINING_ASSETS)),
    description="Retrain on the latest window, register the version, gate it and rebuild "
                "the bento; requested by the drift_retraining sensor.",
    # Four steps in sequence: a subprocess per step would cost more than the steps.
    executor_def=in_process_executor,
)
