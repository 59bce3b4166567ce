"""`labels_job` (one arrival day of the label feed) and `performance_job` (re-measure one
transaction day once its labels arrived); both requested by the `label_sensor`."""

from dagster import AssetSelection, define_asset_job

from fraud_assets import names
from fraud_assets.defs.partitions import daily_partitions

labels_job = define_asset_job(
    names.LABELS_JOB,
    selection=AssetSelection.groups(names.LABELS_GROUP),
    partitions_def=daily_partitions,
    description="Process one day of arrival of the label feed: the file, its checks, and the "
                "split into accepted, quarantined and held labels.",
)

performance_job = define_asset_job(
    names.PERFORMANCE_JOB,
    selection=AssetSelection.assets(names.MODEL_PERFORMANCE),
    partitions_def=daily_partitions,
    description="Re-measure the champion on a transaction day whose labels arrived "
                "(estimated -> measured).",
)
