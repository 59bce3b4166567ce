"""`model_performance` (daily): how the champion did on a landed day, once its labels are in.

Every number is a float/int metadata value, so the asset's plots in the UI show precision,
recall, F1, PR-AUC, the cost of the day's decisions at the champion's bands (`cost`,
`cost_saved`, `reviews_per_day`, `blocks`) and the champion version over the partitions.
With late labels (issue 16) a day is first "estimated" (`estimated_precision`,
`estimated_recall`, `estimated_f1`, `estimated_cost`, `estimated_cost_saved`, ...,
`label_maturity`; `performance_basis` says which) and "measured" once its labels arrive:
the `label_sensor` re-materializes the partition then, and both series stay plotted.
The non-blocking check `performance_above_floor` warns when F1 falls below the floor; the
`drift_retraining` sensor reads the same series (measured days only).
A day of more than `sample_rows` rows other than known frauds is measured on a weighted
sample (`monitoring.performance.sample_day`): `rows_sampled` and `sample_rate` say so.
"""

from collections.abc import Iterator

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetSpec,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    multi_asset,
)
from pydantic import Field

from fraud_assets import labels as label_feed
from fraud_assets import names
from fraud_assets.defs.features.resources import FeastStore
from fraud_assets.defs.model.resources import MlflowRegistryResource
from fraud_assets.defs.monitoring.dashboards import save_to_dashboards
from fraud_assets.defs.partitions import daily_partitions
from fraud_assets.defs.resources import FraudHome
from fraud_assets.features.engine import EngineError
from fraud_assets.features.store import FeatureStoreError
from fraud_assets.features.training import TrainingSetError
from fraud_assets.monitoring import dashboards, performance
from fraud_assets.monitoring.performance import DayPerformance
from fraud_assets.monitoring.scoring import load_champion

PERFORMANCE_CHECK = names.PERFORMANCE_ABOVE_FLOOR
ASSET = names.MODEL_PERFORMANCE


class PerformanceConfig(Config):
    f1_floor: float = Field(default=performance.DEFAULT_F1_FLOOR, ge=0.0, le=1.0,
                            description="The check fails (warns) when the day's F1 is below.")
    min_frauds: int = Field(default=performance.DEFAULT_MIN_FRAUDS, ge=1,
                            description="Fewer frauds than this: recorded, not judged.")
    min_label_maturity: float = Field(
        default=performance.DEFAULT_MIN_LABEL_MATURITY, gt=0.0, le=1.0,
        description="Share of the day's rows with a known label from which it is measured; "
                    "below, precision and recall are estimated from the scores.")
    sample_rows: int = Field(
        default=performance.DEFAULT_SAMPLE_ROWS, ge=1,
        description="Rows other than known frauds scored, about: a larger day is measured on "
                    "every known fraud and a uniform, weighted sample of the rest (set it "
                    "above the day's rows to score every row).")


def _metadata(day: DayPerformance, floor: float) -> dict[str, object]:
    meta: dict[str, object] = {
        performance.STATUS_KEY: day.status(floor),
        performance.REASON_KEY: day.reason(floor),
        performance.JUDGED_KEY: MetadataValue.bool(day.judged),
        # An int, so the UI plots which version answered next to its scores.
        "champion_version": MetadataValue.int(int(day.champion.version)),
        "threshold": MetadataValue.float(day.champion.threshold),
        "f1_floor": MetadataValue.float(floor),
        "rows_scored": day.rows_scored,
        "rows_without_features": day.rows_without_features,
        "rows_sampled": day.rows_sampled,
        "sample_rate": MetadataValue.float(day.sample_rate),
        "frauds": day.frauds,
        "in_training_window": MetadataValue.bool(day.in_training_window),
        performance.BASIS_KEY: day.basis,
        performance.MATURITY_KEY: MetadataValue.float(day.label_maturity),
    }
    for name, value in day.estimated.items():
        if value == value:  # NaN (nothing flagged): a gap in the plot
            meta[f"estimated_{name}"] = MetadataValue.float(value)
    # Only a judged day gets numbers: a gap in the plot is honest, a 0.0 would not be.
    for name in (*performance.METRICS, *performance.COST_METRICS, "fraud_rate"):
        if name in day.metrics:
            meta[name] = MetadataValue.float(day.metrics[name])
    return meta


def _check(day: DayPerformance, floor: float) -> AssetCheckResult:
    return AssetCheckResult(
        asset_key=ASSET, check_name=PERFORMANCE_CHECK, passed=not day.below(floor),
        severity=AssetCheckSeverity.WARN, description=day.reason(floor),
        metadata={"f1": day.metrics.get("f1", float("nan")), "f1_floor": floor,
                  "judged": day.judged})


CHECK_SPEC = AssetCheckSpec(PERFORMANCE_CHECK, asset=ASSET, blocking=False,
                            description="The champion's F1 on the day is at or above the floor.")


# A multi_asset only for `can_subset`: it makes the check's output optional, so a day
# without a champion leaves the check "not executed" in the UI instead of a false "passed".
@multi_asset(
    specs=[AssetSpec(ASSET, partitions_def=daily_partitions, group_name=names.MONITORING,
                     kinds={"mlflow", "feast"},
                     deps=[names.TRANSACTIONS_VALIDATED, names.MERCHANT_FEATURES],
                     description="The champion's precision, recall, F1 and PR-AUC on the day, "
                                 "at its stored threshold.")],
    check_specs=[CHECK_SPEC], partitions_def=daily_partitions, can_subset=True)
def model_performance(context: AssetExecutionContext, config: PerformanceConfig,
                      transactions_validated: pd.DataFrame,
                      mlflow_registry: MlflowRegistryResource,
                      feast_store: FeastStore, fraud_home: FraudHome,
                      ) -> Iterator[MaterializeResult | AssetCheckResult]:
    """Score the day with the champion (features through Feast, as in training), record it."""
    registry = mlflow_registry.get_client()
    champion = load_champion(registry)
    if champion is None:
        note = "no champion model yet: nothing to measure (materialize the retraining job)"
        context.log.info(f"{context.partition_key}: {note}")
        yield MaterializeResult(asset_key=ASSET, metadata={performance.STATUS_KEY: "skipped",
                                                           performance.REASON_KEY: note})
        return
    store = feast_store.open()
    store.apply()  # the join reads the feature service from the registry, as training does
    try:
        feed = label_feed.read_accepted(fraud_home.lake, [context.partition_key])
        day = performance.measure_day(context.partition_key, transactions_validated, champion,
                                      store, config.min_frauds, feed,
                                      config.min_label_maturity, config.sample_rows)
    except (TrainingSetError, FeatureStoreError, EngineError) as exc:
        raise Failure(description=f"cannot score {context.partition_key}: {exc}") from None
    context.log.info(day.reason(config.f1_floor))
    saved = save_to_dashboards(context, lambda: dashboards.save_performance(day, fraud_home.root),
                               fraud_home.root)
    yield MaterializeResult(asset_key=ASSET, metadata=_metadata(day, config.f1_floor) | saved)
    if CHECK_SPEC.key in context.selected_asset_check_keys:
        yield _check(day, config.f1_floor)
