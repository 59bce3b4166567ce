"""Drift monitoring assets: the day's data and the day's production traffic vs the champion.

`drift_report` compares a day of validated transactions with the champion's training
window; `prediction_drift_report` does the same for a day of the serving prediction log.
Both keep the Evidently HTML under FRAUD_HOME/reports and put the verdict in metadata,
where the `drift_retraining` sensor reads it. The non-blocking check
`no_significant_drift` shows the verdict as a check result in the UI.
"""


import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
)

from fraud_assets import names
from fraud_assets.defs.features.resources import FeastStore
from fraud_assets.defs.model.resources import MlflowRegistryResource
from fraud_assets.defs.monitoring.dashboards import save_to_dashboards
from fraud_assets.defs.partitions import daily_partitions
from fraud_assets.defs.resources import FraudHome
from fraud_assets.model.registry import MlflowRegistry
from fraud_assets.monitoring import dashboards, drift, reference
from fraud_assets.monitoring.daily import DailyReport, predictions_report, transactions_report
from fraud_assets.monitoring.drift import DriftPolicy
from fraud_assets.monitoring.reference import Reference
from fraud_assets.monitoring.scored_reference import score_reference

DRIFT_CHECK = names.NO_SIGNIFICANT_DRIFT
GROUP = names.MONITORING


class DriftReportConfig(Config):
    """The alarm rule and the sample sizes (defaults meet the accuracy targets)."""

    min_drifted_columns: int = DriftPolicy.min_drifted_columns
    min_rows: int = DriftPolicy.min_rows
    max_reference_rows: int = DriftPolicy.max_reference_rows
    max_current_rows: int = DriftPolicy.max_current_rows
    fallback_reference_days: int = 28  # used while there is no champion

    def policy(self) -> DriftPolicy:
        return DriftPolicy(min_drifted_columns=self.min_drifted_columns, min_rows=self.min_rows,
                           max_reference_rows=self.max_reference_rows,
                           max_current_rows=self.max_current_rows)


def _check_spec(asset_name: str) -> AssetCheckSpec:
    return AssetCheckSpec(DRIFT_CHECK, asset=asset_name, blocking=False,
                          description="Fewer columns drifted than the alarm rule allows.")


def _reference(day: str, config: DriftReportConfig, home: FraudHome,
               registry: MlflowRegistry) -> reference.Reference:
    window = reference.champion_window(registry)
    policy = config.policy()
    return reference.resolve(day, window, config.fallback_reference_days,
                             policy.max_reference_rows, policy.seed, home.lake)


def _metadata(report: DailyReport) -> dict[str, object]:
    s, ref = report.summary, report.reference
    meta: dict[str, object] = {
        drift.STATUS_KEY: s.status,
        drift.DATASET_DRIFT_KEY: MetadataValue.bool(s.dataset_drift),
        drift.REASON_KEY: s.reason,
        **_figures(s),
        "alarm_rule": f"at least {s.min_drifted_columns} drifted column(s)",
        "reference": ref.description,
        "reference_source": ref.source,
        "reference_days": len(ref.days),
        "rows_reference": s.rows_reference,
        "rows_current": s.rows_current,
        "notes": "; ".join(report.notes + s.notes) or "none",
        "report_summary": MetadataValue.path(str(report.files.summary)),
    }
    if ref.champion_version:
        meta["champion_version"] = ref.champion_version
    if report.files.html is not None:
        meta["report_html"] = MetadataValue.path(str(report.files.html))
        meta["report_url"] = MetadataValue.url(report.files.html.as_uri())
        meta["report_json"] = MetadataValue.path(str(report.files.json))
    return meta


def _figures(s: drift.DriftSummary) -> dict[str, object]:
    """Drift share, drifted columns and per-column scores: only for a judged day (a day
    too small to judge carries none, so nothing reads its noise as a verdict)."""
    if not s.judged or s.drift_share is None:
        return {}
    return {
        drift.SHARE_KEY: MetadataValue.float(s.drift_share),
        drift.COLUMNS_KEY: ", ".join(s.drifted_columns) or "none",
        "column_scores": MetadataValue.md(s.markdown_table()),
        # Numbers per column, so the UI can plot each column's score over the days.
        **{f"score_{c.column}": MetadataValue.float(c.score) for c in s.columns},
    }


def _result(context: AssetExecutionContext, report: DailyReport,
            fraud_home: FraudHome) -> MaterializeResult:
    s = report.summary
    context.log.info(f"{report.kind} {report.day}: {s.reason}")
    check = AssetCheckResult(
        check_name=DRIFT_CHECK, passed=not s.dataset_drift, severity=AssetCheckSeverity.WARN,
        description=s.reason,
        metadata={drift.STATUS_KEY: s.status,
                  **({drift.SHARE_KEY: s.drift_share,
                      drift.COLUMNS_KEY: ", ".join(s.drifted_columns) or "none"}
                     if s.judged and s.drift_share is not None else {})})
    saved = save_to_dashboards(context, lambda: dashboards.save_drift(report, fraud_home.root),
                               fraud_home.root)
    return MaterializeResult(metadata=_metadata(report) | saved, check_results=[check])


@asset(name=names.DRIFT_REPORT, partitions_def=daily_partitions, group_name=GROUP,
       kinds={"evidently"}, check_specs=[_check_spec(names.DRIFT_REPORT)])
def drift_report(context: AssetExecutionContext, config: DriftReportConfig,
                 fraud_home: FraudHome, mlflow_registry: MlflowRegistryResource,
                 transactions_validated: pd.DataFrame) -> MaterializeResult:
    """Evidently data drift of the day's validated transactions vs the champion's window."""
    registry = mlflow_registry.get_client()
    day = context.partition_key
    ref = _reference(day, config, fraud_home, registry)
    report = transactions_report(day, transactions_validated, ref, config.policy(),
                                 fraud_home.root)
    return _result(context, report, fraud_home)


@asset(name=names.PREDICTION_DRIFT_REPORT, partitions_def=daily_partitions, group_name=GROUP,
       kinds={"evidently"}, check_specs=[_check_spec(names.PREDICTION_DRIFT_REPORT)])
def prediction_drift_report(context: AssetExecutionContext, config: DriftReportConfig,
                            fraud_home: FraudHome, mlflow_registry: MlflowRegistryResource,
                            feast_store: FeastStore) -> MaterializeResult:
    """Evidently data drift of the day's served requests (prediction log) vs the champion,
    scores included: the reference sample is scored by the champion (cached per version)."""
    registry = mlflow_registry.get_client()
    day = context.partition_key
    ref = _reference(day, config, fraud_home, registry)

    def scorer(reference: Reference) -> tuple[Reference, tuple[str, ...]]:
        return score_reference(reference, registry, feast_store.open, fraud_home.root)

    report = predictions_report(day, ref, config.policy(), fraud_home.root, scorer)
    return _result(context, report, fraud_home)
