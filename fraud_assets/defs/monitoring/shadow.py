"""`shadow_report` (daily): the challenger against the champion on the day's live traffic.

Reads the prediction log's shadow columns (`monitoring.shadow`); the day's labels come from
`transactions_validated` in the lake when that partition exists (joined by transaction id).
Every number is a metadata value, so the UI plots agreement, flag rates, the score
distance and both models' F1 over the partitions."""

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from fraud_assets import lake, names
from fraud_assets.defs.partitions import daily_partitions
from fraud_assets.defs.resources import FraudHome
from fraud_assets.monitoring import prediction_log, shadow


@asset(name=names.SHADOW_REPORT, group_name=names.MONITORING,
       partitions_def=daily_partitions, kinds={"bentoml"},
       description="Champion vs challenger on the day's live traffic (shadow scoring): "
                   "agreement, flag rates, score distance, and F1 once labels landed.")
def shadow_report(context: AssetExecutionContext, fraud_home: FraudHome) -> MaterializeResult:
    day = context.partition_key
    answers = prediction_log.read_shadow(day, fraud_home.root)
    if answers.empty:
        note = "no answer was scored in shadow that day (no challenger beside the champion)"
        context.log.info(f"{day}: {note}")
        return MaterializeResult(metadata={"status": "skipped", "reason": note, "rows": 0})
    labels = lake.read_partitions(names.TRANSACTIONS_VALIDATED, [day], fraud_home.lake)
    result = shadow.compare(answers, labels if not labels.empty else None)
    context.log.info(f"{day}: {result.rows} answers in shadow, agreement "
                     f"{result.agreement:.3f}, {result.labelled} labelled")
    meta = {k: (MetadataValue.float(v) if isinstance(v, float) else v)
            for k, v in shadow.as_metadata(result).items()}
    return MaterializeResult(metadata={"status": "compared", **meta})
